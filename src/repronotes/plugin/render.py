"""HTML and Markdown for the markers, from typed records and outcomes, through autoescaped Jinja templates.

Pure functions: they never execute, load or compare anything.
"""

from __future__ import annotations

import json
import math
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from repronotes.errors import MarkerError
from repronotes.model import Action, Outcome, Record, Status
from repronotes.report import badge, checked_summary, finding_line

STATUS_CLASS = {
    Status.REPRODUCED: "success",
    Status.VERIFIED: "info",
    Status.NOT_RECORDED: "note",
    Status.STALE: "warning",
}
_ACTIONS = {
    Action.EXECUTED: "re-ran on {hw}",
    Action.CACHED: "cached run on {hw}",
    Action.VERIFIED_ONLY: "integrity, self-consistency and freshness checked",
    Action.SKIPPED: "not run",
}
_env = Environment(
    loader=PackageLoader("repronotes.plugin", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    keep_trailing_newline=False,
)


def _template(name: str) -> Any:
    return _env.get_template(name)


def value_html(record: Record, metric: str, fmt: str | None, with_se: bool, where: str) -> str:
    entry = record.metrics[metric]
    if entry.is_series:
        raise MarkerError(
            where,
            f"{{{{ value: {record.experiment}.{metric} }}}}",
            "is a series; show it with {{ experiment: ... }}",
        )
    text = format_value(entry.value, fmt, where, metric)
    if with_se and entry.se is not None:
        text += " ± " + format_value(entry.se, fmt.replace("+", "") if fmt else fmt, where, metric)
    title = f"{record.experiment} · {metric} · profile {record.profile} on {record.hardware_class} · recorded {record.date[:10]}"
    return str(_template("value.html").render(profile=record.profile, title=title, text=text)).strip()


def format_value(value: Any, fmt: str | None, where: str = "", metric: str = "") -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if not fmt:
            return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
        try:
            return format(value, fmt)
        except ValueError:
            if isinstance(value, float) and value.is_integer():
                return format(int(value), fmt)
            raise MarkerError(
                where, metric, f"format {fmt!r} does not apply to the value {value!r}"
            ) from None
    return value if isinstance(value, str) else json.dumps(value)


def metric_table_markdown(
    record: Record, prefix: str, fmt: str | None, options: dict[str, str], where: str
) -> str:
    """Metrics named <prefix>/<row>/<column> as a Markdown table (rows/cols from options or sorted).

    Rows and columns may contain "/" (e.g. ``rl_from_sft/soft`` x ``predicted_share/disruptive``): with
    ``cols`` given, a name is split at the longest listed column it ends with; without, at its last "/".
    A listed row or column that matches no metric is an error, not a column of dashes.
    """
    wanted_cols = _order(options.get("cols"), [])
    cells: dict[tuple[str, str], Any] = {}
    for name, entry in record.metrics.items():
        if name.startswith(prefix + "/") and not entry.is_series:
            row, col = _split_cell(name[len(prefix) + 1 :], wanted_cols)
            if row:
                cells[(row, col)] = entry.value
    marker = f"{{{{ table: {record.experiment}.{prefix} }}}}"
    if not cells:
        raise MarkerError(
            where, marker, f"no metrics named {prefix}/<row>/<column> in the {record.profile} record"
        )
    rows = _order(options.get("rows"), [r for r, _ in cells])
    cols = wanted_cols or _order(None, [c for _, c in cells])
    for kind, names, index in (("row", rows, 0), ("column", cols, 1)):
        unknown = [n for n in names if not any(key[index] == n for key in cells)]
        if unknown:
            raise MarkerError(where, marker, f"no metric for {kind} {', '.join(map(repr, unknown))}")
    lines = ["| " + " | ".join(["", *map(_md, cols)]) + " |", "|" + "---|" * (len(cols) + 1)]
    for row in rows:
        values = [
            _md(format_value(cells[(row, c)], fmt, where, prefix)) if (row, c) in cells else "–" for c in cols
        ]
        lines.append("| " + " | ".join([f"**{_md(row)}**", *values]) + " |")
    source = _template("table_source.html").render(
        experiment=record.experiment, profile=record.profile, hardware=record.hardware_class
    )
    return "\n" + "\n".join(lines) + f"\n\n{source}\n"


def _md(text: str) -> str:
    """A table cell's text, escaped for Markdown and HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


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
    title: str, outcomes: list[Outcome], shown: Outcome, record: Record | None, links: dict[str, str]
) -> str:
    """The collapsible reproducibility panel under an embedded experiment."""
    lines = [finding_line(f) for o in outcomes for f in o.findings] + [
        f"{o.profile}: {n}" for o in outcomes for n in o.notes
    ]
    return str(
        _template("panel.html").render(
            title=title,
            outcomes=outcomes,
            shown=shown,
            css=STATUS_CLASS.get(shown.status, "failure"),
            hardware=record.hardware_class if record else "–",
            date=record.date[:10] if record else "–",
            checked=checked_summary(shown),
            links=links,
            lines=lines,
            commands="\n".join(_rerun(o) for o in outcomes if o.status is not Status.NOT_RECORDED),
            badge=badge,
            action=lambda o: _ACTIONS[o.action].format(hw=o.hardware),
            cell=_cell,
        )
    )


def embed_html(experiment: str, outputs: str, panel: str) -> str:
    return str(_template("embed.html").render(experiment=experiment, outputs=outputs, panel=panel))


def _rerun(outcome: Outcome) -> str:
    return f"repronotes run {outcome.experiment} --profile {outcome.profile}"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    text = format_value(value, None)
    return text if len(text) <= 32 else text[:29] + "…"


def dashboard_html(rows: list[dict[str, Any]]) -> str:
    """The Reproducibility page: one row per experiment and profile."""
    return "\n" + str(_template("dashboard.html").render(rows=rows, badge=badge)) + "\n"


def notebook_page(title: str, profile: str, hardware: str, date: str, slot: str) -> str:
    page_title = f"{title} ({profile} notebook)"
    return (
        str(
            _template("notebook_page.md").render(
                page_title=page_title, title=title, profile=profile, hardware=hardware, date=date, slot=slot
            )
        )
        + "\n"
    )
