"""The local cache of runs (git-ignored): several entries per experiment/profile, keyed by input hash.

    <cache>/runs/<experiment>/<profile>/<hash16>/   executed.ipynb, capture.jsonl, run.json, outputs
    <cache>/shared/                                 content-addressed caches the notebooks share
    <cache>/locks/                                  one lock per experiment/profile (filelock)

An entry counts only once its run.json says `complete`, which is written last. A run of the same
inputs (`--force`) first moves the old entry aside and puts it back if the new run fails or is
interrupted, so the last good entry survives any signal. Switching inputs back and forth reuses
entries instead of re-executing; the oldest beyond `keep` are pruned.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import filelock

from repronotes import environ
from repronotes.atomic import write_json_atomic
from repronotes.captured import entry_from, interpret
from repronotes.errors import BusyError, CaptureError
from repronotes.model import Action, MetricEntry, RunResult

EXECUTED = "executed.ipynb"
CAPTURES = "capture.jsonl"
RUN_FILE = "run.json"
ENGINE_FILES = {EXECUTED, CAPTURES, RUN_FILE}
RUN_SCHEMA = 2
_PREVIOUS, _FAILED = ".previous", ".failed"


def ensure_folder(cache_root: Path, sub: str = "") -> Path:
    """A folder inside the cache, which ignores itself for git (as .pytest_cache does): `git add -A` never
    picks up runs, reports or the verification log, whatever the project's .gitignore says."""
    cache_root.mkdir(parents=True, exist_ok=True)
    marker = cache_root / ".gitignore"
    if not marker.is_file():
        marker.write_text(
            "# created by repronotes: local runs and reports are never committed\n*\n", encoding="utf-8"
        )
    folder = cache_root / sub if sub else cache_root
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class RunCache:
    def __init__(self, root: Path, keep: int, log: logging.Logger):
        self.root, self.keep, self.log = root, keep, log

    def folder(self, experiment: str, profile: str, input_hash: str) -> Path:
        return self.root / "runs" / experiment / profile / input_hash[:16]

    def shared(self) -> Path:
        return self.root / "shared"

    # --- reading ------------------------------------------------------------------------------

    def lookup(self, experiment: str, profile: str, input_hash: str) -> RunResult | None:
        """The complete cached run with exactly these inputs, or None (a damaged entry is logged and skipped)."""
        folder = self.folder(experiment, profile, input_hash)
        if not (folder / RUN_FILE).is_file():
            return None
        try:
            run = read_run(folder)
        except ValueError as exc:
            self.log.warning(
                "repronotes: ignoring a damaged cache entry %s/%s (%s)", experiment, profile, exc
            )
            return None
        return run if run.input_hash == input_hash else None

    # --- writing ------------------------------------------------------------------------------

    @contextmanager
    def locked(self, experiment: str, profile: str, wait_s: float) -> Iterator[None]:
        """Hold the experiment/profile's lock; wait (saying so) while another run holds it."""
        path = ensure_folder(self.root, "locks") / f"{experiment}@{profile}.lock"
        lock = filelock.FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            wait = environ.lock_wait_override() or wait_s
            self.log.info(
                "repronotes: waiting for another run of %s/%s to finish (up to %.0f s)",
                experiment,
                profile,
                wait,
            )
            try:
                lock.acquire(timeout=wait)
            except filelock.Timeout:
                raise BusyError(
                    f"{experiment}/{profile}: another repronotes run still holds its lock after {wait:.0f} s; "
                    "wait for it to finish, or stop it"
                ) from None
        try:
            self._recover(experiment, profile)
            yield
        finally:
            lock.release()

    def begin(self, experiment: str, profile: str, input_hash: str) -> Path:
        """A fresh folder for a run of these inputs; an existing entry is kept aside until the run succeeds."""
        folder = self.folder(experiment, profile, input_hash)
        previous = folder.with_name(folder.name + _PREVIOUS)
        shutil.rmtree(previous, ignore_errors=True)
        shutil.rmtree(folder.with_name(folder.name + _FAILED), ignore_errors=True)
        if (folder / RUN_FILE).is_file():
            folder.rename(previous)
        elif folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        self.shared().mkdir(parents=True, exist_ok=True)
        return folder

    def commit(self, run: RunResult) -> None:
        write_json_atomic(run.folder / RUN_FILE, run_document(run), allow_nan=True)
        shutil.rmtree(run.folder.with_name(run.folder.name + _PREVIOUS), ignore_errors=True)
        self._prune(run.folder.parent, keep_also=run.folder)

    def abandon(self, folder: Path) -> Path:
        """A failed or interrupted run: keep it as <hash>.failed for inspection, restore the previous entry."""
        failed = folder.with_name(folder.name + _FAILED)
        shutil.rmtree(failed, ignore_errors=True)
        if folder.exists():
            folder.rename(failed)
        previous = folder.with_name(folder.name + _PREVIOUS)
        if previous.exists():
            previous.rename(folder)
        return failed

    def _recover(self, experiment: str, profile: str) -> None:
        """After a crash (SIGKILL) mid-run: put back any entry that was moved aside."""
        parent = self.root / "runs" / experiment / profile
        for previous in parent.glob(f"*{_PREVIOUS}") if parent.is_dir() else []:
            folder = previous.with_name(previous.name.removesuffix(_PREVIOUS))
            if (folder / RUN_FILE).is_file():
                shutil.rmtree(previous, ignore_errors=True)
            else:
                self.abandon(folder)

    def _prune(self, parent: Path, keep_also: Path) -> None:
        entries = [p for p in parent.iterdir() if p.is_dir() and (p / RUN_FILE).is_file()]
        entries.sort(key=lambda p: (p / RUN_FILE).stat().st_mtime, reverse=True)
        for stale in entries[self.keep :]:
            if stale != keep_also:
                shutil.rmtree(stale, ignore_errors=True)


