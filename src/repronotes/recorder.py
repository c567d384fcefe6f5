"""`repronotes record`: accept a run as the new baseline of a profile.

Guarded (DESIGN §5.7): refuses NaN/inf, refuses a dirty git tree unless told, shows the diff
against the previous record, and writes the executed notebook and the record atomically.
This is the only code path that writes records.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repronotes import __version__, environ, fingerprint
from repronotes.errors import DirtyTreeError, RecordError
from repronotes.pipeline import Engine, compare_metrics
from repronotes.record import SCHEMA, load_record, write_record
from repronotes.runs import RunResult, refuse_non_finite
from repronotes.spec import Experiment, relative
from repronotes.tolerance import Verdict


@dataclass
class RecordResult:
    path: Path
    record: dict[str, Any]
    previous_date: str | None
    diff: list[Verdict]
    executed: bool


def record_profile(
    engine: Engine, name: str, profile_name: str, allow_dirty: bool = False, force: bool = False
):
    """Run (or reuse today's cached run) and write it as the record of `profile_name`."""
    exp = engine.experiment(name)
    profile = exp.profile(profile_name)
    commit, dirty = git_state(engine.root)
    if dirty and not allow_dirty:
        raise DirtyTreeError(
            f"refusing to record {name}/{profile_name}: the git tree has uncommitted changes, so the record's "
            "commit would not describe the code that ran. Commit first, or pass --allow-dirty."
        )
    run = engine.ensure_run(exp, profile, force=force)
    refuse_non_finite(run.metrics, f"{name}/{profile_name}")
    previous = _previous(exp, profile_name)
    record = build_record(engine, exp, profile_name, run, commit, dirty)
    diff = compare_metrics(exp, profile_name, previous, run) if previous else []
    notebook_text = run.executed_notebook.read_text(encoding="utf-8")
    write_record(exp.record_path(profile_name), record, exp.executed_path(profile_name), notebook_text)
    previous_date = previous["run"]["date"] if previous else None
    return RecordResult(exp.record_path(profile_name), record, previous_date, diff, run.action == "executed")


def build_record(
    engine: Engine, exp: Experiment, profile: str, run: RunResult, commit: str | None, dirty: bool
):
    threads = exp.profile(profile).threads
    environment = fingerprint.fingerprint(engine.root, threads)
    environment["hardware_class"] = run.hardware_class
    environment["kernel"] = run.kernel_facts
    record = {
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
        "inputs": {"hash": run.input_hash, "parts": run.parts},
        "metrics": {
            name: _metric_entry(exp, profile, name, entry) for name, entry in sorted(run.metrics.items())
        },
        "environment": environment,
        "outputs": {
            "notebook": relative(exp.executed_path(profile), exp.folder),
            "notebook_sha256": run.notebook_sha256,
            "artifacts": run.artifacts,
        },
    }
    return engine.redactor.obj(record)


def _metric_entry(exp: Experiment, profile: str, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    spec = exp.metric_spec(name, profile)
    out = dict(entry)
    if spec is not None:
        out["tolerance"] = spec.tolerance.as_dict()
        if spec.other_hardware is not None:
            out["tolerance_other_hardware"] = spec.other_hardware.as_dict()
    return out


def _previous(exp: Experiment, profile: str) -> dict[str, Any] | None:
    path = exp.record_path(profile)
    if not path.is_file():
        return None
    try:
        return load_record(path, relative(path, exp.root))
    except RecordError:
        return None  # a broken record is replaced; there is nothing to diff against


def git_state(root: Path) -> tuple[str | None, bool]:
    """(HEAD commit, whether the tree has uncommitted changes); (None, False) outside a git repo.

    A copy of the tree without .git (the GPU machine) names its commit through REPRONOTES_GIT_COMMIT.
    """
    override = environ.git_commit_override()
    if override is not None:
        return override, environ.git_dirty_override()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30
        )
        if head.returncode != 0:
            return None, False
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, False
    changed = [line[3:].strip('"') for line in status.stdout.splitlines() if line.strip()]
    return head.stdout.strip(), any(_can_change_a_run(path) for path in changed)


def _can_change_a_run(path: str) -> bool:
    """Code, notebooks, specs and the lock can change a result; prose, records and executed notebooks cannot."""
    parts = path.split("/")
    if parts[0] == "experiments":
        return not (len(parts) >= 3 and parts[2] in ("records", "runs"))
    return parts[0] in ("src", "experiments") or path in ("requirements.lock", "pyproject.toml")
