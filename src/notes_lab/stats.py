"""The few statistics the experiments report, each following the design it measures.

- `paired_difference`: two arms scored on the same rows; the SE of the mean difference comes from the
  per-row differences (a seeded bootstrap over rows), never from two independent SEs.
- `mean_se`: independent units (e.g. seeds); `t_interval` uses Student's t with n - 1 degrees of
  freedom, so three seeds get t(2) = 4.30, not 1.96.
- `smoothed`: the mean and SD of a curve's last k points, instead of one noisy final batch.
Seeded (numpy's PCG64 for the bootstrap): identical on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from notes_lab._deps import require

# two-sided 95% Student t quantiles by degrees of freedom (1..30); beyond, the normal's 1.96 is close enough
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    mean: float
    se: float
    n: int


def mean_se(values: Sequence[float]) -> Estimate:
    """Mean and standard error (sample SD / sqrt(n)) of independent values; SE 0 for one value."""
    if not values:
        raise ValueError("mean_se: no values")
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return Estimate(mean, 0.0, 1)
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Estimate(mean, math.sqrt(variance / n), n)


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"t_quantile: df must be >= 1, got {df}")
    return _T95[df - 1] if df <= len(_T95) else 1.96


def t_interval(values: Sequence[float]) -> tuple[float, float]:
    """The 95% interval of the mean of independent values, with t(n - 1)."""
    estimate = mean_se(values)
    if estimate.n < 2:
        raise ValueError("t_interval: needs at least two values")
    half = t_quantile(estimate.n - 1) * estimate.se
    return estimate.mean - half, estimate.mean + half


def bootstrap_se(values: Sequence[float], seed: int = 0, resamples: int = 1000) -> float:
    """SE of the mean of `values` by a seeded bootstrap over them."""
    if not values:
        raise ValueError("bootstrap_se: no values")
    np = require("numpy")
    data = np.asarray(values, dtype=np.float64)
    picks = np.random.default_rng(seed).integers(0, len(data), size=(resamples, len(data)))
    return float(data[picks].mean(axis=1).std(ddof=1))


def paired_difference(
    a: Sequence[float], b: Sequence[float], seed: int = 0, resamples: int = 1000
) -> Estimate:
    """mean(a - b) over the same rows, with the paired bootstrap SE of that mean."""
    if len(a) != len(b) or not a:
        raise ValueError(
            f"paired_difference: needs two equally long, non-empty lists, got {len(a)} and {len(b)}"
        )
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    return Estimate(sum(diffs) / len(diffs), bootstrap_se(diffs, seed, resamples), len(diffs))


def smoothed(curve: Sequence[float], last: int) -> tuple[float, float]:
    """Mean and sample SD of the last `last` points of a curve."""
    if last < 2 or len(curve) < last:
        raise ValueError(f"smoothed: needs at least {max(last, 2)} points, got {len(curve)}")
    tail = list(curve[-last:])
    mean = sum(tail) / last
    return mean, math.sqrt(sum((v - mean) ** 2 for v in tail) / (last - 1))
