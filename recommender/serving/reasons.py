"""Short human-readable reasons, computed from real signals for the k items shown."""
from __future__ import annotations

from .catalog import ServingCatalog
from .customers import CustomerContext

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
    for row in rows:
        out.append(_reason(scenario, catalog, ctx, row, pinned, explore, context, hist_match, hist_entries,
                           source_types, cart, cart_match))
    return out


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
        words = [*parsed.colours, *parsed.materials, *parsed.types]
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
    if co_types and source_types:
        return f"Popular with customers who bought {_plural(co_types[0])}"
    if catalog.buyers[row] > 0:
        return "Popular this week"
    return "Picked for you"
