"""The executor interface: run a prepared job's notebook into its folder, or raise ExecutionError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from repronotes.execute import Progress
from repronotes.runs import Job


class Executor(Protocol):
    name: str

    def run(self, job: Job, progress: Progress | None, redact: Callable[[str], str]) -> float:
        """Execute the job's notebook into job.folder; return the wall time in seconds."""
        ...
