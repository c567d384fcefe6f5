"""Fixtures for the built-site tests: one `mkdocs build --strict` per session (see sitebuild.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_MODULE_NAME = "repronotes_tests_sitebuild"


def load_sitebuild():
    """Load tests/site/sitebuild.py once under a fixed name, so every conftest shares its state."""
    if _MODULE_NAME not in sys.modules:
        path = Path(__file__).with_name("sitebuild.py")
        spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[_MODULE_NAME]


@pytest.fixture(scope="session")
def sitebuild():
    return load_sitebuild()


@pytest.fixture(scope="session")
def site_dir(sitebuild, tmp_path_factory) -> Path:
    """The built site (fresh build into a temp dir, or REPRONOTES_TEST_SITE_DIR)."""
    try:
        return sitebuild.built_site(lambda: tmp_path_factory.mktemp("site_build"))
    except sitebuild.SiteBuildError as error:
        pytest.fail(str(error), pytrace=False)
