"""Build the notes site once per test session and serve it on localhost.

Shared by tests/site (leak test) and tests/browser (Playwright suite). Both conftests load this file
under one module name, so a session that runs both builds the site once.

Environment knobs (tests only):
- REPRONOTES_TEST_SITE_DIR: test an already built site (for example site_build/) instead of building.
- REPRONOTES_TEST_SITE_CONFIG: build with another MkDocs config file than mkdocs.yml.

Every build runs with a planted fake secret in its environment (PLANTED_SECRETS); the leak test asserts
that none of them reaches the built files.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE_PREFIX = "/notes/"  # the path of site_url (https://akhilpandey95.github.io/notes/)
BUILD_TIMEOUT_S = 900
PLANTED_SECRETS = {
    "HF_TOKEN": "hf_fakeplantedQ7xZk2VbN4mR8tLp0sWy",
    "OPENAI_API_KEY": "sk-fakeplanted-3Jd9fKq2LmZx8RtVb1Nc",
    "REPRONOTES_TEST_PLANTED_SECRET": "planted-secret-d41f0c9e7a2b",
}

_state: dict[str, object] = {}


class SiteBuildError(RuntimeError):
    """The site did not build; the message carries the tail of MkDocs' output."""


def build_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PLANTED_SECRETS)
    env["REPRONOTES_EXECUTE"] = "off"
    env["NO_MKDOCS_2_WARNING"] = "1"
    return env


VENDORED_ASSETS = ("notes/assets/vendor/katex/katex.min.js", "notes/assets/vendor/katex/katex.min.css")


def build_site(dest: Path) -> Path:
    """Run `mkdocs build --strict` from the repo root into dest; raise SiteBuildError on failure."""
    missing = [asset for asset in VENDORED_ASSETS if not (REPO_ROOT / asset).is_file()]
    if missing:
        raise SiteBuildError(f"site assets missing ({', '.join(missing)}): run `npm ci` in {REPO_ROOT}")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(dest)]
    config = os.environ.get("REPRONOTES_TEST_SITE_CONFIG")
    if config:
        command += ["-f", config]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=build_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise SiteBuildError(f"mkdocs build --strict failed (exit {result.returncode}):\n{tail}")
    return dest


def built_site(tmp_root_factory) -> Path:
    """The built site for this session: REPRONOTES_TEST_SITE_DIR, or one fresh build (memoised)."""
    if "site_dir" not in _state:
        prebuilt = os.environ.get("REPRONOTES_TEST_SITE_DIR")
        if prebuilt:
            _state["site_dir"] = Path(prebuilt).resolve()
        else:
            _state["site_dir"] = build_site(tmp_root_factory() / "site")
    return _state["site_dir"]  # type: ignore[return-value]


class _PrefixHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site under SITE_PREFIX, as GitHub Pages serves it under /notes/."""

    def translate_path(self, path: str) -> str:
        if not path.startswith(SITE_PREFIX):
            return str(Path(self.directory) / "__outside_site_prefix__")
        return super().translate_path("/" + path[len(SITE_PREFIX) :])

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass(frozen=True)
class SiteServer:
    base_url: str  # ends with SITE_PREFIX
    root: Path

    def url(self, page: str = "") -> str:
        return self.base_url + page.lstrip("/")


def serve(site_dir: Path) -> SiteServer:
    """Start (once per session) a threaded HTTP server on 127.0.0.1 for site_dir."""
    if "server" not in _state:
        handler = functools.partial(_PrefixHandler, directory=str(site_dir))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=httpd.serve_forever, name="site-server", daemon=True)
        thread.start()
        _state["httpd"] = httpd
        port = httpd.server_address[1]
        _state["server"] = SiteServer(base_url=f"http://127.0.0.1:{port}{SITE_PREFIX}", root=site_dir)
    return _state["server"]  # type: ignore[return-value]


def stop_server() -> None:
    httpd = _state.pop("httpd", None)
    _state.pop("server", None)
    if httpd is not None:
        httpd.shutdown()
        httpd.server_close()
