"""Tolerance kinds -> verdicts.

Kinds (one per metric, chosen in experiment.yaml):
- exact: true            bitwise equality after a JSON round trip (numbers, strings, hashes, lists)
- abs: a, rel: r         |new - old| <= a + r * |old|  (either or both; numpy's isclose rule)
- min: x, max: y         one-sided absolute bounds on the new value (independent of the record)
- min_ratio / max_ratio  one-sided bounds on new / old ("throughput may not fall more than 10%": min_ratio 0.9)
- band: k                statistical: |new - old| <= k * sqrt(se_old^2 + se_new^2); the SEs are recomputed
                         from value and n (rates) or the per-seed values, never taken on trust
- info: true             shown, never gated
NaN and inf never pass, not even for info. Series compare pointwise (steps must match) or by
a summary (`series: last|mean|min|max`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from repronotes.capture import expected_se
from repronotes.errors import SpecError
from repronotes.model import MetricEntry, MetricVerdict, Tolerance, Verdict

KIND_KEYS = ("exact", "abs", "rel", "min", "max", "min_ratio", "max_ratio", "band", "info")
_GROUPS = ({"exact"}, {"abs", "rel"}, {"min", "max"}, {"min_ratio", "max_ratio"}, {"band"}, {"info"})
SERIES_MODES = ("pointwise", "last", "mean", "min", "max")
SE_AGREEMENT = 1e-9  # relative: a stored SE further than this from the recomputed one is reported


def parse_tolerance(body: Any, file: str, key: str) -> Tolerance:
    """A validated Tolerance from a metric's mapping; errors name the file, key and rule."""
    if not isinstance(body, dict):
        raise SpecError(file, key, "must be a mapping such as {rel: 1.0e-4} or {exact: true}")
    series = body.get("series", "pointwise")
    if series not in SERIES_MODES:
        raise SpecError(file, f"{key}.series", f"must be one of {', '.join(SERIES_MODES)}")
    kinds = {k for k in body if k != "series"}
    unknown = sorted(str(k) for k in kinds - set(KIND_KEYS))
    if unknown:
        raise SpecError(
            file, f"{key}.{unknown[0]}", f"unknown tolerance key; use one of {', '.join(KIND_KEYS)}"
        )
    if not kinds:
        raise SpecError(file, key, f"needs a tolerance kind: one of {', '.join(KIND_KEYS)}")
    if not any(kinds <= group for group in _GROUPS):
        raise SpecError(
            file, key, f"mixes tolerance kinds {sorted(kinds)}; choose one kind (abs+rel may combine)"
        )
    values = {name: _check_value(name, body[name], file, f"{key}.{name}") for name in kinds}
    return Tolerance(series=series, **values)


def _check_value(name: str, value: Any, file: str, key: str) -> Any:
    if name in ("exact", "info"):
        if value is not True:
            raise SpecError(file, key, "must be true (omit the key otherwise)")
        return True
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(file, key, "must be a finite number")
    if name in ("abs", "rel", "band", "min_ratio", "max_ratio") and value < 0:
        raise SpecError(file, key, "must be >= 0")
    if name == "band" and value == 0:
        raise SpecError(file, key, "must be > 0 (use exact: true for no tolerance)")
    return float(value)


def as_dict(tol: Tolerance) -> dict[str, Any]:
    out = {k: getattr(tol, k) for k in KIND_KEYS if _given(getattr(tol, k))}
    if tol.series != "pointwise":
        out["series"] = tol.series
    return out


def _given(value: Any) -> bool:
    """A key that is set: `min: 0.0` is a bound (0.0 == False, so `not in (None, False)` would drop it)."""
    return value is not None and value is not False


def describe(tol: Tolerance) -> str:
    suffix = "" if tol.series == "pointwise" else f" on {tol.series}"
    if tol.exact:
        return "exact" + suffix
    if tol.info:
        return "info"
    keys = ("abs", "rel", "min", "max", "min_ratio", "max_ratio")
    parts = [f"{key} {getattr(tol, key):g}" for key in keys if getattr(tol, key) is not None]
    if tol.band is not None:
        parts.append(f"±{tol.band:g}·SE")
    return ", ".join(parts) + suffix


def _kind(tol: Tolerance) -> str:
    for group in _GROUPS:
        if any(_given(getattr(tol, key)) for key in group):
            return "/".join(sorted(group))
    return "none"


