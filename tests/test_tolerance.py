"""tolerance.py: parsing, description, loosening and the per-metric comparison."""

from __future__ import annotations

import math

import pytest

from repronotes.capture import binomial_se, seeds_se
from repronotes.errors import SpecError
from repronotes.model import MetricEntry, Tolerance, Verdict
from repronotes.tolerance import as_dict, compare, describe, loosening, parse_tolerance

SPEC = "experiments/x/experiment.yaml"
NAN, INF = math.nan, math.inf


def tol(**body) -> Tolerance:
    return parse_tolerance(body, SPEC, "metrics.m")


def v(value, **extra) -> MetricEntry:
    return MetricEntry(value=value, **extra)


def s(steps, values) -> MetricEntry:
    return MetricEntry(steps=tuple(steps), values=tuple(values))


def verdict(recorded, observed, t: Tolerance) -> Verdict:
    return compare("m", recorded, observed, t).verdict


# --- parse_tolerance, describe, as_dict ------------------------------------------------------------


@pytest.mark.parametrize(
    "body, key, rule",
    [
        (1.0, "metrics.m", "must be a mapping"),
        ({}, "metrics.m", "needs a tolerance kind"),
        ({"series": "last"}, "metrics.m", "needs a tolerance kind"),
        ({"exact": True, "abs": 0.1}, "metrics.m", "mixes tolerance kinds"),
        ({"band": 2, "info": True}, "metrics.m", "mixes tolerance kinds"),
        ({"min": 0, "min_ratio": 0.9}, "metrics.m", "mixes tolerance kinds"),
        ({"rel": -1}, "metrics.m.rel", "must be >= 0"),
        ({"min_ratio": -0.5}, "metrics.m.min_ratio", "must be >= 0"),
        ({"band": 0}, "metrics.m.band", "must be > 0"),
        ({"abs": "small"}, "metrics.m.abs", "must be a finite number"),
        ({"abs": True}, "metrics.m.abs", "must be a finite number"),
        ({"max": math.inf}, "metrics.m.max", "must be a finite number"),
        ({"rel": math.nan}, "metrics.m.rel", "must be a finite number"),
        ({"exact": False}, "metrics.m.exact", "must be true"),
        ({"info": 1}, "metrics.m.info", "must be true"),
        ({"rtol": 1e-4}, "metrics.m.rtol", "unknown tolerance key"),
        ({"abs": 1, "series": "median"}, "metrics.m.series", "must be one of"),
    ],
)
def test_parse_errors_name_file_key_and_rule(body, key, rule):
    with pytest.raises(SpecError) as err:
        parse_tolerance(body, SPEC, "metrics.m")
    assert (err.value.file, err.value.key) == (SPEC, key)
    assert rule in err.value.rule
    assert str(err.value).startswith(f"{SPEC}: {key}: ")


def test_parse_accepts_each_kind_and_converts_to_float():
    assert tol(exact=True) == Tolerance(exact=True)
    assert tol(abs=1, rel=0.5) == Tolerance(abs=1.0, rel=0.5)
    assert tol(min=-5, max=5) == Tolerance(min=-5.0, max=5.0)
    assert tol(min_ratio=0.9, max_ratio=2) == Tolerance(min_ratio=0.9, max_ratio=2.0)
    assert tol(band=2) == Tolerance(band=2.0)
    assert tol(info=True, series="mean") == Tolerance(info=True, series="mean")
    assert isinstance(tol(abs=1).abs, float)


@pytest.mark.parametrize(
    "body, text",
    [
        ({"exact": True}, "exact"),
        ({"exact": True, "series": "last"}, "exact on last"),
        ({"rel": 1e-4}, "rel 0.0001"),
        ({"abs": 0.01, "rel": 0.1}, "abs 0.01, rel 0.1"),
        ({"min": 0, "max": 8}, "min 0, max 8"),
        ({"min_ratio": 0.9}, "min_ratio 0.9"),
        ({"band": 2}, "±2·SE"),
        ({"rel": 0.05, "series": "mean"}, "rel 0.05 on mean"),
        ({"info": True}, "info"),
    ],
)
def test_describe(body, text):
    assert describe(tol(**body)) == text


