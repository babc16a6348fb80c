"""Small template helpers for the dashboard."""
from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def lookup(mapping, key):
    """``{{ marks|lookup:it.id }}``: a dict value by a variable key (None when absent)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def percent(value, decimals: int = 1):
    """``{{ rate|percent }}``: a fraction as a percentage ("36.9 %"); "–" when there is none."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(decimals)}f} %"


@register.filter
def points(value, decimals: int = 2):
    """``{{ difference|points }}``: a difference of two rates in percentage points ("-1.39 pts")."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:+.{int(decimals)}f} pts"
