"""The Engine end to end with a fake executor: planning, the cache, upstream outputs, modes, record/verify."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import replace

import nbformat
import pytest

from projectkit import TOY_SPEC, Project
from repronotes.capture import binomial_se
from repronotes.errors import CorruptRecordError, ExecutionError, NotebookCellError, RunInterruptedError
from repronotes.model import Action, FindingKind, Outcome, Status
from repronotes.pipeline import Engine
from repronotes.project import Settings, load_settings
from repronotes.recorder import record_profile
from repronotes.runs import Job

LOG = logging.getLogger("repronotes.test_pipeline")
UP_SPEC = (
    "title: Upstream\nprofiles:\n  cpu: {params: {scale: 1.0}, threads: 1}\nmetrics: {count: {exact: true}}\n"
)
DOWN_SPEC = UP_SPEC.replace("Upstream", "Downstream") + "needs: [up]\n"


class FakeExecutor:
    """Writes what a real run of the toy notebook would: the executed notebook and its capture lines."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.outputs: dict[str, dict[str, str]] = {}  # experiment -> output file -> content
        self.fail: str | None = None  # raise ExecutionError with this message

    def run(self, job: Job, progress: object, redact: Callable[[str], str]) -> float:
        self.calls.append(job.label)
        nb = nbformat.read(str(job.request.notebook), as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("# executed by the fake executor"))
        nbformat.write(nb, str(job.folder / "executed.ipynb"))
        if self.fail is not None:
            raise NotebookCellError(redact(self.fail))
        scale = float(job.request.parameters.get("scale", 1.0))
        accuracy = round(0.25 * scale, 6)
        lines = [
            {"kind": "metric", "name": "accuracy", "value": accuracy, "n": 200,
             "se": binomial_se(accuracy, 200), "se_method": "binomial"},
            {"kind": "metric", "name": "count", "value": 42, "n": None, "se": None, "se_method": None},
            {"kind": "series", "name": "loss", "steps": [1, 2, 3], "values": [1.0, 0.5, 0.25 * scale]},
            {"kind": "metric", "name": "speed", "value": 1000.0 * scale, "n": None, "se": None, "se_method": None},
        ]  # fmt: skip
        if job.experiment.name != "toy":
            lines = [line for line in lines if line["name"] == "count"]
        with open(job.folder / "capture.jsonl", "w") as handle:
            handle.writelines(json.dumps(line) + "\n" for line in lines)
        for name, content in self.outputs.get(job.experiment.name, {}).items():
            (job.folder / name).write_text(content)
        return 0.01


@pytest.fixture
def fake() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture(autouse=True)
def git_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRONOTES_GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567")


def engine(project: Project, executor: FakeExecutor, mode: str = "auto") -> Engine:
    settings: Settings = replace(load_settings(project.root), mode=mode)
    return Engine(settings, log=LOG, executor=executor)


def check(project: Project, executor: FakeExecutor, mode: str = "auto", name: str = "toy") -> Outcome:
    eng = engine(project, executor, mode)
    return eng.check(eng.experiment(name), "cpu")


def kinds(outcome: Outcome) -> set[FindingKind]:
    return {finding.kind for finding in outcome.findings}


def record(project: Project, executor: FakeExecutor, name: str = "toy") -> None:
    record_profile(engine(project, executor), name, "cpu")


def cache_entries(project: Project, name: str = "toy") -> list[str]:
    folder = project.root / ".cache" / "repronotes" / "runs" / name / "cpu"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- planning -------------------------------------------------------------------------------------


def test_plan_includes_declared_profiles_and_recorded_undeclared_ones(project, fake):
    folder = project.experiment(spec=TOY_SPEC.replace("metrics:", "  gpu: {requires: cuda}\nmetrics:"))
    project.experiment("up", spec=UP_SPEC)
    project.experiment("down", spec=DOWN_SPEC)
    (folder / "records").mkdir()
    (folder / "records" / "gpu2.json").write_text("{}")
    eng = engine(project, fake)
    assert [(exp.name, p) for exp, p in eng.plan()] == [
        ("up", "cpu"),  # upstream first
        ("down", "cpu"),
        ("toy", "cpu"),
        ("toy", "gpu"),
        ("toy", "gpu2"),
    ]
    assert [(exp.name, p) for exp, p in eng.plan(["down"])] == [("down", "cpu")]
    outcome = eng.check(eng.experiment("toy"), "gpu2")
    assert outcome.status is Status.BROKEN and kinds(outcome) == {FindingKind.UNDECLARED_PROFILE}
    assert "records/gpu2.json" in outcome.findings[0].message
    assert fake.calls == []


# --- the cache ------------------------------------------------------------------------------------


