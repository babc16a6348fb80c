"""Merchandising rules: the one place that validates and writes them.

The database constraints repeat the most important checks (pin needs an item and a
position, end after start), so a rule written around this module still cannot be
inconsistent; this module turns the same checks into messages naming the field.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.db import transaction

from recommender.models import Item, MerchandisingRule

from .rules import Rule, rule_from_row

RULE_SCENARIOS = ("home", "cross_sell", "member_exclusive", "feed", "similar", "search", "assistant")
RULE_FIELDS = (
    "name",
    "action",
    "target",
    "value",
    "position",
    "weight",
    "scenarios",
    "starts_at",
    "ends_at",
    "is_enabled",
)
MAX_POSITION = 100
MAX_WEIGHT = 100.0


class RuleInvalid(ValueError):
    """A rule field failed validation; ``field`` names it (``""`` for the rule as a whole)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise RuleInvalid(sorted(unknown)[0], "is not a rule field")
    data = dict(fields)
    data["name"] = str(data.get("name") or "").strip()
    if not data["name"]:
        raise RuleInvalid("name", "A rule needs a name.")
    if len(data["name"]) > 128:
        raise RuleInvalid("name", "Use at most 128 characters.")
    if data.get("action") not in MerchandisingRule.Action.values:
        raise RuleInvalid("action", f"Choose one of {', '.join(MerchandisingRule.Action.values)}.")
    if data.get("target") not in MerchandisingRule.Target.values:
        raise RuleInvalid("target", f"Choose one of {', '.join(MerchandisingRule.Target.values)}.")
    data["value"] = str(data.get("value") or "").strip()
    if not data["value"]:
        raise RuleInvalid("value", "Name the item id, product type, colour or tag this rule applies to.")
    if len(data["value"]) > 128:
        raise RuleInvalid("value", "Use at most 128 characters.")

    position = data.get("position")
    if position in ("", None):
        position = None
    else:
        try:
            position = int(position)
        except (TypeError, ValueError):
            raise RuleInvalid("position", f"'{position}' is not a whole number.") from None
        if not 1 <= position <= MAX_POSITION:
            raise RuleInvalid("position", f"Use a slot from 1 to {MAX_POSITION}.")
    data["position"] = position

    weight = data.get("weight", 1.0)
    try:
        weight = float(1.0 if weight in ("", None) else weight)
    except (TypeError, ValueError):
        raise RuleInvalid("weight", f"'{weight}' is not a number.") from None
    if not math.isfinite(weight) or not 0 <= weight <= MAX_WEIGHT:
        raise RuleInvalid("weight", f"Use a weight from 0 to {MAX_WEIGHT:g}.")
    data["weight"] = weight

    scenarios = data.get("scenarios") or []
    if isinstance(scenarios, str):
        scenarios = [s for s in scenarios.replace(";", ",").split(",")]
    scenarios = sorted({str(s).strip() for s in scenarios if str(s).strip()})
    unknown_scenarios = set(scenarios) - set(RULE_SCENARIOS)
    if unknown_scenarios:
        raise RuleInvalid("scenarios", f"Unknown scenario(s): {', '.join(sorted(unknown_scenarios))}.")
    data["scenarios"] = scenarios

    starts_at: datetime | None = data.get("starts_at") or None
    ends_at: datetime | None = data.get("ends_at") or None
    if starts_at and ends_at and ends_at <= starts_at:
        raise RuleInvalid("ends_at", "The end must be after the start.")
    data["starts_at"], data["ends_at"] = starts_at, ends_at
    data["is_enabled"] = bool(data.get("is_enabled", True))

    if data["action"] == MerchandisingRule.Action.PIN:
        if data["target"] != MerchandisingRule.Target.ITEM:
            raise RuleInvalid("target", "A pin places one item: choose target “Item id”.")
        if data["position"] is None:
            raise RuleInvalid("position", "A pin needs a position (1 = first slot).")
    if data["target"] == MerchandisingRule.Target.ITEM:
        if not Item.objects.filter(external_id=data["value"]).exists():
            raise RuleInvalid("value", f"No item with id '{data['value']}' exists.")
    return data


def rule_create(**fields: Any) -> MerchandisingRule:
    """Validate and create a rule. Raises :class:`RuleInvalid` naming the bad field."""
    data = _clean(fields)
    with transaction.atomic():
        return MerchandisingRule.objects.create(**data)


def rule_update(rule: MerchandisingRule, **fields: Any) -> MerchandisingRule:
    """Change the given fields; the rule is validated as a whole, and nothing is saved on error."""
    current = {name: getattr(rule, name) for name in RULE_FIELDS}
    data = _clean({**current, **fields})
    with transaction.atomic():
        for name, value in data.items():
            setattr(rule, name, value)
        rule.save()
    return rule


def rule_draft(**fields: Any) -> Rule:
    """Validate rule fields like ``rule_create`` and return the rule as serving applies it, unsaved."""
    return rule_from_row(MerchandisingRule(**_clean(fields)))


def rule_delete(rule: MerchandisingRule) -> None:
    rule.delete()
