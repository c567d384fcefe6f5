"""Words from outcomes: the terminal table, Markdown (CI comments, the docs) and JSON (machines).

The only module besides the plugin's templates that turns findings into text. Everything it writes
passes through the redactor first.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from repronotes.atomic import write_json_atomic, write_text_atomic
from repronotes.model import Action, Finding, FindingKind, MetricVerdict, Outcome, Status, Verdict
from repronotes.redact import Redactor

_BADGES = {
    Status.REPRODUCED: "reproduced in this build",
    Status.VERIFIED: "verified from record",
    Status.NOT_RECORDED: "documented, not recorded",
    Status.STALE: "stale",
    Status.DRIFTED: "drifted",
    Status.SPEC_ERROR: "experiment.yaml error",
    Status.ERROR: "notebook error",
    Status.MISSING: "missing record",
    Status.BROKEN: "broken record",
}


_COMPARED = (FindingKind.DRIFT, FindingKind.MISSING_METRIC, FindingKind.UNEXPECTED_METRIC)


def badge(status: Status, action: Action | None = None) -> str:
    """The reader-facing words for a status; a cache hit says so instead of claiming a fresh run."""
    if status is Status.REPRODUCED and action is Action.CACHED:
        return "reproduced (cached run)"
    return _BADGES[status]


def checked_summary(outcome: Outcome) -> str:
    """How much a reproduced outcome checked: 'bit for bit', 'N gated, M shown', or other hardware."""
    if not outcome.verdicts or outcome.status is not Status.REPRODUCED:
        return ""
    if outcome.bit_for_bit:
        return f"bit for bit ({len(outcome.verdicts)} metrics)"
    other = outcome.hardware is not None and outcome.record_hardware not in (None, outcome.hardware)
    prefix = "other hardware: " if other else "within tolerance: "
    return f"{prefix}{outcome.gated} gated, {outcome.shown_only} shown only"


def progress_line(event: dict[str, Any]) -> str:
    """'[qdora_sft/cpu] cell 5/23 · 01:42' (+ 'still running' for a heartbeat inside a long cell, + ETA)."""
    elapsed = int(event.get("elapsed_s", 0))
    index = int(event.get("index", -1))
    cell = f"cell {index + 1}/{event.get('total', '?')}" if index >= 0 else "starting the kernel"
    still = " (still running)" if event.get("still") else ""
    eta = event.get("expected_s")
    remaining = (
        f" · ~{_clock(max(int(eta) - elapsed, 0))} left" if isinstance(eta, int | float) and eta > 0 else ""
    )
    return f"[{event.get('label')}] {cell}{still} · {_clock(elapsed)}{remaining}"


def _clock(seconds: int) -> str:
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def finding_line(f: Finding) -> str:
    """One failure, whole: experiment/profile, what, recorded vs observed, tolerance, and what to do."""
    line = f"{f.experiment}/{f.profile}: {f.message}"
    if f.metric is not None and f.kind is FindingKind.SELF_CONSISTENCY:
        line += f": record says {fmt(f.recorded, full=True)}, its notebook {fmt(f.observed, full=True)}"
    elif f.kind in _COMPARED and (f.recorded is not None or f.observed is not None):
        line += f": recorded {fmt(f.recorded, full=True)}, this run {fmt(f.observed, full=True)}"
        line += f", tolerance {f.tolerance}" if f.tolerance else ""
    line += f" ({f.detail})" if f.detail else ""
    return line + (f" — {f.command}" if f.command else "")


def summary_rows(outcomes: list[Outcome]) -> list[list[str]]:
    rows = [["experiment", "profile", "status", "checked", "hardware", "recorded on", "record date"]]
    for o in outcomes:
        rows.append([o.experiment, o.profile, badge(o.status, o.action), checked_summary(o) or o.action.value,
                     o.hardware or "-", o.record_hardware or "-", (o.record_date or "-")[:10]])  # fmt: skip
    return rows


def metric_rows(outcome: Outcome) -> list[list[str]]:
    return verdict_rows(outcome.verdicts, ["metric", "recorded", "this run", "tolerance", "verdict"])


def verdict_rows(verdicts: list[MetricVerdict], header: list[str]) -> list[list[str]]:
    rows = [header]
    for v in verdicts:
        detail = f" ({v.detail})" if v.detail else ""
        rows.append([v.metric, fmt(v.recorded), fmt(v.observed), v.tolerance, v.verdict.value + detail])
    return rows


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(rows[0]), line(["---"] * len(rows[0])), *(line(r) for r in rows[1:])])


def markdown_report(outcomes: list[Outcome]) -> str:
    parts = ["# repronotes drift report", "", markdown_table(summary_rows(outcomes)), ""]
    for o in outcomes:
        if o.verdicts:
            parts += [
                f"## {o.experiment} / {o.profile}: {badge(o.status, o.action)}",
                "",
                markdown_table(metric_rows(o)),
                "",
            ]
        if o.findings:
            parts += (
                [f"**Failures in {o.experiment}/{o.profile}:**", ""]
                + [f"- {finding_line(f)}" for f in o.findings]
                + [""]
            )
    return "\n".join(parts)


def json_report(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "failed": any(o.failed for o in outcomes),
        "outcomes": [outcome_document(o) for o in outcomes],
    }


def outcome_document(o: Outcome) -> dict[str, Any]:
    return {
        "experiment": o.experiment,
        "profile": o.profile,
        "status": o.status.label,
        "action": o.action.value,
        "checked": checked_summary(o),
        "hardware": o.hardware,
        "record_hardware": o.record_hardware,
        "record_date": o.record_date,
        "verdicts": [
            {"metric": v.metric, "verdict": v.verdict.value, "recorded": v.recorded, "observed": v.observed,
             "tolerance": v.tolerance, "detail": v.detail}
            for v in o.verdicts
        ],
        "findings": [
            {"kind": f.kind.label, "metric": f.metric, "recorded": f.recorded, "observed": f.observed,
             "tolerance": f.tolerance, "detail": f.detail, "command": f.command, "line": finding_line(f)}
            for f in o.findings
        ],
        "notes": list(o.notes),
    }  # fmt: skip


def write_reports(folder: Path, outcomes: list[Outcome], redactor: Redactor) -> Path:
    """Write drift_report.json and drift_report.md into `folder`, redacted."""
    data = redactor.obj(json.loads(json.dumps(json_report(outcomes), default=str)))
    write_json_atomic(folder / "drift_report.json", data, allow_nan=True)
    write_text_atomic(folder / "drift_report.md", redactor.text(markdown_report(outcomes)))
    return folder


def fmt(value: Any, full: bool = False) -> str:
    """A value for a table cell (long strings keep both ends) or, with `full`, for a finding line."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value)
    if full or len(text) <= 40:
        return text
    return text[:18] + "…" + text[-18:]


def is_reproduced(outcome: Outcome) -> bool:
    return outcome.status is Status.REPRODUCED and all(v.verdict is not Verdict.NEW for v in outcome.verdicts)
