"""Progress a person can read: a live line per running experiment on a terminal, plain lines elsewhere.

Events come from execute.py: one when a cell starts, and a heartbeat every 20 s inside a long
cell. On a terminal (rich) each running experiment has one line that updates in place: cell k of
n, elapsed time and, when the record says how long the run took last time, the time left. Off a
terminal (CI, `mkdocs build`) a line is printed when a cell starts and never more often.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from repronotes.report import progress_line


class PlainProgress:
    """At most one line per cell: heartbeats inside a cell are not printed."""

    def __init__(self, emit: Callable[[str], None]):
        self.emit = emit

    def __call__(self, event: dict[str, Any]) -> None:
        if not event.get("still"):
            self.emit(progress_line(event))

    def close(self) -> None:
        return None


class LiveProgress:
    """One live line per running experiment (rich), refreshed in place."""

    def __init__(self, stream: TextIO):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=24),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._bar.start()

    def __call__(self, event: dict[str, Any]) -> None:
        label = str(event.get("label"))
        cells = int(event.get("total") or 1)
        index = int(event.get("index", -1)) + 1
        description = f"[{label}] cell {index}/{cells}"
        expected = event.get("expected_s")
        if isinstance(expected, int | float) and expected > 0:  # the record's duration: time-based ETA
            total, done = float(expected), min(float(event.get("elapsed_s", 0.0)), 0.99 * expected)
        else:
            total, done = float(cells), float(max(index - 1, 0))
        if label not in self._tasks:
            self._tasks[label] = self._bar.add_task(description, total=total)
        self._bar.update(self._tasks[label], description=description, total=total, completed=done)

    def close(self) -> None:
        for task in self._tasks.values():
            self._bar.update(task, completed=self._bar.tasks[task].total)
        self._bar.stop()


def for_terminal(stream: TextIO | None = None) -> PlainProgress | LiveProgress:
    """Live lines on a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    if stream.isatty():
        return LiveProgress(stream)
    return PlainProgress(lambda line: _write(stream, "  " + line))


def _write(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()
