"""Preview: see what a customer gets in every storefront scenario, optionally from two model versions.

The page itself is a light shell; each scenario panel fetches its own HTML fragment from
the endpoints below, which call the serving functions the storefront API calls
(``recommender.serving.scenarios`` / ``search``) -- the preview never ranks on its own.
Merchandising rules apply inside those functions, so what is shown here is what shoppers get.
"""
from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from recommender.models import Customer, Event, Item, MembershipTier, ModelVersion
from recommender.serving import scenarios
from recommender.serving.customers import customer_context
from recommender.serving.errors import DomainError, NotEntitledError
from recommender.serving.results import RecommendationResult
from recommender.serving.rules import rules_active
from recommender.serving.search import assistant_answer, search_image, search_text

from ..access import staff_required
from ..comparison import rank_marks
from ..selectors import first_image_urls

logger = logging.getLogger(__name__)
PREVIEW_TYPES = ["Earring", "Necklace", "Ring", "Bracelet"]
CUSTOMER_RESULTS = 20
PICKER_RESULTS = 12
DEFAULT_K = 8
FEED_PAGE = 8
# Scenarios whose ranking does not use the model version: one column is enough.
VERSION_INDEPENDENT = {"similar", "image_search", "search"}
PANELS = [
    ("home", "Home", "Personalised jewelry for the homepage, optionally of one type."),
    ("cross_sell", "Cross-sell", "Complements for a cart: build one with the item picker."),
    ("member_exclusive", "Member exclusive", "Items reserved for the customer's tier and below."),
    ("feed", "Feed", "Endless diversified feed; “Load more” follows the cursor."),
    ("similar", "Similar items", "Items like a chosen one (photo + text + attribute vectors)."),
    ("search", "Search", "What the storefront's text search answers (English or Chinese)."),
    ("assistant", "Assistant", "Ask in English or Chinese; answers come from catalog data."),
    ("image_search", "Visual search", "Upload a photo; items that look alike."),
]
RULE_SCENARIO = {"image_search": "search"}


@dataclass
class Column:
    label: str  # "A" / "B"
    version: str  # "" = the active model
    result: RecommendationResult | None = None
    error: DomainError | None = None
    ms: float = 0.0
    more_url: str = ""  # feed: the next page of this column
    marks: dict = field(default_factory=dict)  # item id -> RankMark against the other column

    @property
    def version_label(self) -> str:
        return self.version or "active model"


def _versions(request: HttpRequest) -> list[tuple[str, str]]:
    """[("A", name or ""), ("B", name)] from ?a=&b=; B only when asked for."""
    a = (request.GET.get("a") or request.POST.get("a") or "").strip()
    b = (request.GET.get("b") or request.POST.get("b") or "").strip()
    out = [("A", a)]
    if b:
        out.append(("B", b))
    return out


def _k(request: HttpRequest, default: int = DEFAULT_K) -> int:
    raw = request.GET.get("k") or request.POST.get("k")
    try:
        return int(raw) if raw else default
    except ValueError:
        return -1  # the service answers with its own range message


class PreviewFailure(DomainError):
    """A serving failure that is not the caller's fault, shown in its column instead of a blank 500 page."""

    status_code = 500
    code = "server_error"


def run_columns(columns: list[Column], call) -> None:
    for col in columns:
        started = time.perf_counter()
        try:
            col.result = call(col.version or None)
        except DomainError as exc:
            col.error = exc
        except Exception as exc:  # noqa: BLE001 - one broken model version must not blank the whole panel
            logger.exception("preview: serving failed for version %r", col.version)
            col.error = PreviewFailure(f"Serving failed: {type(exc).__name__}: {exc}")
        col.ms = (time.perf_counter() - started) * 1000


def mark_differences(columns: list[Column]) -> None:
    """Side by side, each column's items say whether the other column has them, and where."""
    if len(columns) != 2 or not all(c.result for c in columns):
        return
    a, b = ([i.id for i in c.result.items] for c in columns)
    columns[0].marks = rank_marks(a, b)
    columns[1].marks = rank_marks(b, a)


def _render(request: HttpRequest, scenario: str, columns: list[Column], **extra) -> HttpResponse:
    mark_differences(columns)
    errors = [c.error for c in columns if c.error is not None]
    # One status for the fragment: the error's when every column failed the same way.
    status = errors[0].status_code if errors and len(errors) == len(columns) else 200
    context = {
        "scenario": scenario,
        "columns": columns,
        "rules_count": len(rules_active(RULE_SCENARIO.get(scenario, scenario))),
        "rules_url": reverse("dashboard:rules"),
        **extra,
    }
    return render(request, "dashboard/preview/_result.html", context, status=status)


def _empty(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "dashboard/preview/_empty.html", {"message": message})


# --- page -------------------------------------------------------------------------------------


