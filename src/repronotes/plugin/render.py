"""HTML and Markdown for the markers: reproducibility panel, inline values, tables, dashboard.

Pure functions of records and outcomes; they never execute or compare anything.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from repronotes.pipeline import Outcome
from repronotes.report import badge

STATUS_CLASS = {
    "reproduced": "success",
    "verified": "info",
    "not-recorded": "note",
    "stale": "warning",
    "drifted": "failure",
    "missing": "failure",
    "broken": "failure",
    "error": "failure",
}


def value_html(record: dict[str, Any], metric: str, fmt: str | None, with_se: bool, where: str) -> str:
    entry = record["metrics"][metric]
    if "value" not in entry:
        raise KeyError(f"{where}: {metric} is a series; show it with {{{{ experiment: ... }}}} instead")
    text = format_value(entry["value"], fmt)
    if with_se and entry.get("se") is not None:
        text += " ± " + format_value(entry["se"], fmt.replace("+", "") if fmt else fmt)
    profile = record["run"]["profile"]
    hardware = record["environment"].get("hardware_class", "?")
    title = f"{record['experiment']} · {metric} · profile {profile} on {hardware} · recorded {record['run']['date'][:10]}"
    return (
        f'<span class="rn-value" data-profile="{html.escape(profile)}" title="{html.escape(title)}">'
        f"{html.escape(text)}</span>"
    )


def format_value(value: Any, fmt: str | None) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if fmt:
            return format(value, fmt)
        return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def metric_table_markdown(
    record: dict[str, Any], prefix: str, fmt: str | None, options: dict[str, str]
) -> str:
    """Metrics named <prefix>/<row>/<column> as a Markdown table (rows/cols from options or sorted).

    Rows and columns may contain "/" (e.g. ``rl_from_sft/soft`` x ``predicted_share/disruptive``): with
    ``cols`` given, a name is split at the longest listed column it ends with; without, at its last "/".
    A listed row or column that matches no metric is an error, not a column of dashes.
    """
    wanted_cols = _order(options.get("cols"), [])
    cells: dict[tuple[str, str], Any] = {}
    for name, entry in record["metrics"].items():
        if name.startswith(prefix + "/") and "value" in entry:
            row, col = _split_cell(name[len(prefix) + 1 :], wanted_cols)
            if row:
                cells[(row, col)] = entry["value"]
    if not cells:
        raise KeyError(f"no metrics named {prefix}/<row>/<column> in the record")
    rows = _order(options.get("rows"), [r for r, _ in cells])
    cols = wanted_cols or _order(None, [c for _, c in cells])
    for kind, names, index in (("row", rows, 0), ("column", cols, 1)):
        unknown = [n for n in names if not any(key[index] == n for key in cells)]
        if unknown:
            raise KeyError(f"table {prefix}: no metric for {kind} {', '.join(map(repr, unknown))}")
    lines = ["| " + " | ".join(["", *cols]) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in rows:
        values = [format_value(cells[(row, col)], fmt) if (row, col) in cells else "–" for col in cols]
        lines.append("| " + " | ".join([f"**{row}**", *values]) + " |")
    source = f"{record['experiment']} · profile {record['run']['profile']} on {record['environment'].get('hardware_class')}"
    return (
        "\n"
        + "\n".join(lines)
        + f'\n\n<p class="rn-table-source">Source: record of {html.escape(source)}.</p>\n'
    )


def _split_cell(rest: str, columns: list[str]) -> tuple[str, str]:
    for col in sorted(columns, key=len, reverse=True):
        if rest.endswith("/" + col):
            return rest[: -len(col) - 1], col
    if columns:
        return "", ""
    row, _, col = rest.rpartition("/")
    return row, col


def _order(explicit: str | None, seen: list[str]) -> list[str]:
    if explicit:
        return [part.strip() for part in explicit.split(",") if part.strip()]
    return sorted(dict.fromkeys(seen))


def panel_html(
    title: str,
    outcomes: list[Outcome],
    shown: Outcome,
    record: dict[str, Any] | None,
    notebook_links: dict[str, str],
) -> str:
    """The collapsible reproducibility panel under an embedded experiment."""
    css = STATUS_CLASS.get(shown.status, "note")
    hardware = (record or {}).get("environment", {}).get("hardware_class", "–")
    date = ((record or {}).get("run", {}).get("date") or "–")[:10]
    summary = (
        f'<span class="rn-badge rn-{shown.status}">{html.escape(badge(shown.status, shown.action))}</span> '
        f'<span class="rn-summary">{html.escape(title)} · profile <b>{html.escape(shown.profile)}</b> · '
        f"{html.escape(hardware)} · recorded {html.escape(date)}</span>"
    )
    parts = [f'<details class="rn-panel {css}">', f"<summary>{summary}</summary>"]
    parts.append(_profiles_table(outcomes, notebook_links))
    parts.append(_metrics_table(shown))
    parts.append(_findings(outcomes))
    commands = "\n".join(o.rerun for o in outcomes if o.status != "not-recorded")
    parts.append(
        f'<p class="rn-rerun">Rerun it yourself:</p><pre class="rn-command"><code>{html.escape(commands)}</code></pre>'
    )
    parts.append("</details>")
    return "".join(p for p in parts if p)


def _profiles_table(outcomes: list[Outcome], links: dict[str, str]) -> str:
    rows = []
    for o in outcomes:
        link = links.get(o.profile)
        notebook = f'<a href="{html.escape(link)}">notebook</a>' if link else "–"
        rows.append(
            f'<tr><td>{html.escape(o.profile)}</td><td><span class="rn-badge rn-{o.status}">'
            f"{html.escape(badge(o.status, o.action))}</span></td><td>{html.escape(o.record_hardware or '–')}</td>"
            f"<td>{html.escape((o.record_date or '–')[:10])}</td><td>{html.escape(_action(o))}</td><td>{notebook}</td></tr>"
        )
    head = "<tr><th>profile</th><th>status</th><th>recorded on</th><th>date</th><th>this build</th><th></th></tr>"
    return f'<div class="rn-scroll"><table class="rn-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def _action(outcome: Outcome) -> str:
    return {
        "executed": f"re-ran on {outcome.hardware}",
        "cached": f"cached run on {outcome.hardware}",
        "verified-only": "integrity + freshness checked",
        "skipped": "not run",
    }.get(outcome.action, outcome.action)


def _metrics_table(outcome: Outcome) -> str:
    if not outcome.verdicts:
        return ""
    rows = "".join(
        f'<tr class="rn-v-{v.status}"><td><code>{html.escape(v.metric)}</code></td><td>{_cell(v.recorded)}</td>'
        f"<td>{_cell(v.observed)}</td><td>{html.escape(v.tolerance)}</td><td>{html.escape(v.status)}</td></tr>"
        for v in outcome.verdicts
    )
    head = "<tr><th>metric</th><th>recorded</th><th>this build</th><th>tolerance</th><th>verdict</th></tr>"
    caption = f"<caption>Metrics of profile {html.escape(outcome.profile)}</caption>"
    return f'<div class="rn-scroll rn-metrics"><table class="rn-table">{caption}<thead>{head}</thead><tbody>{rows}</tbody></table></div>'


def _findings(outcomes: list[Outcome]) -> str:
    lines = [f for o in outcomes for f in o.findings] + [
        f"{o.profile}: {n}" for o in outcomes for n in o.notes
    ]
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul class="rn-notes">{items}</ul>'


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    text = format_value(value, None)
    return html.escape(text if len(text) <= 32 else text[:29] + "…")


def dashboard_markdown(rows: list[dict[str, Any]]) -> str:
    """The Reproducibility page: one row per experiment and profile."""
    header = "| Experiment | Profile | Status | Recorded on | Record date | Last verification | Rerun |\n|---|---|---|---|---|---|---|"
    lines = [header]
    for row in rows:
        lines.append(
            f"| {row['title']} (`{row['experiment']}`) | {row['profile']} | "
            f'<span class="rn-badge rn-{row["status"]}">{html.escape(badge(row["status"], row.get("action")))}</span> | '
            f"{row['hardware']} | {row['date']} | {row['verified']} | `{row['rerun']}` |"
        )
    return "\n" + "\n".join(lines) + "\n"
