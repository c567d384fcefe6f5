"""The built site must not carry anything about the machine that built it.

Fails if any file under the build contains the repo's absolute path, the home directory, the host
name, or one of the fake secrets planted in the build's environment (sitebuild.PLANTED_SECRETS).
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

# Third-party bundles copied verbatim; our pipeline writes nothing into them. Short host names ("vm")
# occur as identifiers in minified code, so the host-name check skips these folders.
VENDORED_DIRS = ("assets/javascripts/", "assets/stylesheets/", "assets/vendor/")
TEXT_SUFFIXES = {".html", ".xml", ".json", ".txt", ".svg", ".ipynb", ".md", ".csv", ".js", ".css", ".xsl"}
MIN_HOSTNAME_LEN_FOR_SUBSTRING = 6


def _files(site_dir: Path) -> list[Path]:
    return sorted(path for path in site_dir.rglob("*") if path.is_file())


def _local_path_needles(site_dir: Path) -> list[bytes]:
    repo_root = Path(__file__).resolve().parents[2]
    needles = {str(repo_root), os.path.realpath(repo_root), str(site_dir)}
    home = os.path.expanduser("~")
    if home not in ("", "/"):
        needles.add(home.rstrip("/") + "/")
    return sorted(needle.encode() for needle in needles)


def _hostname_pattern() -> re.Pattern[bytes] | None:
    names = {socket.gethostname(), socket.getfqdn()} - {"", "localhost", "localhost.localdomain"}
    if not names:
        return None
    parts = []
    for name in sorted(names):
        escaped = re.escape(name)
        if len(name) < MIN_HOSTNAME_LEN_FOR_SUBSTRING:
            # A short name is only a leak where it stands alone as a value, not inside a word.
            escaped = rf"(?<![A-Za-z0-9_.\-]){escaped}(?![A-Za-z0-9_\-])"
        parts.append(escaped)
    return re.compile("|".join(parts).encode())


# Images inlined as base64 (data URIs, and image/* entries of a notebook's JSON): a short host name such as
# "vm" turns up in them by chance ("+vm+"), and no text of ours is ever written into them.
_BINARY_PAYLOAD = re.compile(rb'(?:;base64,|"image/(?:png|jpeg|gif)": ?")[A-Za-z0-9+/=\\n]+')


def _without_binary_payloads(data: bytes) -> bytes:
    return _BINARY_PAYLOAD.sub(b"<binary>", data)


def _hits(site_dir: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in _files(site_dir):
        data = path.read_bytes()
        for needle in needles:
            if needle in data:
                found.append(f"{path.relative_to(site_dir)}: {needle.decode()!r}")
    return found


def test_build_has_files(site_dir):
    assert (site_dir / "index.html").is_file(), f"no index.html under {site_dir}"


def test_no_planted_secret_in_build(site_dir, sitebuild):
    secrets = [value.encode() for value in sitebuild.PLANTED_SECRETS.values()]
    hits = _hits(site_dir, secrets)
    assert not hits, "planted secrets from the build environment reached the site:\n" + "\n".join(hits)


def test_no_absolute_local_path_in_build(site_dir):
    hits = _hits(site_dir, _local_path_needles(site_dir))
    assert not hits, "absolute local paths in the built site:\n" + "\n".join(hits)


def test_no_hostname_in_build(site_dir):
    pattern = _hostname_pattern()
    if pattern is None:
        pytest.skip("this machine reports no host name to look for")
    hits = []
    for path in _files(site_dir):
        relative = path.relative_to(site_dir).as_posix()
        if relative.startswith(VENDORED_DIRS) or path.suffix not in TEXT_SUFFIXES:
            continue
        text = _without_binary_payloads(path.read_bytes())
        for match in pattern.finditer(text):
            start = max(match.start() - 40, 0)
            context = text[start : match.end() + 40].decode(errors="replace")
            hits.append(f"{relative}: ...{context}...")
            break
    assert not hits, "the build machine's host name appears in the site:\n" + "\n".join(hits)


def test_binary_payloads_are_skipped_but_text_around_them_is_not():
    data = b'<img src="data:image/png;base64,AB+vm+CD=="> host vm here {"image/png": "xx+vm+yy\\n"}'
    assert _without_binary_payloads(data) == b'<img src="data:image/png<binary>"> host vm here {<binary>"}'
