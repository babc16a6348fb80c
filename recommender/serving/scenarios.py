"""Every storefront scenario, answered the same way for the API and the dashboard preview.

Flow of each scenario: customer context -> eligibility mask (active, stock, membership,
purchases, scenario exclusions) -> ranker scores -> merchandising rules -> top-k ->
pins -> reasons. Exclusivity is enforced in ``eligibility`` alone, so no scenario can
forget it.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings
from django.core import signing
from django.db.models import Q

from recommender.ml.common.matrix import top_k, top_k_unordered
from recommender.ml.data import EVENT_WEIGHTS
from recommender.models import Item, RecommenderSettings

from . import reasons as reason_mod
from .catalog import ServingCatalog, canonical_type, serving_catalog
from .customers import CustomerContext, customer_context
from .experiments import Route, experiment_route
from .errors import DomainError, NotEntitledError, NotFoundError
from .model_store import active_ranker
from .rankers import PopularityContentRanker, Ranker, SparseScores, similar_scores
from .results import RecommendationResult, RecommendedItem
from .rules import (
    Rule,
    rules_active,
    rules_apply_exclusions,
    rules_apply_pins,
    rules_apply_scores,
    rules_apply_scores_at,
    rules_boost_bound,
)
from .snapshots import ProcessSnapshot, snapshot_on_change

SCENARIOS = ("home", "cross_sell", "member_exclusive", "feed", "similar", "search", "image_search", "assistant")
MAX_K = 100
# The feed's first items are ranked and diversified, and the cursor remembers each of them;
# past this many it serves the rest of the eligible catalog in a fixed per-customer order, so
# the cursor stays small (a query parameter) however far the shopper scrolls.
FEED_RANKED_ITEMS = 1000
FEED_EXPLORATION_SLOTS = 2
FEED_MMR_LAMBDA = 0.7


@dataclass
class Request:
    """Inputs common to the scenarios; ``model_version`` lets the preview compare versions."""

    customer_id: str | None = None
    k: int = 10
    product_type: str | None = None
    model_version: str | None = None
    channel: str | None = None  # "online" or "store"; None = inferred from the customer's events


CHANNELS = ("online", "store")


def check_channel(channel: str | None) -> str | None:
    if channel in (None, ""):
        return None
    if channel not in CHANNELS:
        raise DomainError(f"channel must be one of {', '.join(CHANNELS)}; got '{channel}'.", field="channel",
                          code="invalid_choice")
    return channel


def _context(req: Request) -> CustomerContext:
    """The customer's context as seen from this request's channel."""
    return customer_context(req.customer_id).with_channel(check_channel(req.channel))


def check_k(k: int, field: str = "k") -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise DomainError(f"{field} must be an integer between 1 and {MAX_K}.", field=field, code="out_of_range")
    return k


_settings_snapshot: ProcessSnapshot[RecommenderSettings] = ProcessSnapshot(RecommenderSettings.load)
snapshot_on_change(_settings_snapshot, RecommenderSettings)


def recommender_settings() -> RecommenderSettings:
    return _settings_snapshot.get()


def eligibility(
    catalog: ServingCatalog,
    ctx: CustomerContext,
    *,
    product_type: str | None = None,
    exclude_rows: list[int] | None = None,
    exclude_purchased: bool | None = None,
) -> np.ndarray:
    """Rows this customer may be shown. The single place that enforces exclusivity."""
    settings = recommender_settings()
    mask = catalog.showable(ctx.tier_rank, settings.in_stock_only).copy()
    purchased = settings.exclude_purchased if exclude_purchased is None else exclude_purchased
    if purchased and ctx.purchased_pks:
        rows = [catalog.pk_row[pk] for pk in ctx.purchased_pks if pk in catalog.pk_row]
        mask[rows] = False
    if product_type:
        wanted = canonical_type(product_type)
        if wanted not in catalog.type_names:
            # Types are catalog data, like item ids: an unknown one is not found (404).
            raise NotFoundError(f"Unknown product type '{product_type}'.", field="type", code="unknown_type")
        mask &= catalog.mask("type", wanted)
    if exclude_rows:
        mask[exclude_rows] = False
    return mask


def _ranker(req: Request, scenario: str) -> tuple[Ranker, Route | None]:
    """The ranker answering: the version the preview asked for, else the customer's arm of the
    scenario's running experiment, else the active version (or popularity before any)."""
    if not req.model_version:
        route = experiment_route(scenario, req.customer_id)
        if route is not None:
            return route.ranker, route
    return active_ranker(req.model_version) or PopularityContentRanker(), None


