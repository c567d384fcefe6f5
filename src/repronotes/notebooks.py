"""Notebooks, read and written through nbformat: the one place that parses an .ipynb.

- `read_notebook` validates against the nbformat schema and names the file on any problem.
- `digest` covers the whole notebook: every cell's source, outputs, tags and metadata, and the
  notebook's metadata (which carries the seal), so prose edits and hidden outputs are caught.
- The *seal* (`metadata.repronotes`) is what an executed notebook says about itself: the capture
  lines of its run, its input hash and output files, and (once recorded) the tolerances. A record is
  checked against the seal of its committed notebook, so a record never claims more than its
  notebook proves.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from repronotes.atomic import write_text_atomic
from repronotes.errors import SpecError
from repronotes.model import Seal

SEAL_KEY = "repronotes"
SEAL_SCHEMA = 1
PARAMETERS_TAG = "parameters"


def read_notebook(path: Path, file: str) -> Any:
    """A validated nbformat v4 notebook, or SpecError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(file, "<notebook>", "file does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(file, "<notebook>", f"cannot be read ({exc.__class__.__name__})") from exc
    return parse_notebook(text, file)


def parse_notebook(text: str, file: str) -> Any:
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises JSON, schema, type and key errors alike for bad documents
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
        raise SpecError(file, "<notebook>", f"not a valid .ipynb ({reason})") from exc
    return nb


def write_notebook(path: Path, nb: Any) -> None:
    write_text_atomic(path, nbformat.writes(nb))


def code_sources(nb: Any) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def kernel_of(nb: Any) -> tuple[str | None, str | None]:
    """(kernel name, language) from the notebook's kernelspec; (None, None) when it names none."""
    spec = nb.metadata.get("kernelspec") or {}
    language = spec.get("language") or (nb.metadata.get("language_info") or {}).get("name")
    return spec.get("name") or None, language or None


def parameter_names(nb: Any, file: str) -> frozenset[str]:
    """Names assigned in the cell tagged `parameters`; errors if the notebook has none."""
    for cell in nb.cells:
        if cell.cell_type == "code" and PARAMETERS_TAG in cell.metadata.get("tags", []):
            return frozenset(_assigned_names(cell.source, file))
    raise SpecError(
        file, "cells", "no cell is tagged 'parameters' (papermill needs one to inject profile params)"
    )


def _assigned_names(source: str, file: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SpecError(file, "parameters cell", f"not valid Python ({exc.msg})") from exc
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def digest(nb: Any) -> str:
    """sha256 over the whole notebook in canonical JSON: any edit to any cell or metadata changes it."""
    canonical = json.dumps(nb, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def make_seal(
    captures: list[Mapping[str, Any]],
    input_hash: str,
    input_parts: Mapping[str, str],
    output_files: Mapping[str, str],
    tolerances: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    seal: dict[str, Any] = {
        "schema": SEAL_SCHEMA,
        "captures": [dict(c) for c in captures],
        "input_hash": input_hash,
        "input_parts": dict(input_parts),
        "output_files": dict(output_files),
    }
    if tolerances is not None:
        seal["tolerances"] = dict(tolerances)
    return seal


def set_seal(nb: Any, seal: dict[str, Any]) -> None:
    nb.metadata[SEAL_KEY] = nbformat.from_dict(seal)


def read_seal(nb: Any) -> Seal | None:
    """The notebook's seal, or None when it has none or it is malformed."""
    raw = nb.metadata.get(SEAL_KEY)
    if not isinstance(raw, Mapping) or raw.get("schema") != SEAL_SCHEMA:
        return None
    captures, parts, files = raw.get("captures"), raw.get("input_parts"), raw.get("output_files")
    tolerances = raw.get("tolerances")
    if not isinstance(captures, list) or not all(isinstance(c, Mapping) for c in captures):
        return None
    if (
        not isinstance(parts, Mapping)
        or not isinstance(files, Mapping)
        or not isinstance(raw.get("input_hash"), str)
    ):
        return None
    if not _str_map(parts) or not _str_map(files):
        return None
    if tolerances is not None and not isinstance(tolerances, Mapping):
        return None
    return Seal(
        captures=tuple(_plain(c) for c in captures),
        input_hash=raw["input_hash"],
        input_parts=dict(parts),
        output_files=dict(files),
        tolerances=_plain(tolerances) if tolerances is not None else None,
    )


def _str_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _plain(value: Any) -> Any:
    """NotebookNode -> plain dicts and lists (for equality with JSON-loaded records)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def drop_local_paths(nb: Any) -> None:
    """papermill records the absolute input and output paths; a published notebook must not."""
    papermill = nb.metadata.get("papermill")
    if isinstance(papermill, dict):
        for key in ("input_path", "output_path"):
            papermill.pop(key, None)
