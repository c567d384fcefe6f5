"""Read and write records atomically; digests of executed notebooks.

A record (experiments/<name>/records/<profile>.json) has five sections:
run, inputs, metrics, environment, outputs. Writing happens only through `write_record`,
which the `record` command alone calls: temp file, fsync, rename — a crash never leaves a
half-written record, and the previous one stays until the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from repronotes.errors import CorruptRecordError, MissingRecordError

SCHEMA = 1
SECTIONS = {"run": dict, "inputs": dict, "metrics": dict, "environment": dict, "outputs": dict}
_RUN_KEYS = ("date", "git_commit", "profile", "parameters", "duration_s")


def write_json_atomic(path: Path, data: Any, allow_nan: bool = False) -> None:
    """Records never hold NaN (allow_nan=False raises); local caches and reports may show one."""
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=allow_nan) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # an ordinary file, not mkstemp's private 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_record(path: Path, rel: str) -> dict[str, Any]:
    """A validated record, or MissingRecordError / CorruptRecordError naming the file and key."""
    if not path.is_file():
        raise MissingRecordError(f"{rel}: no record (run `repronotes record` for this profile)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CorruptRecordError(f"{rel}: not valid JSON ({exc}); truncated or edited by hand?") from exc
    if not isinstance(data, dict):
        raise CorruptRecordError(f"{rel}: must be a JSON object with sections {sorted(SECTIONS)}")
    if data.get("schema") != SCHEMA:
        raise CorruptRecordError(f"{rel}: schema: expected {SCHEMA}, found {data.get('schema')!r}")
    for section, kind in SECTIONS.items():
        if not isinstance(data.get(section), kind):
            raise CorruptRecordError(f"{rel}: {section}: missing or not an object")
    _check_details(data, rel)
    return data


def _check_details(data: dict[str, Any], rel: str) -> None:
    for key in _RUN_KEYS:
        if key not in data["run"]:
            raise CorruptRecordError(f"{rel}: run.{key}: missing")
    if not isinstance(data["inputs"].get("hash"), str):
        raise CorruptRecordError(f"{rel}: inputs.hash: missing")
    for name, entry in data["metrics"].items():
        if not isinstance(entry, dict) or not ("value" in entry or "values" in entry):
            raise CorruptRecordError(f"{rel}: metrics.{name}: needs a value (or steps/values for a series)")
    if not isinstance(data["outputs"].get("notebook_sha256"), str):
        raise CorruptRecordError(f"{rel}: outputs.notebook_sha256: missing")


def notebook_outputs_digest(notebook: dict[str, Any]) -> str:
    """sha256 over every code cell's source and outputs (execution counts and timings excluded)."""
    digest = hashlib.sha256()
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        digest.update(("".join(source) if isinstance(source, list) else source).encode())
        for output in cell.get("outputs", []):
            stable = {k: v for k, v in output.items() if k not in ("execution_count", "metadata")}
            digest.update(json.dumps(stable, sort_keys=True).encode())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_metrics_digest(record: dict[str, Any]) -> str:
    """What downstream input hashes depend on: the results, not the date the record was made."""
    payload = {"metrics": record.get("metrics"), "outputs": record.get("outputs")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def write_record(record_path: Path, record: dict[str, Any], executed_path: Path, notebook_text: str) -> None:
    """Write the executed notebook, then the record that vouches for it; both atomically."""
    write_text_atomic(executed_path, notebook_text)
    write_json_atomic(record_path, record)