def loosening(old: Tolerance, new: Tolerance) -> str | None:
    """Why `new` accepts a result that `old` (the record's) would reject; None if new is as strict or stricter."""
    if new == old or old.info or new.exact and new.series == old.series:
        return None
    if new.info:
        return f"{describe(old)} -> info (shown, never gated)"
    if old.exact or old.series != new.series or _kind(old) != _kind(new):
        return f"{describe(old)} -> {describe(new)}"
    looser = (
        _larger(new.abs, old.abs, missing=0.0)
        or _larger(new.rel, old.rel, missing=0.0)
        or _larger(new.band, old.band, missing=0.0)
        or _larger(old.min, new.min, missing=-math.inf)
        or _larger(new.max, old.max, missing=math.inf)
        or _larger(old.min_ratio, new.min_ratio, missing=0.0)
        or _larger(new.max_ratio, old.max_ratio, missing=math.inf)
    )
    return f"{describe(old)} -> {describe(new)}" if looser else None


def _larger(a: float | None, b: float | None, missing: float) -> bool:
    return (missing if a is None else a) > (missing if b is None else b)


def compare(
    metric: str, recorded: MetricEntry | None, observed: MetricEntry | None, tol: Tolerance
) -> MetricVerdict:
    """One metric's verdict between the record's entry and a run's."""
    desc = describe(tol)
    if observed is None:
        return MetricVerdict(metric, Verdict.MISSING, shown(recorded), None, desc, "not captured by this run")
    if recorded is None:
        return MetricVerdict(metric, Verdict.UNEXPECTED, None, shown(observed), desc, "not in the record")
    if not all_finite(observed.as_dict()) or not all_finite(recorded.as_dict()):
        return MetricVerdict(
            metric, Verdict.INVALID, shown(recorded), shown(observed), desc, "NaN or inf never passes"
        )
    if recorded.is_series or observed.is_series:
        return _compare_series(metric, recorded, observed, tol)
    status, detail = _scalar_status(recorded, observed, tol)
    return MetricVerdict(metric, status, shown(recorded), shown(observed), desc, detail)


def _compare_series(
    metric: str, recorded: MetricEntry, observed: MetricEntry, tol: Tolerance
) -> MetricVerdict:
    desc = describe(tol)
    if tol.info:
        return MetricVerdict(metric, Verdict.INFO, shown(recorded), shown(observed), desc)
    if tol.series != "pointwise":
        old = MetricEntry(value=summarize(list(recorded.values or ()), tol.series))
        new = MetricEntry(value=summarize(list(observed.values or ()), tol.series))
        status, detail = _scalar_status(old, new, tol)
        return MetricVerdict(metric, status, old.value, new.value, desc, detail)
    if recorded.steps != observed.steps or len(recorded.values or ()) != len(observed.values or ()):
        return MetricVerdict(
            metric, Verdict.DRIFTED, shown(recorded), shown(observed), desc, "steps differ from the record"
        )
    worst = Verdict.IDENTICAL
    for step, old_v, new_v in zip(
        recorded.steps or (), recorded.values or (), observed.values or (), strict=True
    ):
        status, detail = _scalar_status(MetricEntry(value=old_v), MetricEntry(value=new_v), tol)
        if status is Verdict.DRIFTED:
            return MetricVerdict(
                metric, status, shown(recorded), shown(observed), desc, f"step {step}: {detail}"
            )
        if status is Verdict.WITHIN:
            worst = Verdict.WITHIN
    return MetricVerdict(metric, worst, shown(recorded), shown(observed), desc)


def _scalar_status(recorded: MetricEntry, observed: MetricEntry, tol: Tolerance) -> tuple[Verdict, str]:
    old, new = recorded.value, observed.value
    if tol.info:
        return Verdict.INFO, ""
    if tol.exact:
        return (
            (Verdict.IDENTICAL, "")
            if canonical(old) == canonical(new)
            else (Verdict.DRIFTED, "differs (exact)")
        )
    if not is_number(old) or not is_number(new):
        return (
            (Verdict.IDENTICAL, "") if canonical(old) == canonical(new) else (Verdict.DRIFTED, "not a number")
        )
    if tol.min is not None or tol.max is not None:
        return _bounds(new, tol)
    if tol.band is not None:
        return _band(recorded, observed, tol.band)
    if old == new:
        return Verdict.IDENTICAL, ""
    if tol.min_ratio is not None or tol.max_ratio is not None:
        return _ratio(old, new, tol)
    allowed = (tol.abs or 0.0) + (tol.rel or 0.0) * abs(old)
    diff = abs(new - old)
    return (Verdict.WITHIN, "") if diff <= allowed else (Verdict.DRIFTED, f"|Δ| {diff:.3g} > {allowed:.3g}")


