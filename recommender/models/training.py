"""Model registry: every training run is a version; exactly one may be active."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .jobs import Job


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=64, unique=True)  # e.g. "xdeepfm-20260927-1201"
    model_type = models.CharField(max_length=32, default="xdeepfm")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING, db_index=True)
    is_active = models.BooleanField(default=False)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions")
    config = models.JSONField(default=dict, blank=True)  # hyperparameters as run
    data_snapshot = models.JSONField(default=dict, blank=True)  # counts, date range, hashes
    metrics = models.JSONField(default=dict, blank=True)  # {protocol: {model: {metric: value}}}
    epoch_losses = models.JSONField(default=list, blank=True)  # [{"phase", "epoch", "loss", ...}]
    artifact_dir = models.CharField(max_length=500, blank=True, default="")
    duration_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model_version"),
        ]

    def __str__(self) -> str:
        return self.name


class PromotionEvent(models.Model):
    """Audit trail of promotions and rollbacks; rollback reads it to find the previous version."""

    class Action(models.TextChoices):
        PROMOTE = "promote", "Promote"
        ROLLBACK = "rollback", "Roll back"
        AUTO_PROMOTE = "auto_promote", "Auto-promote"

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="promotions")
    previous = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]


class RecommenderSettings(models.Model):
    """Merchandiser knobs that live in the database (a single row, pk=1)."""

    default_hyperparameters = models.JSONField(default=dict, blank=True)
    auto_promote = models.BooleanField(default=False)
    exclude_purchased = models.BooleanField(default=True)
    in_stock_only = models.BooleanField(default=True)
    # The merchandisers' time zone (IANA name): the dashboard shows and reads times in it.
    time_zone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "recommender settings"

    @classmethod
    def load(cls) -> "RecommenderSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj
