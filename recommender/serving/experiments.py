"""A/B routing: which arm of the running experiment a customer is in, and its ranker.

A customer's arm is a stable hash of the experiment's salt and the customer id, so the same
shopper sees the same arm on every request, in every process, after every restart, and a
new experiment reshuffles (another salt). Shoppers without an id are not in experiments: they
get the active version, and their impressions are counted outside the arms.

The running experiments are a per-process snapshot (like rules and settings). An arm whose
model version was deleted, or is no longer ready, stops its experiment with the reason
(checked whenever the snapshot loads, so within seconds); until then, and for any arm
whose version fails to load, serving falls back to the active version.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from recommender.models import Experiment, ExperimentArm, ModelVersion

from .model_store import active_ranker, heuristic_ranker
from .rankers import Ranker
from .snapshots import ProcessSnapshot, snapshot_on_change

logger = logging.getLogger(__name__)

# The scenarios whose ranking a model version decides (search, similar and the assistant do not use it).
EXPERIMENT_SCENARIOS = ("home", "cross_sell", "member_exclusive", "feed")
BUCKETS = 10_000
HEURISTIC_ARM = "heuristic blend"


def arm_bucket(salt: str, customer_id: str) -> int:
    """0..BUCKETS-1, the same for the same salt and customer on every machine (sha256, not ``hash``)."""
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class ArmSpec:
    name: str
    is_heuristic: bool
    version_name: str
    weight: int


@dataclass(frozen=True)
class RunningExperiment:
    id: int
    scenario: str
    salt: str
    arms: tuple[ArmSpec, ...]

    def arm_for(self, customer_id: str) -> ArmSpec:
        """The arm owning the customer's bucket; arms split the buckets by weight, in order."""
        total = sum(arm.weight for arm in self.arms)
        point = arm_bucket(self.salt, customer_id) * total / BUCKETS
        edge = 0
        for arm in self.arms:
            edge += arm.weight
            if point < edge:
                return arm
        return self.arms[-1]


@dataclass(frozen=True)
class Route:
    experiment_id: int
    arm: str
    ranker: Ranker


def arm_problem(arm: ExperimentArm) -> str:
    """Why an arm cannot serve ("" when it can)."""
    if arm.is_heuristic:
        return ""
    if arm.version_id is None:
        return f"arm '{arm.name}': model version '{arm.version_name}' was deleted"
    if arm.version.status != ModelVersion.Status.READY:
        return f"arm '{arm.name}': model version '{arm.version.name}' is {arm.version.status}, not ready"
    return ""


def _load_running() -> dict[str, RunningExperiment]:
    now = timezone.now()
    running: dict[str, RunningExperiment] = {}
    live = (Experiment.objects.filter(status__in=[Experiment.Status.RUNNING, Experiment.Status.SCHEDULED],
                                      starts_at__lte=now)
            .order_by("status", "starts_at")  # a running one before one whose start just came
            .prefetch_related("arms__version"))
    for exp in live:
        if exp.ends_at is not None and exp.ends_at <= now:
            experiment_stop_with_reason(exp.pk, "reached its end time")
            continue
        problems = [p for p in (arm_problem(arm) for arm in exp.arms.all()) if p]
        if problems:
            experiment_stop_with_reason(exp.pk, "stopped itself: " + "; ".join(problems))
            continue
        if exp.scenario in running:
            continue  # the scenario's running experiment keeps it; this one waits (creation refuses overlaps)
        if exp.status == Experiment.Status.SCHEDULED:
            # its start has come: it runs now (the partial unique index still guards the scenario)
            try:
                with transaction.atomic():
                    started = Experiment.objects.filter(pk=exp.pk, status=Experiment.Status.SCHEDULED).update(
                        status=Experiment.Status.RUNNING)
            except IntegrityError:  # another process started an experiment on the scenario meanwhile
                started = 0
            if not started:
                continue
        arms = tuple(ArmSpec(a.name, a.is_heuristic, a.version.name if a.version_id else "", a.weight)
                     for a in exp.arms.all())
        running[exp.scenario] = RunningExperiment(exp.pk, exp.scenario, exp.salt, arms)
    return running


def experiment_stop_with_reason(experiment_id: int, reason: str) -> bool:
    """Stop a running experiment; False when it was not running (so stopping twice is harmless)."""
    changed = Experiment.objects.filter(pk=experiment_id, status__in=[Experiment.Status.RUNNING,
                                                                      Experiment.Status.SCHEDULED]).update(
        status=Experiment.Status.STOPPED, stopped_at=timezone.now(), stop_reason=reason[:255])
    if changed:
        logger.warning("experiment %s stopped: %s", experiment_id, reason)
        _running.invalidate()
    return bool(changed)


_running: ProcessSnapshot[dict[str, RunningExperiment]] = ProcessSnapshot(_load_running)
snapshot_on_change(_running, Experiment, ExperimentArm, ModelVersion)


def running_experiments() -> dict[str, RunningExperiment]:
    return _running.get()


def experiment_route(scenario: str, customer_id: str | None) -> Route | None:
    """The experiment arm serving this request, or None outside experiments."""
    if not customer_id or scenario not in EXPERIMENT_SCENARIOS:
        return None
    exp = running_experiments().get(scenario)
    if exp is None:
        return None
    arm = exp.arm_for(customer_id)
    try:
        ranker = heuristic_ranker() if arm.is_heuristic else active_ranker(arm.version_name)
    except Exception:  # noqa: BLE001 - a version deleted since the snapshot: the active one serves
        logger.warning("experiment %s arm %s could not load; serving the active version", exp.id, arm.name)
        _running.invalidate()  # the next load stops the experiment and says why
        ranker = None
    if ranker is None:
        return None  # served outside the experiment, so the arm's figures count only what the arm served
    return Route(exp.id, arm.name, ranker)
