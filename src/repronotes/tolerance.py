"""Tolerance kinds -> verdicts.

Kinds (one per metric, chosen in experiment.yaml):
- exact: true            bitwise equality after a JSON round trip (numbers, strings, hashes, lists)
- abs: a, rel: r         |new - old| <= a + r * |old|  (either or both; numpy's isclose rule)
- min: x, max: y         one-sided absolute bounds on the new value (independent of the record)
- min_ratio / max_ratio  one-sided bounds on new / old ("throughput may not fall more than 10%": min_ratio 0.9)
- band: k                statistical: |new - old| <= k * sqrt(se_old^2 + se_new^2)  (SE from n, or across seeds)
- info: true             shown, never gated
NaN and inf never pass, not even for info. Series compare pointwise (steps must match) or by
a summary (`series: last|mean|min|max`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from repronotes.errors import SpecError

KIND_KEYS = ("exact", "abs", "rel", "min", "max", "min_ratio", "max_ratio", "band", "info")
_GROUPS = ({"exact"}, {"abs", "rel"}, {"min", "max"}, {"min_ratio", "max_ratio"}, {"band"}, {"info"})
SERIES_MODES = ("pointwise", "last", "mean", "min", "max")
FAILING = ("drifted", "invalid", "missing", "unexpected")


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

    def describe(self) -> str:
        if self.exact:
            return "exact"
        if self.info:
            return "info"
        parts = []
        for key in ("abs", "rel", "min", "max", "min_ratio", "max_ratio"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key} {value:g}")
        if self.band is not None:
            parts.append(f"±{self.band:g}·SE")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in KIND_KEYS if getattr(self, k) not in (None, False)}
        if self.series != "pointwise":
            out["series"] = self.series
        return out


@dataclass(frozen=True)
class Verdict:
    metric: str
    status: str  # identical | within | drifted | info | invalid | missing | unexpected
    recorded: Any
    observed: Any
    tolerance: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING


def parse_tolerance(body: dict[str, Any], rel: str, key: str) -> Tolerance:
    """A validated Tolerance from a metric's mapping; errors name the file, key and rule."""
    series = body.get("series", "pointwise")
    if series not in SERIES_MODES:
        raise SpecError(rel, f"{key}.series", f"must be one of {', '.join(SERIES_MODES)}")
    kinds = {k for k in body if k != "series"}
    unknown = kinds - set(KIND_KEYS)
    if unknown:
        raise SpecError(rel, f"{key}.{sorted(unknown)[0]}", f"unknown tolerance key; use one of {KIND_KEYS}")
    if not kinds:
        raise SpecError(rel, key, f"needs a tolerance kind: one of {', '.join(KIND_KEYS)}")
    if not any(kinds <= group for group in _GROUPS):
        raise SpecError(
            rel, key, f"mixes tolerance kinds {sorted(kinds)}; choose one kind (abs+rel may combine)"
        )
    values: dict[str, Any] = {}
    for name in kinds:
        values[name] = _check_value(name, body[name], rel, f"{key}.{name}")
    return Tolerance(series=series, **values)


def _check_value(name: str, value: Any, rel: str, key: str) -> Any:
    if name in ("exact", "info"):
        if value is not True:
            raise SpecError(rel, key, "must be true (omit the key otherwise)")
        return True
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(rel, key, "must be a finite number")
    if name in ("abs", "rel", "band", "min_ratio", "max_ratio") and value < 0:
        raise SpecError(rel, key, "must be >= 0")
    if name == "band" and value == 0:
        raise SpecError(rel, key, "must be > 0 (use exact: true for no tolerance)")
    return float(value)


def compare(
    metric: str, recorded: dict[str, Any] | None, observed: dict[str, Any] | None, tol: Tolerance
) -> Verdict:
    """One metric's verdict. `recorded`/`observed` are record entries ({value, n, se} or {steps, values})."""
    desc = tol.describe()
    if observed is None:
        return Verdict(metric, "missing", _shown(recorded), None, desc, "not captured by this run")
    if recorded is None:
        return Verdict(metric, "unexpected", None, _shown(observed), desc, "not in the record")
    if not all_finite(observed):
        return Verdict(metric, "invalid", _shown(recorded), _shown(observed), desc, "NaN or inf never passes")
    if "steps" in recorded or "steps" in observed:
        return _compare_series(metric, recorded, observed, tol)
    status, detail = _scalar_status(recorded, observed, tol)
    return Verdict(metric, status, _shown(recorded), _shown(observed), desc, detail)


