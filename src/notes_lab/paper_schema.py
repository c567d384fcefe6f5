"""The 12-field paper schema shared by synthetic and real papers: labels, validation, the JSONL loader."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from notes_lab.vocab import LABELS, NOVELTY_LABELS

PAPER_FIELDS: tuple[str, ...] = (
    "openalex_id",
    "title",
    "abstract",
    "publication_year",
    "cited_by_count",
    "cd_index",
    "novelty_score",
    "conventionality_score",
    "disruption_label",
    "novelty_label",
    "primary_field",
    "concepts",
)


class PaperValidationError(ValueError):
    """A paper record breaks the schema; the message names file, line, field and rule."""


def load_papers(path: str | Path) -> list[dict]:
    """Read a JSONL of papers in the 12-field schema (synthetic or real), validating every row."""
    source = Path(path)
    papers = []
    with open(source, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PaperValidationError(f"{source}:{line_number}: not valid JSON ({exc.msg})") from exc
            problem = validate_paper(row)
            if problem is not None:
                raise PaperValidationError(f"{source}:{line_number}: {problem}")
            papers.append(row)
    return papers


def validate_paper(row: Any) -> str | None:
    """None when `row` fits the schema, else 'field <name>: <rule>'."""
    if not isinstance(row, dict):
        return "row: must be a JSON object"
    missing = [name for name in PAPER_FIELDS if name not in row]
    if missing:
        return f"field {missing[0]}: is required (missing: {', '.join(missing)})"
    for name, rule, ok in _RULES:
        if not ok(row[name]):
            return f"field {name}: {rule}, got {row[name]!r}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


_RULES = (
    ("openalex_id", "must be a non-empty string", _text),
    ("title", "must be a non-empty string", _text),
    ("abstract", "must be a string", lambda v: isinstance(v, str)),
    ("publication_year", "must be an integer in [1600, 2100]", lambda v: _is_int(v) and 1600 <= v <= 2100),
    ("cited_by_count", "must be an integer >= 0", lambda v: _is_int(v) and v >= 0),
    ("cd_index", "must be a finite number in [-1, 1]", lambda v: _is_number(v) and -1.0 <= v <= 1.0),
    ("novelty_score", "must be a finite number in [0, 1]", lambda v: _is_number(v) and 0.0 <= v <= 1.0),
    (
        "conventionality_score",
        "must be a finite number in [0, 1]",
        lambda v: _is_number(v) and 0.0 <= v <= 1.0,
    ),
    ("disruption_label", f"must be one of {LABELS}", lambda v: v in LABELS),
    ("novelty_label", f"must be one of {NOVELTY_LABELS}", lambda v: v in NOVELTY_LABELS),
    ("primary_field", "must be a string", lambda v: isinstance(v, str)),
    (
        "concepts",
        "must be a list of strings",
        lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
    ),
)
