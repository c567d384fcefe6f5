"""What a notebook captured: the capture file's JSON lines -> typed metric entries, checked line by line.

The same interpretation serves a fresh run (its capture.jsonl) and a record's self-verification
(the capture lines sealed into its committed notebook), so a record's metrics, SEs and n can
be re-derived without re-running anything.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from repronotes.errors import CaptureError
from repronotes.model import MetricEntry

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
SE_METHODS = ("binomial", "seeds", "seeds+binomial", "given")


@dataclass(frozen=True)
class Captured:
    metrics: dict[str, MetricEntry] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)


def read_capture_file(path: Path, label: str) -> list[dict[str, Any]]:
    """The capture file's lines as dicts (an absent file is no captures); CaptureError on a bad line."""
    if not path.is_file():
        return []
    lines: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise CaptureError(f"{label}: capture line {number} is not JSON ({exc})") from exc
        if not isinstance(item, dict):
            raise CaptureError(f"{label}: capture line {number} is not a JSON object")
        lines.append(item)
    return lines


def interpret(lines: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...], label: str) -> Captured:
    """Typed entries from capture lines; CaptureError naming the line and the rule it breaks."""
    out = Captured()
    for number, item in enumerate(lines, 1):
        where = f"{label}: capture line {number}"
        kind = item.get("kind")
        if kind == "environment":
            facts = item.get("facts")
            if not isinstance(facts, dict):
                _fail(where, "environment facts must be an object")
            out.facts.update(facts)
        elif kind == "imports":
            dists = item.get("distributions")
            if not isinstance(dists, dict) or not all(isinstance(v, str) for v in dists.values()):
                _fail(where, "imports must map distribution names to version strings")
            out.packages.update(dists)
        elif kind == "artifact":
            name, artifact = _artifact(item, where)
            out.artifacts[name] = artifact
        elif kind in ("metric", "series"):
            name = _name(item.get("name"), where)
            if name in out.metrics:
                _fail(where, f"metric {name!r} captured twice")
            out.metrics[name] = entry_from(item, where)
        else:
            _fail(where, f"unknown kind {kind!r}")
    return out


def _fail(where: str, rule: str) -> NoReturn:
    raise CaptureError(f"{where}: {rule}")


def _name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(where, f"metric name {name!r} is not valid")
    return name


def _artifact(item: Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    name, sha, size = item.get("name"), item.get("sha256"), item.get("bytes")
    if not isinstance(name, str) or not name:
        _fail(where, "an artifact needs a name")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        _fail(where, "an artifact needs a sha256 digest")
    count = _int_or_none(size)
    if count is None or count < 0:
        _fail(where, "an artifact needs its size in bytes")
    return name, {"sha256": sha, "bytes": count}


def entry_from(item: Mapping[str, Any], where: str) -> MetricEntry:
    """A metric entry (scalar or series) from a capture line or a record's metric; CaptureError names `where`."""
    return _series(item, where) if "steps" in item or item.get("kind") == "series" else _metric(item, where)


def _metric(item: Mapping[str, Any], where: str) -> MetricEntry:
    n, rows = _positive(item, "n", where), _positive(item, "rows", where)
    se, method, per_seed = item.get("se"), item.get("se_method"), item.get("per_seed")
    if se is not None and not _is_number(se):
        _fail(where, "se must be a number")
    if method is not None and method not in SE_METHODS:
        _fail(where, f"se_method must be one of {', '.join(SE_METHODS)}")
    if per_seed is not None:
        if not isinstance(per_seed, list) or not per_seed or not all(_is_number(v) for v in per_seed):
            _fail(where, "per_seed must be a non-empty list of numbers")
        if n != len(per_seed):
            _fail(where, "n must equal the number of per-seed values")
    if not _json_value(item.get("value")):
        _fail(where, "value must be a JSON value")
    return MetricEntry(
        value=item.get("value"),
        n=n,
        se=float(se) if se is not None else None,
        se_method=method,
        per_seed=tuple(per_seed) if per_seed is not None else None,
        rows=rows,
    )


def _positive(item: Mapping[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    number = _int_or_none(value)
    if number is None or number <= 0:
        _fail(where, f"{key} must be a positive integer")
    return number


def _series(item: Mapping[str, Any], where: str) -> MetricEntry:
    steps, values = item.get("steps"), item.get("values")
    if not isinstance(steps, list) or not isinstance(values, list):
        _fail(where, "a series needs lists of steps and values")
    if len(steps) != len(values):
        _fail(where, f"{len(steps)} steps but {len(values)} values")
    if not all(_is_number(s) for s in steps):
        _fail(where, "steps must be numbers")
    if not _json_value(values):
        _fail(where, "values must be JSON values")
    return MetricEntry(value=None, steps=tuple(steps), values=tuple(values))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_value(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return True  # NaN/inf are allowed here and refused by the verdict and by `record`
    if isinstance(value, list):
        return all(_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_value(v) for k, v in value.items())
    return False


def non_finite(metrics: Mapping[str, MetricEntry]) -> list[str]:
    """Names of metrics holding NaN or inf anywhere."""
    return sorted(name for name, entry in metrics.items() if not _finite(entry.as_dict()))


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True
