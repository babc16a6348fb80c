"""What the experiment page shows: per-arm figures, uplift against the first arm, sample size."""
from __future__ import annotations

from dataclasses import dataclass

from recommender.impressions.selectors import MetricRow, arm_metrics
from recommender.models import Experiment

from .stats import Uplift, proportion_uplift, sample_size_per_arm

# (label, successes field) of the rates compared between arms
TESTED_RATES = (("conversion", "converted"), ("click-through", "clicked"), ("add-to-cart", "carted"))


@dataclass
class ArmReport:
    name: str
    serves: str  # the version's name, or "heuristic blend"
    weight: int
    metrics: MetricRow
    is_control: bool
    uplifts: dict[str, Uplift]  # rate label -> against the control; empty for the control
    promotable: bool = False  # a trained version that still exists (the heuristic blend is not promoted)


@dataclass
class ExperimentReport:
    experiment: Experiment
    arms: list[ArmReport]
    needed_per_arm: int | None  # to detect min_effect on conversion from the control's rate
    still_needed: int | None  # impressions the smallest arm still lacks


def experiment_report(experiment: Experiment, *, confidence: float = 0.95, refresh: bool = True) -> ExperimentReport:
    counts = arm_metrics(experiment.pk, refresh=refresh)
    arms = list(experiment.arms.all())
    reports: list[ArmReport] = []
    control = counts.get(arms[0].name, MetricRow(arm=arms[0].name)) if arms else None
    for index, arm in enumerate(arms):
        m = counts.get(arm.name, MetricRow(arm=arm.name))
        uplifts = {}
        if index and control is not None:
            for label, field in TESTED_RATES:
                uplifts[label] = proportion_uplift(getattr(control, field), control.impressions,
                                                   getattr(m, field), m.impressions, confidence=confidence)
        serves = "heuristic blend" if arm.is_heuristic else (arm.version.name if arm.version_id else
                                                              f"{arm.version_name} (deleted)")
        reports.append(ArmReport(arm.name, serves, arm.weight, m, index == 0, uplifts,
                                 promotable=not arm.is_heuristic and arm.version_id is not None))
    needed = still = None
    if control is not None and control.impressions:
        needed = sample_size_per_arm(control.converted / control.impressions, experiment.min_effect)
        if needed is not None:
            still = max(0, needed - min(r.metrics.impressions for r in reports))
    return ExperimentReport(experiment, reports, needed, still)
