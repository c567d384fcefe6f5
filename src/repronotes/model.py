"""The typed values the engine passes around: records, runs, findings, outcomes.

Everything here is plain, immutable data. Loading makes them (record.py, cache.py), the
decision reads them (assess.py), and only report.py and the plugin's templates turn them into text.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Status(enum.IntEnum):
    """How one experiment/profile stands, ordered from best to worst; `worst()` picks the headline."""

    REPRODUCED = 0  # re-ran here (now or a cached run with today's inputs) and every gated metric held
    VERIFIED = 1  # not re-run: integrity, self-consistency and freshness of the record hold
    NOT_RECORDED = 2  # an optional profile with no record: documented, not published
    STALE = 3  # inputs (or a tolerance) changed since the record and nothing re-ran here
    DRIFTED = 4  # a metric moved beyond its tolerance
    SPEC_ERROR = 5  # experiment.yaml and what the notebook captures disagree (a metric without a tolerance)
    ERROR = 6  # the notebook could not run (cell error, timeout, dead kernel, capture contract)
    MISSING = 7  # a required record does not exist
    BROKEN = 8  # the record cannot be trusted (malformed, tampered, undeclared profile)

    @property
    def failed(self) -> bool:
        return self >= Status.STALE

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def worst(cls, *statuses: Status) -> Status:
        return max(statuses, default=cls.VERIFIED)


class Action(enum.Enum):
    EXECUTED = "executed"  # the notebook ran in this build
    CACHED = "cached"  # a run of this machine with identical inputs stood in
    VERIFIED_ONLY = "verified-only"  # nothing ran: the record was checked on its own
    SKIPPED = "skipped"  # nothing to check (optional profile without a record)


class Verdict(enum.Enum):
    """One metric's comparison."""

    IDENTICAL = "identical"
    WITHIN = "within"
    INFO = "info"
    NEW = "new"
    DRIFTED = "drifted"
    INVALID = "invalid"
    MISSING = "missing"
    UNEXPECTED = "unexpected"

    @property
    def failed(self) -> bool:
        return self in (Verdict.DRIFTED, Verdict.INVALID, Verdict.MISSING, Verdict.UNEXPECTED)

    @property
    def gated(self) -> bool:
        """A verdict that was checked against a tolerance (not only shown)."""
        return self in (Verdict.IDENTICAL, Verdict.WITHIN)


class FindingKind(enum.Enum):
    """What went wrong; each kind maps to the status it causes and the command that fixes it."""

    DRIFT = ("drift", Status.DRIFTED)
    MISSING_METRIC = ("missing metric", Status.DRIFTED)
    UNEXPECTED_METRIC = ("unexpected metric", Status.DRIFTED)
    STALE = ("stale", Status.STALE)
    TOLERANCE_CHANGED = ("tolerance changed", Status.STALE)
    EXECUTION = ("execution", Status.ERROR)
    SPEC = ("spec", Status.SPEC_ERROR)
    MISSING_RECORD = ("missing record", Status.MISSING)
    BROKEN_RECORD = ("broken record", Status.BROKEN)
    INTEGRITY = ("integrity", Status.BROKEN)
    SELF_CONSISTENCY = ("self-consistency", Status.BROKEN)
    UNDECLARED_PROFILE = ("undeclared profile", Status.BROKEN)

    @property
    def status(self) -> Status:
        return self.value[1]

    @property
    def label(self) -> str:
        return self.value[0]


@dataclass(frozen=True)
class Tolerance:
    exact: bool = False
    abs: float | None = None
    rel: float | None = None
    min: float | None = None
    max: float | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None
    band: float | None = None
    info: bool = False
    series: str = "pointwise"


@dataclass(frozen=True)
class TolerancePair:
    """A metric's tolerance on the record's hardware class, and on another class (if declared)."""

    same: Tolerance
    other: Tolerance | None = None

    def for_hardware(self, same_hardware: bool) -> Tolerance:
        return self.same if same_hardware or self.other is None else self.other


