"""Drift reports: a terminal table, Markdown (CI comments, the docs) and JSON (machines)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from repronotes.cache import cache_root
from repronotes.pipeline import Outcome
from repronotes.record import write_json_atomic, write_text_atomic
from repronotes.tolerance import Verdict

_BADGES = {
    "reproduced": "reproduced in this build",
    "verified": "verified from record",
    "stale": "stale",
    "drifted": "drifted",
    "missing": "missing record",
    "broken": "broken record",
    "error": "notebook error",
    "not-recorded": "documented, not recorded",
}


def progress_line(event: dict[str, Any]) -> str:
    """'[qdora_sft/cpu] cell 5/23 · 01:42' (+ 'still running' for a heartbeat inside a long cell)."""
    elapsed = int(event.get("elapsed_s", 0))
    cell = f"cell {int(event.get('index', -1)) + 1}/{event.get('total', '?')}"
    still = " (still running)" if event.get("still") else ""
    return f"[{event.get('label')}] {cell}{still} · {elapsed // 60:02d}:{elapsed % 60:02d}"


def badge(status: str, action: str | None = None) -> str:
    """The reader-facing words for a status; a cache hit says so instead of claiming a fresh run."""
    if status == "reproduced" and action == "cached":
        return "reproduced (cached run)"
    return _BADGES.get(status, status)


def summary_rows(outcomes: list[Outcome]) -> list[list[str]]:
    rows = [["experiment", "profile", "status", "action", "hardware", "recorded on", "record date"]]
    for o in outcomes:
        rows.append(
            [o.experiment, o.profile, badge(o.status, o.action), o.action, o.hardware or "-", o.record_hardware or "-",
             (o.record_date or "-")[:10]]
        )  # fmt: skip
    return rows


def metric_rows(outcome: Outcome) -> list[list[str]]:
    return verdict_rows(outcome.verdicts, ["metric", "recorded", "this run", "tolerance", "verdict"])


def verdict_rows(verdicts: list[Verdict], header: list[str]) -> list[list[str]]:
    rows = [header]
    for v in verdicts:
        rows.append([v.metric, _fmt(v.recorded), _fmt(v.observed), v.tolerance, v.status + _detail(v.detail)])
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
                [f"**Failures in {o.experiment}/{o.profile}:**", ""] + [f"- {f}" for f in o.findings] + [""]
            )
    return "\n".join(parts)


def json_report(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "failed": any(o.failed for o in outcomes),
        "outcomes": [asdict(o) for o in outcomes],
    }


def write_reports(root: Path, outcomes: list[Outcome], folder: Path | None = None) -> Path:
    """Write drift_report.json and drift_report.md (default: .cache/repronotes/reports/)."""
    target = folder or cache_root(root) / "reports"
    write_json_atomic(
        target / "drift_report.json",
        json.loads(json.dumps(json_report(outcomes), default=str)),
        allow_nan=True,
    )
    write_text_atomic(target / "drift_report.md", markdown_report(outcomes))
    return target


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 28 else text[:25] + "..."


def _detail(detail: str) -> str:
    return f" ({detail})" if detail else ""