def _routed(result: RecommendationResult, route: Route | None) -> RecommendationResult:
    if route is not None:
        result.experiment_id, result.arm = route.experiment_id, route.arm
    return result


def _finish(
    scenario: str,
    catalog: ServingCatalog,
    ctx: CustomerContext,
    scores: np.ndarray | SparseScores,
    eligible: np.ndarray,
    k: int,
    *,
    ranker_version: str,
    personalised: bool,
    reason_context: dict | None = None,
    extras: dict | None = None,
    ranker: Ranker | None = None,
    cart_rows: list[int] | None = None,
) -> RecommendationResult:
    rules = rules_active(scenario)
    rules_apply_exclusions(rules, catalog, eligible)
    ranked = _rank_sparse(rules, catalog, scores, eligible, k) if isinstance(scores, SparseScores) else None
    if ranked is None:
        ranked = _rank_dense(rules, catalog, scores.dense(catalog) if isinstance(scores, SparseScores) else scores,
                             eligible, k)
    candidates, adjusted, score_rows = ranked
    top = top_k(adjusted, k)[0]  # ties by candidate position, i.e. by row
    score_of = dict(zip(candidates[top].tolist(), adjusted[top].tolist()))
    order, pinned = rules_apply_pins(rules, catalog, candidates[top].tolist(), eligible, k)
    missing = [row for row in order if row not in score_of]  # pinned from outside the candidates
    if missing:
        score_of.update(zip(missing, score_rows(np.array(missing)).tolist()))
    reason_context = {**(reason_context or {}), "sources": _sources(ranker, catalog, ctx, order, cart_rows, scenario)}
    texts = reason_mod.reasons_for(scenario, catalog, ctx, order, pinned, reason_context)
    items = [_item(catalog, row, score_of[row], texts[i]) for i, row in enumerate(order)]
    return RecommendationResult(
        scenario=scenario,
        items=items,
        model_version=ranker_version,
        personalised=personalised,
        customer_known=ctx.known,
        extras=extras or {},
    )


# (candidate rows ascending, their adjusted scores, adjusted scores of any other rows)
Ranked = tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]


def _rank_dense(rules: list[Rule], catalog: ServingCatalog, scores: np.ndarray, eligible: np.ndarray, k: int) -> Ranked:
    # A two-stage ranker scores only its retrieved rows (the rest are -inf): rank those when
    # they fill the page, and the whole eligible catalog only when they do not.
    finite = np.isfinite(scores)
    candidates = np.flatnonzero(eligible & finite)
    if len(candidates) < k:
        candidates = np.flatnonzero(eligible)
    adjusted = rules_apply_scores(rules, catalog, scores, candidates, finite)  # aligned with candidates
    return candidates, adjusted, lambda rows: rules_apply_scores(rules, catalog, scores, rows, finite)


# Rows of the popularity order a sparse ranking walks first, and the most it walks before it
# ranks every row instead (a filter almost nothing matches, a boost on a rare attribute).
SPARSE_WALK_START = 256
SPARSE_WALK_MAX = 65_536


