"""The project's lock file, whichever kind it is, and the installed versions of what it pins.

Supported: pip-style requirement lists (`requirements.lock`, `requirements.txt`, any `name==version`
file), `pylock.toml` (PEP 751), `uv.lock` and `poetry.lock` (TOML with `[[package]]` tables).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from importlib import metadata
from pathlib import Path

CANDIDATES = ("requirements.lock", "pylock.toml", "uv.lock", "poetry.lock", "requirements.txt")
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def find_lock(root: Path, configured: str | None) -> Path | None:
    """The configured lock file, or the first of CANDIDATES that exists; None when there is none."""
    if configured:
        path = root / configured
        return path if path.is_file() else None
    return next((root / name for name in CANDIDATES if (root / name).is_file()), None)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pinned(lock: Path) -> dict[str, str]:
    """Package name (normalised) -> pinned version."""
    text = lock.read_text(encoding="utf-8", errors="replace")
    if lock.suffix == ".toml" or lock.name in ("uv.lock", "poetry.lock"):
        from_toml = _toml_pins(text)
        if from_toml is not None:
            return from_toml
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalise(match.group(1))] = match.group(2).split("+")[0]
    return pins


def _toml_pins(text: str) -> dict[str, str] | None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    packages = data.get("package") or data.get("packages") or []
    if not isinstance(packages, list):
        return None
    return {
        normalise(str(p["name"])): str(p["version"])
        for p in packages
        if isinstance(p, dict) and "name" in p and "version" in p
    }


def installed(names: list[str]) -> dict[str, str]:
    """Installed versions of the given distributions ('absent' when not installed)."""
    versions: dict[str, str] = {}
    for name in sorted(names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
