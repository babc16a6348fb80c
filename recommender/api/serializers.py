"""Input and output serializers of the storefront API (one pair per operation)."""
from __future__ import annotations

import math
import re

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers

from recommender.catalog.images import ImageRejected, image_validate
from recommender.ml.search.query import MAX_QUERY_CHARS
from recommender.serving.errors import DomainError, PayloadTooLargeError, UnsupportedFormatError
from recommender.serving.scenarios import CHANNELS, MAX_K

from .errors import error_body

ID_MAX = 128
# Every number written in a query or message (a price bound, a size) must be at most this:
# a few hundred nines became float infinity, which no JSON answer can carry.
MAX_TEXT_NUMBER = 10**12
# The same numbers the query parser reads (recommender/ml/search/query.py, _NUM).
_TEXT_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def numbers_in_range(text: str) -> str:
    """Refuse a text with a number the search could not use as a finite price bound."""
    for match in _TEXT_NUMBER.finditer(text):
        value = float(match.group().replace(",", "."))
        if not math.isfinite(value) or value > MAX_TEXT_NUMBER:
            raise serializers.ValidationError(
                f"The number {match.group()[:20]}{'…' if len(match.group()) > 20 else ''} is larger than "
                f"{MAX_TEXT_NUMBER:,}.", code="number_out_of_range")
    return text


# An id as the retailer wrote it: no control characters, no blank or padded value (a padded id
# would be a different customer). The schema states the same pattern, so it tells the truth.
ID_PATTERN = r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$"


class WholeValueRegexValidator(RegexValidator):
    """The pattern must match the whole value: Python's ``$`` also matches before a final
    newline, which JSON Schema's does not, so "J001\\n" would pass ``re.search``."""

    def __call__(self, value):
        if self.regex.fullmatch(str(value)) is None:
            raise serializers.ValidationError(self.message, code=self.code)


_id_validator = WholeValueRegexValidator(
    ID_PATTERN, message="Must not be blank, padded with spaces or contain control characters.", code="invalid")


def is_valid_id(value: str) -> bool:
    return len(value) <= ID_MAX and _id_validator.regex.fullmatch(value) is not None


# Free text (a query, a message) is trimmed, must say something and holds no NUL. Whitespace is
# spelled out (what Python's strip() removes) rather than \s, whose meaning differs between
# regex engines, so a client validating against the schema agrees with this server.
_SPACE = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = rf"^[^\x00]*[^{_SPACE}][^\x00]*$"
_text_validator = WholeValueRegexValidator(TEXT_PATTERN, message="Must not be blank or contain NUL characters.",
                                           code="blank")


class KField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_K)
        kwargs.setdefault("default", 10)
        super().__init__(**kwargs)


class JSONKField(KField):
    """``k`` in a JSON body: a JSON integer, not a string of digits (the schema says integer)."""

    def to_internal_value(self, data):
        if isinstance(data, (str, bool)):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", ID_MAX)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("validators", [_id_validator])
        super().__init__(**kwargs)


class JSONStringMixin:
    """In a JSON body a string must be a JSON string: DRF would turn 42 or true into "42"/"True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class JSONIdField(JSONStringMixin, IdField):
    pass


class JSONTextField(JSONStringMixin, serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("validators", [_text_validator, numbers_in_range])
        super().__init__(**kwargs)


class TypeField(serializers.CharField):
    """A product type of the catalog (ring, earring, necklace, bracelet, ...); an unknown one is 404."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("validators", [_id_validator])
        kwargs.setdefault("help_text", "A product type of the catalog: ring, earring, necklace, bracelet, ... "
                                       "(singular or plural, any case). An unknown type is 404 unknown_type.")
        super().__init__(**kwargs)


class JSONTypeField(JSONStringMixin, TypeField):
    pass