def _sorted_union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.union1d`` for a few hundred rows: one sort, no hash table (numpy 2's ``unique``
    costs ~60 us here, six times this)."""
    rows = np.concatenate([a, b]).astype(np.int64, copy=False)
    rows.sort()
    return rows[np.concatenate(([True], rows[1:] != rows[:-1]))] if len(rows) else rows


def _rank_sparse(rules: list[Rule], catalog: ServingCatalog, scores: SparseScores, eligible: np.ndarray,
                 k: int) -> Ranked | None:
    """The dense ranking's candidates and adjusted scores, from the listed rows and the head of
    the popularity order alone; None when that cannot be shown to give the same top k.

    Every row outside the listed ones and the walked head scores ``rest_scale * popularity``,
    at most its value at the first row not walked; after boosts, at most that times
    ``rules_boost_bound``. Once k candidates score strictly above this bound, no other row
    can enter the top k or tie with it, so the answer is the dense one exactly.
    """
    listed = scores.rows[eligible[scores.rows]]
    if scores.rest_scale is None:  # unscored rows are not candidates
        if len(listed) < k or not len(scores.values):
            return None  # the dense ranking then ranks every eligible row
        floor = float(scores.values.min())
        return listed, rules_apply_scores_at(rules, catalog, scores.at(catalog, listed), listed, floor), \
            lambda rows: rules_apply_scores_at(rules, catalog, scores.at(catalog, rows), rows, floor)
    # The shift's floor is the lowest score of any row: some unlisted row holds the lowest
    # popularity when more rows hold it than are listed.
    if catalog.popularity_min_count <= len(scores.rows):
        return None
    rest_floor = float(scores.rest(catalog, catalog.popularity_order[-1:])[0])
    floor = min(rest_floor, float(scores.values.min())) if len(scores.values) else rest_floor
    boost = rules_boost_bound(rules)
    order, n = catalog.popularity_order, len(catalog)
    walk = SPARSE_WALK_START
    while True:
        head = order[:walk]
        candidates = _sorted_union(listed, head[eligible[head]])
        adjusted = rules_apply_scores_at(rules, catalog, scores.at(catalog, candidates), candidates, floor)
        if walk >= n:
            break  # every row walked: nothing is left outside
        if len(candidates) >= k:
            kth = float(np.partition(adjusted, len(adjusted) - k)[len(adjusted) - k])
            bound = (float(scores.rest(catalog, order[walk:walk + 1])[0]) + 1.0 - floor) * boost
            if kth > bound:
                break
        if walk >= SPARSE_WALK_MAX:
            return None
        walk *= 4
    return candidates, adjusted, lambda rows: rules_apply_scores_at(rules, catalog, scores.at(catalog, rows), rows,
                                                                    floor)


def _sources(ranker: Ranker | None, catalog: ServingCatalog, ctx: CustomerContext, rows: list[int],
             cart_rows: list[int] | None, scenario: str) -> dict:
    """The ranker's own account of why each shown row is there (blend rankers give one)."""
    explain = getattr(ranker, "explain", None)
    if explain is None or not rows:
        return {}
    return explain(catalog, ctx, rows, cart_rows=list(cart_rows or []), scenario=scenario)


def _item(catalog: ServingCatalog, row: int, score: float, reason: str) -> RecommendedItem:
    price = catalog.price[row]
    return RecommendedItem(
        id=catalog.external_ids[row],
        title=catalog.titles[row],
        type=catalog.product_types[row],
        price=None if np.isnan(price) else round(float(price), 4),
        currency=catalog.currency[row],
        image_url=catalog.image_urls[row],
        score=round(score, 6),
        reason=reason,
        exclusive_tier=catalog.tier_code[row] or None,
    )


def _scores(ranker: Ranker, catalog: ServingCatalog, ctx: CustomerContext, cart_rows: list[int],
            scenario: str) -> np.ndarray | SparseScores:
    """The ranker's sparse scores where it has them for this catalogue, else one per row."""
    sparse = getattr(ranker, "score_sparse", None)
    scores = sparse(catalog, ctx, cart_rows=cart_rows, scenario=scenario) if sparse is not None else None
    return scores if scores is not None else ranker.score(catalog, ctx, cart_rows=cart_rows, scenario=scenario)


