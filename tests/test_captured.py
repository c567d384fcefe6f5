"""captured.py: capture lines -> typed entries, every rule a CaptureError naming the label and line."""

from __future__ import annotations

import math

import pytest

from repronotes.captured import interpret, non_finite, read_capture_file
from repronotes.errors import CaptureError
from repronotes.model import MetricEntry

LABEL = "toy/cpu"
SHA = "ab" * 32
OK = {"kind": "metric", "name": "ok", "value": 1}


def metric(**kw):
    return {"kind": "metric", "name": "m", "value": 0.5, **kw}


def test_interpret_types_every_kind():
    got = interpret(
        [
            metric(n=200, se=0.03, se_method="binomial"),
            {"kind": "metric", "name": "reward", "value": 0.2, "n": 3, "se": 0.05,
             "se_method": "seeds+binomial", "per_seed": [0.1, 0.2, 0.3], "rows": 64},
            {"kind": "series", "name": "loss", "steps": [1, 2], "values": [0.9, 0.8]},
            {"kind": "artifact", "name": "fig.png", "sha256": SHA, "bytes": 3},
            {"kind": "environment", "facts": {"torch": "2.13.0"}},
            {"kind": "environment", "facts": {"tf32": False}},
            {"kind": "imports", "distributions": {"numpy": "2.1.0"}},
        ],
        LABEL,
    )  # fmt: skip
    assert got.metrics["m"] == MetricEntry(value=0.5, n=200, se=0.03, se_method="binomial")
    assert got.metrics["reward"].per_seed == (0.1, 0.2, 0.3) and got.metrics["reward"].rows == 64
    assert got.metrics["loss"] == MetricEntry(steps=(1, 2), values=(0.9, 0.8))
    assert got.artifacts == {"fig.png": {"sha256": SHA, "bytes": 3}}
    assert got.facts == {"torch": "2.13.0", "tf32": False}
    assert got.packages == {"numpy": "2.1.0"}


def test_an_integer_se_becomes_a_float():
    se = interpret([metric(se=1, se_method="given")], LABEL).metrics["m"].se
    assert se == 1.0 and isinstance(se, float)


@pytest.mark.parametrize(
    "line, rule",
    [
        ({"kind": "metric", "name": "has space", "value": 1}, "metric name 'has space' is not valid"),
        ({"kind": "metric", "name": "9lives", "value": 1}, "is not valid"),
        ({"kind": "metric", "value": 1}, "metric name None is not valid"),
        ({"kind": "metric", "name": 5, "value": 1}, "is not valid"),
        ({"kind": "result", "name": "m"}, "unknown kind 'result'"),
        ({"name": "m", "value": 1}, "unknown kind None"),
        (metric(n=0), "n must be a positive integer"),
        (metric(n=-3), "n must be a positive integer"),
        (metric(n=2.5), "n must be a positive integer"),
        (metric(n="200"), "n must be a positive integer"),
        (metric(n=True), "n must be a positive integer"),
        (metric(rows=0), "rows must be a positive integer"),
        (metric(se="0.1"), "se must be a number"),
        (metric(se=True), "se must be a number"),
        (metric(se=0.1, se_method="bootstrap"), "se_method must be one of"),
        (metric(n=2, per_seed=["a", "b"]), "per_seed must be a non-empty list of numbers"),
        (metric(n=2, per_seed=[True, False]), "per_seed must be a non-empty list of numbers"),
        (metric(per_seed=[]), "per_seed must be a non-empty list of numbers"),
        (metric(n=1, per_seed=0.5), "per_seed must be a non-empty list of numbers"),
        (metric(n=2, per_seed=[0.1, 0.2, 0.3]), "n must equal the number of per-seed values"),
        (metric(per_seed=[0.1, 0.2]), "n must equal the number of per-seed values"),
        (metric(value=object()), "value must be a JSON value"),
        (metric(value={1: "a"}), "value must be a JSON value"),
        ({"kind": "series", "name": "s", "steps": [1, 2], "values": [1.0]}, "2 steps but 1 values"),
        ({"kind": "series", "name": "s", "steps": [1], "values": [1.0, 2.0]}, "1 steps but 2 values"),
        ({"kind": "series", "name": "s", "steps": ["a"], "values": [1.0]}, "steps must be numbers"),
        ({"kind": "series", "name": "s", "steps": [True], "values": [1.0]}, "steps must be numbers"),
        ({"kind": "series", "name": "s", "steps": 3, "values": [1.0]}, "needs lists of steps and values"),
        ({"kind": "series", "name": "s", "steps": [1]}, "needs lists of steps and values"),
        ({"kind": "series", "name": "s", "steps": [1], "values": [object()]}, "values must be JSON values"),
        ({"kind": "artifact", "name": "a.png", "bytes": 3}, "needs a sha256 digest"),
        ({"kind": "artifact", "name": "a.png", "sha256": "xyz", "bytes": 3}, "needs a sha256 digest"),
        ({"kind": "artifact", "name": "a.png", "sha256": SHA.upper(), "bytes": 3}, "needs a sha256 digest"),
        ({"kind": "artifact", "name": "a.png", "sha256": SHA}, "needs its size in bytes"),
        ({"kind": "artifact", "name": "a.png", "sha256": SHA, "bytes": -1}, "needs its size in bytes"),
        ({"kind": "artifact", "name": "a.png", "sha256": SHA, "bytes": True}, "needs its size in bytes"),
        ({"kind": "artifact", "name": "", "sha256": SHA, "bytes": 3}, "needs a name"),
        ({"kind": "artifact", "sha256": SHA, "bytes": 3}, "needs a name"),
        ({"kind": "environment", "facts": ["torch"]}, "environment facts must be an object"),
        ({"kind": "environment"}, "environment facts must be an object"),
        ({"kind": "imports", "distributions": {"numpy": 2}}, "imports must map distribution names"),
        ({"kind": "imports", "distributions": ["numpy"]}, "imports must map distribution names"),
    ],
)
def test_each_rule_names_label_and_line(line, rule):
    with pytest.raises(CaptureError) as err:
        interpret([OK, line], LABEL)
    assert str(err.value).startswith(f"{LABEL}: capture line 2: ")
    assert rule in str(err.value)