def _compare_series(
    metric: str, recorded: dict[str, Any], observed: dict[str, Any], tol: Tolerance
) -> Verdict:
    desc = tol.describe() + ("" if tol.series == "pointwise" else f" on {tol.series}")
    shown_r, shown_o = _series_shown(recorded), _series_shown(observed)
    if tol.info:
        return Verdict(metric, "info", shown_r, shown_o, desc)
    if tol.series != "pointwise":
        r_sum = {"value": summarize(recorded.get("values", []), tol.series)}
        o_sum = {"value": summarize(observed.get("values", []), tol.series)}
        status, detail = _scalar_status(r_sum, o_sum, tol)
        return Verdict(metric, status, r_sum["value"], o_sum["value"], desc, detail)
    if recorded.get("steps") != observed.get("steps"):
        return Verdict(metric, "drifted", shown_r, shown_o, desc, "steps differ from the record")
    worst = "identical"
    for step, r, o in zip(recorded["steps"], recorded["values"], observed["values"], strict=True):
        status, detail = _scalar_status({"value": r}, {"value": o}, tol)
        if status == "drifted":
            return Verdict(metric, "drifted", shown_r, shown_o, desc, f"step {step}: {detail}")
        if status == "within":
            worst = "within"
    return Verdict(metric, worst, shown_r, shown_o, desc)


def _scalar_status(recorded: dict[str, Any], observed: dict[str, Any], tol: Tolerance) -> tuple[str, str]:
    old, new = recorded.get("value"), observed.get("value")
    if tol.info:
        return "info", ""
    if tol.exact:
        same = canonical(old) == canonical(new)
        return ("identical", "") if same else ("drifted", "differs (exact)")
    if not _is_number(old) or not _is_number(new):
        return ("identical", "") if canonical(old) == canonical(new) else ("drifted", "not a number")
    if tol.min is not None or tol.max is not None:
        return _bounds(new, tol)
    if old == new:
        return "identical", ""
    if tol.min_ratio is not None or tol.max_ratio is not None:
        return _ratio(old, new, tol)
    if tol.band is not None:
        return _band(recorded, observed, tol.band)
    allowed = (tol.abs or 0.0) + (tol.rel or 0.0) * abs(old)
    diff = abs(new - old)
    return ("within", "") if diff <= allowed else ("drifted", f"|Δ| {diff:.3g} > {allowed:.3g}")


def _bounds(new: float, tol: Tolerance) -> tuple[str, str]:
    if tol.min is not None and new < tol.min:
        return "drifted", f"{new:.4g} < min {tol.min:g}"
    if tol.max is not None and new > tol.max:
        return "drifted", f"{new:.4g} > max {tol.max:g}"
    return "within", ""


def _ratio(old: float, new: float, tol: Tolerance) -> tuple[str, str]:
    if old == 0:
        return "drifted", "ratio to a recorded 0 is undefined"
    ratio = new / old
    if tol.min_ratio is not None and ratio < tol.min_ratio:
        return "drifted", f"ratio {ratio:.3f} < {tol.min_ratio:g}"
    if tol.max_ratio is not None and ratio > tol.max_ratio:
        return "drifted", f"ratio {ratio:.3f} > {tol.max_ratio:g}"
    return "within", f"ratio {ratio:.3f}"


def _band(recorded: dict[str, Any], observed: dict[str, Any], k: float) -> tuple[str, str]:
    se_old, se_new = recorded.get("se"), observed.get("se")
    if se_old is None and se_new is None:
        return "drifted", "band needs a standard error (capture n for a rate, or per-seed values)"
    combined = math.hypot(se_old or 0.0, se_new or 0.0)
    diff = abs(observed["value"] - recorded["value"])
    if diff <= k * combined:
        return "within", f"{diff / combined:.2f}·SE" if combined else ""
    if combined == 0:
        return "drifted", f"|Δ| {diff:.3g} with a standard error of 0 on both sides, so the band is exact"
    return "drifted", f"|Δ| {diff:.3g} = {diff / combined:.2f}·SE > {k:g}·SE"


def summarize(values: list[float], how: str) -> float | None:
    if not values:
        return None
    if how == "last":
        return values[-1]
    if how == "mean":
        return sum(values) / len(values)
    return min(values) if how == "min" else max(values)


def all_finite(entry: Any) -> bool:
    """True unless a number anywhere in the entry is NaN or infinite."""
    if isinstance(entry, bool) or entry is None or isinstance(entry, str):
        return True
    if isinstance(entry, int | float):
        return math.isfinite(entry)
    if isinstance(entry, dict):
        return all(all_finite(v) for v in entry.values())
    if isinstance(entry, list | tuple):
        return all(all_finite(v) for v in entry)
    return True


def canonical(value: Any) -> str:
    """The bitwise-comparable form of a value: JSON with repr-exact floats."""
    return json.dumps(value, sort_keys=True, allow_nan=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(entry: dict[str, Any] | None) -> Any:
    if entry is None:
        return None
    if "steps" in entry:
        return _series_shown(entry)
    return entry.get("value")


def _series_shown(entry: dict[str, Any]) -> str:
    values = entry.get("values") or []
    if not values:
        return "[]"
    last = values[-1]
    return f"{len(values)} pts, last {last:.6g}" if _is_number(last) else f"{len(values)} pts"
