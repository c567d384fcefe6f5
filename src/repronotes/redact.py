"""Scrub what must never be published: absolute local paths, the hostname, user names, secrets.

Applied to every record and executed notebook before it is written, and to every page the
plugin renders. Replacements are stable placeholders, so digests stay reproducible.
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repronotes import environ

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Redactor:
    replacements: tuple[tuple[str, str], ...]

    def text(self, value: str) -> str:
        for needle, placeholder in self.replacements:
            if needle in value:
                value = value.replace(needle, placeholder)
        return value

    def obj(self, value: Any) -> Any:
        """The same structure with every string scrubbed (dict keys too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.obj(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.obj(v) for v in value]
        return value

    def leaks(self, value: str) -> list[str]:
        """The placeholders whose originals occur in `value` (for tests and final checks)."""
        return sorted({placeholder for needle, placeholder in self.replacements if needle in value})


def redactor_for(root: Path, extra_paths: tuple[Path, ...] = ()) -> Redactor:
    """Secrets first (exact values), then the longest paths, then host and user names."""
    pairs: list[tuple[str, str]] = [(v, "<redacted-secret>") for v in environ.secret_values()]
    paths = {
        str(root.resolve()): "<project>",
        sys.prefix: "<venv>",
        sys.base_prefix: "<python>",
        tempfile.gettempdir(): "<tmp>",
    }
    home = environ.home_dir()
    if home and len(home) > 1:
        paths[home] = "~"
    for path in extra_paths:
        paths[str(path.resolve())] = f"<{path.name}>"
    for needle in sorted(paths, key=len, reverse=True):
        if len(needle) > 1:
            pairs.append((needle, paths[needle]))
    pairs.extend(_identity_pairs())
    return Redactor(tuple(pairs))


def _identity_pairs() -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    host = socket.gethostname()
    if len(host) >= 4:
        pairs.append((host, "<host>"))
    user = environ.user_name()
    if user and len(user) >= 3:
        pairs.extend(
            [(f"/home/{user}", "/home/<user>"), (f"/Users/{user}", "/Users/<user>"), (f"{user}@", "<user>@")]
        )
    return pairs


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