@pytest.mark.parametrize(
    "body",
    [{"exact": True}, {"abs": 0.5, "rel": 0.001}, {"min": 1.0}, {"max_ratio": 1.1}, {"band": 3.0},
     {"info": True}, {"rel": 0.05, "series": "last"}, {"min": 0.0}, {"abs": 0.0}, {"min": 0.0, "max": 1.0},
     {"min_ratio": 0.0}],
)  # fmt: skip
def test_as_dict_round_trips(body):
    """A bound of 0 is a bound: it must survive into the record (0.0 == False in Python)."""
    assert as_dict(tol(**body)) == body
    assert tol(**as_dict(tol(**body))) == tol(**body)


# --- compare: one kind at a time -----------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (0.1 + 0.2, 0.30000000000000004, Verdict.IDENTICAL),
        (0.3, 0.30000000000000004, Verdict.DRIFTED),
        ("abc123", "abc123", Verdict.IDENTICAL),
        ("abc123", "abc124", Verdict.DRIFTED),
        ([[1, 2], [3, 4]], [[1, 2], [3, 5]], Verdict.DRIFTED),
        (42, 42, Verdict.IDENTICAL),
        (1, True, Verdict.DRIFTED),
    ],
)
def test_exact_is_bitwise(old, new, expected):
    assert verdict(v(old), v(new), tol(exact=True)) is expected


@pytest.mark.parametrize(
    "t, new, expected",
    [
        ({"abs": 0.1}, 1.0, Verdict.IDENTICAL),
        ({"abs": 0.1}, 1.09, Verdict.WITHIN),
        ({"abs": 0.1}, 0.89, Verdict.DRIFTED),
        ({"rel": 0.1}, 1.09, Verdict.WITHIN),
        ({"rel": 0.1}, 1.11, Verdict.DRIFTED),
        ({"abs": 0.01, "rel": 0.1}, 1.10, Verdict.WITHIN),  # allowed 0.01 + 0.1 * |1.0|
        ({"abs": 0.01, "rel": 0.1}, 1.12, Verdict.DRIFTED),
        ({"rel": 0.1}, "text", Verdict.DRIFTED),
    ],
)
def test_abs_rel_isclose_rule(t, new, expected):
    result = compare("m", v(1.0), v(new), tol(**t))
    assert result.verdict is expected
    assert (result.recorded, result.observed) == (1.0, new)
    assert bool(result.detail) is (expected is Verdict.DRIFTED)


@pytest.mark.parametrize(
    "t, old, new, expected",
    [
        ({"min": 0.0}, 5.0, 0.2, Verdict.WITHIN),
        ({"min": 0.0}, 5.0, -0.1, Verdict.DRIFTED),
        ({"max": 8.0}, 5.0, 9.0, Verdict.DRIFTED),
        ({"max": 8.0}, 100.0, 7.0, Verdict.WITHIN),  # independent of the record
        ({"min": 0.0, "max": 1.0}, 0.5, 1.5, Verdict.DRIFTED),
        ({"min_ratio": 0.9}, 1000.0, 905.0, Verdict.WITHIN),
        ({"min_ratio": 0.9}, 1000.0, 850.0, Verdict.DRIFTED),
        ({"min_ratio": 0.9}, 1000.0, 5000.0, Verdict.WITHIN),  # faster is fine
        ({"min_ratio": 0.9}, 0.0, 1.0, Verdict.DRIFTED),  # a ratio to 0 is undefined
        ({"max_ratio": 1.1}, 100.0, 109.0, Verdict.WITHIN),
        ({"max_ratio": 1.1}, 100.0, 111.0, Verdict.DRIFTED),
        ({"max_ratio": 1.1}, 100.0, 100.0, Verdict.IDENTICAL),
    ],
)
def test_bounds_and_ratios(t, old, new, expected):
    assert verdict(v(old), v(new), tol(**t)) is expected


