"""One run of one experiment profile: what the kernel gets, and what the run folder becomes afterwards.

The kernel starts in the experiment's folder, so sibling modules and data files are reachable as
the author wrote them; the engine injects (when the parameters cell declares them) `output_dir`,
the run folder where outputs go, `upstream`, the output folder of each experiment in `needs`, and
`shared_cache`; all relative to the experiment's folder, so nothing absolute reaches a published
notebook. After the run, the capture lines are read, redacted and sealed into the executed notebook.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from repronotes import environ, notebooks
from repronotes.atomic import write_text_atomic
from repronotes.cache import CAPTURES, ENGINE_FILES, EXECUTED
from repronotes.captured import interpret, read_capture_file
from repronotes.errors import CaptureError, ExecutionError, SpecError
from repronotes.execute import ExecutionRequest
from repronotes.inputs import InputHash, InputHasher, engine_kernel_vars
from repronotes.model import Action, RunResult
from repronotes.redact import Redactor
from repronotes.spec import Experiment, Profile

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclass(frozen=True)
class Job:
    """Everything an executor needs to run one experiment profile into its folder."""

    experiment: Experiment
    profile: Profile
    inputs: InputHash
    folder: Path
    request: ExecutionRequest

    @property
    def label(self) -> str:
        return f"{self.experiment.name}/{self.profile.name}"


def make_job(
    exp: Experiment,
    profile: Profile,
    inputs: InputHash,
    folder: Path,
    shared: Path,
    upstream: Mapping[str, Path],
) -> Job:
    params: dict[str, Any] = dict(profile.params)
    if "upstream" in exp.parameter_names:
        params["upstream"] = {
            name: _rel(upstream[name], exp.folder) for name in exp.needs if name in upstream
        }
    if "shared_cache" in exp.parameter_names:
        params["shared_cache"] = _rel(shared, exp.folder)
    if "output_dir" in exp.parameter_names:
        params["output_dir"] = _rel(folder, exp.folder)
    env = {
        environ.CAPTURE_FILE: str(folder / CAPTURES),
        environ.OUTPUT_DIR: str(folder),
        "MPLBACKEND": INLINE_BACKEND,  # figures go into the notebook even where the default backend is Agg
        **engine_kernel_vars(profile),
    }
    request = ExecutionRequest(
        notebook=exp.notebook,
        output=folder / EXECUTED,
        parameters=params,
        cwd=exp.folder,
        timeout=profile.timeout,
        env=env,
        label=f"{exp.name}/{profile.name}",
        kernel=exp.kernel or "python3",
        notebook_file=exp.notebook_file,
    )
    return Job(exp, profile, inputs, folder, request)


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def finish(
    job: Job, duration_s: float, started: dt.datetime, redactor: Redactor, hasher: InputHasher
) -> RunResult:
    """Read what the run captured, redact it, seal it into the executed notebook, and describe the run."""
    lines = scrub_captures(job.folder / CAPTURES, redactor, job.label)
    captured = interpret(lines, job.label)
    output_files = hasher.output_files(job.experiment, job.folder, ENGINE_FILES)
    nb = scrubbed_notebook(job.folder / EXECUTED, redactor, job.label)
    notebooks.set_seal(nb, notebooks.make_seal(lines, job.inputs.digest, job.inputs.parts, output_files))
    notebooks.write_notebook(job.folder / EXECUTED, nb)
    return RunResult(
        experiment=job.experiment.name,
        profile=job.profile.name,
        input_hash=job.inputs.digest,
        parts=job.inputs.parts,
        hardware_class=job.inputs.parts["hardware_class"],
        metrics=captured.metrics,
        captures=tuple(lines),
        artifacts=captured.artifacts,
        kernel_facts=captured.facts,
        packages=captured.packages,
        duration_s=round(duration_s, 2),
        date=started.isoformat(timespec="seconds"),
        notebook_digest=notebooks.digest(nb),
        output_files=output_files,
        folder=job.folder,
        action=Action.EXECUTED,
    )


def scrubbed_notebook(path: Path, redactor: Redactor, label: str) -> Any:
    """The executed notebook without papermill's absolute paths and with every string redacted."""
    try:
        nb = notebooks.read_notebook(path, f"{label}/{EXECUTED}")
    except SpecError as exc:
        raise ExecutionError(f"{label}: the executed notebook cannot be read ({exc.rule})") from exc
    notebooks.drop_local_paths(nb)
    return nbformat.from_dict(redactor.obj(nb))


def scrub_captures(path: Path, redactor: Redactor, label: str) -> list[Any]:
    """The capture lines, redacted, and the file rewritten so: nothing raw stays even in the local cache."""
    lines: list[Any] = redactor.obj(read_capture_file(path, label))
    if path.is_file():
        write_text_atomic(
            path, "".join(json.dumps(line, sort_keys=True, allow_nan=True) + "\n" for line in lines)
        )
    return lines


def scrub_partial(folder: Path, redactor: Redactor) -> None:
    """Best effort for a failed run's folder: its partial notebook may be half-written, its captures cut."""
    try:
        scrub_captures(folder / CAPTURES, redactor, "partial")
    except CaptureError:
        (folder / CAPTURES).unlink(missing_ok=True)
    try:
        nb = scrubbed_notebook(folder / EXECUTED, redactor, "partial")
    except ExecutionError:
        return
    notebooks.write_notebook(folder / EXECUTED, nb)
