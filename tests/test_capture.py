import hashlib
import json
import math

import pytest

from repronotes import capture


def test_capture_writes_structured_lines(tmp_path, monkeypatch):
    target = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(target))
    capture.metric("accuracy", 0.5, n=100)
    capture.metric("count", 7)
    capture.seeds("reward", [0.1, 0.2, 0.3])
    capture.series("loss", [1, 2], [0.9, 0.8])
    (tmp_path / "fig.png").write_bytes(b"png")
    monkeypatch.chdir(tmp_path)
    capture.artifact("fig.png")
    capture.environment(torch="2.13.0", deterministic=True)
    items = [json.loads(line) for line in target.read_text().splitlines()]
    assert [i["kind"] for i in items] == ["metric", "metric", "metric", "series", "artifact", "environment"]
    acc = items[0]
    assert acc["n"] == 100 and math.isclose(acc["se"], capture.binomial_se(0.5, 100))
    reward = items[2]
    assert (
        reward["value"] == pytest.approx(0.2)
        and reward["n"] == 3
        and reward["se"] == pytest.approx(0.1 / math.sqrt(3))
    )
    assert items[4] == {
        "kind": "artifact",
        "name": "fig.png",
        "sha256": hashlib.sha256(b"png").hexdigest(),
        "bytes": 3,
    }


def test_binomial_se_is_never_zero():
    assert capture.binomial_se(0.0, 300) > 0 and capture.binomial_se(1.0, 300) > 0
    assert capture.binomial_se(0.5, 100) == pytest.approx(math.sqrt(0.5 * 0.5 / 100))


def test_capture_rejects_bad_names_and_types(monkeypatch):
    with pytest.raises(ValueError, match="must match"):
        capture.metric("has space", 1)
    with pytest.raises(ValueError, match="n must be positive"):
        capture.metric("rate", 0.5, n=0)
    with pytest.raises(TypeError, match="cannot record"):
        capture.metric("obj", object())
    with pytest.raises(ValueError, match="2 steps but 1 values"):
        capture.series("loss", [1, 2], [1.0])
    with pytest.raises(ValueError, match="relative"):
        capture.artifact("/etc/passwd")


def test_without_engine_values_stay_in_memory():
    before = len(capture.captured())
    capture.metric("interactive", 1.5)
    assert capture.captured()[before]["value"] == 1.5


def test_seeds_of_a_rate_keep_a_binomial_floor(tmp_path, monkeypatch):
    target = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(target))
    capture.seeds("agreeing", [0.9, 0.9, 0.9], rows=64)
    capture.seeds("spread", [0.1, 0.5, 0.9], rows=64)
    capture.seeds("not_a_rate", [14.0, 14.0, 14.0], rows=64)
    agreeing, spread, not_a_rate = (json.loads(line) for line in target.read_text().splitlines())
    assert agreeing["se"] == pytest.approx(capture.binomial_se(0.9, 192)) and agreeing["se"] > 0
    assert spread["se"] == pytest.approx(0.4 / math.sqrt(3))  # the spread across seeds is larger
    assert not_a_rate["se"] == 0.0
    with pytest.raises(ValueError, match="rows must be positive"):
        capture.seeds("bad", [0.5], rows=0)
