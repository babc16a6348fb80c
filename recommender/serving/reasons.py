"""Short human-readable reasons, computed from real signals for the k items shown.

A ranked scenario's reason names the source that really put the item there (the ranker's
``explain``), with evidence from this shopper's own history or basket: never a category the
shopper did not touch, never the title of an item the caller may not see.
"""
from __future__ import annotations

from .catalog import ServingCatalog
from .customers import CustomerContext, HistoryEntry

_VERBS = {"purchase": "bought", "add_to_cart": "added to your bag", "favorite": "saved", "view": "viewed"}
SIMILARITY_THRESHOLD = 0.55


def _plural(product_type: str) -> str:
    t = product_type.strip().lower()
    if not t:
        return "items"
    if t.endswith(("s", "wear")):
        return t
    return t + "s"


def reasons_for(
    scenario: str,
    catalog: ServingCatalog,
    ctx: CustomerContext,
    rows: list[int],
    pinned: set[int],
    context: dict,
) -> list[str]:
    out: list[str] = []
    hist_rows = [catalog.pk_row[h.item_pk] for h in ctx.history if h.item_pk in catalog.pk_row]
    hist_rows = [r for r in hist_rows if catalog.has_vector[r]]
    hist_entries = {catalog.pk_row[h.item_pk]: h for h in ctx.history if h.item_pk in catalog.pk_row}
    source_types = [h.product_type for h in ctx.history if not h.is_jewelry]
    explore = context.get("explore", set())
    cart = context.get("cart", [])
    cart_rows = [catalog.row_of[c["external_id"]] for c in cart if c["external_id"] in catalog.row_of]
    cart_rows = [r for r in cart_rows if catalog.has_vector[r]]
    # Every shown row against every history (and cart) row in one product, not one per row.
    hist_match = _best_matches(catalog, rows, hist_rows)
    cart_match = _best_matches(catalog, rows, cart_rows) if scenario == "cross_sell" and cart else {}
    sources = context.get("sources") or {}
    evidence = _visible_evidence(catalog, ctx, cart)
    for row in rows:
        text = None
        if row not in pinned and row not in explore and row in sources:
            text = _source_reason(scenario, catalog, ctx, sources[row], evidence)
        out.append(text or _reason(scenario, catalog, ctx, row, pinned, explore, context, hist_match, hist_entries,
                                   source_types, cart, cart_match))
    return out


def _visible_evidence(catalog: ServingCatalog, ctx: CustomerContext, cart: list[dict]) -> dict[int, tuple[str, str]]:
    """(title, how the shopper touched it) of the history and basket items a reason may name:
    an exclusive item above the caller's tier is never named."""
    out: dict[int, tuple[str, str]] = {}
    for h in ctx.history:
        if _visible(catalog, ctx, h.item_pk):
            out[h.item_pk] = (h.title, _VERBS.get(h.event_type, "viewed"))
    for c in cart:
        if _visible(catalog, ctx, c["id"]):
            out[c["id"]] = (c["title"], "in your bag")
    return out


def _visible(catalog: ServingCatalog, ctx: CustomerContext, item_pk: int) -> bool:
    row = catalog.pk_row.get(item_pk)
    # non-jewelry is never exclusive; a jewel the catalog no longer shows is not named
    return row is None or int(catalog.tier_rank[row]) <= ctx.tier_rank


def _touched(title: str, how: str) -> str:
    return f"the {title} {how}" if how == "in your bag" else f"the {title} you {how}"


_CHANNEL_WORDS = {True: "in online orders", False: "in our stores"}


