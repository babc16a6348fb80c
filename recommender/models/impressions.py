"""What the storefront was shown, what came of it, and the A/B experiments that compare versions."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from .events import Event
from .training import ModelVersion


class Experiment(models.Model):
    """An A/B test on one scenario: customers are split between arms by a stable hash."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    name = models.CharField(max_length=128)
    scenario = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # Part of the hash: a new experiment reshuffles customers instead of reusing the last split.
    salt = models.CharField(max_length=32)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=255, blank=True, default="")
    # The smallest relative uplift worth detecting (0.1 = +10 %), for the sample size still needed.
    min_effect = models.FloatField(default=0.1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Never two running experiments on one scenario, even when two merchandisers click at once.
            models.UniqueConstraint(fields=["scenario"], condition=Q(status="running"),
                                    name="one_running_experiment_per_scenario"),
        ]

    def __str__(self) -> str:
        return self.name


class ExperimentArm(models.Model):
    """One arm: a trained version, or the heuristic blend (``version`` empty, ``is_heuristic``)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=64)
    is_heuristic = models.BooleanField(default=False)
    # SET_NULL, not CASCADE: a deleted version must stop the experiment visibly, not erase its arm.
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version_name = models.CharField(max_length=64, blank=True, default="")  # kept after a deletion, for the message
    weight = models.PositiveIntegerField(default=1)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="experiment_arm_name_unique")]

    def __str__(self) -> str:
        return f"{self.experiment_id}:{self.name}"


class Impression(models.Model):
    """One answer the storefront got: what was shown, to whom, by what, in which arm."""

    request_id = models.CharField(max_length=32, unique=True)
    scenario = models.CharField(max_length=32)
    model_version = models.CharField(max_length=64)
    # No foreign key: a batch written a second later must not fail on an experiment deleted meanwhile.
    experiment_id = models.BigIntegerField(null=True, blank=True)
    arm = models.CharField(max_length=64, blank=True, default="")
    customer_key = models.CharField(max_length=128, blank=True, default="")  # the storefront's customer id
    items = models.JSONField(default=list)  # item external ids, position order (position = index + 1)
    shown_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["customer_key", "shown_at"], name="impression_customer_time"),
            models.Index(fields=["shown_at"], name="impression_shown_at"),
        ]


class Attribution(models.Model):
    """An event credited to the impression that showed its item. One per event, at most."""

    class Method(models.TextChoices):
        EXPLICIT = "explicit", "recommendation_id sent with the event"
        WINDOW = "window", "same customer and item within the window"

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="attribution")
    impression = models.ForeignKey(Impression, on_delete=models.CASCADE, related_name="attributions")
    event_type = models.CharField(max_length=16)
    position = models.PositiveSmallIntegerField()
    revenue = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    method = models.CharField(max_length=8, choices=Method.choices)
    # The first event of its type for this impression: what the rates count (an impression
    # converts once, however many of its items are bought).
    first_of_type = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["impression", "event_type"], condition=Q(first_of_type=True),
                                    name="attribution_one_first_per_type"),
        ]


class AttributionPending(models.Model):
    """An event whose recommendation id was not stored yet (impressions are written in batches
    a second or so after the answer); matched by the next sweep, or given up at ``expires_at``."""

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="+")
    recommendation_id = models.CharField(max_length=32)
    expires_at = models.DateTimeField()


class ImpressionDailyMetric(models.Model):
    """Impressions and attributed events per UTC day (of the impression), scenario, version and arm."""

    day = models.DateField()
    scenario = models.CharField(max_length=32)
    model_version = models.CharField(max_length=64)
    experiment_id = models.BigIntegerField(default=0)  # 0: none; no FK, aggregates outlive experiments
    arm = models.CharField(max_length=64, blank=True, default="")
    impressions = models.BigIntegerField(default=0)
    clicked = models.BigIntegerField(default=0)  # impressions with at least one attributed view
    carted = models.BigIntegerField(default=0)
    converted = models.BigIntegerField(default=0)
    views = models.BigIntegerField(default=0)  # attributed events of each type
    carts = models.BigIntegerField(default=0)
    purchases = models.BigIntegerField(default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=6, default=0)

    class Meta:
        ordering = ["day", "scenario", "model_version", "arm"]
        indexes = [models.Index(fields=["experiment_id", "arm"], name="impression_metric_experiment")]
        constraints = [
            models.UniqueConstraint(fields=["day", "scenario", "model_version", "experiment_id", "arm"],
                                    name="impression_metric_unique"),
        ]


class ImpressionRollupState(models.Model):
    """How far ``ImpressionDailyMetric`` has counted (ids, like ``EventRollupState``)."""

    last_impression_id = models.BigIntegerField(default=0)
    last_attribution_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)