class ChannelField(serializers.ChoiceField):
    """The sales channel the request comes from; without it, the customer's own events say."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "online or store: popularity is read in this channel (default: the "
                                       "customer's own channel mix)")
        kwargs.setdefault("error_messages", {"invalid_choice": f"channel must be one of {', '.join(CHANNELS)}; "
                                                               "got \"{input}\"."})
        super().__init__(choices=CHANNELS, **kwargs)


class HomeQuerySerializer(serializers.Serializer):
    customer_id = IdField(required=False)
    k = KField()
    type = TypeField()
    channel = ChannelField()


class CustomerQuerySerializer(serializers.Serializer):
    customer_id = IdField()
    k = KField()
    type = TypeField()
    channel = ChannelField()


class CrossSellInputSerializer(serializers.Serializer):
    customer_id = JSONIdField(required=False)
    items = serializers.ListField(child=JSONIdField(), min_length=1, max_length=100)
    k = JSONKField()
    type = JSONTypeField()
    channel = ChannelField()


class FeedQuerySerializer(serializers.Serializer):
    customer_id = IdField(required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_K, default=20)
    cursor = serializers.CharField(required=False, max_length=6000, trim_whitespace=False,
                                   help_text="The previous page's next_cursor, as given: an opaque token signed by "
                                             "this server for the same customer_id and type. Anything else is 400 "
                                             "invalid_cursor.")
    type = TypeField()
    channel = ChannelField()


class SimilarQuerySerializer(serializers.Serializer):
    k = KField()
    customer_id = IdField(required=False)
    same_type = serializers.BooleanField(required=False, default=False)
    type = TypeField()


# The most a price bound may say: far above any jewelry price, yet a finite float.
PRICE_BOUND_MAX = 1e9


class JSONPriceField(serializers.FloatField):
    """A price bound in a JSON body: a JSON number from 0 to PRICE_BOUND_MAX (a string, NaN or
    infinity is refused)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", PRICE_BOUND_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, (str, bool)):
            self.fail("invalid")
        return super().to_internal_value(data)


class SearchInputSerializer(serializers.Serializer):
    query = JSONTextField(max_length=MAX_QUERY_CHARS, help_text="What the shopper typed. Numbers in it are at most 10^12.")
    customer_id = JSONIdField(required=False)
    k = JSONKField()
    price_min = JSONPriceField(help_text="Lowest price, in the catalog's prices; wins over a bound in the query text. "
                                         "Above price_max, the two are read as the range between them.")
    price_max = JSONPriceField(help_text="Highest price; wins over a bound in the query text.")


class ImageSearchQuerySerializer(serializers.Serializer):
    k = KField()
    customer_id = IdField(required=False)


class ImageSearchInputSerializer(serializers.Serializer):
    # An empty file is judged by image_validate like any other broken photo (invalid_image).
    image = serializers.FileField(allow_empty_file=True, help_text="The photo (JPEG, PNG, WebP or GIF).")

    def validate_image(self, upload) -> bytes:
        """The photo's bytes, checked like every stored photo: format, size, pixels, damage."""
        try:
            return image_validate(upload, name="image", max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE).data
        except ImageRejected as exc:
            error = {"too_large": PayloadTooLargeError,
                     "unsupported_image_format": UnsupportedFormatError}.get(exc.code, DomainError)
            raise error(f"The photo was refused: {exc.reason}.", field="image", code=exc.code) from None


class AssistantInputSerializer(serializers.Serializer):
    message = JSONTextField(max_length=1000, help_text="The shopper's question. Numbers in it are at most 10^12.")
    customer_id = JSONIdField(required=False)
    item_id = JSONIdField(required=False, help_text="A jewelry item the question is about (404 not_jewelry "
                                                    "for another item).")


