"""record.py: a schema-2 record loads into a typed Record, anything else is named broken."""

from __future__ import annotations

import copy
import json

import nbformat
import pytest

from repronotes import notebooks
from repronotes.atomic import write_json_atomic
from repronotes.errors import CorruptRecordError, MissingRecordError
from repronotes.model import MetricEntry, Tolerance, TolerancePair
from repronotes.record import load_committed, load_record

FILE = "experiments/toy/records/cpu.json"


def valid() -> dict:
    return {
        "schema": 2,
        "experiment": "toy",
        "title": "Toy experiment",
        "run": {
            "date": "2026-01-01T00:00:00+00:00",
            "git_commit": None,
            "git_dirty": False,
            "profile": "cpu",
            "parameters": {"scale": 1.0},
            "duration_s": 1.5,
            "repronotes": "0.1",
        },
        "inputs": {"hash": "h" * 64, "parts": {"notebook": "n1", "hardware_class": "cpu-avx2-1t"}},
        "metrics": {
            "accuracy": {"value": 0.25, "n": 200, "se": 0.03, "se_method": "binomial", "tolerance": {"band": 2}},
            "count": {"value": 42, "tolerance": {"exact": True}},
            "loss": {"steps": [1, 2], "values": [1.0, 0.5], "tolerance": {"rel": 1e-6},
                     "tolerance_other_hardware": {"rel": 0.05}},
            "reward": {"value": 0.2, "n": 3, "se": 0.05, "se_method": "seeds", "per_seed": [0.1, 0.2, 0.3],
                       "tolerance": {"min": 0.0}},
        },
        "environment": {"hardware_class": "cpu-avx2-1t", "python": "3.11"},
        "outputs": {
            "notebook": "runs/cpu.ipynb",
            "notebook_sha256": "d" * 64,
            "artifacts": {"fig.png": {"sha256": "a" * 64, "bytes": 3}},
            "files": {"fig.png": "a" * 64},
        },
    }  # fmt: skip


def write(tmp_path, data) -> object:
    path = tmp_path / "cpu.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_valid_record_loads_typed(tmp_path):
    rec = load_record(write(tmp_path, valid()), FILE)
    assert (rec.file, rec.experiment, rec.profile, rec.title) == (FILE, "toy", "cpu", "Toy experiment")
    assert (rec.date, rec.git_commit, rec.duration_s) == ("2026-01-01T00:00:00+00:00", None, 1.5)
    assert rec.parameters == {"scale": 1.0} and rec.input_hash == "h" * 64
    assert rec.input_parts == {"notebook": "n1", "hardware_class": "cpu-avx2-1t"}
    assert rec.metrics["accuracy"] == MetricEntry(value=0.25, n=200, se=0.03, se_method="binomial")
    assert rec.metrics["loss"] == MetricEntry(steps=(1, 2), values=(1.0, 0.5))
    assert rec.metrics["reward"].per_seed == (0.1, 0.2, 0.3)
    assert rec.tolerances["count"] == TolerancePair(Tolerance(exact=True))
    assert rec.tolerances["loss"] == TolerancePair(Tolerance(rel=1e-6), Tolerance(rel=0.05))
    assert rec.tolerances["reward"].same.min == 0.0
    assert rec.hardware_class == "cpu-avx2-1t" and rec.notebook_digest == "d" * 64
    assert rec.artifacts == {"fig.png": {"sha256": "a" * 64, "bytes": 3}}
    assert rec.output_files == {"fig.png": "a" * 64}
    assert rec.data == valid()


def test_a_git_commit_string_and_missing_optional_outputs_load(tmp_path):
    data = valid()
    data["run"]["git_commit"] = "abc123"
    del data["outputs"]["artifacts"], data["outputs"]["files"], data["run"]["parameters"]
    rec = load_record(write(tmp_path, data), FILE)
    assert rec.git_commit == "abc123" and rec.artifacts == {} and rec.output_files == {}


def edit(change):
    def apply(data):
        data = copy.deepcopy(data)
        change(data)
        return data

    return apply


def _set(path: str, value):
    def change(data):
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value

    return edit(change)


def _del(path: str):
    def change(data):
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        del data[last]

    return edit(change)


