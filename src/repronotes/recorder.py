"""`repronotes record`: accept a run as the new baseline of a profile. The only code that writes records.

Guarded (DESIGN §5.7): refuses NaN/inf, a run that misses a declared metric or captures an
undeclared one, and a dirty git tree unless told; re-checks the cached notebook against the digest
it had when the run finished; seals the tolerances into the notebook; shows the diff against the
previous record; writes the executed notebook and then the record, both atomically.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repronotes import __version__, environ, fingerprint, notebooks, tolerance
from repronotes.assess import compare_metrics
from repronotes.cache import EXECUTED
from repronotes.captured import non_finite
from repronotes.errors import (
    CaptureError,
    CorruptRecordError,
    DirtyTreeError,
    NonFiniteMetricError,
    SpecError,
)
from repronotes.inputs import kernel_numerics
from repronotes.model import MetricEntry, MetricVerdict, RunResult, TolerancePair
from repronotes.pipeline import Engine
from repronotes.record import SCHEMA, tolerance_document, write_record
from repronotes.spec import Experiment
from repronotes.validate import relative


@dataclass
class RecordResult:
    path: Path
    record: dict[str, Any]
    previous_date: str | None
    diff: list[MetricVerdict]
    executed: bool
    warnings: list[str]


def record_profile(
    engine: Engine, name: str, profile_name: str, allow_dirty: bool = False, force: bool = False
) -> RecordResult:
    """Run (or reuse today's cached run) and write it as the record of `profile_name`."""
    exp = engine.experiment(name)
    profile = exp.profile(profile_name)
    warnings = []
    commit, changed = git_state(engine.root)
    if commit is None:
        warnings.append(f"{engine.root.name} is not a git checkout: the record names no commit "
                        f"(set {environ.GIT_COMMIT} when recording a copied tree)")  # fmt: skip
    inputs = engine.inputs_for(exp, profile)
    dirty = sorted(path for path in changed if _is_input(engine, exp, inputs.parts, path))
    if dirty and not allow_dirty:
        raise DirtyTreeError(
            f"refusing to record {name}/{profile_name}: uncommitted changes to files the run depends on "
            f"({', '.join(dirty[:5])}), so the record's commit would not describe the code that ran. "
            "Commit first, or pass --allow-dirty."
        )
    run = engine.ensure_run(exp, profile, force=force)
    _refuse_incomplete(exp, profile_name, run)
    nb = _checked_notebook(run, f"{name}/{profile_name}")
    tolerances = _tolerance_documents(exp, profile_name, run)
    notebooks.set_seal(
        nb, notebooks.make_seal(list(run.captures), run.input_hash, run.parts, run.output_files, tolerances)
    )
    digest = notebooks.digest(nb)
    record = engine.redactor.obj(
        build_record(engine, exp, profile_name, run, commit, bool(dirty), digest, tolerances)
    )
    state = engine.record_state(exp, profile_name)
    previous = state.record
    diff = compare_metrics(previous, run, engine.policy(exp, profile_name)) if previous else []
    write_record(exp.record_path(profile_name), record, exp.executed_path(profile_name), nb)
    return RecordResult(exp.record_path(profile_name), record, previous.date if previous else None, diff,
                        run.action.value == "executed", warnings)  # fmt: skip


def _refuse_incomplete(exp: Experiment, profile: str, run: RunResult) -> None:
    label = f"{exp.name}/{profile}"
    bad = non_finite(run.metrics)
    if bad:
        raise NonFiniteMetricError(f"{label}: refusing to record NaN/inf in metric(s): {', '.join(bad)}")
    rules = exp.rules(profile)
    missing = [m for m in rules.required if m not in run.metrics]
    if missing:
        raise CaptureError(
            f"{exp.spec_file}: metrics.{missing[0]}: declared but not captured by the notebook"
        )
    undeclared = sorted(m for m in run.metrics if rules.lookup(m) is None)
    if undeclared:
        raise SpecError(
            exp.spec_file,
            f"metrics.{undeclared[0]}",
            f"captured by {label} but no tolerance is declared for it",
        )
    for name in sorted(run.metrics):
        _refuse_band_without_se(exp, label, name, run.metrics[name], rules.lookup(name))


def _refuse_band_without_se(
    exp: Experiment, label: str, name: str, entry: MetricEntry, pair: TolerancePair | None
) -> None:
    """A band compares in units of SE: a metric captured without one could never verify again."""
    if pair is None or entry.is_series or isinstance(entry.value, bool | str):
        return
    banded = [t for t in (pair.same, pair.other) if t is not None and t.band is not None and not t.info]
    if banded and tolerance.trusted_se(entry)[0] is None:
        raise SpecError(
            exp.spec_file,
            f"metrics.{name}",
            f"{label} captured it without a standard error (no n, se or per-seed values), so its band "
            "tolerance could never pass; capture one, or declare another tolerance kind for it",
        )


def _checked_notebook(run: RunResult, label: str) -> Any:
    """The cached executed notebook, refused if it changed since its run finished."""
    path = run.folder / EXECUTED
    try:
        nb = notebooks.read_notebook(path, f"{label} cached {EXECUTED}")
    except SpecError as exc:
        raise CorruptRecordError(
            f"{label}: the cached executed notebook cannot be read ({exc.rule}); run with --force"
        ) from exc
    if notebooks.digest(nb) != run.notebook_digest:
        raise CorruptRecordError(
            f"{label}: the cached executed notebook changed after its run; run with --force"
        )
    return nb


def _tolerance_documents(exp: Experiment, profile: str, run: RunResult) -> dict[str, dict[str, Any]]:
    rules = exp.rules(profile)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(run.metrics):
        pair = rules.lookup(name)
        assert pair is not None  # _refuse_incomplete made sure
        out[name] = tolerance_document(pair, tolerance.as_dict)
    return out


def build_record(
    engine: Engine,
    exp: Experiment,
    profile: str,
    run: RunResult,
    commit: str | None,
    dirty: bool,
    notebook_digest: str,
    tolerances: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    threads = exp.profile(profile).threads
    environment = fingerprint.fingerprint(engine.root, threads, engine.lock_file, run.packages)
    environment["numerics_env"] = kernel_numerics(exp.profile(profile))
    environment["hardware_class"] = run.hardware_class
    environment["kernel"] = dict(run.kernel_facts)
    return {
        "schema": SCHEMA,
        "experiment": exp.name,
        "title": exp.title,
        "run": {
            "date": run.date,
            "git_commit": commit,
            "git_dirty": dirty,
            "profile": profile,
            "parameters": exp.profile(profile).params,
            "duration_s": run.duration_s,
            "repronotes": __version__,
        },
        "inputs": {"hash": run.input_hash, "parts": dict(run.parts)},
        "metrics": {
            name: {**entry.as_dict(), **tolerances[name]} for name, entry in sorted(run.metrics.items())
        },
        "environment": environment,
        "outputs": {
            "notebook": relative(exp.executed_path(profile), exp.folder),
            "notebook_sha256": notebook_digest,
            "artifacts": dict(run.artifacts),
            "files": dict(run.output_files),
        },
    }


def git_state(root: Path) -> tuple[str | None, list[str]]:
    """(HEAD commit, paths with uncommitted changes); (None, []) outside a git repository.

    A copy of the tree without .git (the GPU machine) names its commit through REPRONOTES_GIT_COMMIT
    (and REPRONOTES_GIT_DIRTY=1 when the copy had uncommitted changes).
    """
    override = environ.git_commit_override()
    if override is not None:
        return override, ["<copied tree>"] if environ.git_dirty_override() else []
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30
        )
        if head.returncode != 0:
            return None, []
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, []
    return head.stdout.strip(), [
        line[3:].strip('"').split(" -> ")[-1] for line in status.stdout.splitlines() if line.strip()
    ]


def _is_input(engine: Engine, exp: Experiment, parts: dict[str, str], path: str) -> bool:
    """A changed path can change this run: a hashed file, or anything in the folder of it or an upstream
    other than records and executed notebooks."""
    if path == "<copied tree>" or any(key.split(":", 1)[-1] == path for key in parts if ":" in key):
        return True
    folders = [exp.folder] + [engine.experiments[n].folder for n in _upstream_closure(engine, exp)]
    for folder in folders:
        prefix = relative(folder, engine.root) + "/"
        if path.startswith(prefix) and path[len(prefix) :].split("/")[0] not in ("records", "runs"):
            return True
    return path in ("pyproject.toml", "setup.cfg", "setup.py")


def _upstream_closure(engine: Engine, exp: Experiment) -> list[str]:
    seen: list[str] = []
    pending = list(exp.needs)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.append(name)
            pending.extend(engine.experiments[name].needs)
    return seen
