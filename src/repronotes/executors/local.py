"""Runs a notebook on this machine through execute.py (papermill in a supervised child process)."""

from __future__ import annotations

from collections.abc import Callable

from repronotes.execute import Progress, execute
from repronotes.runs import Job


class LocalExecutor:
    name = "local"

    def run(self, job: Job, progress: Progress | None, redact: Callable[[str], str]) -> float:
        return execute(job.request, progress, redact).duration_s