@pytest.mark.parametrize(
    "second",
    [
        {"kind": "metric", "name": "ok", "value": 2},
        {"kind": "series", "name": "ok", "steps": [1], "values": [1.0]},
    ],
)
def test_a_metric_captured_twice_is_an_error(second):
    with pytest.raises(CaptureError, match=r"toy/cpu: capture line 2: metric 'ok' captured twice"):
        interpret([OK, second], LABEL)


def test_an_artifact_may_share_a_metric_name_and_repeats_keep_the_last():
    got = interpret(
        [OK, {"kind": "artifact", "name": "ok", "sha256": SHA, "bytes": 1},
         {"kind": "artifact", "name": "ok", "sha256": "cd" * 32, "bytes": 2}],
        LABEL,
    )  # fmt: skip
    assert got.artifacts["ok"]["bytes"] == 2 and "ok" in got.metrics


def test_nan_is_interpreted_for_the_verdict_to_refuse():
    got = interpret([metric(value=math.nan)], LABEL)
    assert math.isnan(got.metrics["m"].value)


def test_read_capture_file(tmp_path):
    path = tmp_path / "capture.jsonl"
    assert read_capture_file(path, LABEL) == []  # absent: nothing captured
    path.write_text(
        '{"kind": "metric", "name": "a", "value": 1}\n\n{"kind": "metric", "name": "b", "value": NaN}\n'
    )
    items = read_capture_file(path, LABEL)
    assert [i["name"] for i in items] == ["a", "b"] and math.isnan(items[1]["value"])


@pytest.mark.parametrize(
    "text, rule",
    [
        ('{"kind": "metric"}\n{"kind": "met', "capture line 2 is not JSON"),
        ("\n\nnot json\n", "capture line 3 is not JSON"),
        ('{"kind": "metric"}\n[1, 2]\n', "capture line 2 is not a JSON object"),
        ('"text"\n', "capture line 1 is not a JSON object"),
    ],
)
def test_read_capture_file_names_the_bad_line(tmp_path, text, rule):
    path = tmp_path / "capture.jsonl"
    path.write_text(text)
    with pytest.raises(CaptureError) as err:
        read_capture_file(path, LABEL)
    assert str(err.value).startswith(f"{LABEL}: {rule}")


def test_non_finite_names_every_metric_with_nan_or_inf():
    metrics = {
        "fine": MetricEntry(value=1.0, se=0.1),
        "nan": MetricEntry(value=math.nan),
        "inf_se": MetricEntry(value=1.0, se=math.inf),
        "seed": MetricEntry(value=1.0, n=2, per_seed=(1.0, -math.inf)),
        "curve": MetricEntry(steps=(1, 2), values=(1.0, math.nan)),
        "text": MetricEntry(value="nan"),
    }
    assert non_finite(metrics) == ["curve", "inf_se", "nan", "seed"]
    assert non_finite({}) == []
