"""Records: read into typed values (every field checked), built from a run, written atomically.

A record (experiments/<name>/records/<profile>.json) has five sections: run, inputs, metrics,
environment, outputs. It is written only by `repronotes record`, next to the executed notebook it
vouches for (runs/<profile>.ipynb), notebook first: a crash never leaves a record without its notebook.
Loading never trusts a field: a wrong type, a missing key, NaN or inf make the record *broken*,
with a message that names the file and the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repronotes import notebooks
from repronotes.atomic import write_json_atomic
from repronotes.captured import entry_from
from repronotes.errors import CaptureError, CorruptRecordError, MissingRecordError, SpecError
from repronotes.model import CommittedNotebook, MetricEntry, Record, TolerancePair
from repronotes.tolerance import parse_tolerance

SCHEMA = 2
_SECTIONS = ("run", "inputs", "metrics", "environment", "outputs")
_KEYS = {
    "": {"schema", "experiment", "title", *_SECTIONS},
    "run": {"date", "git_commit", "git_dirty", "profile", "parameters", "duration_s", "repronotes"},
    "inputs": {"hash", "parts"},
    "outputs": {"notebook", "notebook_sha256", "artifacts", "files"},
}
_ENTRY_KEYS = {
    "value",
    "n",
    "se",
    "se_method",
    "per_seed",
    "rows",
    "steps",
    "values",
    "tolerance",
    "tolerance_other_hardware",
}


def load_record(path: Path, file: str) -> Record:
    """A validated record, or MissingRecordError / CorruptRecordError naming the file and key."""
    if not path.is_file():
        raise MissingRecordError(f"{file}: no record (run `repronotes record` for this profile)")
    try:
        data = json.loads(
            path.read_text(encoding="utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError as exc:
        raise CorruptRecordError(f"{file}: not UTF-8 text; truncated or edited by hand?") from exc
    except ValueError as exc:
        raise CorruptRecordError(f"{file}: not valid JSON ({exc}); truncated or edited by hand?") from exc
    if not isinstance(data, dict):
        raise CorruptRecordError(f"{file}: must be a JSON object with sections {', '.join(_SECTIONS)}")
    return _typed(data, file)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a record (NaN and inf never pass)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf without passing through parse_constant
        raise ValueError(f"{text[:20]} overflows to inf, which is not allowed in a record")
    return value


def _typed(data: dict[str, Any], file: str) -> Record:
    if data.get("schema") != SCHEMA:
        raise CorruptRecordError(
            f"{file}: schema: expected {SCHEMA}, found {data.get('schema')!r} (re-record it)"
        )
    for section in _SECTIONS:
        if not isinstance(data.get(section), dict):
            raise CorruptRecordError(f"{file}: {section}: missing or not an object")
    run, inputs, outputs, env = data["run"], data["inputs"], data["outputs"], data["environment"]
    for section, keys in _KEYS.items():
        unknown = sorted(set(data if section == "" else data[section]) - keys)
        if unknown:
            raise CorruptRecordError(f"{file}: {section + '.' if section else ''}{unknown[0]}: unknown key")
    metrics, tolerances = _metrics(data["metrics"], file)
    return Record(
        file=file,
        experiment=_str(data, "experiment", file),
        profile=_str(run, "profile", file, "run."),
        title=_str(data, "title", file),
        date=_str(run, "date", file, "run."),
        git_commit=_optional_str(run, "git_commit", file, "run."),
        duration_s=_number(run, "duration_s", file, "run."),
        parameters=_mapping(run, "parameters", file, "run."),
        input_hash=_str(inputs, "hash", file, "inputs."),
        input_parts=_str_map(inputs, "parts", file, "inputs."),
        metrics=metrics,
        tolerances=tolerances,
        hardware_class=_str(env, "hardware_class", file, "environment."),
        environment=env,
        notebook_digest=_str(outputs, "notebook_sha256", file, "outputs."),
        artifacts=_mapping(outputs, "artifacts", file, "outputs."),
        output_files=_str_map(outputs, "files", file, "outputs."),
        data=data,
    )


def _metrics(raw: dict[str, Any], file: str) -> tuple[dict[str, MetricEntry], dict[str, TolerancePair]]:
    entries: dict[str, MetricEntry] = {}
    tolerances: dict[str, TolerancePair] = {}
    for name, entry in raw.items():
        key = f"metrics.{name}"
        if not isinstance(entry, dict) or not ("value" in entry or "steps" in entry):
            raise CorruptRecordError(f"{file}: {key}: needs a value (or steps/values for a series)")
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            raise CorruptRecordError(f"{file}: {key}.{unknown[0]}: unknown key")
        try:
            entries[name] = entry_from({**entry, "name": name}, f"{file}: {key}")
            tolerances[name] = _tolerance_pair(entry, file, key)
        except CaptureError as exc:
            raise CorruptRecordError(str(exc).replace(": capture line", "")) from exc
    return entries, tolerances


def _tolerance_pair(entry: dict[str, Any], file: str, key: str) -> TolerancePair:
    if "tolerance" not in entry:
        raise CorruptRecordError(
            f"{file}: {key}.tolerance: missing (every recorded metric stores its tolerance)"
        )
    try:
        same = parse_tolerance(entry["tolerance"], file, f"{key}.tolerance")
        other_raw = entry.get("tolerance_other_hardware")
        other = (
            parse_tolerance(other_raw, file, f"{key}.tolerance_other_hardware")
            if other_raw is not None
            else None
        )
    except SpecError as exc:
        raise CorruptRecordError(str(exc)) from exc
    return TolerancePair(same, other)


def _str(data: Mapping[str, Any], key: str, file: str, prefix: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise CorruptRecordError(f"{file}: {prefix}{key}: missing or not a non-empty string")
    return value


def _optional_str(data: Mapping[str, Any], key: str, file: str, prefix: str) -> str | None:
    if key not in data:
        raise CorruptRecordError(f"{file}: {prefix}{key}: missing")
    value = data[key]
    if value is not None and not isinstance(value, str):
        raise CorruptRecordError(f"{file}: {prefix}{key}: must be a string or null")
    return value


def _number(data: Mapping[str, Any], key: str, file: str, prefix: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CorruptRecordError(f"{file}: {prefix}{key}: missing or not a non-negative number")
    return float(value)


def _mapping(data: Mapping[str, Any], key: str, file: str, prefix: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CorruptRecordError(f"{file}: {prefix}{key}: must be an object")
    return value


def _str_map(data: Mapping[str, Any], key: str, file: str, prefix: str) -> dict[str, str]:
    value = _mapping(data, key, file, prefix)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise CorruptRecordError(f"{file}: {prefix}{key}: must map names to strings")
    return value


def load_committed(path: Path, file: str) -> CommittedNotebook:
    """The committed executed notebook: its digest and seal, or the reason it cannot be read."""
    if not path.is_file():
        return CommittedNotebook(file, problem="is missing")
    try:
        nb = notebooks.read_notebook(path, file)
    except SpecError as exc:
        return CommittedNotebook(file, problem=exc.rule)
    return CommittedNotebook(file, digest=notebooks.digest(nb), seal=notebooks.read_seal(nb))


def tolerance_document(pair: TolerancePair, as_dict: Any) -> dict[str, Any]:
    """How a metric's tolerances are written into a record entry (and sealed into its notebook)."""
    out: dict[str, Any] = {"tolerance": as_dict(pair.same)}
    if pair.other is not None:
        out["tolerance_other_hardware"] = as_dict(pair.other)
    return out


def write_record(record_path: Path, record: dict[str, Any], executed_path: Path, nb: Any) -> None:
    """Write the executed notebook, then the record that vouches for it; both atomically."""
    notebooks.write_notebook(executed_path, nb)
    write_json_atomic(record_path, record)