@pytest.mark.parametrize(
    "mutate, key, rule",
    [
        (_set("schema", 1), "schema", "expected 2, found 1"),
        (_del("schema"), "schema", "expected 2, found None"),
        (_del("metrics"), "metrics", "missing or not an object"),
        (_set("outputs", []), "outputs", "missing or not an object"),
        (_del("experiment"), "experiment", "missing or not a non-empty string"),
        (_set("run.date", None), "run.date", "missing or not a non-empty string"),
        (_set("run.profile", ""), "run.profile", "missing or not a non-empty string"),
        (_del("run.git_commit"), "run.git_commit", "missing"),
        (_set("run.git_commit", 7), "run.git_commit", "must be a string or null"),
        (_set("run.duration_s", -1), "run.duration_s", "not a non-negative number"),
        (_set("run.duration_s", "1s"), "run.duration_s", "not a non-negative number"),
        (_set("run.duration_s", True), "run.duration_s", "not a non-negative number"),
        (_set("run.parameters", [1]), "run.parameters", "must be an object"),
        (_del("inputs.hash"), "inputs.hash", "missing or not a non-empty string"),
        (_set("inputs.parts", {"notebook": 1}), "inputs.parts", "must map names to strings"),
        (_set("inputs.parts", "abc"), "inputs.parts", "must be an object"),
        (_del("environment.hardware_class"), "environment.hardware_class", "missing"),
        (_del("outputs.notebook_sha256"), "outputs.notebook_sha256", "missing"),
        (_set("outputs.files", {"a": None}), "outputs.files", "must map names to strings"),
        (_set("outputs.artifacts", "x"), "outputs.artifacts", "must be an object"),
        (_del("metrics.count.value"), "metrics.count", "needs a value"),
        (_set("metrics.count", 42), "metrics.count", "needs a value"),
        (_set("metrics.count.bogus", 1), "metrics.count.bogus", "unknown key"),
        (_set("metrics.count.kind", "metric"), "metrics.count.kind", "unknown key"),
        (_set("metrics.accuracy.se", "0.03"), "metrics.accuracy", "se must be a number"),
        (_set("metrics.accuracy.n", 0), "metrics.accuracy", "n must be a positive integer"),
        (_set("metrics.accuracy.se_method", "guess"), "metrics.accuracy", "se_method must be one of"),
        (_set("metrics.reward.n", 2), "metrics.reward", "n must equal the number of per-seed values"),
        (_set("metrics.loss.values", [1.0]), "metrics.loss", "2 steps but 1 values"),
        (_del("metrics.count.tolerance"), "metrics.count.tolerance", "missing"),
        (_set("metrics.count.tolerance", {"rtol": 1e-4}), "metrics.count.tolerance.rtol", "unknown tolerance key"),
        (_set("metrics.count.tolerance", {}), "metrics.count.tolerance", "needs a tolerance kind"),
        (_set("metrics.count.tolerance", "exact"), "metrics.count.tolerance", "must be a mapping"),
        (_set("metrics.loss.tolerance_other_hardware", {"band": 0}), "metrics.loss.tolerance_other_hardware.band",
         "must be > 0"),
    ],
)  # fmt: skip
def test_corrupt_records_name_file_and_key(tmp_path, mutate, key, rule):
    with pytest.raises(CorruptRecordError) as err:
        load_record(write(tmp_path, mutate(valid())), FILE)
    message = str(err.value)
    assert message.startswith(f"{FILE}: {key}"), message
    assert rule in message
    assert "capture line" not in message


@pytest.mark.parametrize(
    "text, rule",
    [
        (lambda t: t[: len(t) // 2], "not valid JSON"),
        (lambda t: "", "not valid JSON"),
        (lambda t: t.replace('"value": 0.25', '"value": NaN'), "NaN is not allowed"),
        (lambda t: t.replace('"value": 0.25', '"value": Infinity'), "Infinity is not allowed"),
        (lambda t: t.replace('"value": 0.25', '"value": -Infinity'), "-Infinity is not allowed"),
        (lambda t: t.replace('"value": 0.25', '"value": 1e999'), "not allowed"),
        (lambda t: t.replace('"duration_s": 1.5', '"duration_s": 1e400'), "not allowed"),
        (lambda t: "[]", "must be a JSON object"),
    ],
)
def test_unparseable_and_non_finite_records_are_refused(tmp_path, text, rule):
    with pytest.raises(CorruptRecordError) as err:
        load_record(write(tmp_path, text(json.dumps(valid()))), FILE)
    assert str(err.value).startswith(f"{FILE}: ") and rule in str(err.value)


def test_non_utf8_record_is_corrupt(tmp_path):
    path = tmp_path / "cpu.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(CorruptRecordError, match="not UTF-8"):
        load_record(path, FILE)


def test_an_absent_record_is_missing(tmp_path):
    with pytest.raises(MissingRecordError, match=FILE) as err:
        load_record(tmp_path / "nope.json", FILE)
    assert isinstance(err.value, FileNotFoundError)


def test_write_json_atomic_leaves_no_temp_file_and_round_trips(tmp_path):
    path = tmp_path / "records" / "cpu.json"
    write_json_atomic(path, valid())
    write_json_atomic(path, valid())  # replacing an existing file
    assert [p.name for p in path.parent.iterdir()] == ["cpu.json"]
    assert load_record(path, FILE).metrics["count"].value == 42


def test_write_json_atomic_refuses_nan_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "cpu.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(ValueError):
        write_json_atomic(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["cpu.json"]


# --- the committed executed notebook ---------------------------------------------------------------

NB_FILE = "experiments/toy/runs/cpu.ipynb"


def test_load_committed_missing_file(tmp_path):
    nb = load_committed(tmp_path / "cpu.ipynb", NB_FILE)
    assert (nb.file, nb.problem, nb.digest, nb.seal) == (NB_FILE, "is missing", None, None)


@pytest.mark.parametrize(
    "text",
    [
        '{"cells": [1], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        '{"cells": null, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        '{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        "not json at all",
        "",
    ],
)
def test_load_committed_invalid_notebook(tmp_path, text):
    path = tmp_path / "cpu.ipynb"
    path.write_text(text)
    nb = load_committed(path, NB_FILE)
    assert nb.problem is not None and "not a valid .ipynb" in nb.problem
    assert nb.digest is None and nb.seal is None


def test_load_committed_valid_notebook_gives_digest_and_seal(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    lines = [{"kind": "metric", "name": "count", "value": 42, "n": None, "se": None, "se_method": None}]
    notebooks.set_seal(nb, notebooks.make_seal(lines, "h" * 64, {"notebook": "n1"}, {"a.txt": "f" * 64}))
    path = tmp_path / "cpu.ipynb"
    notebooks.write_notebook(path, nb)
    committed = load_committed(path, NB_FILE)
    assert committed.problem is None
    assert committed.digest == notebooks.digest(nb)
    assert committed.seal is not None and list(committed.seal.captures) == lines
    assert committed.seal.input_parts == {"notebook": "n1"} and committed.seal.tolerances is None


def test_load_committed_without_a_seal(tmp_path):
    path = tmp_path / "cpu.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(path))
    committed = load_committed(path, NB_FILE)
    assert committed.problem is None and committed.digest is not None and committed.seal is None