@dataclass(frozen=True)
class MetricRule:
    pattern: str
    tolerance: TolerancePair
    profiles: tuple[str, ...] | None = None

    @property
    def literal(self) -> bool:
        return not any(ch in self.pattern for ch in "*?[")

    def applies_to(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles


@dataclass(frozen=True)
class MetricRules:
    """The metrics an experiment declares for one profile: exact names first, then globs in file order."""

    rules: tuple[MetricRule, ...]

    def lookup(self, name: str) -> TolerancePair | None:
        for rule in self.rules:
            if rule.pattern == name:
                return rule.tolerance
        for rule in self.rules:
            if fnmatch.fnmatchcase(name, rule.pattern):
                return rule.tolerance
        return None

    @property
    def required(self) -> tuple[str, ...]:
        """Literal names: every run must capture them."""
        return tuple(rule.pattern for rule in self.rules if rule.literal)


@dataclass(frozen=True)
class MetricEntry:
    """One captured or recorded value: a scalar (value, n, se) or a series (steps, values)."""

    value: Any = None
    n: int | None = None
    se: float | None = None
    se_method: str | None = None  # binomial | seeds | seeds+binomial | given
    per_seed: tuple[float, ...] | None = None
    rows: int | None = None
    steps: tuple[Any, ...] | None = None
    values: tuple[Any, ...] | None = None

    @property
    def is_series(self) -> bool:
        return self.steps is not None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("value", "n", "se", "se_method", "per_seed", "rows", "steps", "values"):
            item = getattr(self, key)
            if item is not None or (key == "value" and not self.is_series):
                out[key] = list(item) if isinstance(item, tuple) else item
        return out


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    verdict: Verdict
    recorded: Any
    observed: Any
    tolerance: str
    detail: str = ""


@dataclass(frozen=True)
class Finding:
    """One failure, structured: report.py and the templates turn it into words."""

    experiment: str
    profile: str
    kind: FindingKind
    message: str
    metric: str | None = None
    recorded: Any = None
    observed: Any = None
    tolerance: str | None = None
    command: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Change:
    """One part of an input hash that differs between two states."""

    part: str
    kind: str  # added | removed | changed
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True)
class Freshness:
    """The record's inputs against today's: what changed, and what changed but does not count."""

    changes: tuple[Change, ...] = ()
    ignored: tuple[Change, ...] = ()

    @property
    def fresh(self) -> bool:
        return not self.changes


@dataclass(frozen=True)
class Seal:
    """What an executed notebook carries about itself (its `metadata.repronotes`)."""

    captures: tuple[Mapping[str, Any], ...]
    input_hash: str | None = None
    input_parts: Mapping[str, str] = field(default_factory=dict)
    output_files: Mapping[str, str] = field(default_factory=dict)
    tolerances: Mapping[str, Any] | None = None  # added by `record`


@dataclass(frozen=True)
class CommittedNotebook:
    """The committed executed notebook of a record: its digest and seal, or why it cannot be read."""

    file: str
    digest: str | None = None
    seal: Seal | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Record:
    file: str
    experiment: str
    profile: str
    title: str
    date: str
    git_commit: str | None
    duration_s: float
    parameters: Mapping[str, Any]
    input_hash: str
    input_parts: Mapping[str, str]
    metrics: Mapping[str, MetricEntry]
    tolerances: Mapping[str, Any]  # metric -> {"same": {...}, "other": {...}} as written
    hardware_class: str
    environment: Mapping[str, Any]
    notebook_digest: str
    artifacts: Mapping[str, Any]
    output_files: Mapping[str, str]
    data: Mapping[str, Any]  # the whole document, for display


@dataclass(frozen=True)
class RecordState:
    """A record as loaded: the record and its committed notebook, or why there is none."""

    file: str
    record: Record | None = None
    notebook: CommittedNotebook | None = None
    problem: str | None = None  # broken: what is wrong
    missing: bool = False


@dataclass(frozen=True)
class RunResult:
    """A completed run, fresh or from the cache."""

    experiment: str
    profile: str
    input_hash: str
    parts: Mapping[str, str]
    hardware_class: str
    metrics: Mapping[str, MetricEntry]
    captures: tuple[Mapping[str, Any], ...]
    artifacts: Mapping[str, Any]
    kernel_facts: Mapping[str, Any]
    packages: Mapping[str, str]
    duration_s: float
    date: str
    notebook_digest: str
    output_files: Mapping[str, str]
    folder: Path
    action: Action = Action.EXECUTED
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunFailure:
    """A run that did not complete: the message (already redacted) and where the partial notebook is."""

    message: str
    notebook: str | None = None
    kind: FindingKind = FindingKind.EXECUTION


@dataclass(frozen=True)
class Policy:
    """What assess needs to know beyond the record and the run."""

    experiment: str
    profile: str
    rules: MetricRules
    runnable: bool
    why_not_run: str  # "execution is off", "this machine cannot run it (needs cuda)", ...
    optional: bool = False
    declared: bool = True  # False: a record for a profile experiment.yaml does not declare
    declared_profiles: tuple[str, ...] = ()
    spec_file: str = "experiment.yaml"


@dataclass
class Outcome:
    experiment: str
    profile: str
    status: Status
    action: Action
    hardware: str | None = None
    record_hardware: str | None = None
    record_date: str | None = None
    verdicts: list[MetricVerdict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status.failed

    @property
    def gated(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict.gated)

    @property
    def shown_only(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict is Verdict.INFO)

    @property
    def bit_for_bit(self) -> bool:
        return bool(self.verdicts) and all(v.verdict is Verdict.IDENTICAL for v in self.verdicts)
