"""Shared fixtures: an isolated environment, and tiny fixture projects (experiments + a site)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from projectkit import Project


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gpu", action="store_true", default=False, help="run tests that need CUDA")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--gpu"):
        return
    skip = pytest.mark.skip(reason="needs CUDA; opt in with --gpu")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's repronotes settings."""
    for name in list(os.environ):
        if name.startswith("REPRONOTES_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")
