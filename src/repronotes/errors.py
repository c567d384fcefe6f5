"""The one exception tree of repronotes.

Every error a user can cause or meet is one of these. Each class also subclasses the
standard-library error it stands for, so callers that know nothing of repronotes can
still catch it sensibly::

    ReproError(Exception)
    ├── SpecError(ValueError)                 experiment.yaml is malformed or breaks a rule
    │   └── UnknownProfileError(KeyError)     a profile the spec does not declare
    ├── UnknownExperimentError(LookupError)   no experiments/<name>/ (or a post names one)
    ├── RecordError(ValueError)               a record that cannot be trusted
    │   ├── MissingRecordError(FileNotFoundError)
    │   └── CorruptRecordError                truncated JSON, wrong sections, bad digests
    ├── CaptureError(ValueError)              what a notebook captured breaks the contract
    │   └── NonFiniteMetricError              NaN or inf: never recorded, never passing
    ├── ExecutionError(RuntimeError)          running a notebook went wrong
    │   ├── NotebookCellError                 a cell raised; names the cell, keeps the traceback
    │   ├── NotebookTimeoutError(TimeoutError)
    │   ├── KernelDiedError                   killed, out of memory
    │   └── RunInterruptedError               SIGINT / Ctrl-C
    ├── DirtyTreeError(RuntimeError)          record refused on uncommitted changes
    └── VerificationError(AssertionError)     drift, staleness or a missing record: the build fails

Messages name the file (relative to the project root), the key and the rule.
"""

from __future__ import annotations


class ReproError(Exception):
    """Base of every repronotes error."""

    exit_code = 1


class SpecError(ReproError, ValueError):
    """An experiment.yaml (or plugin option) is malformed or breaks a rule."""

    exit_code = 2

    def __init__(self, file: str, key: str, rule: str):
        self.file, self.key, self.rule = file, key, rule
        super().__init__(f"{file}: {key}: {rule}")


class UnknownProfileError(SpecError, KeyError):
    """A profile the experiment does not declare."""

    def __str__(self) -> str:  # KeyError would quote the message
        return f"{self.file}: {self.key}: {self.rule}"


class UnknownExperimentError(ReproError, LookupError):
    """No experiments/<name>/ folder with an experiment.yaml."""

    exit_code = 2


class RecordError(ReproError, ValueError):
    """A record that cannot be trusted."""


class MissingRecordError(RecordError, FileNotFoundError):
    """The record of a profile does not exist."""


class CorruptRecordError(RecordError):
    """A record that is truncated, malformed, or does not match its executed notebook."""


class CaptureError(ReproError, ValueError):
    """What a notebook captured breaks the contract of its experiment.yaml."""


class NonFiniteMetricError(CaptureError):
    """A metric is NaN or infinite: never recorded, never passing."""


class ExecutionError(ReproError, RuntimeError):
    """Running a notebook went wrong. `notebook` is the kept partial executed notebook."""

    def __init__(self, message: str, notebook: str | None = None):
        self.notebook = notebook
        super().__init__(message)


class NotebookCellError(ExecutionError):
    """A cell raised. The message names the cell and carries its traceback."""


class NotebookTimeoutError(ExecutionError, TimeoutError):
    """The notebook ran past its profile's timeout."""


class KernelDiedError(ExecutionError):
    """The kernel died (killed or out of memory)."""


class RunInterruptedError(ExecutionError):
    """The run was interrupted (SIGINT)."""

    exit_code = 130


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
