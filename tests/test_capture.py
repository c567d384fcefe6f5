"""capture.py: the notebook API writes JSON lines (with se_method) the engine can re-derive SEs from."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from repronotes import capture


@pytest.fixture
def lines(tmp_path, monkeypatch):
    """Captures go to a file; returns a function reading its lines back."""
    target = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(target))
    return lambda: [json.loads(line) for line in target.read_text().splitlines()]


def test_capture_writes_one_json_line_per_call(lines, tmp_path, monkeypatch):
    capture.metric("accuracy", 0.5, n=100)
    capture.metric("count", 7)
    capture.seeds("reward", [0.1, 0.2, 0.3])
    capture.series("loss", [1, 2], [0.9, 0.8])
    (tmp_path / "fig.png").write_bytes(b"png")
    monkeypatch.chdir(tmp_path)
    capture.artifact("fig.png")
    capture.environment(torch="2.13.0", deterministic=True)
    items = lines()
    assert [i["kind"] for i in items] == ["metric", "metric", "metric", "series", "artifact", "environment"]
    assert items[0] == {
        "kind": "metric",
        "name": "accuracy",
        "value": 0.5,
        "n": 100,
        "se": capture.binomial_se(0.5, 100),
        "se_method": "binomial",
    }
    assert items[1] == {
        "kind": "metric",
        "name": "count",
        "value": 7,
        "n": None,
        "se": None,
        "se_method": None,
    }
    reward = items[2]
    assert reward["value"] == pytest.approx(0.2) and reward["n"] == 3 and reward["se_method"] == "seeds"
    assert reward["per_seed"] == [0.1, 0.2, 0.3] and reward["se"] == pytest.approx(0.1 / math.sqrt(3))
    assert items[3] == {"kind": "series", "name": "loss", "steps": [1, 2], "values": [0.9, 0.8]}
    assert items[4] == {"kind": "artifact", "name": "fig.png", "sha256": hashlib.sha256(b"png").hexdigest(), "bytes": 3}  # fmt: skip
    assert items[5] == {"kind": "environment", "facts": {"torch": "2.13.0", "deterministic": True}}


@pytest.mark.parametrize(
    "kwargs, se, method",
    [
        ({"n": 200}, capture.binomial_se(0.25, 200), "binomial"),
        ({"n": 200, "se": 0.07}, 0.07, "given"),  # a bootstrap SE, say
        ({"se": 0.07}, 0.07, "given"),
        ({}, None, None),
    ],
)
def test_metric_se_method(lines, kwargs, se, method):
    capture.metric("acc", 0.25, **kwargs)
    (item,) = lines()
    assert (item["se"], item["se_method"]) == (se, method)


def test_a_count_with_n_is_not_a_rate(lines):
    capture.metric("tokens", 1234.0, n=10)
    (item,) = lines()
    assert (item["n"], item["se"], item["se_method"]) == (10, None, None)


def test_binomial_se_is_laplace_smoothed_and_never_zero():
    assert capture.binomial_se(0.0, 300) > 0 and capture.binomial_se(1.0, 300) > 0
    assert capture.binomial_se(0.5, 100) == pytest.approx(math.sqrt(0.5 * 0.5 / 100))
    smoothed = (0.1 * 50 + 1) / 52
    assert capture.binomial_se(0.1, 50) == pytest.approx(math.sqrt(smoothed * (1 - smoothed) / 50))


def test_seeds_se_is_sample_std_over_sqrt_k():
    assert capture.seeds_se([1.0, 2.0, 3.0]) == pytest.approx(1.0 / math.sqrt(3))
    assert capture.seeds_se([5.0, 5.0]) == 0.0
    assert capture.seeds_se([5.0]) is None
    assert capture.seeds_se([]) is None


def test_seeds_with_rows_keep_a_binomial_floor(lines):
    capture.seeds("agreeing", [0.9, 0.9, 0.9], rows=64)
    capture.seeds("spread", [0.1, 0.5, 0.9], rows=64)
    capture.seeds("not_a_rate", [14.0, 14.0, 14.0], rows=64)
    agreeing, spread, not_a_rate = lines()
    assert agreeing["se_method"] == "seeds+binomial" and agreeing["rows"] == 64
    assert agreeing["se"] == pytest.approx(capture.binomial_se(0.9, 192)) and agreeing["se"] > 0
    assert spread["se"] == pytest.approx(0.4 / math.sqrt(3))  # the spread across seeds is larger
    assert not_a_rate["se"] == 0.0


def test_a_single_seed_has_no_se(lines):
    capture.seeds("one", [0.4])
    (item,) = lines()
    assert (item["value"], item["n"], item["se"]) == (0.4, 1, None)


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"se_method": "binomial", "value": 0.25, "n": 200}, capture.binomial_se(0.25, 200)),
        ({"se_method": "binomial", "value": 3.5, "n": 200}, None),  # not a rate
        ({"se_method": "binomial", "value": 0.25, "n": None}, None),
        ({"se_method": "binomial", "value": 0.25, "n": 0}, None),
        ({"se_method": "seeds", "value": 2.0, "per_seed": [1.0, 2.0, 3.0]}, 1.0 / math.sqrt(3)),
        ({"se_method": "seeds", "value": 2.0, "per_seed": [2.0]}, None),
        ({"se_method": "seeds", "value": 2.0, "per_seed": []}, None),
        ({"se_method": "seeds", "value": 2.0, "per_seed": ["a", "b"]}, None),
        ({"se_method": "seeds", "value": 2.0, "per_seed": [True, False]}, None),
        ({"se_method": "seeds+binomial", "value": 0.9, "per_seed": [0.9, 0.9], "rows": 10},
         capture.binomial_se(0.9, 20)),
        ({"se_method": "seeds+binomial", "value": 0.5, "per_seed": [0.1, 0.9], "rows": 10}, 0.4),
        ({"se_method": "seeds+binomial", "value": 14.0, "per_seed": [14.0, 14.0], "rows": 10}, 0.0),
        ({"se_method": "given", "value": 0.25, "n": 200, "se": 0.1}, None),
        ({"se_method": "bootstrap", "value": 0.25, "n": 200, "se": 0.1}, None),
        ({"se_method": None, "value": 0.25, "n": 200, "se": 0.1}, None),
        ({"value": 0.25, "n": 200}, None),
    ],
)  # fmt: skip
def test_expected_se_by_method(entry, expected):
    result = capture.expected_se(entry)
    assert result == (expected if expected is None else pytest.approx(expected))


def test_artifact_name_is_relative_to_the_output_dir(lines, tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "figs").mkdir(parents=True)
    (out / "figs" / "curve.png").write_bytes(b"abc")
    (tmp_path / "elsewhere.txt").write_bytes(b"x")
    monkeypatch.setenv("REPRONOTES_OUTPUT_DIR", str(out))
    monkeypatch.chdir(tmp_path)
    capture.artifact("out/figs/curve.png")
    capture.artifact("elsewhere.txt")
    inside, outside = lines()
    assert inside["name"] == "figs/curve.png" and inside["bytes"] == 3
    assert inside["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert outside["name"] == "elsewhere.txt"


def test_artifact_without_output_dir_keeps_the_given_path(lines, tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("hi")
    monkeypatch.chdir(tmp_path)
    capture.artifact("sub/a.txt")
    assert lines()[0]["name"] == "sub/a.txt"


def test_absolute_artifact_path_is_refused(lines, tmp_path):
    (tmp_path / "a.txt").write_text("hi")
    with pytest.raises(ValueError, match="relative path"):
        capture.artifact(tmp_path / "a.txt")


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: capture.metric("has space", 1), ValueError, "must match"),
        (lambda: capture.metric("9lives", 1), ValueError, "must match"),
        (lambda: capture.metric("rate", 0.5, n=0), ValueError, "n must be positive"),
        (lambda: capture.metric("obj", object()), TypeError, "cannot record"),
        (lambda: capture.series("loss", [1, 2], [1.0]), ValueError, "2 steps but 1 values"),
        (lambda: capture.seeds("none", []), ValueError, "no values"),
        (lambda: capture.seeds("bad", [0.5], rows=0), ValueError, "rows must be positive"),
    ],
)
def test_bad_calls_raise_before_writing(lines, tmp_path, call, error, match):
    with pytest.raises(error, match=match):
        call()
    assert not (tmp_path / "capture.jsonl").exists()


def test_numpy_like_values_become_plain():
    class Scalar:
        def item(self):
            return 0.5

    class Array:
        def tolist(self):
            return [1, 2]

    assert capture._plain(Scalar()) == 0.5
    assert capture._plain({"a": (Array(), 3)}) == {"a": [[1, 2], 3]}


def test_without_an_engine_values_stay_in_memory(monkeypatch, tmp_path):
    monkeypatch.setattr(capture, "_in_memory", [])
    monkeypatch.chdir(tmp_path)
    capture.metric("interactive", 0.5, n=10)
    capture.series("loss", [1], [2.0])
    kept = capture.captured()
    assert [(i["kind"], i["name"]) for i in kept] == [("metric", "interactive"), ("series", "loss")]
    assert kept[0]["se_method"] == "binomial"
    assert list(tmp_path.iterdir()) == []  # nothing written
    kept.clear()
    assert len(capture.captured()) == 2  # a copy
