"""The tiny API notebooks call to report results.

    from repronotes import capture
    capture.metric("macro_f1", 0.41, n=300)          # a rate over 300 rows: SE filled in
    capture.metric("trainable_params", 81920)         # exact counts, strings, hashes, lists
    capture.seeds("final_reward", [0.31, 0.35, 0.29]) # one value per seed: mean, SE, n
    capture.series("train_loss", steps, losses)       # a curve
    capture.artifact("loss_curves.png")               # a file the run produced (digest recorded)
    capture.environment(torch="2.13.0", tf32=False)   # facts only the kernel knows

Each call appends one JSON line to the file the engine names (REPRONOTES_CAPTURE_FILE);
the engine reads that file, never printed text. Outside the engine (a plain Jupyter
session) the values are kept in memory so the notebook still runs.
This module imports nothing heavy: no torch, no numpy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repronotes import environ

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]*$")
_in_memory: list[dict[str, Any]] = []


def metric(name: str, value: Any, n: int | None = None, se: float | None = None) -> None:
    """Report one value. A rate in [0, 1] with `n` gets a binomial standard error.

    The SE uses the Laplace-smoothed rate (x+1)/(n+2), so 0/n and n/n still carry an
    honest, non-zero uncertainty for statistical bands.
    """
    value = _plain(value)
    method = "given" if se is not None else None
    if n is not None:
        n = int(n)
        if n <= 0:
            raise ValueError(f"capture.metric({name!r}): n must be positive, got {n}")
        if se is None and _is_rate(value):
            se, method = binomial_se(value, n), "binomial"
    record = {"kind": "metric", "name": _checked(name), "value": value, "n": n, "se": _plain(se)}
    _emit({**record, "se_method": method})


def seeds(name: str, values: Sequence[float], rows: int | None = None) -> None:
    """Report one value per seed: recorded as the mean with SE = sample std / sqrt(k).

    `rows`: for a rate measured on that many rows per seed, the SE is at least the binomial SE of the
    mean rate over all k * rows answers, so seeds that happen to agree exactly still leave a band.
    """
    per_seed = [float(_plain(v)) for v in values]
    if not per_seed:
        raise ValueError(f"capture.seeds({name!r}): no values")
    if rows is not None and int(rows) <= 0:
        raise ValueError(f"capture.seeds({name!r}): rows must be positive, got {rows}")
    entry: dict[str, Any] = {"per_seed": per_seed, "rows": None if rows is None else int(rows)}
    entry["se_method"] = "seeds+binomial" if rows is not None else "seeds"
    mean = sum(per_seed) / len(per_seed)
    record = {"kind": "metric", "name": _checked(name), "value": mean, "n": len(per_seed)}
    _emit({**record, **entry, "se": expected_se({**entry, "value": mean})})


def series(name: str, steps: Sequence[int | float], values: Sequence[float]) -> None:
    """Report a curve: `values[i]` observed at `steps[i]`."""
    steps_, values_ = list(_plain(list(steps))), list(_plain(list(values)))
    if len(steps_) != len(values_):
        raise ValueError(f"capture.series({name!r}): {len(steps_)} steps but {len(values_)} values")
    _emit({"kind": "series", "name": _checked(name), "steps": steps_, "values": values_})


def artifact(path: str | os.PathLike[str]) -> None:
    """Report a file the run produced; its sha256 goes into the record's outputs."""
    file = Path(path)
    if file.is_absolute():
        raise ValueError(f"capture.artifact: give a relative path (e.g. under output_dir), not {file.name!r}")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    _emit({"kind": "artifact", "name": _artifact_name(file), "sha256": digest, "bytes": file.stat().st_size})


def _artifact_name(file: Path) -> str:
    """The name relative to the run's output folder when the file is inside it (stable across runs)."""
    output = environ.output_dir()
    if output is not None:
        try:
            return file.resolve().relative_to(output.resolve()).as_posix()
        except ValueError:
            pass
    return file.as_posix()


def environment(**facts: Any) -> None:
    """Report environment facts only the kernel can see (torch, CUDA, determinism knobs)."""
    _emit({"kind": "environment", "facts": {k: _plain(v) for k, v in facts.items()}})


def binomial_se(rate: float, n: int) -> float:
    """Standard error of a rate over n trials, Laplace-smoothed so it is never zero."""
    smoothed = (rate * n + 1.0) / (n + 2.0)
    return math.sqrt(smoothed * (1.0 - smoothed) / n)


def seeds_se(per_seed: Sequence[float]) -> float | None:
    """Sample standard deviation across seeds over sqrt(k); None for a single seed."""
    k = len(per_seed)
    if k < 2:
        return None
    mean = sum(per_seed) / k
    return math.sqrt(sum((v - mean) ** 2 for v in per_seed) / (k - 1) / k)


def expected_se(entry: dict[str, Any]) -> float | None:
    """The SE an entry's own values imply, by the method it was captured with (None: not recomputable).

    The engine's `band` tolerance uses this instead of trusting a stored SE, so an edited SE
    cannot hide drift. `given` SEs (a bootstrap, say) are not recomputable and return None.
    """
    method, value, n = entry.get("se_method"), entry.get("value"), entry.get("n")
    if (
        method == "binomial"
        and isinstance(value, int | float)
        and _is_rate(value)
        and isinstance(n, int)
        and n > 0
    ):
        return binomial_se(float(value), n)
    per_seed = entry.get("per_seed")
    if method not in ("seeds", "seeds+binomial") or not isinstance(per_seed, list | tuple) or not per_seed:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in per_seed):
        return None
    se = seeds_se(per_seed)
    rows = entry.get("rows")
    mean = sum(per_seed) / len(per_seed)
    if method == "seeds+binomial" and isinstance(rows, int) and rows > 0 and _is_rate(mean):
        se = max(se or 0.0, binomial_se(mean, rows * len(per_seed)))
    return se


def captured() -> list[dict[str, Any]]:
    """What this process captured so far without an engine (for interactive use and tests)."""
    return list(_in_memory)


def _emit(record: dict[str, Any]) -> None:
    target = environ.capture_file()
    if target is None:
        _in_memory.append(record)
        logger.debug("captured (no engine): %s", record)
        return
    line = json.dumps(record, allow_nan=True, sort_keys=True) + "\n"
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _checked(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"capture: metric name {name!r} must match {_NAME.pattern}")
    return name


def _is_rate(value: Any) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _plain(value: Any) -> Any:
    """numpy/torch scalars and arrays -> plain Python, recursively."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"capture: cannot record a value of type {type(value).__name__}")
