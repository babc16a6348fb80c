"""Dashboard forms. They parse and type-check input; domain rules live in the services,
whose errors the views attach to the offending field."""
from __future__ import annotations

import json

from django import forms
from django.utils import timezone

from recommender.models import ApiKey, MerchandisingRule

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
RULE_SCENARIOS = [
    ("home", "Home"),
    ("cross_sell", "Cross-sell"),
    ("member_exclusive", "Member exclusive"),
    ("feed", "Feed"),
    ("similar", "Similar items"),
    ("search", "Search"),
    ("assistant", "Assistant"),
]
WEEKDAYS = [
    (0, "Sunday"),
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
]


def _in_current_zone(label: str) -> str:
    return f"{label} ({timezone.get_current_timezone_name()})"


class LocalDateTimeField(forms.DateTimeField):
    """A native ``datetime-local`` picker; values are in the merchandisers' time zone (the active one)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL)

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", [DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"])
        super().__init__(**kwargs)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=128, help_text="Who uses it, e.g. “Web storefront (production)”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKey.Scope.READ],
        error_messages={"required": "Choose at least one scope."},
    )
    expires_at = LocalDateTimeField(required=False, label="Expires at", help_text="Leave empty for no expiry.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_at"].label = _in_current_zone("Expires at")


class RuleForm(forms.Form):
    name = forms.CharField(max_length=128)
    action = forms.ChoiceField(choices=MerchandisingRule.Action.choices)
    target = forms.ChoiceField(choices=MerchandisingRule.Target.choices)
    value = forms.CharField(
        max_length=128, help_text="Item id, product type, colour or style tag (matched case-insensitively)."
    )
    position = forms.IntegerField(required=False, min_value=1, max_value=100, help_text="1-based slot, for pins.")
    weight = forms.FloatField(initial=1.0, min_value=0, max_value=100, help_text="Strength of a boost or bury.")
    scenarios = forms.MultipleChoiceField(
        choices=RULE_SCENARIOS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None selected = every scenario.",
    )
    starts_at = LocalDateTimeField(required=False, label="Starts at")
    ends_at = LocalDateTimeField(required=False, label="Ends at")
    is_enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["starts_at"].label = _in_current_zone("Starts at")
        self.fields["ends_at"].label = _in_current_zone("Ends at")

    @classmethod
    def initial_from(cls, rule: MerchandisingRule) -> dict:
        return {
            "name": rule.name,
            "action": rule.action,
            "target": rule.target,
            "value": rule.value,
            "position": rule.position,
            "weight": rule.weight,
            "scenarios": list(rule.scenarios or []),
            "starts_at": rule.starts_at,
            "ends_at": rule.ends_at,
            "is_enabled": rule.is_enabled,
        }


class JsonObjectField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "mono"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, indent=2, sort_keys=True)
        return value

    def to_python(self, value):
        text = (value or "").strip()
        if not text:
            return {}
        try:
            data = json.loads(text, parse_constant=lambda c: float("nan"))
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(data, dict):
            raise forms.ValidationError("Must be a JSON object, e.g. {\"epochs\": 5}.")
        return data


class RecommenderSettingsForm(forms.Form):
    default_hyperparameters = JsonObjectField(
        required=False,
        label="Default training hyperparameters (JSON)",
        help_text="A JSON object. Known keys are range-checked, e.g. learning_rate, epochs, batch_size.",
    )
    auto_promote = forms.BooleanField(required=False, label="Auto-promote a new model when it beats the active one")
    exclude_purchased = forms.BooleanField(required=False, label="Exclude items the customer already bought")
    in_stock_only = forms.BooleanField(required=False, label="Recommend in-stock items only")
    time_zone = forms.ChoiceField(
        required=False, label="Time zone",
        help_text="Rule windows, job times and key expiries are shown and entered in this zone.",
    )

    def clean_time_zone(self):
        return self.cleaned_data.get("time_zone") or None  # not sent: leave it as it is

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .timezones import time_zone_choices

        self.fields["time_zone"].choices = time_zone_choices()


class ScheduleForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Weekly retraining enabled")
    day_of_week = forms.TypedChoiceField(choices=WEEKDAYS, coerce=int, label="Day of week")
    hour = forms.IntegerField(min_value=0, max_value=23, label="Hour (UTC)")
    minute = forms.IntegerField(min_value=0, max_value=59, initial=0, label="Minute")


class ItemForm(forms.Form):
    """Editable item fields; the catalog services validate and normalise them."""

    title = forms.CharField(max_length=255)
    product_type = forms.CharField(max_length=64, help_text="Earring(s), Necklace, Ring and Bracelet count as jewelry.")
    product_group = forms.CharField(max_length=64, required=False)
    colour = forms.CharField(max_length=64, required=False)
    material = forms.CharField(max_length=64, required=False)
    price = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=6)
    currency = forms.CharField(max_length=3, initial="EUR")
    style_tags = forms.CharField(required=False, max_length=500, help_text="Separate tags with semicolons, e.g. minimal; gold; gift.")
    exclusive_tier = forms.ChoiceField(required=False, label="Member-exclusive tier", help_text="Empty: visible to everyone.")
    in_stock = forms.BooleanField(required=False, initial=True, label="In stock")
    is_active = forms.BooleanField(required=False, initial=True, label="Active (shown in recommendations)")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, tiers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exclusive_tier"].choices = [("", "Everyone")] + [(t.code, f"{t.name} and above") for t in tiers if t.rank > 0]

    @classmethod
    def initial_from(cls, item) -> dict:
        return {
            "title": item.title,
            "product_type": item.product_type,
            "product_group": item.product_group,
            "colour": item.colour,
            "material": item.material,
            "price": format(item.price.normalize(), "f") if item.price is not None else None,
            "currency": item.currency,
            "style_tags": "; ".join(item.style_tags or []),
            "exclusive_tier": item.exclusive_tier.code if item.exclusive_tier_id else "",
            "in_stock": item.in_stock,
            "is_active": item.is_active,
            "description": item.description,
        }


class ItemCreateForm(ItemForm):
    external_id = forms.CharField(max_length=64, label="Item id", help_text="Your own article id; used in the API.")
    field_order = ["external_id"]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (the pattern from Django's file-upload docs)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("error_messages", {"required": "Choose at least one photo."})
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            if not data:
                return single(None, initial)
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class PhotoUploadForm(forms.Form):
    photos = MultipleFileField(
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text="JPEG, PNG or WebP; several at once are fine.",
    )


CATALOG_SCOPES = [("jewelry", "Jewelry"), ("all", "All categories")]
EMBEDDING_STATUSES = [("", "Any"), ("current", "Current"), ("stale", "Stale"), ("failed", "Failed"), ("missing", "Missing")]


class CatalogFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={"type": "search", "placeholder": "Id or title"}))
    scope = forms.ChoiceField(choices=CATALOG_SCOPES, required=False, label="Category")
    product_type = forms.ChoiceField(required=False, label="Type")
    colour = forms.ChoiceField(required=False)
    price_min = forms.DecimalField(required=False, min_value=0, label="Min price")
    price_max = forms.DecimalField(required=False, min_value=0, label="Max price")
    tier = forms.ChoiceField(required=False, label="Tier")
    embedding = forms.ChoiceField(choices=EMBEDDING_STATUSES, required=False, label="Embedding")
    photo = forms.ChoiceField(
        choices=[("", "Any"), ("with", "Has a photo"), ("without", "No photo")], required=False, label="Photo"
    )

    def __init__(self, *args, product_types=(), colours=(), tiers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product_type"].choices = [("", "Any")] + [(t, t) for t in product_types]
        self.fields["colour"].choices = [("", "Any")] + [(c, c) for c in colours]
        self.fields["tier"].choices = [("", "Any"), ("public", "Everyone (not exclusive)")] + [
            (t.code, f"{t.name} exclusive") for t in tiers if t.rank > 0
        ]

    def clean(self):
        data = super().clean()
        low, high = data.get("price_min"), data.get("price_max")
        if low is not None and high is not None and high < low:
            self.add_error("price_max", "Must be at least the minimum price.")
        return data


class CatalogImportForm(forms.Form):
    csv_file = forms.FileField(label="Catalog CSV", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))
    photos_zip = forms.FileField(
        required=False,
        label="Photos ZIP",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
        help_text="Optional. Photos named after the item id (e.g. 0123456001.jpg or 0123456001_2.png).",
    )
    dry_run = forms.BooleanField(required=False, initial=True, label="Dry run: validate and preview, write nothing")


# --- jobs: start forms ----------------------------------------------------------------------

EMBED_SCOPES = [
    ("jewelry", "Jewelry only"),
    ("interacted", "Jewelry + items customers interacted with"),
    ("all", "Whole catalog (slow)"),
]


class EmbedCatalogForm(forms.Form):
    scope = forms.ChoiceField(choices=EMBED_SCOPES, initial="jewelry")
    force = forms.BooleanField(required=False, label="Force: re-encode even unchanged photos and texts")
    refit_fusion = forms.BooleanField(required=False, label="Refit the fusion (image + text + attributes -> 512-d)")


class LayerSizesField(forms.CharField):
    """``"16,16"`` -> ``[16, 16]``. Sizes and depth are range-checked by the training service."""

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return value

    def to_python(self, value):
        text = (value or "").strip()
        if not text:
            raise forms.ValidationError("Give at least one layer size, e.g. 16,16.")
        try:
            return [int(part) for part in text.replace(" ", "").split(",") if part != ""]
        except ValueError:
            raise forms.ValidationError(f"Use whole numbers separated by commas, e.g. 16,16 (got “{text}”).") from None


class TrainModelForm(forms.Form):
    """The hyperparameters a merchandiser may change; everything else keeps the configured default.

    Fields are named exactly like ``TrainConfig`` so a ``TrainingConfigError.field`` lands on its input.
    """

    CONFIG_FIELDS = ("lr", "finetune_lr", "batch_size", "epochs_pretrain", "epochs_finetune", "embed_dim",
                     "cin_layers", "dnn_layers", "dropout", "negatives", "freeze_on_finetune")

    lr = forms.FloatField(label="Learning rate (pretraining)")
    finetune_lr = forms.FloatField(label="Learning rate (fine-tuning)")
    batch_size = forms.IntegerField(label="Batch size")
    epochs_pretrain = forms.IntegerField(label="Pretraining epochs (garments, shoes, accessories)")
    epochs_finetune = forms.IntegerField(label="Fine-tuning epochs (jewelry)")
    embed_dim = forms.IntegerField(label="Embedding size")
    cin_layers = LayerSizesField(label="CIN layers", help_text="Comma-separated feature-map counts, e.g. 16,16.")
    dnn_layers = LayerSizesField(label="DNN layers", help_text="Comma-separated hidden sizes, e.g. 64,32.")
    dropout = forms.FloatField(label="Dropout")
    negatives = forms.IntegerField(label="Sampled negatives per example")
    freeze_on_finetune = forms.BooleanField(required=False, label="Freeze shared layers at the start of fine-tuning")
    fast = forms.BooleanField(required=False, label="Fast run: skip ablations, smaller bootstrap (for a quick check)")

    @classmethod
    def initial_from(cls, config) -> dict:
        values = config.to_dict()
        return {name: values[name] for name in cls.CONFIG_FIELDS}

    def config(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.CONFIG_FIELDS}


# --- models ---------------------------------------------------------------------------------


class CompareForm(forms.Form):
    a = forms.TypedChoiceField(coerce=int, label="Version A (baseline)")
    b = forms.TypedChoiceField(coerce=int, label="Version B (compared)")

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(v.pk, f"{v.name} ({v.get_status_display().lower()}{', active' if v.is_active else ''})") for v in versions]
        self.fields["a"].choices = choices
        self.fields["b"].choices = choices


class SearchSynonymForm(forms.Form):
    concept = forms.CharField(max_length=64, label="Term", help_text="An existing term (hoop, pearl, choker...) or a new one.",
                              widget=forms.TextInput(attrs={"list": "concepts"}))
    form = forms.CharField(max_length=64, label="Synonym", help_text="How shoppers say it, in English or Chinese: sleepers, 耳圈.")
    kind = forms.ChoiceField(required=False, label="Kind of a new term",
                             choices=[("", "—")] + [(k, k) for k in ("material", "stone", "style", "shape", "occasion")],
                             help_text="Only for a new term; an existing term keeps its kind.")


class ExperimentForm(forms.Form):
    """A new A/B experiment: the arms are the first arm (the control) and one or more others."""

    name = forms.CharField(max_length=128)
    scenario = forms.ChoiceField(choices=[])
    control = forms.ChoiceField(label="Control arm", choices=[])
    treatments = forms.MultipleChoiceField(label="Other arms", choices=[], widget=forms.SelectMultiple)
    weights = forms.CharField(required=False, max_length=200, help_text="Traffic split, e.g. 50,50 (default: equal)")
    starts_at = forms.DateTimeField(required=False, label="Start at (empty: now)")
    ends_at = forms.DateTimeField(required=False, label="Stop at")
    min_effect = forms.FloatField(initial=0.1, min_value=0.001, max_value=9.0,
                                  help_text="The smallest relative uplift worth detecting (0.1 = +10 %)")

    def __init__(self, *args, scenarios: tuple[str, ...], versions: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        arms = [("heuristic", "heuristic blend"), *[(v, v) for v in versions]]
        self.fields["scenario"].choices = [(s, s) for s in scenarios]
        self.fields["control"].choices = arms
        self.fields["treatments"].choices = arms

    def clean(self):
        data = super().clean()
        arms = [data.get("control"), *(data.get("treatments") or [])]
        raw = (data.get("weights") or "").strip()
        if raw:
            try:
                weights = [int(w) for w in raw.replace(" ", "").split(",")]
            except ValueError:
                raise forms.ValidationError({"weights": "Weights are whole numbers separated by commas."}) from None
            if len(weights) != len(arms):
                raise forms.ValidationError({"weights": f"Give one weight per arm ({len(arms)})."})
        else:
            weights = [1] * len(arms)
        data["arm_list"] = list(zip(arms, weights))
        return data
