"""The verdict, as a pure function: a record (and its committed notebook), a run or none, the freshness
of the record's inputs and the policy -> an Outcome with structured findings.

No file is read and nothing runs here; pipeline.py loads and executes around it. Checks, in order:
1. the record is declared, present and well-formed;
2. self-verification: the committed notebook matches the record's digest, and the record's metrics,
   SEs, n, tolerances, inputs and outputs equal what the notebook's seal proves;
3. the record holds every declared metric, and no tolerance in experiment.yaml is looser than the
   one the record was made with;
4. with a run: every metric against the record under its tolerance for the hardware class; without
   one: the record's inputs must be today's (freshness).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from repronotes import tolerance
from repronotes.captured import interpret
from repronotes.errors import CaptureError
from repronotes.inputs import MACHINE_PARTS, explain
from repronotes.inputs import freshness as compare_parts
from repronotes.model import (
    Action,
    Change,
    Finding,
    FindingKind,
    Freshness,
    MetricVerdict,
    Outcome,
    Policy,
    Record,
    RecordState,
    RunFailure,
    RunResult,
    Seal,
    Status,
    Verdict,
)

RunState = RunResult | RunFailure | None


def assess(state: RecordState, run: RunState, fresh: Freshness | None, policy: Policy) -> Outcome:
    out = Outcome(policy.experiment, policy.profile, Status.VERIFIED, Action.VERIFIED_ONLY)
    if not policy.declared:
        _undeclared(out, state, policy)
    elif state.record is None:
        _no_record(out, state, run, policy)
    else:
        _with_record(out, state.record, state, run, fresh, policy)
    out.status = Status.worst(out.status, *(f.kind.status for f in out.findings))
    return out


def _finding(policy: Policy, kind: FindingKind, message: str, command: str | None, **kw: object) -> Finding:
    return Finding(policy.experiment, policy.profile, kind, message, command=command, **kw)  # type: ignore[arg-type]


def record_command(policy: Policy) -> str:
    return f"repronotes record {policy.experiment} --profile {policy.profile}"


def run_command(policy: Policy) -> str:
    return f"repronotes run {policy.experiment} --profile {policy.profile}"


def _undeclared(out: Outcome, state: RecordState, policy: Policy) -> None:
    declared = ", ".join(policy.declared_profiles) or "none"
    message = (
        f"{state.file} is a record for profile {policy.profile!r}, which experiment.yaml does not declare "
        f"(declared: {declared}); renamed a profile? rename it back, or delete this record and runs/{policy.profile}.ipynb"
    )
    out.findings.append(_finding(policy, FindingKind.UNDECLARED_PROFILE, message, None))
    out.action = Action.SKIPPED


def _no_record(out: Outcome, state: RecordState, run: RunState, policy: Policy) -> None:
    if state.missing and policy.optional:
        out.status, out.action = Status.NOT_RECORDED, Action.SKIPPED
        out.notes.append("optional profile, documented but not recorded")
        return
    if state.missing:
        out.findings.append(
            _finding(
                policy, FindingKind.MISSING_RECORD, f"{state.file}: no record yet", record_command(policy)
            )
        )
    else:
        out.findings.append(
            _finding(policy, FindingKind.BROKEN_RECORD, state.problem or "unreadable", record_command(policy))
        )
    if isinstance(run, RunFailure):
        out.action = Action.EXECUTED
        out.findings.append(_finding(policy, FindingKind.EXECUTION, run.message, run_command(policy)))
    elif isinstance(run, RunResult):
        out.action, out.hardware = run.action, run.hardware_class
        out.notes.extend(f"re-ran: {reason}" for reason in run.reasons)
        for name, entry in sorted(run.metrics.items()):
            pair = policy.rules.lookup(name)
            desc = tolerance.describe(pair.same) if pair else "-"
            out.verdicts.append(
                MetricVerdict(name, Verdict.NEW, None, tolerance.shown(entry), desc, "no record yet")
            )


def _with_record(
    out: Outcome, record: Record, state: RecordState, run: RunState, fresh: Freshness | None, policy: Policy
) -> None:
    out.record_hardware, out.record_date = record.hardware_class, record.date
    out.findings.extend(self_verify(record, state, policy))
    out.findings.extend(_declarations(record, policy))
    if isinstance(run, RunFailure):
        out.action = Action.EXECUTED
        out.findings.append(_finding(policy, FindingKind.EXECUTION, run.message, run_command(policy)))
    elif isinstance(run, RunResult):
        _compare_run(out, record, run, policy)
    else:
        _freshness(out, record, fresh, policy)


# --- self-verification -------------------------------------------------------------------------


def self_verify(record: Record, state: RecordState, policy: Policy) -> list[Finding]:
    """The record against its committed notebook: integrity (digest) and self-consistency (the seal)."""
    nb, cmd = state.notebook, record_command(policy)
    if nb is None or nb.problem is not None:
        problem = nb.problem if nb is not None else "is missing"
        file = nb.file if nb is not None else f"runs/{policy.profile}.ipynb"
        return [_finding(policy, FindingKind.INTEGRITY, f"{file} {problem} (integrity)", cmd)]
    findings = []
    if nb.digest != record.notebook_digest:
        message = f"{nb.file} does not match the record's notebook digest: it was edited after recording (integrity)"
        findings.append(_finding(policy, FindingKind.INTEGRITY, message, cmd))
    if nb.seal is None:
        return [
            *findings,
            _finding(policy, FindingKind.INTEGRITY, f"{nb.file} carries no seal of its captures", cmd),
        ]
    try:
        derived = interpret(nb.seal.captures, nb.file)
    except CaptureError as exc:
        return [*findings, _finding(policy, FindingKind.SELF_CONSISTENCY, str(exc), cmd)]
    for name in sorted(set(record.metrics) | set(derived.metrics)):
        claimed, proven = record.metrics.get(name), derived.metrics.get(name)
        if (
            claimed is None
            or proven is None
            or tolerance.canonical(claimed.as_dict()) != tolerance.canonical(proven.as_dict())
        ):
            findings.append(_mismatch(policy, record, name, claimed, proven, nb.file))
    findings.extend(_seal_sections(record, nb.seal, derived.artifacts, policy, nb.file))
    return findings


def _mismatch(
    policy: Policy, record: Record, name: str, claimed: object, proven: object, nb_file: str
) -> Finding:
    what = (
        "is not in the record"
        if claimed is None
        else "is not in its notebook's captures"
        if proven is None
        else "differs"
    )
    message = f"{record.file}: metric {name} {what}: the record does not match what {nb_file} captured (self-consistency)"
    shown_claim = claimed.as_dict() if hasattr(claimed, "as_dict") else None
    shown_proof = proven.as_dict() if hasattr(proven, "as_dict") else None
    return _finding(policy, FindingKind.SELF_CONSISTENCY, message, record_command(policy), metric=name,
                    recorded=shown_claim, observed=shown_proof)  # fmt: skip


def _seal_sections(
    record: Record, seal: Seal, artifacts: Mapping[str, object], policy: Policy, nb_file: str
) -> list[Finding]:
    claims: dict[str, tuple[object, object]] = {
        "inputs.hash": (record.input_hash, seal.input_hash),
        "inputs.parts": (dict(record.input_parts), dict(seal.input_parts)),
        "outputs.files": (dict(record.output_files), dict(seal.output_files)),
        "outputs.artifacts": (dict(record.artifacts), dict(artifacts)),
        "tolerances": (recorded_tolerances(record), seal.tolerances),
        "environment.hardware_class": (record.hardware_class, seal.input_parts.get("hardware_class")),
    }
    return [
        _finding(policy, FindingKind.SELF_CONSISTENCY, f"{record.file}: {key} differs from what {nb_file} carries (self-consistency)", record_command(policy))
        for key, (claimed, proven) in claims.items()
        if tolerance.canonical(claimed) != tolerance.canonical(proven)
    ]  # fmt: skip


def recorded_tolerances(record: Record) -> dict[str, dict[str, object]]:
    """Each metric's tolerance documents as the record stores them (what `record` seals into the notebook)."""
    out: dict[str, dict[str, object]] = {}
    for name, entry in record.data["metrics"].items():
        keys = ("tolerance", "tolerance_other_hardware")
        out[name] = {key: entry[key] for key in keys if key in entry}
    return out