def run_document(run: RunResult) -> dict[str, Any]:
    data = asdict(run)
    data["metrics"] = {name: entry.as_dict() for name, entry in run.metrics.items()}
    data.pop("folder")
    data.pop("action")
    data.pop("reasons")
    return {"schema": RUN_SCHEMA, "status": "complete", **data}


def read_run(folder: Path) -> RunResult:
    """A cached run from its run.json; ValueError (with the reason) for anything malformed or incomplete."""
    try:
        data = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{RUN_FILE} unreadable: {exc.__class__.__name__}") from exc
    if not isinstance(data, dict) or data.get("schema") != RUN_SCHEMA or data.get("status") != "complete":
        raise ValueError(f"{RUN_FILE} is not a complete run of schema {RUN_SCHEMA}")
    if not (folder / EXECUTED).is_file():
        raise ValueError(f"{EXECUTED} is missing")
    try:
        metrics = {str(k): _entry(k, v) for k, v in _dict(data, "metrics").items()}
        if not all(isinstance(item, dict) for item in _list(data, "captures")):
            raise TypeError("captures are not objects")
        derived = interpret(_list(data, "captures"), RUN_FILE).metrics
        if _canonical(metrics) != _canonical(derived):  # a run never claims more than it captured
            raise ValueError("its metrics are not what its captures say")
        return RunResult(
            experiment=_text(data, "experiment"),
            profile=_text(data, "profile"),
            input_hash=_text(data, "input_hash"),
            parts={str(k): str(v) for k, v in _dict(data, "parts").items()},
            hardware_class=_text(data, "hardware_class"),
            metrics=metrics,
            captures=tuple(_list(data, "captures")),
            artifacts=_dict(data, "artifacts"),
            kernel_facts=_dict(data, "kernel_facts"),
            packages={str(k): str(v) for k, v in _dict(data, "packages").items()},
            duration_s=float(data["duration_s"]),
            date=_text(data, "date"),
            notebook_digest=_text(data, "notebook_digest"),
            output_files={str(k): str(v) for k, v in _dict(data, "output_files").items()},
            folder=folder,
            action=Action.CACHED,
        )
    except (KeyError, TypeError, ValueError, CaptureError) as exc:
        raise ValueError(f"{RUN_FILE} malformed ({exc})") from exc


def _canonical(metrics: dict[str, MetricEntry]) -> str:
    return json.dumps({k: v.as_dict() for k, v in metrics.items()}, sort_keys=True, allow_nan=True)


def _entry(name: Any, raw: Any) -> MetricEntry:
    if not isinstance(raw, dict):
        raise TypeError(f"metric {name!r} is not an object")
    return entry_from({**raw, "name": name}, f"{RUN_FILE}: metrics.{name}")


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return value


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value