def test_a_run_is_executed_once_then_served_from_the_cache(project, fake):
    project.experiment()
    eng = engine(project, fake)
    exp = eng.experiment("toy")
    first = eng.ensure_run(exp, exp.profile("cpu"))
    assert first.action is Action.EXECUTED and first.metrics["accuracy"].value == 0.25
    assert eng.ensure_run(exp, exp.profile("cpu")) is first  # memoised in one build
    eng2 = engine(project, fake)
    second = eng2.ensure_run(eng2.experiment("toy"), eng2.experiment("toy").profile("cpu"))
    assert second.action is Action.CACHED and second.input_hash == first.input_hash
    assert second.metrics == first.metrics
    assert fake.calls == ["toy/cpu"]


def test_switching_a_parameter_back_and_forth_reuses_cache_entries(project, fake):
    project.experiment()
    outcomes = []
    for scale in ("1.0", "2.0", "1.0"):
        project.set_param("toy", f"  cpu: {{params: {{scale: {scale}}}, timeout: 60, threads: 1}}")
        outcomes.append(check(project, fake))
    assert fake.calls == ["toy/cpu", "toy/cpu"]
    assert [o.action for o in outcomes] == [Action.EXECUTED, Action.EXECUTED, Action.CACHED]
    assert len(cache_entries(project)) == 2


def test_why_it_re_ran_is_logged(project, fake, caplog):
    project.experiment()
    with caplog.at_level(logging.INFO, logger=LOG.name):
        check(project, fake)
        project.set_param("toy", "  cpu: {params: {scale: 2.0}, timeout: 60, threads: 1}")
        check(project, fake)
    messages = [r.getMessage() for r in caplog.records]
    assert "repronotes: running toy/cpu: no cached run" in messages
    assert "repronotes: running toy/cpu: parameters changed" in messages


def test_a_downstream_reruns_only_when_its_upstream_outputs_change(project, fake):
    up = project.experiment("up", spec=UP_SPEC)
    project.experiment("down", spec=DOWN_SPEC)
    fake.outputs["up"] = {"data.csv": "a,b\n1,2\n"}
    assert check(project, fake, name="down").action is Action.EXECUTED
    assert fake.calls == ["up/cpu", "down/cpu"]
    # the upstream's code changes but it writes the same files: the downstream is not re-run
    (up / "experiment.yaml").write_text(UP_SPEC.replace("scale: 1.0", "scale: 2.0"))
    assert check(project, fake, name="down").action is Action.CACHED
    assert fake.calls == ["up/cpu", "down/cpu", "up/cpu"]
    # now the upstream's output files change: the downstream re-runs, and says why
    (up / "experiment.yaml").write_text(UP_SPEC.replace("scale: 1.0", "scale: 3.0"))
    fake.outputs["up"] = {"data.csv": "a,b\n1,3\n"}
    eng = engine(project, fake)
    run = eng.ensure_run(eng.experiment("down"), eng.experiment("down").profile("cpu"))
    assert run.action is Action.EXECUTED and run.reasons == ("upstream up outputs changed",)
    assert fake.calls == ["up/cpu", "down/cpu", "up/cpu", "up/cpu", "down/cpu"]


# --- modes ----------------------------------------------------------------------------------------


def test_mode_off_never_executes(project, fake):
    project.experiment()
    outcome = check(project, fake, mode="off")
    assert fake.calls == []
    assert outcome.status is Status.MISSING and outcome.action is Action.VERIFIED_ONLY


def test_mode_off_uses_a_current_cached_run_else_verifies_the_record(project, fake):
    project.experiment()
    record(project, fake)
    assert fake.calls == ["toy/cpu"]
    off = FakeExecutor()
    outcome = check(project, off, mode="off")
    assert outcome.status is Status.REPRODUCED and outcome.action is Action.CACHED
    assert outcome.gated == 4
    shutil.rmtree(project.root / ".cache")
    outcome = check(project, off, mode="off")
    assert outcome.status is Status.VERIFIED and outcome.action is Action.VERIFIED_ONLY
    assert outcome.findings == []
    assert off.calls == []


def test_mode_off_reports_a_stale_record_without_running(project, fake):
    project.experiment()
    record(project, fake)
    shutil.rmtree(project.root / ".cache")
    project.set_param("toy", "  cpu: {params: {scale: 2.0}, timeout: 60, threads: 1}")
    outcome = check(project, fake, mode="off")
    assert outcome.status is Status.STALE and kinds(outcome) == {FindingKind.STALE}
    assert "parameters changed" in outcome.findings[0].message
    assert fake.calls == ["toy/cpu"]


