"""The one place that calls papermill: timeouts, the failing cell, kernel death, Ctrl-C.

The supervisor starts a child process (this module's `__main__`) in its own session. The child
runs papermill and streams progress as JSON lines; the supervisor enforces the profile's
whole-notebook timeout, relays progress (experiment, cell, elapsed), and on timeout or SIGINT
kills the child and its kernel. papermill saves the output notebook after every cell, so a
failed run always leaves a partial executed notebook to inspect.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repronotes import environ
from repronotes.errors import (
    ExecutionError,
    KernelDiedError,
    NotebookCellError,
    NotebookTimeoutError,
    RunInterruptedError,
)

logger = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]
HEARTBEAT_S = 20.0  # a long cell still reports that it is alive, and for how long


@dataclass(frozen=True)
class ExecutionRequest:
    notebook: Path
    output: Path
    parameters: dict[str, Any]
    cwd: Path
    timeout: int
    env: dict[str, str]
    label: str  # "experiment/profile", for messages


@dataclass(frozen=True)
class ExecutionResult:
    duration_s: float
    cells: int


def execute(request: ExecutionRequest, progress: Progress | None = None) -> ExecutionResult:
    """Run the notebook to `request.output`; raise an ExecutionError subclass on any failure."""
    request.output.parent.mkdir(parents=True, exist_ok=True)
    args = {
        "notebook": str(request.notebook),
        "output": str(request.output),
        "parameters": request.parameters,
        "cwd": str(request.cwd),
    }
    command = [sys.executable, "-m", "repronotes.execute", json.dumps(args)]
    start = time.monotonic()
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ.kernel_environment(request.env),
        start_new_session=True,
    )
    try:
        final, stderr = _supervise(child, request, start, progress)
    except KeyboardInterrupt:
        _kill_tree(child)
        raise RunInterruptedError(
            f"{request.label}: interrupted (SIGINT); records untouched", str(request.output)
        ) from None
    return _result(final, stderr, request, time.monotonic() - start)


def _supervise(child: subprocess.Popen, request: ExecutionRequest, start: float, progress: Progress | None):
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    final: dict[str, Any] = {}
    buffer = b""
    current: dict[str, Any] = {"event": "cell", "index": -1}
    last_report = time.monotonic()
    while True:
        if progress is not None and time.monotonic() - last_report >= HEARTBEAT_S:
            progress(
                {**current, "elapsed_s": time.monotonic() - start, "label": request.label, "still": True}
            )
            last_report = time.monotonic()
        remaining = request.timeout - (time.monotonic() - start)
        if remaining <= 0:
            _kill_tree(child)
            raise NotebookTimeoutError(
                f"{request.label}: timed out after {request.timeout} s (profile timeout); "
                f"partial executed notebook kept at {request.output.name}",
                str(request.output),
            )
        if not selector.select(timeout=min(remaining, 1.0)):
            continue
        chunk = os.read(child.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            event = _parse_event(line)
            if event is None:
                continue
            if event.get("event") in ("done", "error"):
                final = event
            elif progress is not None:
                current, last_report = event, time.monotonic()
                progress({**event, "elapsed_s": time.monotonic() - start, "label": request.label})
    child.wait()
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    return final, stderr


def _parse_event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _result(
    final: dict[str, Any], stderr: str, request: ExecutionRequest, duration: float
) -> ExecutionResult:
    if final.get("event") == "done":
        return ExecutionResult(duration_s=duration, cells=int(final.get("cells", 0)))
    kept = str(request.output) if request.output.exists() else None
    if final.get("kind") == "cell":
        raise NotebookCellError(_cell_message(final, request), kept)
    if final.get("kind") == "dead_kernel":
        raise KernelDiedError(
            f"{request.label}: the kernel died ({final.get('message', 'killed or out of memory')}); "
            f"partial executed notebook kept at {request.output.name}",
            kept,
        )
    detail = final.get("message") or stderr.strip().splitlines()[-1:] or ["no output"]
    raise ExecutionError(f"{request.label}: execution failed: {detail}", kept)


def _cell_message(final: dict[str, Any], request: ExecutionRequest) -> str:
    source = final.get("source", "").strip().splitlines()
    head = "\n".join(f"    {line}" for line in source[:8])
    traceback = "\n".join(f"    {line}" for line in final.get("traceback", [])[-15:])
    return (
        f"{request.label}: cell In[{final.get('cell_index')}] raised {final.get('ename')}: {final.get('evalue')}\n"
        f"  cell source:\n{head}\n  traceback:\n{traceback}\n"
        f"  partial executed notebook kept at {request.output.name}"
    )


def _kill_tree(child: subprocess.Popen) -> None:
    """Kill the child, its session, and the kernel it started (which runs in a session of its own)."""
    for pid in _descendants(child.pid):
        _signal(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found.extend(children)
        frontier.extend(children)
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


# --- the child: runs papermill, speaks JSON lines on stdout ------------------------------------


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def _child_main(raw: str) -> int:
    import nbformat
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    args = json.loads(raw)
    total = (
        len(nbformat.read(args["notebook"], as_version=4).cells) + 1
    )  # + papermill's injected-parameters cell

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        _emit({"event": "cell", "index": cell_index, "total": total + 1})

    try:
        papermill.execute_notebook(
            args["notebook"],
            args["output"],
            parameters=args["parameters"],
            cwd=args["cwd"],
            progress_bar=False,
            log_output=False,
            kernel_name="python3",
            on_cell_start=on_cell_start,
        )
    except PapermillExecutionError as exc:
        _emit(_cell_failure(exc))
        return 1
    except DeadKernelError as exc:
        _emit({"event": "error", "kind": "dead_kernel", "message": str(exc) or "kernel died"})
        return 1
    _emit({"event": "done", "cells": total})
    return 0


def _cell_failure(exc: Any) -> dict[str, Any]:
    from repronotes.redact import strip_ansi

    return {
        "event": "error",
        "kind": "cell",
        "cell_index": exc.exec_count if exc.exec_count is not None else exc.cell_index,
        "ename": exc.ename,
        "evalue": exc.evalue,
        "traceback": [strip_ansi(line) for line in "\n".join(exc.traceback).splitlines()],
        "source": exc.source,
    }


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