# --- declarations and tolerances ----------------------------------------------------------------


def _declarations(record: Record, policy: Policy) -> list[Finding]:
    findings = []
    cmd = record_command(policy)
    for name in policy.rules.required:
        if name not in record.metrics:
            message = f"metric {name} is declared in {policy.spec_file} but not in the record"
            findings.append(_finding(policy, FindingKind.MISSING_METRIC, message, cmd, metric=name))
    for name, pair in sorted(record.tolerances.items()):
        declared = policy.rules.lookup(name)
        if declared is None:
            message = f"metric {name} is in the record but {policy.spec_file} declares no tolerance for it"
            findings.append(
                _finding(
                    policy,
                    FindingKind.SPEC,
                    message,
                    f"declare metrics.{name} in {policy.spec_file}",
                    metric=name,
                )
            )
            continue
        loosened = tolerance.loosening(pair.same, declared.same) or tolerance.loosening(
            pair.other or pair.same, declared.other or declared.same
        )
        if loosened:
            message = f"{policy.spec_file}: the tolerance of metric {name} is looser than the record's ({loosened}); accepting that takes a new record"
            findings.append(
                _finding(policy, FindingKind.TOLERANCE_CHANGED, message, cmd, metric=name, tolerance=loosened)
            )
    return findings


# --- a run against the record ------------------------------------------------------------------


