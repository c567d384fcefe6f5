import json

import pytest

from repronotes.errors import CorruptRecordError, MissingRecordError
from repronotes.record import load_record, notebook_outputs_digest, write_json_atomic


def _valid():
    return {
        "schema": 1,
        "run": {
            "date": "2026-01-01T00:00:00+00:00",
            "git_commit": None,
            "profile": "cpu",
            "parameters": {},
            "duration_s": 1,
        },
        "inputs": {"hash": "abc", "parts": {}},
        "metrics": {"a": {"value": 1}},
        "environment": {"hardware_class": "cpu-x-1t"},
        "outputs": {"notebook_sha256": "def"},
    }


def test_round_trip_and_atomic_write(tmp_path):
    path = tmp_path / "records" / "cpu.json"
    write_json_atomic(path, _valid())
    assert load_record(path, "records/cpu.json")["metrics"]["a"]["value"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["cpu.json"]  # no temp files left behind


def test_nan_cannot_be_written(tmp_path):
    bad = _valid()
    bad["metrics"]["a"]["value"] = float("nan")
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "r.json", bad)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: "[]", "must be a JSON object"),
        (lambda text: text.replace('"schema": 1', '"schema": 9'), "schema"),
        (lambda text: text.replace('"metrics"', '"metricz"'), "metrics: missing"),
        (lambda text: text.replace('"hash"', '"hsh"'), "inputs.hash"),
        (lambda text: text.replace('"notebook_sha256"', '"nb"'), "outputs.notebook_sha256"),
    ],
)
def test_corrupt_records_are_named(tmp_path, mutate, message):
    path = tmp_path / "cpu.json"
    path.write_text(mutate(json.dumps(_valid())))
    with pytest.raises(CorruptRecordError, match=message) as err:
        load_record(path, "experiments/x/records/cpu.json")
    assert "experiments/x/records/cpu.json" in str(err.value)


def test_missing_record(tmp_path):
    with pytest.raises(MissingRecordError, match="no record"):
        load_record(tmp_path / "nope.json", "nope.json")


def test_outputs_digest_ignores_counts_but_not_outputs():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": "1",
                "execution_count": 1,
                "outputs": [{"output_type": "stream", "text": "a"}],
            }
        ]
    }
    other_count = json.loads(json.dumps(nb))
    other_count["cells"][0]["execution_count"] = 7
    assert notebook_outputs_digest(nb) == notebook_outputs_digest(other_count)
    other_output = json.loads(json.dumps(nb))
    other_output["cells"][0]["outputs"][0]["text"] = "b"
    assert notebook_outputs_digest(nb) != notebook_outputs_digest(other_output)