def test_bound_messages_say_which_side():
    assert "< min 0" in compare("m", v(1.0), v(-1.0), tol(min=0)).detail
    assert "> max 8" in compare("m", v(1.0), v(9.0), tol(max=8)).detail
    assert "ratio 0.850 < 0.9" in compare("m", v(1000.0), v(850.0), tol(min_ratio=0.9)).detail


def test_info_is_shown_never_gated():
    result = compare("m", v(1.0), v(123.0), tol(info=True))
    assert result.verdict is Verdict.INFO and result.observed == 123.0
    assert verdict(s([1], [1.0]), s([1, 2], [5.0, 6.0]), tol(info=True)) is Verdict.INFO


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
@pytest.mark.parametrize(
    "body", [{"info": True}, {"abs": 1e9}, {"exact": True}, {"max": 1.0}, {"min": -1e300}, {"band": 100}]
)
def test_nan_and_inf_never_pass(bad, body):
    assert verdict(v(1.0, n=10, se=0.1, se_method="given"), v(bad, n=10, se=0.1, se_method="given"),
                   tol(**body)) is Verdict.INVALID  # fmt: skip
    assert verdict(s([1, 2], [1.0, 1.0]), s([1, 2], [1.0, bad]), tol(**body)) is Verdict.INVALID


@pytest.mark.parametrize("bad", [NAN, INF])
@pytest.mark.parametrize("body", [{"rel": 0.1}, {"abs": 1e9}, {"info": True}, {"min_ratio": 0.0}])
def test_a_non_finite_recorded_value_never_passes_either(bad, body):
    result = compare("m", v(bad), v(1.0), tol(**body))
    assert result.verdict.failed, result


def test_nan_in_a_standard_error_is_invalid():
    assert verdict(v(0.5, se=0.1, se_method="given"), v(0.5, se=NAN, se_method="given"), tol(band=2)) is (
        Verdict.INVALID
    )


def test_missing_and_unexpected():
    missing = compare("m", v(1.0), None, tol(abs=1))
    assert missing.verdict is Verdict.MISSING and missing.recorded == 1.0 and missing.observed is None
    unexpected = compare("m", None, v(2.0), tol(abs=1))
    assert unexpected.verdict is Verdict.UNEXPECTED and unexpected.observed == 2.0


# --- series ----------------------------------------------------------------------------------------

REC = s([1, 2, 3], [1.0, 0.5, 0.25])


@pytest.mark.parametrize(
    "observed, t, expected",
    [
        (s([1, 2, 3], [1.0, 0.5, 0.25]), {"rel": 1e-6}, Verdict.IDENTICAL),
        (s([1, 2, 3], [1.0, 0.5, 0.2500001]), {"rel": 1e-6}, Verdict.WITHIN),
        (s([1, 2, 3], [1.0, 0.6, 0.25]), {"rel": 1e-6}, Verdict.DRIFTED),
        (s([1, 2], [1.0, 0.5]), {"rel": 1.0}, Verdict.DRIFTED),
        (s([1, 2, 4], [1.0, 0.5, 0.25]), {"rel": 1.0}, Verdict.DRIFTED),
        (s([1, 2, 3], [1.0, 0.5, 0.25]), {"exact": True}, Verdict.IDENTICAL),
    ],
)
def test_series_pointwise(observed, t, expected):
    assert verdict(REC, observed, tol(**t)) is expected


def test_pointwise_drift_names_the_step():
    assert "step 2" in compare("loss", REC, s([1, 2, 3], [1.0, 0.6, 0.25]), tol(rel=1e-6)).detail
    assert "steps differ" in compare("loss", REC, s([1, 2], [1.0, 0.5]), tol(rel=1)).detail