def _personalised(ctx: CustomerContext, cart_rows: list[int] | None = None) -> bool:
    return bool(ctx.history) or bool(cart_rows)


# --- scenarios ----------------------------------------------------------------------------


def recommend_home(req: Request) -> RecommendationResult:
    """Homepage and category pages: personalised jewelry, optionally of one type."""
    k = check_k(req.k)
    catalog = serving_catalog()
    ctx = _context(req)
    eligible = eligibility(catalog, ctx, product_type=req.product_type)
    ranker, route = _ranker(req, "home")
    scores = _scores(ranker, catalog, ctx, [], "home")
    return _routed(_finish("home", catalog, ctx, scores, eligible, k, ranker_version=ranker.version,
                           personalised=_personalised(ctx), ranker=ranker), route)


def recommend_cross_sell(req: Request, item_ids: list[str]) -> RecommendationResult:
    """Complementary jewelry for a cart or order; never the cart items themselves."""
    k = check_k(req.k)
    if not item_ids:
        raise DomainError("items must list at least one item id.", field="items", code="required")
    ctx = _context(req)
    # A member-only item is unknown to everyone below its tier: its title would leak in the reasons.
    known = set(Item.objects.filter(external_id__in=item_ids)
                .filter(Q(exclusive_tier__isnull=True) | Q(exclusive_tier__rank__lte=ctx.tier_rank))
                .values_list("external_id", flat=True))
    missing = [i for i in item_ids if i not in known]
    if missing:
        raise NotFoundError(f"Unknown item id '{missing[0]}'.", field="items", code="unknown_item")
    catalog = serving_catalog()
    cart_rows = catalog.rows_for(item_ids)
    cart_context = _cart_context(item_ids)
    eligible = eligibility(catalog, ctx, product_type=req.product_type, exclude_rows=cart_rows)
    ranker, route = _ranker(req, "cross_sell")
    shopper = _with_cart_history(ctx, cart_context)
    scores = _scores(ranker, catalog, shopper, cart_rows, "cross_sell")
    return _routed(_finish("cross_sell", catalog, shopper, scores, eligible, k, ranker_version=ranker.version,
                           personalised=True, reason_context={"cart": cart_context}, ranker=ranker,
                           cart_rows=cart_rows), route)


def _cart_context(item_ids: list[str]) -> list[dict]:
    rows = Item.objects.filter(external_id__in=item_ids).values("id", "external_id", "title", "product_type", "is_jewelry")
    return list(rows)


def _with_cart_history(ctx: CustomerContext, cart: list[dict]) -> CustomerContext:
    """The cart counts as the freshest history: what is in it says what the shopper wants now."""
    from .customers import HistoryEntry

    entries = [HistoryEntry(c["id"], c["external_id"], c["title"], c["product_type"], c["is_jewelry"], "add_to_cart",
                            EVENT_WEIGHTS["add_to_cart"]) for c in cart]
    seen = {e.item_pk for e in entries}
    merged = entries + [h for h in ctx.history if h.item_pk not in seen]
    return CustomerContext(ctx.external_id, ctx.known, ctx.tier_rank, ctx.tier_code, merged, ctx.purchased_pks,
                           ctx.online_share)


