"""Behaviour events: what customers viewed, favorited, carted and bought."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from .catalog import Customer, Item


class Event(models.Model):
    class Type(models.TextChoices):
        VIEW = "view", "View"
        FAVORITE = "favorite", "Favorite"
        ADD_TO_CART = "add_to_cart", "Add to cart"
        PURCHASE = "purchase", "Purchase"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="events")
    event_type = models.CharField(max_length=16, choices=Type.choices)
    timestamp = models.DateTimeField()
    price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    channel = models.CharField(max_length=32, blank=True, default="")
    # The client's id makes posting idempotent: a retried batch stores nothing twice.
    client_event_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["customer", "timestamp"]),
            models.Index(fields=["item", "event_type"]),
            models.Index(fields=["event_type", "timestamp"]),
            # Newest first over all types (the admin's events list, ``Meta.ordering``): an
            # index walk of one page instead of sorting every event.
            models.Index(fields=["timestamp", "id"], name="event_timestamp_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gte=0), name="event_price_non_negative"),
            models.CheckConstraint(
                condition=Q(event_type__in=["view", "favorite", "add_to_cart", "purchase"]), name="event_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.event_type} {self.item_id} @ {self.timestamp:%Y-%m-%d}"


class EventDailyCount(models.Model):
    """Events per UTC day, type and item group: what the event dashboards plot.

    Kept by ``recommender.events.rollup``, which adds the events newer than the last one it
    counted, so a dashboard reads a few hundred rows instead of grouping every event.
    """

    day = models.DateField()
    event_type = models.CharField(max_length=16)
    # "Jewelry" for jewelry items, else the item's product group ("" when it has none).
    group = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day", "event_type", "group"]
        constraints = [models.UniqueConstraint(fields=["day", "event_type", "group"], name="event_daily_count_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.event_type} {self.group}: {self.count}"


class EventRollupState(models.Model):
    """The one row that says how far ``EventDailyCount`` has counted (events with id <= last_event_id)."""

    last_event_id = models.BigIntegerField(default=0)
    events_counted = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)
