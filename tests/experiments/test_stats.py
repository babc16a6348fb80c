"""The statistics against values worked out by hand (normal approximations, two-sided)."""
import math

import pytest

from recommender.experiments.stats import proportion_uplift, sample_size_per_arm


def test_uplift_of_100_of_1000_against_130_of_1000():
    u = proportion_uplift(100, 1000, 130, 1000)
    assert (u.control_rate, u.treatment_rate) == (0.1, 0.13)
    assert u.difference == pytest.approx(0.03)
    # pooled z = 0.03 / sqrt(0.115 * 0.885 * 2/1000) = 2.10273; p = erfc(z / sqrt 2)
    z = 0.03 / math.sqrt(0.115 * 0.885 * 0.002)
    assert u.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert u.p_value == pytest.approx(0.03549, abs=1e-5)
    # Wald interval: 0.03 +- 1.959964 * sqrt(0.1*0.9/1000 + 0.13*0.87/1000)
    half = 1.959964 * math.sqrt(0.09 / 1000 + 0.1131 / 1000)
    assert u.difference_ci == pytest.approx((0.03 - half, 0.03 + half), abs=1e-6)
    assert u.relative == pytest.approx(0.3)
    se_log = math.sqrt(0.87 / 130 + 0.9 / 100)
    assert u.relative_ci == pytest.approx((1.3 * math.exp(-1.959964 * se_log) - 1, 1.3 * math.exp(1.959964 * se_log) - 1),
                                          abs=1e-6)


def test_no_difference_and_degenerate_inputs():
    same = proportion_uplift(50, 500, 50, 500)
    assert same.difference == 0 and same.p_value == pytest.approx(1.0)
    assert proportion_uplift(0, 100, 0, 100).p_value is None  # nothing happened in either arm
    empty = proportion_uplift(0, 0, 3, 10)
    assert empty.p_value is None and empty.relative is None and empty.relative_ci is None
    with pytest.raises(ValueError):
        proportion_uplift(5, 4, 1, 10)


def test_sample_size_for_a_ten_percent_lift_from_ten_percent():
    # (1.959964 * sqrt(2 * 0.105 * 0.895) + 0.841621 * sqrt(0.09 + 0.0979))^2 / 0.01^2 = 14750.4
    assert sample_size_per_arm(0.10, 0.10) == 14751
    assert sample_size_per_arm(0.10, 0.10, power=0.9) > 14751
    assert sample_size_per_arm(0.0, 0.1) is None and sample_size_per_arm(0.6, 1.0) is None