class EventsInputSerializer(serializers.Serializer):
    """Each event is validated on its own; a bad one is reported, the good ones are stored."""

    # Anything at all per event, null included: a bad event is reported in its own result
    # (207), so the request's own schema is only the batch around them.
    events = serializers.ListField(
        child=serializers.JSONField(allow_null=True, help_text=(
            'An event: {"event_id"?: string (1-128, not blank; makes re-sending idempotent), "customer_id": string '
            '(1-128), "item_id": string (1-64, a catalog item), "type": "view" | "favorite" | "add_to_cart" | '
            '"purchase", "timestamp": ISO 8601 (1970 to a day from now), "price"?: number or numeric string '
            '(0 <= price < 1,000,000), "channel"?: string (up to 32), "recommendation_id"?: string (the '
            'request_id of the answer that showed the item: credits the event to it)}. Each is judged on its own.')),
        min_length=1, max_length=1000)


# --- outputs ------------------------------------------------------------------------------


class RecommendedItemSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The retailer's item id.")
    title = serializers.CharField()
    type = serializers.CharField()
    price = serializers.FloatField(allow_null=True)
    currency = serializers.CharField()
    image_url = serializers.CharField(allow_blank=True)
    score = serializers.FloatField()
    reason = serializers.CharField()
    exclusive_tier = serializers.CharField(allow_null=True)


class RecommendationOutputSerializer(serializers.Serializer):
    scenario = serializers.CharField()
    items = RecommendedItemSerializer(many=True)
    model_version = serializers.CharField()
    personalised = serializers.BooleanField()
    customer_known = serializers.BooleanField()
    request_id = serializers.CharField(
        min_length=32, max_length=32,
        help_text="This answer's id (32 hex digits). Send it back as an event's `recommendation_id` when the "
                  "shopper views, carts or buys an item shown here: the event is then credited to this answer.")


class FeedOutputSerializer(RecommendationOutputSerializer):
    next_cursor = serializers.CharField(allow_null=True)


class SearchOutputSerializer(RecommendationOutputSerializer):
    parsed = serializers.DictField()


class AssistantOutputSerializer(RecommendationOutputSerializer):
    answer = serializers.CharField()
    intent = serializers.CharField()


class AttributionResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["attributed", "pending", "skipped"])
    recommendation_id = serializers.CharField(allow_null=True)
    method = serializers.ChoiceField(choices=["explicit", "window"], allow_null=True)
    position = serializers.IntegerField(allow_null=True, help_text="The item's 1-based position in that answer.")
    code = serializers.CharField(allow_null=True, help_text=(
        "Why it was skipped: unknown_recommendation_id, foreign_recommendation_id, item_not_shown, "
        "not_attributed_type."))
    message = serializers.CharField(allow_blank=True)


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    error = serializers.DictField(allow_null=True)
    attribution = AttributionResultSerializer(allow_null=True, help_text=(
        "For a stored event sent with a recommendation_id, or credited by customer and item within the "
        "attribution window; null otherwise."))


class EventsOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. 'unknown_item', 'missing_scope'.")
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True, help_text="The input field at fault, when there is one.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def render_event_outcomes(outcomes) -> dict:
    """The events endpoint's answer: counts, then each event's outcome in the one error shape."""
    results = [
        {"index": o.index, "event_id": o.event_id, "status": o.status,
         "error": error_body(o.code, o.message, o.field or None)["error"] if o.status == "error" else None,
         "attribution": o.attribution}
        for o in outcomes
    ]
    counts = {k: sum(1 for r in results if r["status"] == k) for k in ("created", "duplicate", "error")}
    return {"created": counts["created"], "duplicates": counts["duplicate"], "errors": counts["error"],
            "results": results}


def render_result(result) -> dict:
    """A RecommendationResult as the JSON every recommendation endpoint returns."""
    body = {
        "scenario": result.scenario,
        "items": [item.__dict__ for item in result.items],
        "model_version": result.model_version,
        "personalised": result.personalised,
        "customer_known": result.customer_known,
        "request_id": result.request_id,
    }
    body.update(result.extras)
    return body
