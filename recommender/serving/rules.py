"""Merchandising rules applied to a ranked list, the same way in every scenario."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.utils import timezone

from recommender.models import MerchandisingRule

from .catalog import ServingCatalog, canonical_type
from .snapshots import ProcessSnapshot, snapshot_on_change

# A boost of weight w multiplies the item's rank score by (1 + w); a bury divides it.
# Scores are shifted to be positive first, so the direction holds for any scorer.


@dataclass(frozen=True)
class Rule:
    action: str
    target: str
    value: str
    position: int | None
    weight: float
    name: str
    scenarios: tuple[str, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    rule_id: int | None = None  # the saved row; None for a draft

    def applies(self, scenario: str, now: datetime) -> bool:
        if self.scenarios and scenario not in self.scenarios:
            return False
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or self.ends_at > now)


def _enabled_rules() -> list[Rule]:
    # Every enabled rule, scheduled or not: the schedule is checked per request, so a cached
    # list still starts and ends rules on time.
    return [
        rule_from_row(r) for r in MerchandisingRule.objects.filter(is_enabled=True).order_by("id")
    ]


def rule_from_row(r: MerchandisingRule) -> Rule:
    """The serving form of a rule row (saved or not): values compared the way requests compare them."""
    return Rule(r.action, r.target, r.value.strip().lower() if r.target != "item" else r.value.strip(), r.position,
                r.weight, r.name, tuple(r.scenarios or ()), r.starts_at, r.ends_at, r.pk)


_rules_snapshot: ProcessSnapshot[list[Rule]] = ProcessSnapshot(_enabled_rules)
snapshot_on_change(_rules_snapshot, MerchandisingRule)


# (draft rules, ids of saved rules they replace) for the rule form's preview, in this context only.
_drafts: ContextVar[tuple[tuple[Rule, ...], frozenset[int]]] = ContextVar("jewelrec_rule_drafts", default=((), frozenset()))


@contextmanager
def rules_drafted(drafts: list[Rule], *, replacing: set[int] | frozenset[int] = frozenset()) -> Iterator[None]:
    """Inside the block, this request's scenarios also apply these unsaved rules, and not the
    saved rules they replace (a rule being edited): what the rule form previews. Nothing is
    written and no other request sees them."""
    token = _drafts.set((tuple(drafts), frozenset(replacing)))
    try:
        yield
    finally:
        _drafts.reset(token)


def rules_active(scenario: str, now: datetime | None = None) -> list[Rule]:
    now = now or timezone.now()
    drafts, replacing = _drafts.get()
    saved = [rule for rule in _rules_snapshot.get() if rule.rule_id not in replacing]
    return [rule for rule in (*saved, *drafts) if rule.applies(scenario, now)]


def rule_mask(rule: Rule, catalog: ServingCatalog) -> np.ndarray:
    """Rows a rule targets (read-only)."""
    n = len(catalog)
    if rule.target == "item":
        mask = np.zeros(n, dtype=bool)
        row = catalog.row_of.get(rule.value)
        if row is not None:
            mask[row] = True
        return mask
    if rule.target == "type":
        return catalog.mask("type", canonical_type(rule.value))
    if rule.target == "colour":
        return catalog.mask("colour", rule.value) | catalog.mask("material", rule.value)
    if rule.target == "tag":
        return catalog.mask("tag", rule.value)
    return np.zeros(n, dtype=bool)


def rules_apply_exclusions(rules: list[Rule], catalog: ServingCatalog, eligible: np.ndarray) -> None:
    """Clear the rows that exclusion rules target from ``eligible`` (in place)."""
    for rule in rules:
        if rule.action == MerchandisingRule.Action.EXCLUDE:
            eligible &= ~rule_mask(rule, catalog)


def rules_apply_scores(rules: list[Rule], catalog: ServingCatalog, scores: np.ndarray,
                       rows: np.ndarray | None = None, finite: np.ndarray | None = None) -> np.ndarray:
    """Boost and bury: the adjusted scores (float64) of ``rows``, or of every row when None.

    Scoring only the candidate rows keeps a 100k-item request from paying for full-catalog
    copies; the shift below uses every finite score, so an item's adjusted score is the
    same whichever rows are asked for. Pins are placed after ranking, exclusions by
    ``rules_apply_exclusions``. ``finite`` is ``np.isfinite(scores)`` when the caller has it.
    """
    finite_all = np.isfinite(scores) if finite is None else finite
    # Shift so every score is >= 1: multiplicative boosts then never flip direction.
    if finite_all.all():
        floor = float(scores.min()) if len(scores) else 0.0
    else:
        floor = float(np.min(scores, where=finite_all, initial=np.inf)) if finite_all.any() else 0.0
    return rules_apply_scores_at(rules, catalog, scores if rows is None else scores[rows], rows, floor)


def rules_apply_scores_at(rules: list[Rule], catalog: ServingCatalog, values: np.ndarray, rows: np.ndarray | None,
                          floor: float) -> np.ndarray:
    """``rules_apply_scores`` for the scores ``values`` of ``rows`` (every row when None), with
    ``floor`` the lowest finite score of any row: the same adjusted scores, from the rows alone."""
    adjusted = values.astype(np.float64)
    finite = np.isfinite(adjusted)
    # Most rankers score every row: then an in-place add, not a masked one (a boolean-mask
    # update over 100k rows was the largest cost of a home request).
    if finite.all():
        adjusted += 1.0 - floor
    else:
        adjusted[finite] += 1.0 - floor
        # Rows a ranker could not score rank below every scored row (and stay JSON-safe), the
        # popular ones first.
        popularity = catalog.popularity_score if rows is None else catalog.popularity_score[rows]
        adjusted = np.where(finite, adjusted, 0.5 * popularity)
    _boost_and_bury(rules, catalog, adjusted, rows)
    return adjusted


def rules_boost_bound(rules: list[Rule]) -> float:
    """The most boost and bury can multiply any row's (shifted) score by."""
    bound = 1.0
    for rule in rules:
        if rule.action == MerchandisingRule.Action.BOOST:
            bound *= 1.0 + max(rule.weight, 0.0)
    return bound


def _boost_and_bury(rules: list[Rule], catalog: ServingCatalog, adjusted: np.ndarray, rows: np.ndarray | None) -> None:
    for rule in rules:
        if rule.action not in (MerchandisingRule.Action.BOOST, MerchandisingRule.Action.BURY):
            continue
        mask = rule_mask(rule, catalog)
        if rows is not None:
            mask = mask[rows]
        factor = 1.0 + max(rule.weight, 0.0)
        if rule.action == MerchandisingRule.Action.BOOST:
            adjusted[mask] *= factor
        else:
            adjusted[mask] /= factor


def rules_apply_pins(rules: list[Rule], catalog: ServingCatalog, ranked: list[int], eligible: np.ndarray, k: int) -> tuple[list[int], set[int]]:
    """Put pinned (eligible) items at their 1-based positions; returns the list and the pinned rows."""
    pins = sorted((r for r in rules if r.action == MerchandisingRule.Action.PIN and r.target == "item"),
                  key=lambda r: r.position or 1)
    pinned: set[int] = set()
    result = list(ranked)
    for rule in pins:
        row = catalog.row_of.get(rule.value)
        if row is None or not eligible[row]:
            continue  # a pin never overrides exclusivity, activity or exclusions
        if row in result:
            result.remove(row)
        position = max(1, min(rule.position or 1, k)) - 1
        result.insert(position, row)
        pinned.add(row)
    return result[:k], pinned
