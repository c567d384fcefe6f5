"""Fixtures for the real-browser suite: Debian's chromium driven by Playwright, the site on 127.0.0.1.

The browser is never downloaded: Playwright launches /usr/bin/chromium (apt-get install chromium).
Without it the suite is skipped, except under CI=true, where a missing browser is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
_SITEBUILD_MODULE = "repronotes_tests_sitebuild"


def _load_sitebuild():
    """tests/site/sitebuild.py under the same module name tests/site/conftest.py uses (one build)."""
    if _SITEBUILD_MODULE not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "site" / "sitebuild.py"
        spec = importlib.util.spec_from_file_location(_SITEBUILD_MODULE, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_SITEBUILD_MODULE] = module
        spec.loader.exec_module(module)
    return sys.modules[_SITEBUILD_MODULE]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium`"
        if _in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The built site served under /notes/ on 127.0.0.1 (see tests/site/sitebuild.py)."""
    sitebuild = _load_sitebuild()
    try:
        site_dir = sitebuild.built_site(lambda: tmp_path_factory.mktemp("site_build"))
    except sitebuild.SiteBuildError as error:
        pytest.fail(str(error), pytrace=False)
    server = sitebuild.serve(site_dir)
    yield server
    sitebuild.stop_server()


@pytest.fixture(scope="session")
def chromium_browser(chromium_path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True
        )
        yield instance
        instance.close()


@dataclass
class PageProblems:
    """What went wrong while a page was open: console errors, page errors, failed or foreign requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"page error: {text}" for text in self.page_errors),
            *(f"failed request: {text}" for text in self.failed_requests),
            *(f"request to another host: {text}" for text in self.foreign_requests),
        ]


@dataclass
class OpenPage:
    page: object
    problems: PageProblems


def _watch(page, problems: PageProblems) -> None:
    page.on("console", lambda msg: msg.type == "error" and problems.console_errors.append(msg.text))
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.on(
        "requestfailed",
        lambda request: problems.failed_requests.append(f"{request.url} ({request.failure})"),
    )
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and problems.failed_requests.append(f"{response.url} (HTTP {response.status})")
        ),
    )


def _block_other_hosts(context, problems: PageProblems) -> None:
    def route(route, request) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("data:", "blob:")) or host in {"127.0.0.1", "localhost"}:
            route.continue_()
            return
        problems.foreign_requests.append(request.url)
        route.abort()

    context.route("**/*", route)


@pytest.fixture
def open_page(chromium_browser, site):
    """open_page(path, color_scheme="light") -> OpenPage: loads a page and records its problems."""
    contexts = []

    def opener(path: str, color_scheme: str = "light") -> OpenPage:
        context = chromium_browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme)
        contexts.append(context)
        problems = PageProblems()
        _block_other_hosts(context, problems)
        page = context.new_page()
        _watch(page, problems)
        page.goto(site.url(path), wait_until="load")
        page.wait_for_load_state("networkidle")
        return OpenPage(page=page, problems=problems)

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
