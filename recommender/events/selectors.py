"""Read-side queries over customers and their behaviour."""
from __future__ import annotations

from recommender.models import Customer, Event


def customer_get(external_id: str) -> Customer | None:
    return Customer.objects.select_related("tier").filter(external_id=external_id).first()


def customer_history(customer: Customer, limit: int = 50) -> list[Event]:
    """The customer's most recent events, newest first, with their items loaded (one query)."""
    return list(
        Event.objects.filter(customer=customer).select_related("item").order_by("-timestamp", "-id")[: max(0, limit)]
    )