def recommend_member_exclusive(req: Request, *, as_tier: tuple[int, str] | None = None) -> RecommendationResult:
    """Items reserved for the customer's tier and below. Non-members get a clear 403.

    ``as_tier=(rank, code)`` answers as if the customer held that tier (the dashboard's
    preview of what a member would see); the storefront API never passes it.
    """
    k = check_k(req.k)
    if not req.customer_id:
        raise DomainError("customer_id is required for member-exclusive recommendations.", field="customer_id",
                          code="required")
    ctx = _context(req)
    if not ctx.known:
        raise NotFoundError(f"Unknown customer '{req.customer_id}'.", field="customer_id", code="unknown_customer")
    if as_tier is not None:
        ctx = replace(ctx, tier_rank=as_tier[0], tier_code=as_tier[1])
    if not ctx.is_member:
        raise NotEntitledError("This customer has no membership tier, so no member-exclusive items can be shown.",
                               field="customer_id")
    catalog = serving_catalog()
    eligible = eligibility(catalog, ctx, product_type=req.product_type) & (catalog.tier_rank >= 1)
    ranker, route = _ranker(req, "member_exclusive")
    scores = _scores(ranker, catalog, ctx, [], "member_exclusive")
    return _routed(_finish("member_exclusive", catalog, ctx, scores, eligible, k, ranker_version=ranker.version,
                           personalised=_personalised(ctx), extras={"tier": ctx.tier_code}, ranker=ranker), route)


def recommend_similar(item_id: str, req: Request, *, same_type: bool = False) -> RecommendationResult:
    """Items like this one: fused photo + text + attribute vectors, attributes as tie-breakers."""
    k = check_k(req.k)
    catalog = serving_catalog()
    anchor = (Item.objects.filter(external_id=item_id).select_related("exclusive_tier")
              .only("id", "title", "product_type", "colour", "material", "is_jewelry", "exclusive_tier__rank").first())
    ctx = customer_context(req.customer_id)
    if anchor is None or (anchor.exclusive_tier_id and anchor.exclusive_tier.rank > ctx.tier_rank):
        # A member-only item is unknown to everyone below its tier: its title would leak in the reasons.
        raise NotFoundError(f"Unknown item id '{item_id}'.", field="id", code="unknown_item")
    if not anchor.is_jewelry:
        # Clothes are in the catalog for cross-category learning and as cart items; similar
        # answers jewelry for a jewelry anchor, and says so rather than guessing.
        raise NotFoundError(f"Item '{item_id}' is not jewelry; similar items are answered for jewelry only.",
                            field="id", code="not_jewelry")
    row = catalog.row_of.get(item_id)
    anchor_type = canonical_type(anchor.product_type)
    product_type = req.product_type or (anchor.product_type if same_type else None)
    eligible = eligibility(catalog, ctx, product_type=product_type, exclude_rows=[row] if row is not None else None,
                           exclude_purchased=False)

    def attributes(rows: np.ndarray | None = None) -> np.ndarray:
        """Same type, colour and material as the anchor, as small tie-breaking bonuses."""
        masks = [catalog.mask("type", anchor_type), catalog.mask("colour", (anchor.colour or "").lower()),
                 catalog.mask("material", (anchor.material or "~").lower())]
        if rows is not None:
            masks = [mask[rows] for mask in masks]
        return masks[0] * 0.1 + masks[1] * 0.05 + masks[2] * 0.05

    scores: np.ndarray | SparseScores
    if row is not None and catalog.has_vector[row]:
        scores = similar_scores(catalog, row, eligible, k)
        if isinstance(scores, SparseScores):
            scores = replace(scores, values=scores.values + attributes(scores.rows))
        else:
            scores = scores + attributes()
    else:
        scores = attributes() + 0.01 * np.log1p(catalog.popularity)
    return _finish("similar", catalog, ctx, scores, eligible, k, ranker_version=catalog.vector_version or "attributes",
                   personalised=False, reason_context={"anchor_row": row, "anchor_title": anchor.title})


# --- feed ---------------------------------------------------------------------------------


_CURSOR_SALT = "jewelrec.feed.v1"
_U64 = (1 << 64) - 1
_TAIL_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it permutes the 64-bit integers


def _invalid_cursor() -> DomainError:
    return DomainError("The cursor is malformed, expired, or was issued for another customer or type.",
                       field="cursor", code="invalid_cursor")


