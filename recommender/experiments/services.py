"""A/B experiments: create (never two at once on a scenario), stop, promote the winner."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from recommender.models import Experiment, ExperimentArm, ModelVersion
from recommender.serving.experiments import EXPERIMENT_SCENARIOS, HEURISTIC_ARM, experiment_stop_with_reason
from recommender.training.registry import RegistryError, model_version_promote

HEURISTIC = "heuristic"  # what an arm names instead of a version to serve the heuristic blend


class ExperimentError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass
class ArmInput:
    version: str  # a ready version's name, or "heuristic"
    weight: int = 1
    name: str = ""


def _overlapping(scenario: str, starts_at: datetime, ends_at: datetime | None):
    live = Experiment.objects.filter(scenario=scenario, status__in=[Experiment.Status.RUNNING,
                                                                   Experiment.Status.SCHEDULED])
    # [a, b) and [c, d) overlap when a < d and c < b (an open end is infinity)
    if ends_at is not None:
        live = live.filter(starts_at__lt=ends_at)
    return live.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=starts_at)).first()


def experiment_create(*, name: str, scenario: str, arms: list[ArmInput], starts_at: datetime | None = None,
                      ends_at: datetime | None = None, min_effect: float = 0.1) -> Experiment:
    name = (name or "").strip()
    if not name:
        raise ExperimentError("Give the experiment a name.", "name")
    if scenario not in EXPERIMENT_SCENARIOS:
        raise ExperimentError(f"Experiments run on {', '.join(EXPERIMENT_SCENARIOS)}; not '{scenario}'.", "scenario")
    if len(arms) < 2:
        raise ExperimentError("An experiment needs at least two arms.", "arms")
    if not 0 < min_effect < 10:
        raise ExperimentError("The minimum effect is a relative change above 0 (0.1 = +10 %).", "min_effect")
    now = timezone.now()
    starts_at = starts_at or now
    if ends_at is not None and ends_at <= starts_at:
        raise ExperimentError("The experiment must end after it starts.", "ends_at")
    rows: list[ExperimentArm] = []
    seen: set[str] = set()
    for position, arm in enumerate(arms):
        if arm.weight < 1:
            raise ExperimentError(f"Arm {position + 1}: the traffic weight must be a positive integer.", "arms")
        if arm.version == HEURISTIC:
            row = ExperimentArm(name=arm.name or HEURISTIC_ARM, is_heuristic=True, weight=arm.weight)
        else:
            version = ModelVersion.objects.filter(name=arm.version).first()
            if version is None or version.status != ModelVersion.Status.READY:
                state = "does not exist" if version is None else f"is {version.status}"
                raise ExperimentError(f"Arm {position + 1}: model version '{arm.version}' {state}; "
                                      "only a ready version can serve.", "arms")
            row = ExperimentArm(name=arm.name or version.name, version=version, version_name=version.name,
                                weight=arm.weight)
        if row.name in seen:
            raise ExperimentError(f"Two arms would both serve '{row.name}'; each arm must differ.", "arms")
        seen.add(row.name)
        row.position = position
        rows.append(row)
    with transaction.atomic():
        clash = _overlapping(scenario, starts_at, ends_at)
        if clash is not None:
            raise ExperimentError(f"Experiment '{clash.name}' is already {clash.status} on {scenario}; stop it "
                                  "first (never two experiments on one scenario).", "scenario")
        status = Experiment.Status.RUNNING if starts_at <= now else Experiment.Status.SCHEDULED
        try:
            with transaction.atomic():
                experiment = Experiment.objects.create(name=name[:128], scenario=scenario, status=status,
                                                       salt=secrets.token_hex(8), starts_at=starts_at, ends_at=ends_at,
                                                       min_effect=min_effect)
        except IntegrityError:  # a concurrent create won the partial unique index
            raise ExperimentError(f"Another experiment is already running on {scenario}; stop it first.",
                                  "scenario") from None
        for row in rows:
            row.experiment = experiment
        ExperimentArm.objects.bulk_create(rows)
    return experiment


def experiment_stop(experiment: Experiment, *, reason: str = "stopped by a merchandiser") -> Experiment:
    if experiment.status == Experiment.Status.STOPPED:
        raise ExperimentError(f"Experiment '{experiment.name}' is already stopped.")
    experiment_stop_with_reason(experiment.pk, reason)
    experiment.refresh_from_db()
    return experiment


def experiment_promote(experiment: Experiment, arm_name: str, *, user=None) -> ModelVersion:
    """Make the arm's version the active one and stop the experiment (everyone gets the winner)."""
    arm = experiment.arms.filter(name=arm_name).select_related("version").first()
    if arm is None:
        raise ExperimentError(f"Experiment '{experiment.name}' has no arm '{arm_name}'.", "arm")
    if arm.is_heuristic:
        raise ExperimentError("The heuristic blend serves whenever no trained version is active: roll the active "
                              "version back on the Models page instead.", "arm")
    if arm.version is None:
        raise ExperimentError(f"Arm '{arm.name}': its model version '{arm.version_name}' was deleted.", "arm")
    try:
        version = model_version_promote(arm.version, user=user, note=f"won experiment '{experiment.name}'")
    except RegistryError as exc:
        raise ExperimentError(str(exc), "arm") from None
    experiment_stop_with_reason(experiment.pk, f"promoted arm '{arm.name}' ({version.name})")
    return version