@pytest.mark.parametrize(
    "how, observed_values, expected",
    [
        ("last", [9.0, 9.0, 0.26], Verdict.WITHIN),  # only the last point counts
        ("last", [1.0, 0.5, 0.3], Verdict.DRIFTED),
        ("mean", [0.6, 0.6, 0.6], Verdict.WITHIN),  # 0.6 against a mean of 0.5833
        ("mean", [1.0, 1.0, 1.0], Verdict.DRIFTED),
        ("min", [0.25, 7.0, 8.0], Verdict.IDENTICAL),
        ("min", [1.0, 0.5, 0.3], Verdict.DRIFTED),
        ("max", [0.0, 1.0, 0.0], Verdict.IDENTICAL),
        ("max", [2.0, 0.5, 0.25], Verdict.DRIFTED),
    ],
)
def test_series_by_summary(how, observed_values, expected):
    result = compare("loss", REC, s([10, 20, 30], observed_values), tol(rel=0.05, series=how))
    assert result.verdict is expected
    assert result.tolerance == f"rel 0.05 on {how}"


def test_summary_shows_the_summarised_values():
    result = compare("loss", REC, s([1, 2, 3], [1.0, 0.5, 0.26]), tol(rel=0.05, series="last"))
    assert (result.recorded, result.observed) == (0.25, 0.26)


# --- band: the SEs are recomputed ------------------------------------------------------------------


def rate(value: float, n: int, se: float | None = None) -> MetricEntry:
    return v(value, n=n, se=binomial_se(value, n) if se is None else se, se_method="binomial")


def seeded(per_seed, se: float | None = None) -> MetricEntry:
    mean = sum(per_seed) / len(per_seed)
    stored = seeds_se(per_seed) if se is None else se
    return v(mean, n=len(per_seed), se=stored, se_method="seeds", per_seed=tuple(per_seed))


def test_band_uses_the_combined_binomial_se():
    combined = math.hypot(binomial_se(0.40, 200), binomial_se(0.45, 200))
    assert combined * 2 > 0.05  # so a 0.05 move is within 2 SE
    assert verdict(rate(0.40, 200), rate(0.45, 200), tol(band=2)) is Verdict.WITHIN
    assert verdict(rate(0.40, 200), rate(0.60, 200), tol(band=2)) is Verdict.DRIFTED
    assert verdict(rate(0.40, 200), rate(0.40, 200), tol(band=2)) is Verdict.IDENTICAL


def test_an_inflated_binomial_se_is_invalid_and_named():
    true_se = binomial_se(0.40, 200)
    inflated = rate(0.40, 200, se=0.5)
    result = compare("acc", inflated, rate(0.90, 200), tol(band=2))
    assert result.verdict is Verdict.INVALID
    assert "0.5" in result.detail and f"{true_se:.6g}" in result.detail
    assert verdict(rate(0.40, 200), rate(0.41, 200, se=0.5), tol(band=2)) is Verdict.INVALID


def test_seed_se_is_recomputed_from_per_seed():
    assert verdict(seeded([0.30, 0.35, 0.29]), seeded([0.31, 0.34, 0.30]), tol(band=2)) is Verdict.WITHIN
    assert verdict(seeded([0.30, 0.35, 0.29]), seeded([0.61, 0.64, 0.60]), tol(band=2)) is Verdict.DRIFTED
    forged = seeded([0.30, 0.35, 0.29], se=1.0)
    result = compare("reward", forged, seeded([0.61, 0.64, 0.60]), tol(band=2))
    assert result.verdict is Verdict.INVALID
    assert "1.0" in result.detail and f"{seeds_se([0.30, 0.35, 0.29]):.6g}" in result.detail


@pytest.mark.parametrize(
    "forged",
    [
        v(0.4, n=1, se=0.5, se_method="seeds", per_seed=(0.4,)),  # one seed implies no SE
        v(3.5, n=100, se=0.5, se_method="binomial"),  # not a rate: no binomial SE
    ],
)
def test_a_stored_se_that_cannot_be_recomputed_is_invalid(forged):
    result = compare("m", forged, seeded([0.30, 0.35, 0.29]), tol(band=2))
    assert result.verdict is Verdict.INVALID and "cannot be recomputed" in result.detail