def _cursor_salt(req: Request) -> str:
    # A cursor is valid only for the customer and the type filter it was issued for.
    return f"{_CURSOR_SALT}:{req.customer_id or ''}:{canonical_type(req.product_type or '')}"


def _encode_cursor(req: Request, state: dict) -> str:
    ranked = sorted(state["ranked"])
    deltas = [b - a for a, b in zip([0] + ranked, ranked)]  # small numbers compress well
    payload = {"s": state["seed"], "p": state["page"], "r": deltas, "t": state["tail_after"]}
    return signing.dumps(payload, salt=_cursor_salt(req), compress=True)


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _decode_cursor(req: Request, cursor: str) -> dict:
    """The state inside a cursor this server signed; anything else is ``invalid_cursor``.

    The signature is checked before anything is decompressed or parsed, and the signed state is
    still validated in full: the signing key also signs other things.
    """
    try:
        payload = signing.loads(cursor, salt=_cursor_salt(req), max_age=settings.JEWELREC_FEED_CURSOR_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError, OverflowError, RecursionError):
        raise _invalid_cursor() from None
    if not isinstance(payload, dict) or set(payload) != {"s", "p", "r", "t"}:
        raise _invalid_cursor()
    seed, page, deltas, tail_after = payload["s"], payload["p"], payload["r"], payload["t"]
    if not (_is_int(seed, 0, 2**32 - 1) and _is_int(page, 1, 10**7) and isinstance(deltas, list)
            and len(deltas) <= FEED_RANKED_ITEMS + MAX_K and all(_is_int(d, 0, 2**62) for d in deltas)
            and (tail_after is None or _is_int(tail_after, 0, _U64))):
        raise _invalid_cursor()
    ranked, total = [], 0
    for delta in deltas:
        total += delta
        ranked.append(total)
    return {"seed": seed, "page": page, "ranked": ranked, "tail_after": tail_after}


def _tail_keys(catalog: ServingCatalog, seed: int) -> np.ndarray:
    """Each item's place in the feed's tail: a per-customer shuffle that is stable while the
    catalog changes (it depends on the item's pk alone), so a position in it is a cursor."""
    with np.errstate(over="ignore"):
        return (catalog.item_pk.astype(np.uint64) ^ np.uint64(seed)) * _TAIL_MIX


def feed_page(req: Request, page_size: int, cursor: str | None) -> RecommendationResult:
    """A personalised feed that serves every eligible item once, then ends (``next_cursor`` None).

    The first :data:`FEED_RANKED_ITEMS` items are ranked and diversified by maximal marginal
    relevance over type and colour, with a few slots for new items; the cursor carries their
    ids, so none repeats even when new events change the ranking in between. After them, the
    rest of the eligible catalog follows in a fixed per-customer order (:func:`_tail_keys`),
    each page ordered by score, and the cursor carries only the position reached. The cursor
    is signed and expires after ``JEWELREC_FEED_CURSOR_MAX_AGE`` seconds.
    """
    page_size = check_k(page_size, "page_size")
    state = (_decode_cursor(req, cursor) if cursor
             else {"seed": _feed_seed(req.customer_id), "page": 0, "ranked": [], "tail_after": None})
    catalog = serving_catalog()
    ctx = _context(req)
    seen_rows = [catalog.pk_row[pk] for pk in state["ranked"] if pk in catalog.pk_row]
    eligible = eligibility(catalog, ctx, product_type=req.product_type, exclude_rows=seen_rows)
    ranker, route = _ranker(req, "feed")
    scores = ranker.score(catalog, ctx, cart_rows=[], scenario="feed")
    rules = rules_active("feed")
    rules_apply_exclusions(rules, catalog, eligible)
    adjusted = rules_apply_scores(rules, catalog, scores)
    if len(state["ranked"]) < FEED_RANKED_ITEMS:
        page_rows, pinned, explore = _feed_ranked_rows(catalog, state, rules, adjusted, eligible, page_size)
        remaining = int(eligible.sum()) - len(page_rows)
        ranked = state["ranked"] + [int(catalog.item_pk[r]) for r in page_rows]
        tail_after = None
    else:
        keys = _tail_keys(catalog, state["seed"])
        if state["tail_after"] is not None:
            eligible &= keys > np.uint64(state["tail_after"])
        candidates = np.flatnonzero(eligible)
        if len(candidates) > page_size:  # the next page_size keys without sorting the whole catalog
            candidates = candidates[np.argpartition(keys[candidates], page_size - 1)[:page_size]]
        taken = candidates[np.argsort(keys[candidates])]
        remaining = int(eligible.sum()) - len(taken)
        tail_after = int(keys[taken].max()) if len(taken) else state["tail_after"]
        page_rows = sorted(taken.tolist(), key=lambda row: (-adjusted[row], row))
        pinned, explore, ranked = set(), [], state["ranked"]
    texts = reason_mod.reasons_for("feed", catalog, ctx, page_rows, pinned, {
        "explore": set(explore), "sources": _sources(ranker, catalog, ctx, page_rows, [], "feed")})
    items = [_item(catalog, row, float(adjusted[row]), texts[i]) for i, row in enumerate(page_rows)]
    next_cursor = None if remaining <= 0 or not page_rows else _encode_cursor(
        req, {"seed": state["seed"], "page": state["page"] + 1, "ranked": ranked, "tail_after": tail_after})
    return _routed(RecommendationResult(
        scenario="feed", items=items, model_version=ranker.version, personalised=_personalised(ctx),
        customer_known=ctx.known, extras={"next_cursor": next_cursor, "page": state["page"]},
    ), route)


