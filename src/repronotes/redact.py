"""Scrub what must never be published: secrets, absolute local paths, the hostname, user names.

Secrets are found by value as well as by name:
- every environment value of a known credential shape (Hugging Face `hf_`, GitHub `ghp_`/`gho_`/
  `ghu_`/`ghs_`/`ghr_`/`github_pat_`, OpenAI-style `sk-`, AWS `AKIA`, Slack `xox?-`, GitLab `glpat-`);
- the password of every URL with userinfo (`postgres://user:password@host/db`);
- values of 16+ characters with high entropy in variables whose names suggest a secret, and any
  value of 6+ characters in variables named like one (TOKEN, SECRET, PASSWORD, API_KEY, ...);
- credential shapes and URL passwords anywhere in a text, even when no variable holds them.
Paths are replaced only on path boundaries, so `/work/proj_cache` is not mistaken for `/work/proj`.

Applied to every record and executed notebook before it is written, to the terminal, the drift
reports, MkDocs errors and every page the plugin renders. Placeholders are stable, so digests
stay reproducible.
"""

from __future__ import annotations

import math
import re
import socket
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repronotes import environ

SECRET = "<redacted-secret>"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    r"hf_[A-Za-z0-9]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r")"
)
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]+:)(?P<password>[^\s@/'\"]+)(?=@)"
)
_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|_PAT$|^PAT_|_KEY$)", re.I
)
_SUGGESTIVE_NAME = re.compile(r"(KEY|AUTH|PASS|PAT|CRED|SESSION|SIGNATURE|SALT|COOKIE|DSN)", re.I)
_PATH_CHAR = r"[A-Za-z0-9_.\-]"


@dataclass(frozen=True)
class Redactor:
    secrets: tuple[str, ...]  # exact values, longest first
    paths: tuple[tuple[re.Pattern[str], str], ...]  # boundary-aware path patterns, longest first

    def text(self, value: str) -> str:
        for needle in self.secrets:
            if needle in value:
                value = value.replace(needle, SECRET)
        value = TOKEN_SHAPES.sub(SECRET, value)
        value = _URL_PASSWORD.sub(lambda m: m.group("head") + SECRET, value)
        for pattern, placeholder in self.paths:
            value = pattern.sub(placeholder, value)
        return value

    def obj(self, value: Any) -> Any:
        """The same structure with every string scrubbed (dict keys too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.obj(v) for v in value]
        return value

    def leaks(self, value: str) -> list[str]:
        """What of this redactor's secrets and paths still occurs in `value` (for tests and final checks)."""
        found = [SECRET for needle in self.secrets if needle in value]
        found += [placeholder for pattern, placeholder in self.paths if pattern.search(value)]
        return sorted(set(found))


def redactor_for(root: Path, extra_paths: tuple[Path, ...] = ()) -> Redactor:
    """Secrets of this process's environment, then paths (project, venv, python, tmp, home), then identity."""
    paths: dict[str, str] = {
        str(root.resolve()): "<project>",
        str(root): "<project>",
        sys.prefix: "<venv>",
        sys.base_prefix: "<python>",
        tempfile.gettempdir(): "<tmp>",
    }
    home = environ.home_dir()
    if home and len(home) > 1:
        paths[home] = "~"
    for path in extra_paths:
        paths[str(path.resolve())] = f"<{path.name}>"
    for needle, placeholder in _identity_paths():
        paths.setdefault(needle, placeholder)
    ordered = sorted((p for p in paths if len(p) > 1), key=len, reverse=True)
    patterns = tuple((_path_pattern(p), paths[p]) for p in ordered)
    return Redactor(secret_values(environ.items()), patterns + _identity_patterns())


def secret_values(items: list[tuple[str, str]]) -> tuple[str, ...]:
    """Values (or parts of values) of the environment that must never be shown, longest first."""
    found: set[str] = set()
    for name, value in items:
        found.update(m.group(0) for m in TOKEN_SHAPES.finditer(value))
        found.update(
            m.group("password") for m in _URL_PASSWORD.finditer(value) if len(m.group("password")) >= 4
        )
        if looks_secret(name, value):
            found.add(value)
    return tuple(sorted(found, key=len, reverse=True))


def looks_secret(name: str, value: str) -> bool:
    """A variable named like a credential (6+ characters), or suggestively named with a long random value."""
    if _SECRET_NAME.search(name):
        return len(value) >= 6
    return bool(_SUGGESTIVE_NAME.search(name)) and len(value) >= 16 and entropy(value) >= 3.0


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values()) if value else 0.0


def _path_pattern(path: str) -> re.Pattern[str]:
    """A path only where it is a whole path or a prefix ending at a separator: not `/a/proj` in `/a/proj_x`."""
    return re.compile(
        rf"(?<!{_PATH_CHAR})(?<!:/){re.escape(path.rstrip('/'))}(?!{_PATH_CHAR})"
    )  # not a URL's host


def _identity_paths() -> list[tuple[str, str]]:
    user = environ.user_name()
    if not user or len(user) < 3:
        return []
    return [(f"/home/{user}", "/home/<user>"), (f"/Users/{user}", "/Users/<user>")]


def _identity_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    patterns: list[tuple[re.Pattern[str], str]] = []
    host = socket.gethostname()
    if len(host) >= 4:
        patterns.append((re.compile(rf"(?<![A-Za-z0-9_\-]){re.escape(host)}(?![A-Za-z0-9_\-])"), "<host>"))
    user = environ.user_name()
    if user and len(user) >= 3:
        patterns.append((re.compile(rf"(?<![A-Za-z0-9_\-]){re.escape(user)}@"), "<user>@"))
    return tuple(patterns)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