def compare_metrics(record: Record, run: RunResult, policy: Policy) -> list[MetricVerdict]:
    same_hardware = record.hardware_class == run.hardware_class
    verdicts = []
    for name in sorted(set(record.metrics) | set(run.metrics) | set(policy.rules.required)):
        pair = policy.rules.lookup(name)
        if pair is None and name not in run.metrics:
            continue  # only in the record: reported once, by the declarations check
        if pair is None:
            detail = "no tolerance declared in experiment.yaml"
            verdicts.append(MetricVerdict(name, Verdict.UNEXPECTED, tolerance.shown(record.metrics.get(name)),
                                          tolerance.shown(run.metrics.get(name)), "-", detail))  # fmt: skip
            continue
        tol = pair.for_hardware(same_hardware)
        verdicts.append(tolerance.compare(name, record.metrics.get(name), run.metrics.get(name), tol))
    return verdicts


def _compare_run(out: Outcome, record: Record, run: RunResult, policy: Policy) -> None:
    out.action, out.hardware = run.action, run.hardware_class
    out.notes.extend(f"re-ran: {reason}" for reason in run.reasons)
    out.status = Status.REPRODUCED
    changed = [c for c in compare_parts(record.input_parts, run.parts).changes if c.part not in MACHINE_PARTS]
    if changed:
        out.notes.append(
            f"inputs differ from the record's ({', '.join(explain(c) for c in changed)}); compared by tolerance"
        )
    out.verdicts = compare_metrics(record, run, policy)
    for verdict in (v for v in out.verdicts if v.verdict.failed):
        out.findings.append(_drift(policy, verdict, changed))


def _drift(policy: Policy, verdict: MetricVerdict, changed: Sequence[Change]) -> Finding:
    if verdict.verdict is Verdict.UNEXPECTED and verdict.detail.startswith("no tolerance"):
        command = f"declare metrics.{verdict.metric} in {policy.spec_file}"
        return _finding(policy, FindingKind.SPEC, f"metric {verdict.metric} was captured but has no tolerance", command,
                        metric=verdict.metric, observed=verdict.observed)  # fmt: skip
    kind = {
        Verdict.MISSING: FindingKind.MISSING_METRIC,
        Verdict.UNEXPECTED: FindingKind.UNEXPECTED_METRIC,
    }.get(verdict.verdict, FindingKind.DRIFT)
    if changed:
        command = f"if the change is intended: {record_command(policy)}"
    else:
        command = f"to see it again: {run_command(policy)}"
    message = f"metric {verdict.metric} {verdict.verdict.value}"
    return Finding(policy.experiment, policy.profile, kind, message, verdict.metric, verdict.recorded,
                   verdict.observed, verdict.tolerance, command, verdict.detail)  # fmt: skip


def _freshness(out: Outcome, record: Record, fresh: Freshness | None, policy: Policy) -> None:
    if fresh is None:
        return
    out.notes.extend(
        f"{explain(c)} since the record (not counted: re-record to pin it)" for c in fresh.ignored
    )
    if fresh.fresh:
        return
    reasons = ", ".join(explain(c) for c in fresh.changes)
    message = f"record is stale ({reasons}); {policy.why_not_run}"
    command = f"on {record.hardware_class}: {record_command(policy)}"
    out.findings.append(_finding(policy, FindingKind.STALE, message, command))


def describe_changes(changes: Iterable[object]) -> str:
    return ", ".join(explain(c) for c in changes)  # type: ignore[arg-type]
