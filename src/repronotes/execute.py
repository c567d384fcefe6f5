"""The one place that calls papermill: kernels, timeouts, the failing cell, kernel death, signals.

The supervisor starts a child process (`repronotes.execute_child`) in a session of its own. The child
runs papermill in the notebook's own kernel, with the kernel's working directory in the experiment's
folder, and streams progress as JSON lines; the supervisor enforces the profile's whole-notebook
timeout and relays progress. SIGINT, SIGTERM and SIGHUP kill the child, its kernel and everything
they started (the whole process tree), then raise RunInterruptedError (exit 130, 143, 129).
papermill saves the output notebook after every cell, so a failed run leaves a partial notebook.
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
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from repronotes import environ
from repronotes.errors import (
    ExecutionError,
    KernelDiedError,
    KernelNotFoundError,
    NotebookCellError,
    NotebookTimeoutError,
    RunInterruptedError,
)

logger = logging.getLogger(__name__)
Progress = Callable[[dict[str, Any]], None]
HEARTBEAT_S = 20.0  # a long cell still reports that it is alive, and for how long
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class ExecutionRequest:
    notebook: Path
    output: Path
    parameters: dict[str, Any]
    cwd: Path
    timeout: int
    env: dict[str, str]
    label: str  # "experiment/profile", for messages
    kernel: str = "python3"
    notebook_file: str = ""  # the notebook relative to the project, for messages


@dataclass(frozen=True)
class ExecutionResult:
    duration_s: float
    cells: int


def check_kernel(name: str, notebook_file: str) -> None:
    """KernelNotFoundError naming the notebook when its kernel is not installed here."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(name)
    except NoSuchKernel:
        installed = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise KernelNotFoundError(
            notebook_file,
            "metadata.kernelspec.name",
            f"kernel {name!r} is not installed here (installed: {installed}); install it or change the notebook's kernel",
        ) from None


class _Stopped(BaseException):
    """Raised inside the supervisor by SIGTERM or SIGHUP (SIGINT arrives as KeyboardInterrupt)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signum)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """While running a notebook, SIGTERM and SIGHUP raise instead of killing us (and orphaning the kernel)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def execute(
    request: ExecutionRequest, progress: Progress | None = None, redact: Callable[[str], str] = str
) -> ExecutionResult:
    """Run the notebook to `request.output`; raise an ExecutionError subclass on any failure."""
    request.output.parent.mkdir(parents=True, exist_ok=True)
    args = {
        "notebook": str(request.notebook),
        "output": str(request.output),
        "parameters": request.parameters,
        "cwd": str(request.cwd),
        "kernel": request.kernel,
    }
    command = [sys.executable, "-m", "repronotes.execute_child", json.dumps(args)]
    start = time.monotonic()
    child: subprocess.Popen[bytes] | None = None
    with stop_signals_raise():
        try:
            child = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=environ.kernel_environment(request.env),
                start_new_session=True,
            )
            final, stderr = _supervise(child, request, start, progress)
        except KeyboardInterrupt:
            raise _interrupted(child, request, signal.SIGINT) from None
        except _Stopped as stop:
            raise _interrupted(child, request, stop.signum) from None
        except BaseException:
            if child is not None:
                kill_tree(child)
            raise
    return _result(final, stderr, request, time.monotonic() - start, redact)


def _interrupted(
    child: subprocess.Popen[bytes] | None, request: ExecutionRequest, signum: int
) -> RunInterruptedError:
    if child is not None:
        kill_tree(child)
    name = signal.Signals(signum).name
    return RunInterruptedError(f"{request.label}: interrupted ({name}); records untouched", None, signum)


def _supervise(
    child: subprocess.Popen[bytes], request: ExecutionRequest, start: float, progress: Progress | None
) -> tuple[dict[str, Any], str]:
    assert child.stdout is not None
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
            kill_tree(child)
            raise NotebookTimeoutError(
                f"{request.label}: timed out after {request.timeout} s (the profile's timeout)"
            )
        if not selector.select(timeout=min(remaining, 1.0)):
            continue
        chunk = os.read(child.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for event in filter(None, map(_parse_event, lines)):
            if event.get("event") in ("done", "error"):
                final = event
            elif progress is not None:
                current, last_report = event, time.monotonic()
                progress({**event, "elapsed_s": time.monotonic() - start, "label": request.label})
    child.wait()
    return final, _read_all(child.stderr)


def _read_all(stream: IO[bytes] | None) -> str:
    return stream.read().decode(errors="replace") if stream is not None else ""


def _parse_event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _result(
    final: dict[str, Any],
    stderr: str,
    request: ExecutionRequest,
    duration: float,
    redact: Callable[[str], str],
) -> ExecutionResult:
    if final.get("event") == "done":
        return ExecutionResult(duration_s=duration, cells=int(final.get("cells", 0)))
    if final.get("kind") == "cell":
        raise NotebookCellError(redact(_cell_message(final, request)))
    if final.get("kind") == "dead_kernel":
        raise KernelDiedError(
            redact(f"{request.label}: the kernel died ({final.get('message') or 'killed or out of memory'})")
        )
    if final.get("kind") == "no_kernel":
        raise ExecutionError(redact(f"{request.label}: the kernel could not start: {final.get('message')}"))
    detail = final.get("message") or (stderr.strip().splitlines() or ["no output"])[-1]
    raise ExecutionError(redact(f"{request.label}: execution failed: {detail}"))


def _cell_message(final: dict[str, Any], request: ExecutionRequest) -> str:
    source = str(final.get("source", "")).strip().splitlines()
    head = "\n".join(f"    {line}" for line in source[:8])
    traceback = "\n".join(f"    {line}" for line in list(final.get("traceback", []))[-15:])
    return (
        f"{request.label}: cell In[{final.get('cell_index')}] raised {final.get('ename')}: {final.get('evalue')}\n"
        f"  cell source:\n{head}\n  traceback:\n{traceback}"
    )


def kill_tree(child: subprocess.Popen[bytes]) -> None:
    """Kill the child, its session, and the kernel it started (which runs in a session of its own)."""
    for pid in descendants(child.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, found through /proc (the kernel leaves the child's session)."""
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
