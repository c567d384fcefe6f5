"""The one exception tree of repronotes.

Every error a user can cause or meet is one of these. Each class also subclasses the
standard-library error it stands for, so callers that know nothing of repronotes can
still catch it sensibly::

    ReproError(Exception)                       exit 1 unless noted
    ├── SpecError(ValueError)                   exit 2: a file breaks a rule (file, key, rule)
    │   ├── UnknownProfileError(KeyError)       a profile the spec does not declare
    │   ├── KernelNotFoundError(LookupError)    the notebook's kernelspec is not installed
    │   ├── MarkerError                         a marker in a page is malformed or names nothing
    │   └── ProjectNotFoundError(FileNotFoundError)  no mkdocs.yml / experiments folder here
    ├── UnknownExperimentError(LookupError)     exit 2: no experiments/<name>/ (or a page names one)
    ├── RecordError(ValueError)                 a record that cannot be trusted
    │   ├── MissingRecordError(FileNotFoundError)
    │   └── CorruptRecordError                  malformed, NaN, does not match its notebook
    ├── CaptureError(ValueError)                what a notebook captured breaks the contract
    │   └── NonFiniteMetricError                NaN or inf: never recorded, never passing
    ├── ExecutionError(RuntimeError)            running a notebook went wrong
    │   ├── NotebookCellError                   a cell raised; names the cell, keeps the traceback
    │   ├── NotebookTimeoutError(TimeoutError)
    │   ├── KernelDiedError                     killed, out of memory
    │   └── RunInterruptedError                 SIGINT / SIGTERM / SIGHUP: exit 130 / 143 / 129
    ├── BusyError(TimeoutError)                 another run of the same experiment/profile holds its lock
    ├── DirtyTreeError(RuntimeError)            record refused on uncommitted changes
    └── VerificationError(AssertionError)       drift, staleness or a missing record: the build fails

Messages name the file (relative to the project root), the key and the rule.
"""

from __future__ import annotations

import signal


class ReproError(Exception):
    """Base of every repronotes error."""

    exit_code = 1


class SpecError(ReproError, ValueError):
    """A file the user wrote (experiment.yaml, a notebook, a page, a plugin option) breaks a rule."""

    exit_code = 2

    def __init__(self, file: str, key: str, rule: str):
        self.file, self.key, self.rule = file, key, rule
        super().__init__(f"{file}: {key}: {rule}")

    def __str__(self) -> str:  # KeyError and LookupError subclasses would quote the message
        return f"{self.file}: {self.key}: {self.rule}"


class UnknownProfileError(SpecError, KeyError):
    """A profile the experiment does not declare."""


class KernelNotFoundError(SpecError, LookupError):
    """The kernel a notebook's kernelspec names is not installed on this machine."""


class MarkerError(SpecError):
    """A marker in a page is malformed, or names an experiment, profile or metric that does not exist."""


class ProjectNotFoundError(SpecError, FileNotFoundError):
    """There is no repronotes project at the given or current folder."""


class UnknownExperimentError(ReproError, LookupError):
    """No experiments/<name>/ folder with an experiment.yaml."""

    exit_code = 2

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class RecordError(ReproError, ValueError):
    """A record that cannot be trusted."""


class MissingRecordError(RecordError, FileNotFoundError):
    """The record of a profile does not exist."""


class CorruptRecordError(RecordError):
    """A record that is truncated, malformed, non-finite, or does not match its executed notebook."""


class CaptureError(ReproError, ValueError):
    """What a notebook captured breaks the contract of its experiment.yaml."""


class NonFiniteMetricError(CaptureError):
    """A metric is NaN or infinite: never recorded, never passing."""


class ExecutionError(ReproError, RuntimeError):
    """Running a notebook went wrong. `notebook` is the kept partial executed notebook (relative path)."""

    def __init__(self, message: str, notebook: str | None = None):
        self.notebook = notebook
        super().__init__(message)


class NotebookCellError(ExecutionError):
    """A cell raised. The message names the cell and carries its (redacted) traceback."""


class NotebookTimeoutError(ExecutionError, TimeoutError):
    """The notebook ran past its profile's timeout."""


class KernelDiedError(ExecutionError):
    """The kernel died (killed or out of memory)."""


class RunInterruptedError(ExecutionError):
    """The run was stopped by a signal; the exit code is 128 + the signal number (130, 143, 129)."""

    def __init__(self, message: str, notebook: str | None = None, signum: int = signal.SIGINT):
        self.signum = signum
        self.exit_code = 128 + int(signum)
        super().__init__(message, notebook)


class BusyError(ReproError, TimeoutError):
    """Another process holds the lock of the same experiment/profile (or of the same site folder)."""


class DirtyTreeError(ReproError, RuntimeError):
    """`record` refused because the git tree has uncommitted changes."""


class VerificationError(ReproError, AssertionError):
    """Drift, staleness, a missing or broken record: the build must fail.

    `findings` holds one human-readable line per failure.
    """

    def __init__(self, findings: list[str]):
        self.findings = list(findings)
        head = f"{len(self.findings)} reproducibility check(s) failed:"
        super().__init__("\n".join([head, *(f"  - {line}" for line in self.findings)]))
