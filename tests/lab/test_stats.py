"""The experiments' statistics, checked by hand: mean/SE, Student t, bootstrap, paired differences, smoothing."""

from __future__ import annotations

import math
import random

import pytest

from notes_lab import stats


def test_mean_se_by_hand():
    estimate = stats.mean_se([1.0, 2.0, 3.0, 4.0])
    assert (estimate.mean, estimate.n) == (2.5, 4)
    assert estimate.se == pytest.approx(math.sqrt(5 / 3) / 2)  # sample SD sqrt(5/3), over sqrt(4)
    assert stats.mean_se([7.0]) == stats.Estimate(7.0, 0.0, 1)
    with pytest.raises(ValueError, match="mean_se: no values"):
        stats.mean_se([])


def test_t_quantiles():
    assert stats.t_quantile(1) == 12.706
    assert stats.t_quantile(2) == 4.303
    assert stats.t_quantile(30) == 2.042
    assert stats.t_quantile(31) == 1.96
    assert all(stats.t_quantile(df) > stats.t_quantile(df + 1) for df in range(1, 30))
    with pytest.raises(ValueError, match="df must be >= 1, got 0"):
        stats.t_quantile(0)


def test_t_interval_uses_n_minus_one_degrees_of_freedom():
    low, high = stats.t_interval([1.0, 2.0, 3.0])  # mean 2, SE 1/sqrt(3), t(2) = 4.303
    assert (low + high) / 2 == pytest.approx(2.0)
    assert (high - low) / 2 == pytest.approx(4.303 / math.sqrt(3))
    with pytest.raises(ValueError, match="at least two values"):
        stats.t_interval([1.0])


@pytest.fixture(scope="module")
def normal_400():
    rng = random.Random(0)
    return [rng.gauss(1.0, 2.0) for _ in range(400)]


def test_bootstrap_se_is_seeded_and_close_to_the_formula(normal_400):
    se = stats.bootstrap_se(normal_400, seed=3)
    assert stats.bootstrap_se(normal_400, seed=3) == se
    assert stats.bootstrap_se(normal_400, seed=4) != se
    assert se == pytest.approx(stats.mean_se(normal_400).se, rel=0.1)
    assert stats.bootstrap_se([2.5] * 10) == 0.0
    with pytest.raises(ValueError, match="bootstrap_se: no values"):
        stats.bootstrap_se([])


def test_paired_difference_by_hand(normal_400):
    same = stats.paired_difference(normal_400, normal_400)
    assert (same.mean, same.se, same.n) == (0.0, 0.0, 400)
    a = [float(i) for i in range(20)]
    shifted = stats.paired_difference([x + 3.0 for x in a], a)
    assert (shifted.mean, shifted.se) == (3.0, 0.0)
    diffs = stats.paired_difference([1.0, 4.0, 2.0], [0.0, 1.0, 1.0])  # differences 1, 3, 1
    assert diffs.mean == pytest.approx(5 / 3)
    assert diffs.se == stats.bootstrap_se([1.0, 3.0, 1.0], 0, 1000)


def test_pairing_removes_the_shared_row_variation(normal_400):
    rng = random.Random(1)
    b = [x + rng.gauss(0.0, 0.1) for x in normal_400]  # the same rows, scored twice with small noise
    paired = stats.paired_difference(normal_400, b)
    unpaired = math.hypot(stats.mean_se(normal_400).se, stats.mean_se(b).se)
    assert paired.se < unpaired / 10
    assert paired.se == pytest.approx(0.1 / math.sqrt(400), rel=0.2)  # SD of the differences 0.1


def test_paired_difference_rejects_unpaired_lists():
    with pytest.raises(ValueError, match="equally long, non-empty lists, got 2 and 1"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="got 0 and 0"):
        stats.paired_difference([], [])


def test_smoothed_is_the_mean_and_sd_of_the_tail():
    mean, sd = stats.smoothed([9.0, 9.0, 1.0, 2.0, 3.0], last=3)
    assert (mean, sd) == (2.0, 1.0)
    with pytest.raises(ValueError, match="needs at least 3 points, got 2"):
        stats.smoothed([1.0, 2.0], last=3)
    with pytest.raises(ValueError, match="needs at least 2 points"):
        stats.smoothed([1.0, 2.0], last=1)