def test_a_single_seed_without_se_uses_the_other_side():
    one = v(0.31, n=1, se=None, se_method="seeds", per_seed=(0.31,))
    assert verdict(one, seeded([0.30, 0.35, 0.29]), tol(band=2)) is Verdict.WITHIN


def test_given_ses_are_used_as_stored():
    old = v(10.0, se=1.0, se_method="given")
    assert verdict(old, v(12.5, se=1.0, se_method="given"), tol(band=2)) is Verdict.WITHIN  # 2.5 <= 2*1.414
    assert verdict(old, v(13.0, se=1.0, se_method="given"), tol(band=2)) is Verdict.DRIFTED
    assert verdict(v(10.0, se=1.0), v(12.5, se=1.0), tol(band=2)) is Verdict.WITHIN  # no method: stored


def test_band_without_any_se_drifts_and_says_why():
    result = compare("m", v(0.4), v(0.5), tol(band=2))
    assert result.verdict is Verdict.DRIFTED and "standard error" in result.detail


def test_band_with_zero_se_on_both_sides_is_exact():
    assert verdict(v(14.0, se=0.0), v(14.0, se=0.0), tol(band=2)) is Verdict.IDENTICAL
    result = compare("m", v(14.0, se=0.0), v(13.0, se=0.0), tol(band=2))
    assert result.verdict is Verdict.DRIFTED and "standard error of 0 on both sides" in result.detail


# --- loosening ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new",
    [
        ({"exact": True}, {"info": True}),
        ({"exact": True}, {"rel": 1e-9}),
        ({"rel": 1e-4}, {"rel": 1e-3}),
        ({"abs": 0.1}, {"abs": 0.2}),
        ({"abs": 0.1}, {"abs": 0.1, "rel": 0.01}),
        ({"band": 2}, {"band": 3}),
        ({"min": 0.5}, {"min": 0.4}),
        ({"max": 8}, {"max": 9}),
        ({"min_ratio": 0.9}, {"min_ratio": 0.8}),
        ({"max_ratio": 1.1}, {"max_ratio": 1.2}),
        ({"min": 0, "max": 1}, {"min": 0}),  # removing a bound
        ({"min": 0}, {"max": 1}),
        ({"min": 0}, {"min": -1}),
        ({"abs": 0}, {"abs": 0.1}),
        ({"min_ratio": 0.9, "max_ratio": 1.1}, {"max_ratio": 1.1}),
        ({"rel": 1e-4}, {"rel": 1e-4, "series": "mean"}),  # pointwise -> mean
        ({"rel": 1e-4}, {"band": 2}),  # another kind
        ({"band": 2}, {"info": True}),
    ],
)
def test_loosening_gives_a_reason(old, new):
    reason = loosening(tol(**old), tol(**new))
    assert reason is not None
    assert describe(tol(**old)) in reason


@pytest.mark.parametrize(
    "old, new",
    [
        ({"exact": True}, {"exact": True}),
        ({"rel": 1e-4}, {"rel": 1e-4}),
        ({"rel": 1e-3}, {"rel": 1e-4}),
        ({"rel": 1e-3}, {"exact": True}),
        ({"abs": 0.1, "rel": 0.01}, {"abs": 0.05, "rel": 0.01}),
        ({"abs": 0.1, "rel": 0.01}, {"rel": 0.01}),  # dropping abs narrows the allowance
        ({"band": 3}, {"band": 2}),
        ({"min": 0.4}, {"min": 0.5}),
        ({"max": 9}, {"max": 8}),
        ({"min": 0}, {"min": 0, "max": 1}),  # adding a bound
        ({"min_ratio": 0.8}, {"min_ratio": 0.9}),
        ({"max_ratio": 1.2}, {"max_ratio": 1.1}),
        ({"info": True}, {"rel": 0.5}),  # info was never gated
        ({"rel": 0.05, "series": "mean"}, {"rel": 0.01, "series": "mean"}),
    ],
)
def test_same_or_tighter_is_no_loosening(old, new):
    assert loosening(tol(**old), tol(**new)) is None