def _source_reason(scenario: str, catalog: ServingCatalog, ctx: CustomerContext, reason, evidence) -> str | None:
    """The sentence for a blend source; None lets the generic reasons answer."""
    source = reason.source
    if scenario == "member_exclusive" and source in ("channel_popularity", "trending"):
        return None  # on the members' page, the tier says more than popularity: "Reserved for ..."
    item = evidence.get(reason.evidence_pk) if reason.evidence_pk is not None else None
    if source in ("co_jewelry", "co_purchase") and item:
        return f"Often bought with {_touched(*item)}"
    if source == "content" and item:
        return f"Similar to {_touched(*item)}"
    if source == "type_affinity" and item:
        return f"Because you {item[1]} the {item[0]}" if item[1] != "in your bag" else f"Goes with {_touched(*item)}"
    if source == "colour_affinity" and item:
        return f"The same colour as {_touched(*item)}"
    if source == "department_affinity":
        latest = _latest(ctx, jewelry=False)
        if latest is not None:
            return f"Popular with customers who buy {_plural(latest.product_type)}, like you"
    if source == "colour_match":
        return "Picked to go with the colours you shop"
    if source == "segment_affinity":
        return "Popular with shoppers of the lines you buy"
    if source == "price_affinity":
        return "In the price range you usually shop"
    if source == "trending":
        return "Trending this week"
    if source == "transfer":
        return "Picked for you from everything you shop"
    if source == "channel_popularity":
        if ctx.online_share is None:
            return "Popular this week"
        return f"Popular {_CHANNEL_WORDS[ctx.online_share >= 0.5]} this week"
    return None


def _latest(ctx: CustomerContext, *, jewelry: bool) -> HistoryEntry | None:
    return next((h for h in ctx.history if h.is_jewelry == jewelry and h.product_type), None)


def _best_matches(catalog: ServingCatalog, rows: list[int], others: list[int]) -> dict[int, tuple[int, float]]:
    """For each row with a vector, its most similar row among ``others`` and the cosine."""
    shown = [r for r in rows if catalog.has_vector[r]]
    if not others or not shown:
        return {}
    sims = catalog.vectors[shown] @ catalog.vectors[others].T  # (shown, others)
    best = sims.argmax(axis=1)
    return {row: (others[int(j)], float(sims[i, j])) for i, (row, j) in enumerate(zip(shown, best))}


def _reason(scenario, catalog, ctx, row, pinned, explore, context, hist_match, hist_entries, source_types, cart,
            cart_match) -> str:
    if row in pinned:
        return "Featured by our merchandisers"
    if row in explore:
        return "New in: just added to the collection" if catalog.buyers[row] == 0 else "Something new to discover"
    if scenario == "search" and context.get("parsed") is not None:
        parsed = context["parsed"]
        words = [*parsed.colours, *parsed.terms, *parsed.types]
        words += [f"not {w}" for w in [*parsed.excluded_colours, *parsed.excluded_terms, *parsed.excluded_types]]
        return f"Matches {' '.join(words)}" if words else f"Matches \"{parsed.text}\""
    if scenario == "image_search":
        predicted = context.get("predicted_type")
        return f"Looks like your photo ({predicted})" if predicted else "Looks like your photo"
    if scenario == "similar":
        anchor = context.get("anchor_title") or "this item"
        return f"Looks like the {anchor}"
    if scenario == "cross_sell" and cart:
        match, sim = cart_match.get(row, (None, 0.0))
        if match is not None and sim >= SIMILARITY_THRESHOLD:
            return f"Matches the {catalog.titles[match]} in your bag"
        garments = [c for c in cart if not c["is_jewelry"]]
        if garments:
            return f"Completes a look with the {garments[0]['title']}"
        return f"Goes well with the {cart[0]['title']}"
    match, sim = hist_match.get(row, (None, 0.0))
    if match is not None and sim >= SIMILARITY_THRESHOLD:
        entry = hist_entries[match]
        verb = _VERBS.get(entry.event_type, "viewed")
        return f"Similar to the {entry.title} you {verb}"
    co_types = catalog.co_buy_types[row] if catalog.co_buy_types else []
    for t in source_types:
        if t in co_types:
            return f"Popular with customers who bought {_plural(t)}"
    if scenario == "member_exclusive":
        # the item's own tier: a Platinum member also sees Gold items, which are not Platinum-only
        item_tier = catalog.tier_code[row] or ctx.tier_code
        above = "" if item_tier == ctx.tier_code else " and above"
        return f"Reserved for {item_tier.title()} members{above}"
    if catalog.buyers[row] > 0:
        return "Popular this week"
    return "Picked for you"
