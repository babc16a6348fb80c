"""Storefront serving: merchandising rules, API keys and request logs."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class MerchandisingRule(models.Model):
    class Action(models.TextChoices):
        PIN = "pin", "Pin at position"
        BOOST = "boost", "Boost"
        BURY = "bury", "Bury"
        EXCLUDE = "exclude", "Exclude"

    class Target(models.TextChoices):
        ITEM = "item", "Item id"
        TYPE = "type", "Product type"
        COLOUR = "colour", "Colour"
        TAG = "tag", "Style tag"

    name = models.CharField(max_length=128)
    action = models.CharField(max_length=8, choices=Action.choices)
    target = models.CharField(max_length=8, choices=Target.choices)
    value = models.CharField(max_length=128)  # item external id, type, colour or tag (case-insensitive)
    position = models.PositiveSmallIntegerField(null=True, blank=True)  # 1-based, for pins
    weight = models.FloatField(default=1.0)  # strength of a boost/bury
    scenarios = models.JSONField(default=list, blank=True)  # empty = every scenario
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["action", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(action="pin") | (Q(position__isnull=False) & Q(target="item")),
                name="pin_rule_needs_item_and_position",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="rule_ends_after_start",
            ),
            models.CheckConstraint(condition=Q(weight__gte=0), name="rule_weight_non_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A storefront key. Only a hash of the secret is stored; the prefix finds the row."""

    class Scope(models.TextChoices):
        READ = "read", "Read recommendations and search"
        EVENTS = "events", "Post behaviour events"

    name = models.CharField(max_length=128)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ApiRequestLog(models.Model):
    """Per-minute aggregates of API traffic by scenario, for the dashboards."""

    minute = models.DateTimeField()
    scenario = models.CharField(max_length=32)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    total_latency_ms = models.FloatField(default=0.0)
    max_latency_ms = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-minute"]
        constraints = [models.UniqueConstraint(fields=["minute", "scenario"], name="api_log_minute_scenario")]