def _feed_ranked_rows(catalog: ServingCatalog, state: dict, rules, adjusted: np.ndarray, eligible: np.ndarray,
                      page_size: int) -> tuple[list[int], set, list[int]]:
    rng = np.random.default_rng(state["seed"] + state["page"])
    explore_pool = np.flatnonzero(eligible & catalog.is_new)
    n_explore = min(FEED_EXPLORATION_SLOTS, len(explore_pool), max(page_size - 1, 0))
    explore = rng.choice(explore_pool, size=n_explore, replace=False).tolist() if n_explore else []
    remaining = eligible.copy()
    remaining[explore] = False
    chosen = _mmr(catalog, adjusted, remaining, page_size - len(explore))
    # Exploration items go in fixed slots (3rd and 8th...) so the page stays mostly relevance-led.
    page_rows = list(chosen)
    for i, row in enumerate(explore):
        page_rows.insert(min(len(page_rows), 2 + i * 5), row)
    if state["page"] == 0:
        page_rows, pinned = rules_apply_pins(rules, catalog, page_rows, eligible, page_size)
        return page_rows, pinned, explore
    return page_rows[:page_size], set(), explore


def _feed_seed(customer_id: str | None) -> int:
    return int.from_bytes(hashlib.sha256((customer_id or "").encode()).digest()[:4], "big")


def _mmr(catalog: ServingCatalog, scores: np.ndarray, eligible: np.ndarray, n: int, pool: int = 200) -> list[int]:
    candidates = np.flatnonzero(eligible)
    if n <= 0 or not len(candidates):
        return []
    if len(candidates) > pool:
        candidates = candidates[top_k_unordered(scores[candidates], pool)]
    rel = scores[candidates]
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    types, colours = catalog.types[candidates], catalog.colours[candidates]
    chosen: list[int] = []
    max_sim = np.zeros(len(candidates))
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(min(n, len(candidates))):
        mmr = FEED_MMR_LAMBDA * rel - (1 - FEED_MMR_LAMBDA) * max_sim
        mmr[~available] = -np.inf
        best = int(np.argmax(mmr))
        chosen.append(int(candidates[best]))
        available[best] = False
        sim = 0.6 * (types == types[best]) + 0.4 * (colours == colours[best])
        max_sim = np.maximum(max_sim, sim)
    return chosen
