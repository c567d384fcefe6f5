"""assess(): the decision table over hand-built values (no files, nothing runs).

The baseline is one consistent world: a record made from capture LINES, its committed notebook sealed
with the same lines, a policy declaring the same tolerances. Each test breaks one thing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from repronotes import tolerance
from repronotes.assess import assess, recorded_tolerances
from repronotes.capture import binomial_se
from repronotes.captured import interpret
from repronotes.model import (
    Action,
    Change,
    CommittedNotebook,
    FindingKind,
    Freshness,
    MetricEntry,
    MetricRule,
    MetricRules,
    Outcome,
    Policy,
    Record,
    RecordState,
    RunFailure,
    RunResult,
    Seal,
    Status,
    TolerancePair,
    Verdict,
)
from repronotes.record import tolerance_document

EXP, PROFILE, HW = "toy", "cpu", "cpu-avx2-1t"
RECORD_FILE = f"experiments/{EXP}/records/{PROFILE}.json"
NB_FILE = f"experiments/{EXP}/runs/{PROFILE}.ipynb"
RECORD_CMD = f"repronotes record {EXP} --profile {PROFILE}"
RUN_CMD = f"repronotes run {EXP} --profile {PROFILE}"
WHY_NOT = "execution is off"
DIGEST = "d" * 64
ARTIFACT = {"kind": "artifact", "name": "fig.png", "sha256": "a" * 64, "bytes": 3}


def metric(name, value, n=None, se=None, se_method=None, **extra):
    return {"kind": "metric", "name": name, "value": value, "n": n, "se": se, "se_method": se_method, **extra}


def series(name, steps, values):
    return {"kind": "series", "name": name, "steps": list(steps), "values": list(values)}


LINES = (
    metric("accuracy", 0.25, n=200, se=binomial_se(0.25, 200), se_method="binomial"),
    metric("count", 42),
    series("loss", [1, 2, 3], [1.0, 0.5, 0.25]),
    metric("speed", 1000.0),
    ARTIFACT,
)
SPEC = {  # metric -> (same-hardware tolerance, other-hardware tolerance or None)
    "accuracy": ({"band": 2}, None),
    "count": ({"exact": True}, None),
    "loss": ({"rel": 1e-6}, {"rel": 0.05}),
    "speed": ({"min_ratio": 0.9}, None),
}
PARTS = {
    "hardware_class": HW,
    "numerics": '{"PYTHONHASHSEED": "0"}',
    "notebook": "nb1",
    "spec": "spec1",
    "parameters": "params1",
    "capture": "cap1",
    "repronotes": "0.1",
    "code:src/lab/train.py": "code1",
}
OUTPUT_FILES = {"fig.png": "a" * 64}


def pair(same, other=None) -> TolerancePair:
    parse = tolerance.parse_tolerance
    return TolerancePair(parse(same, "e.yaml", "m"), parse(other, "e.yaml", "m") if other else None)


def rules(spec=None, **extra) -> MetricRules:
    """MetricRules from {pattern: (same, other)}; keyword arguments add (or with None remove) rules."""
    merged = {**(SPEC if spec is None else spec), **extra}
    return MetricRules(tuple(MetricRule(name, pair(*body)) for name, body in merged.items() if body))


def make_record(lines=LINES, spec=None, parts=None, **changes) -> Record:
    """A Record as load_record would make it from a record written by `record` for these captures."""
    derived = interpret(list(lines), "record")
    declared = rules(spec)
    tolerances = {name: declared.lookup(name) for name in derived.metrics}
    metrics_data = {
        name: {**entry.as_dict(), **tolerance_document(tolerances[name], tolerance.as_dict)}
        for name, entry in derived.metrics.items()
    }
    values = {
        "file": RECORD_FILE,
        "experiment": EXP,
        "profile": PROFILE,
        "title": "Toy",
        "date": "2026-01-01T00:00:00+00:00",
        "git_commit": "abc123",
        "duration_s": 2.0,
        "parameters": {"scale": 1.0},
        "input_hash": "hash1",
        "input_parts": dict(PARTS if parts is None else parts),
        "metrics": derived.metrics,
        "tolerances": tolerances,
        "hardware_class": HW,
        "environment": {"hardware_class": HW},
        "notebook_digest": DIGEST,
        "artifacts": derived.artifacts,
        "output_files": dict(OUTPUT_FILES),
        "data": {"metrics": metrics_data},
    }
    return Record(**{**values, **changes})


def make_seal(lines=LINES, record=None, **changes) -> Seal:
    values = {
        "captures": tuple(lines),
        "input_hash": "hash1",
        "input_parts": dict(PARTS),
        "output_files": dict(OUTPUT_FILES),
        "tolerances": recorded_tolerances(record or make_record()),
    }
    return Seal(**{**values, **changes})


def state(record=None, seal=None, digest=DIGEST, **changes) -> RecordState:
    record = record or make_record()
    nb = CommittedNotebook(NB_FILE, digest=digest, seal=seal or make_seal())
    return RecordState(**{"file": RECORD_FILE, "record": record, "notebook": nb, **changes})


def policy(spec=None, **changes) -> Policy:
    values = {
        "experiment": EXP,
        "profile": PROFILE,
        "rules": rules(spec),
        "runnable": False,
        "why_not_run": WHY_NOT,
        "declared_profiles": ("cpu", "gpu"),
    }
    return Policy(**{**values, **changes})


def make_run(lines=LINES, parts=None, hardware=HW, **changes) -> RunResult:
    derived = interpret(list(lines), "run")
    values = {
        "experiment": EXP,
        "profile": PROFILE,
        "input_hash": "hash1",
        "parts": dict(PARTS if parts is None else parts),
        "hardware_class": hardware,
        "metrics": derived.metrics,
        "captures": tuple(lines),
        "artifacts": derived.artifacts,
        "kernel_facts": {},
        "packages": {},
        "duration_s": 2.1,
        "date": "2026-02-01T00:00:00+00:00",
        "notebook_digest": "e" * 64,
        "output_files": dict(OUTPUT_FILES),
        "folder": Path("/nonexistent/run"),
    }
    return RunResult(**{**values, **changes})


def replaced(lines, name, **fields):
    return tuple({**line, **fields} if line.get("name") == name and line["kind"] != "artifact" else line
                 for line in lines)  # fmt: skip


def without(lines, name):
    return tuple(line for line in lines if line.get("name") != name or line["kind"] == "artifact")


def kinds(out: Outcome) -> list[FindingKind]:
    return [f.kind for f in out.findings]


def only(out: Outcome, kind: FindingKind):
    found = [f for f in out.findings if f.kind is kind]
    assert len(found) == 1, out.findings
    return found[0]


# --- the baseline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fresh", [Freshness(), None])
def test_a_consistent_fresh_record_is_verified(fresh):
    out = assess(state(), None, fresh, policy())
    assert (out.status, out.action, out.findings) == (Status.VERIFIED, Action.VERIFIED_ONLY, [])
    assert (out.experiment, out.profile, out.record_hardware) == (EXP, PROFILE, HW)
    assert out.record_date == "2026-01-01T00:00:00+00:00" and not out.failed


def test_the_builders_agree_with_what_record_seals():
    record = make_record()
    assert recorded_tolerances(record)["loss"] == {
        "tolerance": {"rel": 1e-6},
        "tolerance_other_hardware": {"rel": 0.05},
    }
    assert record.metrics["accuracy"].se_method == "binomial" and record.artifacts["fig.png"]["bytes"] == 3


# --- freshness ------------------------------------------------------------------------------------


def test_changed_inputs_make_the_record_stale():
    fresh = Freshness(changes=(Change("code:src/lab/train.py", "changed", "code1", "code2"),))
    out = assess(state(), None, fresh, policy())
    assert out.status is Status.STALE and out.failed
    stale = only(out, FindingKind.STALE)
    assert "src/lab/train.py changed" in stale.message and WHY_NOT in stale.message
    assert stale.command == f"on {HW}: {RECORD_CMD}"


def test_every_changed_part_is_named():
    fresh = Freshness(
        changes=(Change("parameters", "changed", "a", "b"), Change("upstream:data", "changed", "x", "y"))
    )
    message = only(assess(state(), None, fresh, policy()), FindingKind.STALE).message
    assert "parameters changed" in message and "upstream data outputs changed" in message


def test_ignored_changes_become_notes_only():
    fresh = Freshness(ignored=(Change("lock:requirements.lock", "added", None, "l1"),))
    out = assess(state(), None, fresh, policy())
    assert out.status is Status.VERIFIED and out.findings == []
    assert len(out.notes) == 1 and "requirements.lock added" in out.notes[0] and "not counted" in out.notes[0]


# --- no record, broken record, undeclared profile -----------------------------------------------------


def test_a_record_for_an_undeclared_profile_is_broken():
    out = assess(state(), None, Freshness(), policy(profile="old", declared=False))
    assert (out.status, out.action) == (Status.BROKEN, Action.SKIPPED)
    finding = only(out, FindingKind.UNDECLARED_PROFILE)
    assert "'old'" in finding.message and "declared: cpu, gpu" in finding.message
    assert "runs/old.ipynb" in finding.message


def test_undeclared_with_no_declared_profiles_says_none():
    out = assess(state(), None, None, policy(profile="old", declared=False, declared_profiles=()))
    assert "declared: none" in out.findings[0].message


def test_missing_optional_record_is_not_recorded():
    out = assess(RecordState(RECORD_FILE, missing=True), None, None, policy(optional=True))
    assert (out.status, out.action, out.findings) == (Status.NOT_RECORDED, Action.SKIPPED, [])
    assert not out.failed and out.notes


def test_missing_required_record():
    out = assess(RecordState(RECORD_FILE, missing=True), None, None, policy())
    assert out.status is Status.MISSING
    finding = only(out, FindingKind.MISSING_RECORD)
    assert RECORD_FILE in finding.message and finding.command == RECORD_CMD


@pytest.mark.parametrize("optional", [False, True])
def test_a_broken_record_is_broken_even_when_optional(optional):
    broken = RecordState(RECORD_FILE, problem=f"{RECORD_FILE}: metrics.count.tolerance: missing")
    out = assess(broken, None, None, policy(optional=optional))
    assert out.status is Status.BROKEN
    finding = only(out, FindingKind.BROKEN_RECORD)
    assert finding.message == broken.problem and finding.command == RECORD_CMD


# --- integrity ------------------------------------------------------------------------------------


def test_a_notebook_edited_after_recording_fails_integrity():
    out = assess(state(digest="0" * 64), None, Freshness(), policy())
    assert out.status is Status.BROKEN
    finding = only(out, FindingKind.INTEGRITY)
    assert NB_FILE in finding.message and "digest" in finding.message and finding.command == RECORD_CMD


@pytest.mark.parametrize(
    "notebook, text",
    [
        (CommittedNotebook(NB_FILE, problem="is missing"), f"{NB_FILE} is missing"),
        (CommittedNotebook(NB_FILE, problem="not a valid .ipynb (x)"), "not a valid .ipynb"),
        (None, "runs/cpu.ipynb is missing"),
    ],
)
def test_an_unreadable_or_missing_notebook_fails_integrity(notebook, text):
    out = assess(state(notebook=notebook), None, Freshness(), policy())
    assert out.status is Status.BROKEN
    assert text in only(out, FindingKind.INTEGRITY).message


def test_a_notebook_without_a_seal_fails_integrity():
    nb = CommittedNotebook(NB_FILE, digest=DIGEST, seal=None)
    out = assess(state(notebook=nb), None, Freshness(), policy())
    assert kinds(out) == [FindingKind.INTEGRITY] and "no seal" in out.findings[0].message


def test_a_seal_with_broken_captures_fails_self_consistency():
    seal = make_seal(lines=(*LINES, {"kind": "metric", "name": "bad name", "value": 1}))
    out = assess(state(seal=seal), None, Freshness(), policy())
    assert kinds(out) == [FindingKind.SELF_CONSISTENCY] and "capture line 6" in out.findings[0].message


# --- self-consistency: the record against its seal --------------------------------------------------


@pytest.mark.parametrize(
    "record_lines, metric_name, what",
    [
        (replaced(LINES, "speed", value=2000.0), "speed", "differs"),
        (replaced(LINES, "count", value=43), "count", "differs"),
        (replaced(LINES, "accuracy", se=0.5), "accuracy", "differs"),  # an inflated SE widens the band
        (replaced(LINES, "accuracy", n=2000), "accuracy", "differs"),
        (replaced(LINES, "accuracy", se_method="given"), "accuracy", "differs"),
        (replaced(LINES, "loss", values=[1.0, 0.5, 0.3]), "loss", "differs"),
        ((*LINES, metric("bonus", 1.0)), "bonus", "is not in its notebook's captures"),
    ],
)
def test_a_record_metric_that_its_seal_does_not_prove(record_lines, metric_name, what):
    spec = {**SPEC, "bonus*": ({"rel": 0.1}, None)}  # a glob: not required, so only self-consistency fails
    record = make_record(record_lines, spec=spec)
    seal = make_seal(record=make_record(spec=spec))
    out = assess(state(record=record, seal=seal), None, Freshness(), policy(spec=spec))
    assert out.status is Status.BROKEN
    assert set(kinds(out)) == {FindingKind.SELF_CONSISTENCY}
    (finding,) = [
        f for f in out.findings if f.metric is not None
    ]  # (+ "tolerances" when a metric is added/removed)
    assert finding.metric == metric_name and what in finding.message
    assert RECORD_FILE in finding.message and NB_FILE in finding.message and finding.command == RECORD_CMD


def test_a_metric_deleted_from_the_record_is_also_a_missing_declared_metric():
    record = make_record(without(LINES, "count"))
    out = assess(state(record=record, seal=make_seal()), None, Freshness(), policy())
    assert out.status is Status.BROKEN
    assert sorted(k.name for k in kinds(out)) == ["MISSING_METRIC", "SELF_CONSISTENCY", "SELF_CONSISTENCY"]
    by_metric = {f.metric: f for f in out.findings if f.kind is FindingKind.SELF_CONSISTENCY}
    assert set(by_metric) == {"count", None}  # the metric, and the tolerances it took along
    assert "count is not in the record" in by_metric["count"].message
    assert "tolerances differs" in by_metric[None].message
    assert only(out, FindingKind.MISSING_METRIC).metric == "count"


def test_an_edited_record_tolerance_breaks_self_consistency():
    spec = {**SPEC, "count": ({"rel": 0.5}, None)}
    record = make_record(spec=spec)  # the record claims rel 0.5, the seal proves exact
    out = assess(state(record=record, seal=make_seal()), None, Freshness(), policy())
    finding = only(out, FindingKind.SELF_CONSISTENCY)
    assert "tolerances differs" in finding.message and out.status is Status.BROKEN


@pytest.mark.parametrize(
    "record_changes, section",
    [
        ({"input_parts": {**PARTS, "parameters": "params2"}}, "inputs.parts"),
        ({"input_hash": "hash2"}, "inputs.hash"),
        ({"output_files": {"fig.png": "b" * 64}}, "outputs.files"),
        ({"output_files": {}}, "outputs.files"),
        ({"artifacts": {"fig.png": {"sha256": "a" * 64, "bytes": 4}}}, "outputs.artifacts"),
    ],
)
def test_edited_record_sections_break_self_consistency(record_changes, section):
    record = dataclasses.replace(make_record(), **record_changes)
    out = assess(state(record=record, seal=make_seal()), None, Freshness(), policy())
    assert out.status is Status.BROKEN
    assert f"{section} differs" in only(out, FindingKind.SELF_CONSISTENCY).message


def test_a_seal_without_tolerances_does_not_prove_the_records():
    out = assess(state(seal=make_seal(tolerances=None)), None, Freshness(), policy())
    assert "tolerances differs" in only(out, FindingKind.SELF_CONSISTENCY).message


# --- declarations and tolerances ------------------------------------------------------------------


def test_a_declared_metric_missing_from_the_record():
    out = assess(state(), None, Freshness(), policy(spec={**SPEC, "f1": ({"band": 2}, None)}))
    assert out.status is Status.DRIFTED
    finding = only(out, FindingKind.MISSING_METRIC)
    assert finding.metric == "f1" and "not in the record" in finding.message and finding.command == RECORD_CMD


def test_a_declared_glob_need_not_be_recorded():
    out = assess(state(), None, Freshness(), policy(spec={**SPEC, "eval/*": ({"rel": 0.1}, None)}))
    assert out.status is Status.VERIFIED


def test_a_record_metric_without_a_declared_tolerance():
    out = assess(state(), None, Freshness(), policy(spec={k: v for k, v in SPEC.items() if k != "speed"}))
    assert out.status is Status.SPEC_ERROR
    finding = only(out, FindingKind.SPEC)
    assert finding.metric == "speed" and finding.command == "declare metrics.speed in experiment.yaml"


@pytest.mark.parametrize(
    "name, declared",
    [
        ("accuracy", ({"band": 3}, None)),
        ("count", ({"rel": 1e-9}, None)),
        ("count", ({"info": True}, None)),
        ("speed", ({"min_ratio": 0.8}, None)),
        ("loss", ({"rel": 1e-5}, {"rel": 0.05})),
        ("loss", ({"rel": 1e-6}, {"rel": 0.1})),  # only the other-hardware tolerance loosened
        ("loss", ({"rel": 1e-6, "series": "last"}, {"rel": 0.05})),
        ("speed", ({"min_ratio": 0.9}, {"min_ratio": 0.5})),  # a new other-hardware widening
    ],
)
def test_a_looser_tolerance_in_the_spec_makes_the_record_stale(name, declared):
    out = assess(state(), None, Freshness(), policy(spec={**SPEC, name: declared}))
    assert out.status is Status.STALE
    finding = only(out, FindingKind.TOLERANCE_CHANGED)
    assert finding.metric == name and finding.command == RECORD_CMD and finding.tolerance
    assert finding.tolerance in finding.message


@pytest.mark.parametrize(
    "name, declared",
    [
        ("accuracy", ({"band": 1.5}, None)),
        ("speed", ({"min_ratio": 0.95}, None)),
        ("count", ({"exact": True}, None)),
        ("loss", ({"rel": 1e-7}, {"rel": 0.01})),
        ("loss", ({"rel": 1e-6}, None)),  # dropping the other-hardware widening is tighter
    ],
)
def test_a_tighter_tolerance_in_the_spec_is_fine(name, declared):
    out = assess(state(), None, Freshness(), policy(spec={**SPEC, name: declared}))
    assert (out.status, out.findings) == (Status.VERIFIED, [])


# --- with a run -----------------------------------------------------------------------------------


def test_an_identical_run_reproduces_bit_for_bit():
    out = assess(state(), make_run(), None, policy(runnable=True))
    assert (out.status, out.action, out.hardware, out.findings) == (
        Status.REPRODUCED,
        Action.EXECUTED,
        HW,
        [],
    )
    assert [v.metric for v in out.verdicts] == ["accuracy", "count", "loss", "speed"]
    assert all(v.verdict is Verdict.IDENTICAL for v in out.verdicts)
    assert out.bit_for_bit and out.gated == 4 and out.notes == []


def test_a_cached_run_keeps_its_action_and_reasons():
    out = assess(state(), make_run(action=Action.CACHED, reasons=("notebook changed",)), None, policy())
    assert out.action is Action.CACHED and out.notes == ["re-ran: notebook changed"]


def test_a_run_within_tolerance_reproduces_but_not_bit_for_bit():
    run = make_run(replaced(LINES, "speed", value=950.0))
    out = assess(state(), run, None, policy())
    assert out.status is Status.REPRODUCED and not out.bit_for_bit
    assert {v.metric: v.verdict for v in out.verdicts}["speed"] is Verdict.WITHIN


def test_a_drifted_run():
    out = assess(state(), make_run(replaced(LINES, "speed", value=800.0)), None, policy())
    assert out.status is Status.DRIFTED and out.failed
    drift = only(out, FindingKind.DRIFT)
    assert (drift.metric, drift.recorded, drift.observed) == ("speed", 1000.0, 800.0)
    assert drift.tolerance == "min_ratio 0.9" and "ratio 0.800" in drift.detail
    assert drift.command == f"to see it again: {RUN_CMD}"
    assert not any("inputs differ" in note for note in out.notes)


def test_a_drifted_run_on_changed_inputs_suggests_recording():
    parts = {**PARTS, "parameters": "params2"}
    out = assess(state(), make_run(replaced(LINES, "count", value=7), parts=parts), None, policy())
    assert out.status is Status.DRIFTED
    drift = only(out, FindingKind.DRIFT)
    assert drift.command == f"if the change is intended: {RECORD_CMD}"
    assert any("inputs differ" in note and "parameters changed" in note for note in out.notes)


def test_changed_inputs_without_drift_still_reproduce_with_a_note():
    out = assess(state(), make_run(parts={**PARTS, "notebook": "nb2"}), None, policy())
    assert out.status is Status.REPRODUCED and any("notebook changed" in n for n in out.notes)


def test_other_hardware_uses_the_other_tolerance_and_adds_no_inputs_note():
    parts = {**PARTS, "hardware_class": "cpu-avx512-1t", "numerics": "{}"}
    run = make_run(replaced(LINES, "loss", values=[1.0, 0.5, 0.26]), parts=parts, hardware="cpu-avx512-1t")
    out = assess(state(), run, None, policy())
    assert out.status is Status.REPRODUCED and out.notes == []
    loss = {v.metric: v for v in out.verdicts}["loss"]
    assert loss.verdict is Verdict.WITHIN and loss.tolerance == "rel 0.05"
    assert out.hardware == "cpu-avx512-1t" and out.record_hardware == HW


def test_the_same_change_on_the_same_hardware_drifts():
    out = assess(state(), make_run(replaced(LINES, "loss", values=[1.0, 0.5, 0.26])), None, policy())
    drift = only(out, FindingKind.DRIFT)
    assert drift.metric == "loss" and drift.tolerance == "rel 1e-06" and "step 3" in drift.detail


def test_a_run_missing_a_declared_metric():
    out = assess(state(), make_run(without(LINES, "count")), None, policy())
    assert out.status is Status.DRIFTED
    finding = only(out, FindingKind.MISSING_METRIC)
    assert (finding.metric, finding.recorded, finding.observed) == ("count", 42, None)
    assert {v.metric: v.verdict for v in out.verdicts}["count"] is Verdict.MISSING


def test_a_run_capturing_an_undeclared_metric_is_a_spec_error():
    out = assess(state(), make_run((*LINES, metric("surprise", 1.0))), None, policy())
    assert out.status is Status.SPEC_ERROR
    finding = only(out, FindingKind.SPEC)
    assert finding.metric == "surprise" and finding.command == "declare metrics.surprise in experiment.yaml"
    assert {v.metric: v.verdict for v in out.verdicts}["surprise"] is Verdict.UNEXPECTED


def test_a_run_capturing_a_declared_but_unrecorded_glob_metric_is_unexpected():
    spec = {**SPEC, "eval/*": ({"rel": 0.1}, None)}
    out = assess(state(), make_run((*LINES, metric("eval/f1", 0.5))), None, policy(spec=spec))
    assert out.status is Status.DRIFTED
    finding = only(out, FindingKind.UNEXPECTED_METRIC)
    assert finding.metric == "eval/f1" and finding.observed == 0.5


def test_a_run_with_nan_is_invalid():
    out = assess(state(), make_run(replaced(LINES, "speed", value=float("nan"))), None, policy())
    assert out.status is Status.DRIFTED
    assert only(out, FindingKind.DRIFT).metric == "speed"
    assert {v.metric: v.verdict for v in out.verdicts}["speed"] is Verdict.INVALID


def test_a_run_does_not_hide_a_broken_record():
    record = make_record(replaced(LINES, "speed", value=2000.0))
    out = assess(state(record=record), make_run(replaced(LINES, "speed", value=2000.0)), None, policy())
    assert out.status is Status.BROKEN and FindingKind.SELF_CONSISTENCY in kinds(out)
    assert all(v.verdict is Verdict.IDENTICAL for v in out.verdicts)


def test_a_run_ignores_freshness():
    fresh = Freshness(changes=(Change("parameters", "changed", "a", "b"),))
    out = assess(state(), make_run(), fresh, policy())
    assert out.status is Status.REPRODUCED and FindingKind.STALE not in kinds(out)


def test_a_failed_run_with_a_record_is_an_error():
    failure = RunFailure("cell 3 raised ValueError: boom", notebook=".cache/x/executed.ipynb")
    out = assess(state(), failure, None, policy())
    assert (out.status, out.action, out.verdicts) == (Status.ERROR, Action.EXECUTED, [])
    finding = only(out, FindingKind.EXECUTION)
    assert finding.message == failure.message and finding.command == RUN_CMD


def test_a_failed_run_without_a_record_is_missing_and_an_error():
    out = assess(RecordState(RECORD_FILE, missing=True), RunFailure("kernel died"), None, policy())
    assert out.status is Status.MISSING and out.action is Action.EXECUTED
    assert kinds(out) == [FindingKind.MISSING_RECORD, FindingKind.EXECUTION]


def test_a_run_without_a_record_shows_new_values():
    spec = {k: v for k, v in SPEC.items() if k != "speed"}
    out = assess(RecordState(RECORD_FILE, missing=True), make_run(), None, policy(spec=spec))
    assert out.status is Status.MISSING and out.action is Action.EXECUTED and out.hardware == HW
    assert kinds(out) == [FindingKind.MISSING_RECORD]
    verdicts = {v.metric: v for v in out.verdicts}
    assert all(v.verdict is Verdict.NEW and v.recorded is None for v in verdicts.values())
    assert verdicts["count"].observed == 42 and verdicts["count"].tolerance == "exact"
    assert verdicts["loss"].observed == "3 pts, last 0.25"
    assert verdicts["speed"].tolerance == "-"  # undeclared


# --- the headline ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, status",
    [
        # stale tolerance + drift in a run -> drift is worse
        (lambda: assess(state(), make_run(replaced(LINES, "speed", value=1.0)), None,
                        policy(spec={**SPEC, "accuracy": ({"band": 3}, None)})), Status.DRIFTED),
        # drift + a spec error -> spec error
        (lambda: assess(state(), make_run((*replaced(LINES, "speed", value=1.0), metric("x", 1))), None, policy()),
         Status.SPEC_ERROR),
        # stale + self-consistency -> broken
        (lambda: assess(state(record=make_record(replaced(LINES, "count", value=1))), None,
                        Freshness(changes=(Change("notebook", "changed", "a", "b"),)), policy()), Status.BROKEN),
        # stale + missing declared metric -> drifted
        (lambda: assess(state(), None, Freshness(changes=(Change("notebook", "changed", "a", "b"),)),
                        policy(spec={**SPEC, "f1": ({"band": 2}, None)})), Status.DRIFTED),
    ],
)  # fmt: skip
def test_the_headline_is_the_worst_finding(make, status):
    out = make()
    assert len(out.findings) >= 2
    assert out.status is status is Status.worst(*(f.kind.status for f in out.findings))


def test_findings_carry_experiment_and_profile():
    out = assess(state(digest="0" * 64), make_run(replaced(LINES, "speed", value=1.0)), None, policy())
    assert out.findings and all((f.experiment, f.profile) == (EXP, PROFILE) for f in out.findings)


def test_metric_entries_are_compared_by_value_not_identity():
    record = make_record()
    assert record.metrics["accuracy"] == MetricEntry(
        value=0.25, n=200, se=binomial_se(0.25, 200), se_method="binomial"
    )
