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
