"""A/B statistics for rates (clicks, conversions per impression): pure functions on counts.

Normal approximations from scipy.stats, the textbook ones an analyst would check by hand:
the difference of two proportions with its Wald interval, the relative uplift with a
delta-method interval on the log of the ratio, the two-sided pooled z-test, and the sample
size per arm to detect a relative effect with the given power.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm


@dataclass(frozen=True)
class Uplift:
    control_rate: float
    treatment_rate: float
    difference: float  # treatment - control, absolute
    difference_ci: tuple[float, float]
    relative: float | None  # difference / control rate; None when the control rate is 0
    relative_ci: tuple[float, float] | None  # None when either arm has no successes
    p_value: float | None  # None when nothing can be tested (no traffic, or every outcome the same)
    confidence: float


def rate(successes: int, trials: int) -> float:
    return successes / trials if trials else 0.0


def proportion_uplift(control_successes: int, control_n: int, treatment_successes: int, treatment_n: int,
                      *, confidence: float = 0.95) -> Uplift:
    if not (0 <= control_successes <= control_n and 0 <= treatment_successes <= treatment_n):
        raise ValueError("successes must be between 0 and the number of trials")
    z = float(norm.ppf(0.5 + confidence / 2))
    pc, pt = rate(control_successes, control_n), rate(treatment_successes, treatment_n)
    diff = pt - pc
    if control_n and treatment_n:
        se = math.sqrt(pc * (1 - pc) / control_n + pt * (1 - pt) / treatment_n)
        pooled = (control_successes + treatment_successes) / (control_n + treatment_n)
        se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / control_n + 1 / treatment_n))
        p_value = float(2 * norm.sf(abs(diff) / se_pooled)) if se_pooled > 0 else None
    else:
        se, p_value = float("nan"), None
    relative = diff / pc if pc > 0 else None
    relative_ci = None
    if control_successes and treatment_successes:
        log_ratio = math.log(pt / pc)
        se_log = math.sqrt((1 - pt) / treatment_successes + (1 - pc) / control_successes)
        relative_ci = (math.exp(log_ratio - z * se_log) - 1, math.exp(log_ratio + z * se_log) - 1)
    return Uplift(pc, pt, diff, (diff - z * se, diff + z * se), relative, relative_ci, p_value, confidence)


def sample_size_per_arm(baseline_rate: float, min_relative_effect: float, *, alpha: float = 0.05,
                        power: float = 0.8) -> int | None:
    """Impressions per arm to detect a change of ``min_relative_effect`` (0.1 = +10 %) from
    ``baseline_rate`` with a two-sided test at ``alpha`` and the given power; None when the
    question has no answer (a rate of 0 or 1, or an effect that leaves [0, 1])."""
    p1 = baseline_rate
    p2 = baseline_rate * (1 + min_relative_effect)
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        return None
    za, zb = float(norm.ppf(1 - alpha / 2)), float(norm.ppf(power))
    mean = (p1 + p2) / 2
    n = (za * math.sqrt(2 * mean * (1 - mean)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2
    return math.ceil(n)
