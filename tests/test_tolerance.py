import math

import pytest

from repronotes.errors import SpecError
from repronotes.tolerance import Tolerance, compare, parse_tolerance


def v(value, **extra):
    return {"value": value, **extra}


def tol(**kwargs):
    return parse_tolerance(kwargs, "experiments/x/experiment.yaml", "metrics.m")


def test_exact_is_bitwise_for_floats_strings_and_lists():
    assert compare("m", v(0.1 + 0.2), v(0.30000000000000004), tol(exact=True)).status == "identical"
    assert compare("m", v(0.3), v(0.30000000000000004), tol(exact=True)).status == "drifted"
    assert compare("m", v("abc123"), v("abc123"), tol(exact=True)).status == "identical"
    assert compare("m", v([[1, 2], [3, 4]]), v([[1, 2], [3, 5]]), tol(exact=True)).status == "drifted"


def test_abs_and_rel_combine_like_isclose():
    t = tol(abs=0.01, rel=0.1)
    assert compare("m", v(1.0), v(1.10), t).status == "within"  # allowed 0.01 + 0.1
    assert compare("m", v(1.0), v(1.12), t).status == "drifted"
    assert compare("m", v(1.0), v(1.0), t).status == "identical"


def test_one_sided_bounds_and_ratios():
    assert compare("m", v(5.0), v(-0.1), tol(min=0.0)).status == "drifted"
    assert compare("m", v(5.0), v(0.2), tol(min=0.0)).status == "within"
    assert compare("m", v(5.0), v(9.0), tol(max=8.0)).status == "drifted"
    throughput = tol(min_ratio=0.9)
    assert compare("m", v(1000.0), v(905.0), throughput).status == "within"
    assert compare("m", v(1000.0), v(850.0), throughput).status == "drifted"
    assert compare("m", v(1000.0), v(5000.0), throughput).status == "within"  # faster is fine
    assert compare("m", v(0.0), v(1.0), throughput).status == "drifted"


def test_band_uses_combined_standard_error():
    t = tol(band=2)
    # se 0.03 each -> combined 0.0424 -> 2 SE = 0.0849
    assert compare("m", v(0.40, se=0.03, n=200), v(0.48, se=0.03, n=200), t).status == "within"
    assert compare("m", v(0.40, se=0.03, n=200), v(0.50, se=0.03, n=200), t).status == "drifted"
    missing_se = compare("m", v(0.4), v(0.5), t)
    assert missing_se.status == "drifted" and "standard error" in missing_se.detail


def test_band_with_zero_standard_error_on_both_sides_is_exact():
    t = tol(band=2)
    # e.g. a rate of 1.0 on both sides, or three seeds that agreed exactly
    assert compare("m", v(1.0, se=0.0, n=64), v(1.0, se=0.0, n=64), t).status == "identical"
    assert compare("m", v(0.5, se=0.0), v(0.5 + 1e-18, se=0.0), t).status in ("identical", "within")
    differs = compare("m", v(14.0, se=0.0), v(13.0, se=0.0), t)
    assert differs.status == "drifted" and "standard error of 0 on both sides" in differs.detail


def test_info_is_never_gated_but_nan_and_inf_never_pass():
    assert compare("m", v(1.0), v(123.0), tol(info=True)).status == "info"
    for bad in (math.nan, math.inf, -math.inf):
        for t in (tol(info=True), tol(abs=1e9), tol(exact=True), tol(max=1.0)):
            assert compare("m", v(1.0), v(bad), t).status == "invalid"
    assert compare(
        "m", {"steps": [1], "values": [1.0]}, {"steps": [1], "values": [math.nan]}, tol(info=True)
    ).failed


def test_series_pointwise_and_summary():
    rec = {"steps": [1, 2, 3], "values": [1.0, 0.5, 0.25]}
    assert (
        compare("loss", rec, {"steps": [1, 2, 3], "values": [1.0, 0.5, 0.25]}, tol(rel=1e-6)).status
        == "identical"
    )
    drift = compare("loss", rec, {"steps": [1, 2, 3], "values": [1.0, 0.6, 0.25]}, tol(rel=1e-6))
    assert drift.status == "drifted" and "step 2" in drift.detail
    assert compare("loss", rec, {"steps": [1, 2], "values": [1.0, 0.5]}, tol(rel=1)).status == "drifted"
    last = tol(rel=0.05, series="last")
    assert compare("loss", rec, {"steps": [1, 2, 3], "values": [9.0, 9.0, 0.26]}, last).status == "within"


def test_missing_and_unexpected_metrics_fail():
    assert compare("m", v(1.0), None, tol(abs=1)).status == "missing"
    assert compare("m", None, v(1.0), tol(abs=1)).status == "unexpected"


@pytest.mark.parametrize(
    "body, rule",
    [
        ({}, "needs a tolerance kind"),
        ({"exact": True, "abs": 0.1}, "mixes tolerance kinds"),
        ({"rel": -1}, "must be >= 0"),
        ({"band": 0}, "must be > 0"),
        ({"abs": "small"}, "must be a finite number"),
        ({"exact": False}, "must be true"),
        ({"tolerance": 1}, "unknown tolerance key"),
        ({"abs": 1, "series": "median"}, "must be one of"),
    ],
)
def test_bad_tolerances_name_file_key_and_rule(body, rule):
    with pytest.raises(SpecError) as err:
        parse_tolerance(body, "experiments/x/experiment.yaml", "metrics.m")
    assert "experiments/x/experiment.yaml" in str(err.value) and "metrics.m" in str(err.value)
    assert rule in str(err.value)


def test_describe_round_trips_as_dict():
    t = Tolerance(rel=1e-4)
    assert t.describe() == "rel 0.0001" and t.as_dict() == {"rel": 1e-4}
    assert Tolerance(band=2.0).describe() == "±2·SE"
