"""Small validators for user-written mappings; every error names the file, the key and the rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from repronotes.errors import SpecError

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def relative(path: Path, root: Path) -> str:
    """`path` relative to the project root (posix), or its bare name when it lies outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def no_unknown_keys(data: dict[str, Any], allowed: set[str], file: str, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(file, f"{prefix}{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}")


def string(data: dict[str, Any], key: str, file: str, required: bool = False, default: str = "") -> str:
    if key not in data:
        if required:
            raise SpecError(file, key, "is required")
        return default
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise SpecError(file, key, "must be a non-empty string")
    return value


def string_list(data: dict[str, Any], key: str, file: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(file, key, "must be a list of non-empty strings")
    return list(value)


def positive_int(data: dict[str, Any], key: str, file: str, prefix: str) -> int | None:
    if key not in data:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(file, f"{prefix}.{key}", "must be a positive integer")
    return value


def bool_value(data: dict[str, Any], key: str, file: str, prefix: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise SpecError(file, f"{prefix}.{key}", "must be true or false")
    return value
