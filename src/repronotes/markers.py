"""The one-line markers a post uses to place experiments and numbers (shared by CLI and plugin).

    {{ experiment: qdora_sft }}                     executed outputs + reproducibility panel
    {{ experiment: qdora_sft@gpu }}                 ... of a given profile (default: the best recorded)
    {{ value: qdora_sft.qdora/macro_f1 }}           a recorded number, inline
    {{ value: qdora_sft@cpu.qdora/macro_f1 | .3f }} with a profile and a Python format spec
    {{ value: smol_rl.final_reward | .2f | se }}    with "± SE"
    {{ table: smol_rl.sft_vs_rl | .3f }}            metrics named sft_vs_rl/<row>/<column> as a table
    {{ table: smol_rl.sft_vs_rl | .3f | rows=base,sft | cols=accuracy,macro_f1 }}
    {{ reproducibility_dashboard }}                 every experiment x profile (the Reproducibility page)

Markers inside fenced code blocks and inline code are left alone, so docs can show them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from repronotes.errors import MarkerError

_MARKER = re.compile(r"\{\{\s*(experiment|value|table|reproducibility_dashboard)\s*(?::\s*(.*?))?\s*\}\}")
_TARGET = re.compile(r"^(?P<exp>[a-z][a-z0-9_]*)(?:@(?P<profile>[a-z][a-z0-9_]*))?(?:\.(?P<metric>\S+))?$")
_FENCE = re.compile(r"^(\s*)(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")


@dataclass(frozen=True)
class Marker:
    kind: str  # experiment | value | table | reproducibility_dashboard
    experiment: str | None = None
    profile: str | None = None
    metric: str | None = None
    fmt: str | None = None
    with_se: bool = False
    options: dict[str, str] = field(default_factory=dict)


def parse(kind: str, body: str | None, where: str) -> Marker:
    """One marker's body -> Marker; errors name the page and the marker."""
    if kind == "reproducibility_dashboard":
        return Marker(kind)
    if not body:
        raise MarkerError(where, f"{{{{ {kind} }}}}", f"needs a target, e.g. {{{{ {kind}: qdora_sft }}}}")
    target, *pipes = [part.strip() for part in body.split("|")]
    match = _TARGET.match(target)
    if not match:
        raise MarkerError(
            where, f"{{{{ {kind}: {body} }}}}", "target must look like experiment[@profile][.metric]"
        )
    needs_metric = kind in ("value", "table")
    if needs_metric != bool(match.group("metric")):
        rule = "needs experiment.metric" if needs_metric else "takes an experiment name only"
        raise MarkerError(where, f"{{{{ {kind}: {body} }}}}", rule)
    fmt, with_se, options = _pipes(pipes, where, body)
    return Marker(
        kind, match.group("exp"), match.group("profile"), match.group("metric"), fmt, with_se, options
    )


def _pipes(pipes: list[str], where: str, body: str) -> tuple[str | None, bool, dict[str, str]]:
    fmt, with_se, options = None, False, {}
    for pipe in pipes:
        if pipe == "se":
            with_se = True
        elif "=" in pipe:
            key, _, value = pipe.partition("=")
            options[key.strip()] = value.strip()
        else:
            if not (_formats(pipe, 0.5) or _formats(pipe, 5)):
                raise MarkerError(where, f"{{{{ ... {body} }}}}", f"{pipe!r} is not a Python format spec")
            fmt = pipe
    return fmt, with_se, options


def _formats(spec: str, sample: float) -> bool:
    try:
        format(sample, spec)
    except ValueError:
        return False
    return True


def find(text: str, where: str) -> list[Marker]:
    markers: list[Marker] = []

    def keep(marker: Marker) -> str:
        markers.append(marker)
        return ""

    substitute(text, where, keep)
    return markers


def substitute(text: str, where: str, render: Callable[[Marker], str]) -> str:
    """Replace every marker outside code with render(marker)."""
    out, in_fence, fence = [], False, ""
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if opened and (not in_fence or opened.group(2) == fence):
            in_fence, fence = (not in_fence), opened.group(2)
            out.append(line)
            continue
        out.append(line if in_fence else _substitute_line(line, where, render))
    return "\n".join(out)


def _substitute_line(line: str, where: str, render: Callable[[Marker], str]) -> str:
    code_spans = [m.span() for m in _INLINE_CODE.finditer(line)]

    def replace(match: re.Match[str]) -> str:
        if any(start <= match.start() < end for start, end in code_spans):
            return match.group(0)
        return render(parse(match.group(1), match.group(2), where))

    return _MARKER.sub(replace, line)


def experiments_in(text: str, where: str) -> list[str]:
    names: list[str] = []
    for marker in find(text, where):
        if marker.experiment and marker.experiment not in names:
            names.append(marker.experiment)
    return names