def test_mode_force_re_executes_a_cached_run(project, fake):
    project.experiment()
    check(project, fake)
    eng = engine(project, fake, mode="force")
    run = eng.ensure_run(eng.experiment("toy"), eng.experiment("toy").profile("cpu"))
    assert run.action is Action.EXECUTED and run.reasons == ("forced",)
    assert fake.calls == ["toy/cpu", "toy/cpu"]
    assert len(cache_entries(project)) == 1


# --- record and verify ----------------------------------------------------------------------------


def test_a_recorded_profile_verifies_without_cache_or_execution(project, fake):
    project.experiment()
    record(project, fake)
    data = project.record_json()
    assert data["run"]["git_commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert data["metrics"]["accuracy"]["value"] == 0.25
    assert (project.root / "experiments" / "toy" / "runs" / "cpu.ipynb").is_file()
    shutil.rmtree(project.root / ".cache")
    outcome = check(project, fake, mode="off")
    assert outcome.status is Status.VERIFIED and not outcome.failed
    # and it reproduces when run again (a fresh execution, same numbers)
    outcome = check(project, fake)
    assert outcome.status is Status.REPRODUCED and outcome.action is Action.EXECUTED
    assert outcome.bit_for_bit
    assert fake.calls == ["toy/cpu", "toy/cpu"]


def test_a_metric_declared_after_recording_fails_with_a_cached_run(project, fake):
    folder = project.experiment()
    record(project, fake)
    (folder / "experiment.yaml").write_text(TOY_SPEC + "  extra: {exact: true}\n")
    outcome = check(project, fake)
    assert outcome.action is Action.CACHED and fake.calls == ["toy/cpu"]
    assert outcome.failed and FindingKind.MISSING_METRIC in kinds(outcome)
    assert {f.metric for f in outcome.findings if f.kind is FindingKind.MISSING_METRIC} == {"extra"}


def test_loosening_a_tolerance_fails_until_re_recorded(project, fake):
    folder = project.experiment()
    record(project, fake)
    (folder / "experiment.yaml").write_text(TOY_SPEC.replace("count: {exact: true}", "count: {abs: 5}"))
    outcome = check(project, fake)
    assert outcome.status is Status.STALE and kinds(outcome) == {FindingKind.TOLERANCE_CHANGED}
    assert outcome.findings[0].metric == "count"
    assert outcome.findings[0].command == "repronotes record toy --profile cpu"
    record(project, fake)
    outcome = check(project, fake)
    assert outcome.status is Status.REPRODUCED and outcome.findings == []
    assert fake.calls == ["toy/cpu"]  # the tolerance is not an input: every check reused the cached run


def test_tightening_a_tolerance_needs_no_new_record(project, fake):
    folder = project.experiment()
    record(project, fake)
    (folder / "experiment.yaml").write_text(TOY_SPEC.replace("accuracy: {band: 2}", "accuracy: {band: 1}"))
    assert check(project, fake).status is Status.REPRODUCED


def test_record_refuses_a_cached_notebook_edited_after_its_run(project, fake):
    project.experiment()
    eng = engine(project, fake)
    run = eng.ensure_run(eng.experiment("toy"), eng.experiment("toy").profile("cpu"))
    path = run.folder / "executed.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("a better story"))
    nbformat.write(nb, str(path))
    with pytest.raises(
        CorruptRecordError, match="toy/cpu: the cached executed notebook changed after its run"
    ):
        record(project, fake)
    assert not (project.root / "experiments" / "toy" / "records" / "cpu.json").exists()
    assert fake.calls == ["toy/cpu"]


def test_an_execution_error_is_an_error_outcome_and_keeps_the_last_good_entry(project, fake):
    project.experiment()
    record(project, fake)
    [entry] = cache_entries(project)
    fake.fail = "cell 3 raised ZeroDivisionError"
    outcome = check(project, fake, mode="force")
    assert outcome.status is Status.ERROR and kinds(outcome) == {FindingKind.EXECUTION}
    message = outcome.findings[0].message
    assert "cell 3 raised ZeroDivisionError" in message and "partial executed notebook kept at" in message
    assert cache_entries(project) == [entry, entry + ".failed"]
    fake.fail = None
    outcome = check(project, fake)
    assert outcome.status is Status.REPRODUCED and outcome.action is Action.CACHED
    assert fake.calls == ["toy/cpu", "toy/cpu"]


def test_an_interruption_is_not_swallowed(project, fake, monkeypatch):
    project.experiment()

    def interrupted(job: Job, progress: object, redact: Callable[[str], str]) -> float:
        raise RunInterruptedError("toy/cpu: interrupted")

    monkeypatch.setattr(fake, "run", interrupted)
    with pytest.raises(ExecutionError, match="interrupted") as err:
        check(project, fake)
    assert err.value.exit_code == 130
    [entry] = cache_entries(project)
    assert entry.endswith(".failed")  # kept for inspection, never mistaken for a complete run