@staff_required
@require_GET
def preview_page(request: HttpRequest) -> HttpResponse:
    customer_id = (request.GET.get("customer") or "").strip()
    customer = Customer.objects.select_related("tier").filter(external_id=customer_id).first() if customer_id else None
    versions = list(ModelVersion.objects.filter(status=ModelVersion.Status.READY).only("name", "is_active")[:50])
    selected = dict(_versions(request))
    return render(
        request,
        "dashboard/preview/page.html",
        {
            "section": "preview",
            "customer_id": customer_id,
            "customer": customer,
            "versions": versions,
            "version_a": selected.get("A", ""),
            "version_b": selected.get("B", ""),
            "active_name": next((v.name for v in versions if v.is_active), ""),
            "panels": PANELS,
            "types": PREVIEW_TYPES,
            "default_k": DEFAULT_K,
        },
    )


# --- customers --------------------------------------------------------------------------------


@staff_required
@require_GET
def customer_search(request: HttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()
    customers = []
    if q:
        # A range on the unique index instead of LIKE, which SQLite cannot serve from the index.
        customers = list(Customer.objects.select_related("tier")
                         .filter(external_id__gte=q, external_id__lt=q + "\U0010ffff")
                         .order_by("external_id")[:CUSTOMER_RESULTS])
    keep = {k: v for k, v in (("a", request.GET.get("a", "")), ("b", request.GET.get("b", ""))) if v}
    return render(request, "dashboard/preview/_customers.html",
                  {"q": q, "customers": customers, "limit": CUSTOMER_RESULTS, "keep": urlencode(keep)})


def random_customer_with_jewelry() -> str | None:
    """A random customer who has at least one jewelry event, in a few indexed queries.

    A random event id, then the first jewelry event at or after it: ``ORDER BY RANDOM()``
    would sort every customer on each click.
    """
    jewelry_events = Event.objects.filter(item__is_jewelry=True)
    # Two index probes: MIN and MAX in one SELECT make SQLite scan the whole index (31 ms on the sample).
    lo = Event.objects.order_by("id").values_list("id", flat=True).first()
    hi = Event.objects.order_by("-id").values_list("id", flat=True).first()
    if lo is None:
        return None
    for _ in range(3):
        start = random.randint(lo, hi)
        found = jewelry_events.filter(id__gte=start).order_by("id").values_list("customer__external_id", flat=True).first()
        if found:
            return found
    return jewelry_events.order_by("id").values_list("customer__external_id", flat=True).first()


@staff_required
@require_GET
def customer_random(request: HttpRequest) -> HttpResponse:
    params = {k: v for k, v in (("a", request.GET.get("a", "")), ("b", request.GET.get("b", ""))) if v}
    found = random_customer_with_jewelry()
    if found is None:
        from django.contrib import messages

        messages.warning(request, "No customer has a jewelry event yet; import events first.")
    else:
        params["customer"] = found
    return redirect(reverse("dashboard:preview") + ("?" + urlencode(params) if params else ""))


@staff_required
@require_GET
def customer_panel(request: HttpRequest) -> HttpResponse:
    customer_id = (request.GET.get("customer") or "").strip()
    if not customer_id:
        return _empty(request, "Search for a customer or pick a random one to see their tier and history.")
    ctx = customer_context(customer_id)
    if not ctx.known:
        return render(request, "dashboard/preview/_empty.html",
                      {"message": f"Unknown customer “{customer_id}”. Scenarios treat them as an anonymous visitor."},
                      status=404)
    thumbs = first_image_urls([h.item_pk for h in ctx.history])
    groups = dict(Item.objects.filter(pk__in=[h.item_pk for h in ctx.history]).values_list("pk", "product_group"))
    history = [{"entry": h, "thumb": thumbs.get(h.item_pk, ""), "group": groups.get(h.item_pk) or h.product_type}
               for h in ctx.history]
    categories = Counter("Jewelry" if h.is_jewelry else (groups.get(h.item_pk) or h.product_type) for h in ctx.history)
    return render(request, "dashboard/preview/_customer.html",
                  {"ctx": ctx, "history": history, "categories": categories.most_common()})


@staff_required
@require_GET
def item_picker(request: HttpRequest) -> HttpResponse:
    """Jewelry items by id prefix or title words, with photos: for the cart and the similar-items anchor."""
    q = (request.GET.get("q") or "").strip()
    qs = Item.objects.filter(is_jewelry=True, is_active=True).only("id", "external_id", "title", "product_type", "price", "currency")
    if q:
        qs = qs.filter(Q(external_id__gte=q, external_id__lt=q + "\U0010ffff") | Q(title__icontains=q))
    else:
        qs = qs.filter(images__isnull=False).distinct()
    items = list(qs.order_by("external_id")[:PICKER_RESULTS])
    thumbs = first_image_urls([i.pk for i in items])
    return render(request, "dashboard/preview/_picker.html",
                  {"q": q, "items": [{"item": i, "thumb": thumbs.get(i.pk, "")} for i in items]})


# --- scenarios --------------------------------------------------------------------------------


def _request(request: HttpRequest, version: str | None, k: int | None = None) -> scenarios.Request:
    data = request.GET if request.method == "GET" else request.POST
    return scenarios.Request(customer_id=(data.get("customer") or "").strip() or None,
                             k=_k(request) if k is None else k,
                             product_type=(data.get("type") or "").strip() or None,
                             model_version=version)


def _columns(request: HttpRequest, scenario: str) -> list[Column]:
    versions = _versions(request)
    if scenario in VERSION_INDEPENDENT:
        versions = versions[:1]
    return [Column(label, name) for label, name in versions]


@staff_required
@require_GET
def scenario_home(request: HttpRequest) -> HttpResponse:
    columns = _columns(request, "home")
    run_columns(columns, lambda v: scenarios.recommend_home(_request(request, v)))
    return _render(request, "home", columns)


@staff_required
@require_GET
def scenario_cross_sell(request: HttpRequest) -> HttpResponse:
    items = [i for i in (request.GET.get("items") or "").replace(" ", "").split(",") if i]
    if not items:
        return _empty(request, "The cart is empty: add items with the item picker above to see complements.")
    columns = _columns(request, "cross_sell")
    run_columns(columns, lambda v: scenarios.recommend_cross_sell(_request(request, v), items))
    return _render(request, "cross_sell", columns, cart=items)


@staff_required
@require_GET
def scenario_member_exclusive(request: HttpRequest) -> HttpResponse:
    if not (request.GET.get("customer") or "").strip():
        return _empty(request, "Member exclusives depend on the customer's tier: choose a customer first.")
    columns = _columns(request, "member_exclusive")
    run_columns(columns, lambda v: scenarios.recommend_member_exclusive(_request(request, v)))
    notice = None
    if all(isinstance(c.error, NotEntitledError) for c in columns):
        # Not a failure of the preview: this shopper simply has no tier. Say so, and show what
        # a member of the first tier would get with the same history.
        tier = MembershipTier.objects.filter(rank__gt=0).order_by("rank").first()
        if tier is not None:
            notice = (f"This customer has no membership tier, so the storefront shows them no member-exclusive "
                      f"items. Below: what a {tier.name} member with the same history would see.")
            for col in columns:
                col.error = None
            run_columns(columns, lambda v: scenarios.recommend_member_exclusive(_request(request, v),
                                                                         as_tier=(tier.rank, tier.code)))
        else:
            notice = "This customer has no membership tier, and no member tiers exist yet."
            for col in columns:
                col.error = None
                col.result = RecommendationResult("member_exclusive", [], col.version_label, False, True)
    return _render(request, "member_exclusive", columns, notice=notice)


@staff_required
@require_GET
def scenario_feed(request: HttpRequest) -> HttpResponse:
    cursor = (request.GET.get("cursor") or "").strip() or None
    columns = _columns(request, "feed")
    if cursor:
        # "Load more" continues one column: the one whose cursor this is.
        wanted = (request.GET.get("column") or "A").upper()
        columns = [c for c in columns if c.label == wanted] or columns[:1]
    run_columns(columns, lambda v: scenarios.feed_page(_request(request, v), _k(request, FEED_PAGE), cursor))
    base = request.GET.copy()
    for col in columns:
        next_cursor = col.result.extras.get("next_cursor") if col.result else None
        if next_cursor:
            params = base.copy()
            params["cursor"], params["column"] = next_cursor, col.label
            col.more_url = reverse("dashboard:preview_feed") + "?" + params.urlencode()
    return _render(request, "feed", columns, append=bool(cursor))


@staff_required
@require_GET
def scenario_similar(request: HttpRequest) -> HttpResponse:
    item_id = (request.GET.get("item") or "").strip()
    if not item_id:
        return _empty(request, "Choose an item with “Similar” in the item picker above.")
    columns = _columns(request, "similar")
    same_type = request.GET.get("same_type") in ("1", "on", "true")
    run_columns(columns, lambda v: scenarios.recommend_similar(item_id, _request(request, v), same_type=same_type))
    anchor = Item.objects.filter(external_id=item_id).only("id", "external_id", "title", "product_type").first()
    thumb = first_image_urls([anchor.pk]).get(anchor.pk, "") if anchor else ""
    return _render(request, "similar", columns, anchor=anchor, anchor_thumb=thumb)


@staff_required
@require_GET
def scenario_search(request: HttpRequest) -> HttpResponse:
    query = (request.GET.get("q") or "").strip()
    if not query:
        return _empty(request, "Type what a shopper would search for, e.g. “gold hoops” or “银色项链”.")
    columns = _columns(request, "search")
    run_columns(columns, lambda v: search_text(query, _request(request, v)))
    return _render(request, "search", columns, query=query)


@staff_required
@require_POST
def scenario_assistant(request: HttpRequest) -> HttpResponse:
    message = (request.POST.get("message") or "").strip()
    item_id = (request.POST.get("item_id") or "").strip() or None
    columns = _columns(request, "assistant")
    run_columns(columns, lambda v: assistant_answer(message, _request(request, v, k=min(max(_k(request), 1), 5)), item_id=item_id))
    return _render(request, "assistant", columns, message=message)


@staff_required
@require_POST
def scenario_image_search(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("image")
    if upload is None:
        return render(request, "dashboard/preview/_empty.html", {"message": "Choose a photo to search with.", "error": True},
                      status=400)
    columns = _columns(request, "image_search")
    run_columns(columns, lambda v: search_image(upload, _request(request, v)))
    return _render(request, "image_search", columns)

