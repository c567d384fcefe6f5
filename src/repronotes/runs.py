"""One execution of one experiment profile: prepare the run folder, execute, read the captures.

The run folder (.cache/repronotes/runs/<experiment>/<profile>/) is the kernel's cwd; the
notebook writes its files there and downstream experiments read them through the injected
`upstream` parameter (relative paths, so nothing absolute reaches a published notebook).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repronotes import environ
from repronotes.cache import InputHash, run_dir, save_cached_run, shared_cache_dir
from repronotes.errors import CaptureError, NonFiniteMetricError
from repronotes.execute import ExecutionRequest, Progress, execute
from repronotes.record import notebook_outputs_digest, write_text_atomic
from repronotes.redact import Redactor
from repronotes.spec import Experiment, Profile
from repronotes.tolerance import all_finite

EXECUTED = "executed.ipynb"
CAPTURES = "capture.jsonl"


@dataclass
class RunResult:
    """A completed run, fresh or from the cache."""

    experiment: str
    profile: str
    input_hash: str
    parts: dict[str, str]
    hardware_class: str
    metrics: dict[str, dict[str, Any]]
    artifacts: dict[str, dict[str, Any]]
    kernel_facts: dict[str, Any]
    duration_s: float
    date: str
    notebook_sha256: str
    folder: Path
    action: str = "executed"  # or "cached"
    reasons: list[str] = field(default_factory=list)

    @property
    def executed_notebook(self) -> Path:
        return self.folder / EXECUTED

    def as_cache(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("folder", "action", "reasons")}
        return {"status": "complete", **data}

    @classmethod
    def from_cache(cls, data: dict[str, Any], folder: Path) -> RunResult:
        fields_ = {k: v for k, v in data.items() if k != "status"}
        return cls(**fields_, folder=folder, action="cached")


def execute_run(
    exp: Experiment,
    profile: Profile,
    inputs: InputHash,
    redactor: Redactor,
    progress: Progress | None = None,
) -> RunResult:
    """Execute the notebook for one profile in a fresh run folder and read what it captured."""
    folder = run_dir(exp.root, exp.name, profile.name)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shared_cache_dir(exp.root).mkdir(parents=True, exist_ok=True)
    request = ExecutionRequest(
        notebook=exp.notebook,
        output=folder / EXECUTED,
        parameters=_parameters(exp, profile, folder),
        cwd=folder,
        timeout=profile.timeout,
        env=_kernel_env(profile, folder),
        label=f"{exp.name}/{profile.name}",
    )
    started = dt.datetime.now(dt.UTC)
    try:
        result = execute(request, progress)
    finally:
        if request.output.exists():
            _scrub_notebook(request.output, redactor)
    captures = load_captures(folder / CAPTURES, exp, profile.name)
    run = RunResult(
        experiment=exp.name,
        profile=profile.name,
        input_hash=inputs.digest,
        parts=inputs.parts,
        hardware_class=inputs.parts["hardware_class"],
        metrics=captures["metrics"],
        artifacts=captures["artifacts"],
        kernel_facts=redactor.obj(captures["environment"]),
        duration_s=round(result.duration_s, 2),
        date=started.isoformat(timespec="seconds"),
        notebook_sha256=notebook_outputs_digest(json.loads(request.output.read_text(encoding="utf-8"))),
        folder=folder,
    )
    save_cached_run(exp.root, exp.name, profile.name, run.as_cache())
    return run


def _parameters(exp: Experiment, profile: Profile, folder: Path) -> dict[str, Any]:
    params = dict(profile.params)
    if "upstream" in exp.parameter_names:
        params["upstream"] = {
            name: os.path.relpath(run_dir(exp.root, name, profile.name), folder) for name in exp.needs
        }
    if "shared_cache" in exp.parameter_names:
        params["shared_cache"] = os.path.relpath(shared_cache_dir(exp.root), folder)
    return params


def _kernel_env(profile: Profile, folder: Path) -> dict[str, str]:
    env = {
        environ.CAPTURE_FILE: str(folder / CAPTURES),
        "PYTHONHASHSEED": "0",
        # figures go into the notebook even where the machine's default backend is Agg (the GPU image)
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    if profile.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(profile.threads)
    return env


def _scrub_notebook(path: Path, redactor: Redactor) -> None:
    """Drop papermill's absolute paths and scrub secrets, hosts and local paths from every string."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # the kernel or child was killed mid-write: keep what is there for inspection
        return
    papermill = nb.get("metadata", {}).get("papermill", {})
    for key in ("input_path", "output_path"):
        papermill.pop(key, None)
    write_text_atomic(path, json.dumps(redactor.obj(nb), indent=1, ensure_ascii=False) + "\n")


def load_captures(path: Path, exp: Experiment, profile: str) -> dict[str, Any]:
    """Parse the capture file and check it against the experiment's declared metrics."""
    out: dict[str, Any] = {"metrics": {}, "artifacts": {}, "environment": {}}
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise CaptureError(f"{exp.name}/{profile}: capture line {number} is not JSON ({exc})") from exc
        _add_capture(out, item, exp, profile)
    _check_declared(out["metrics"], exp, profile)
    return out


def _add_capture(out: dict[str, Any], item: dict[str, Any], exp: Experiment, profile: str) -> None:
    kind, name = item.get("kind"), item.get("name")
    if kind == "environment":
        out["environment"].update(item.get("facts", {}))
        return
    if kind == "artifact":
        out["artifacts"][name] = {"sha256": item["sha256"], "bytes": item["bytes"]}
        return
    if name in out["metrics"]:
        raise CaptureError(f"{exp.name}/{profile}: metric {name!r} captured twice")
    if exp.metric_spec(name, profile) is None:
        raise CaptureError(
            f"{exp.spec_file}: metrics: {name!r} was captured but has no tolerance declared for profile {profile!r}"
        )
    entry = {
        k: item[k] for k in ("value", "n", "se", "per_seed", "steps", "values") if item.get(k) is not None
    }
    if kind == "metric" and "value" not in entry:
        entry["value"] = None
    out["metrics"][name] = entry


def _check_declared(metrics: dict[str, Any], exp: Experiment, profile: str) -> None:
    for spec in exp.metrics:
        literal = not any(ch in spec.pattern for ch in "*?[")
        if literal and spec.applies_to(profile) and spec.pattern not in metrics:
            raise CaptureError(
                f"{exp.spec_file}: metrics.{spec.pattern}: declared but not captured by the notebook"
            )


def non_finite(metrics: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(name for name, entry in metrics.items() if not all_finite(entry))


def refuse_non_finite(metrics: dict[str, dict[str, Any]], label: str) -> None:
    bad = non_finite(metrics)
    if bad:
        raise NonFiniteMetricError(f"{label}: refusing to record NaN/inf in metric(s): {', '.join(bad)}")