def _bounds(new: float, tol: Tolerance) -> tuple[Verdict, str]:
    if tol.min is not None and new < tol.min:
        return Verdict.DRIFTED, f"{new:.4g} < min {tol.min:g}"
    if tol.max is not None and new > tol.max:
        return Verdict.DRIFTED, f"{new:.4g} > max {tol.max:g}"
    return Verdict.WITHIN, ""


def _ratio(old: float, new: float, tol: Tolerance) -> tuple[Verdict, str]:
    if old == 0:
        return Verdict.DRIFTED, "ratio to a recorded 0 is undefined"
    ratio = new / old
    if tol.min_ratio is not None and ratio < tol.min_ratio:
        return Verdict.DRIFTED, f"ratio {ratio:.3f} < {tol.min_ratio:g}"
    if tol.max_ratio is not None and ratio > tol.max_ratio:
        return Verdict.DRIFTED, f"ratio {ratio:.3f} > {tol.max_ratio:g}"
    return Verdict.WITHIN, f"ratio {ratio:.3f}"


def trusted_se(entry: MetricEntry) -> tuple[float | None, str]:
    """The SE a band uses: recomputed from value and n, or from the per-seed values; a stored SE that
    disagrees with the recomputed one is reported (second item), never used."""
    recomputed = expected_se(entry.as_dict())
    if entry.se_method in (None, "given"):
        return entry.se, ""
    stored = entry.se
    if recomputed is None:  # e.g. one seed: its values imply no SE, so a stored one was not derived from them
        return None, "" if stored is None else f"stored SE {stored!r} cannot be recomputed from the values"
    if stored is None or not math.isclose(stored, recomputed, rel_tol=SE_AGREEMENT, abs_tol=1e-15):
        return recomputed, f"stored SE {stored!r} disagrees with {recomputed:.6g} recomputed from the values"
    return recomputed, ""


def _band(recorded: MetricEntry, observed: MetricEntry, k: float) -> tuple[Verdict, str]:
    se_old, problem_old = trusted_se(recorded)
    se_new, problem_new = trusted_se(observed)
    if problem_old or problem_new:
        return Verdict.INVALID, problem_old or problem_new
    if se_old is None and se_new is None:
        return Verdict.DRIFTED, "band needs a standard error (capture n for a rate, or per-seed values)"
    if recorded.value == observed.value:
        return Verdict.IDENTICAL, ""
    combined = math.hypot(se_old or 0.0, se_new or 0.0)
    diff = abs(observed.value - recorded.value)
    if combined == 0:
        return (
            Verdict.DRIFTED,
            f"|Δ| {diff:.3g} with a standard error of 0 on both sides, so the band is exact",
        )
    if diff <= k * combined:
        return Verdict.WITHIN, f"{diff / combined:.2f}·SE"
    return Verdict.DRIFTED, f"|Δ| {diff:.3g} = {diff / combined:.2f}·SE > {k:g}·SE"


def summarize(values: list[Any], how: str) -> Any:
    if not values:
        return None
    if how == "last":
        return values[-1]
    if how == "mean":
        return sum(values) / len(values)
    return min(values) if how == "min" else max(values)


def all_finite(entry: Any) -> bool:
    """True unless a number anywhere in the entry is NaN or infinite."""
    if isinstance(entry, float):
        return math.isfinite(entry)
    if isinstance(entry, dict):
        return all(all_finite(v) for v in entry.values())
    if isinstance(entry, list | tuple):
        return all(all_finite(v) for v in entry)
    return True


def canonical(value: Any) -> str:
    """The bitwise-comparable form of a value: JSON with repr-exact floats."""
    return json.dumps(value, sort_keys=True, allow_nan=True)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def shown(entry: MetricEntry | None) -> Any:
    """What a table shows for an entry: the value, or a short description of a series."""
    if entry is None:
        return None
    if not entry.is_series:
        return entry.value
    values = entry.values or ()
    if not values:
        return "[]"
    last = values[-1]
    return f"{len(values)} pts, last {last:.6g}" if is_number(last) else f"{len(values)} pts"
