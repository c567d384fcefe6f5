"""ImportFollower: which local source files a notebook runs (their digests go into the input hash)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repronotes.imports import ImportFollower, imported_names


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    (folder / "experiments" / "toy").mkdir(parents=True)
    return folder


@pytest.fixture
def exp(root: Path) -> Path:
    return root / "experiments" / "toy"


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root.resolve()).as_posix() for p in paths]


@pytest.mark.parametrize(
    "code", ["import helper\n", "from helper import f\n", "x = 1\nimport json, helper\n"]
)
def test_a_helper_beside_the_notebook_is_found(root, exp, code):
    write(exp / "helper.py", "def f(): ...\n")
    write(exp / "unused.py", "def g(): ...\n")
    assert rel(ImportFollower(root).sources([code], exp), root) == ["experiments/toy/helper.py"]


def test_a_local_package_is_followed_transitively_with_relative_imports(root, exp, monkeypatch):
    src = root / "src"
    write(src / "mylab" / "__init__.py")
    write(src / "mylab" / "a.py", "from .b import x\nfrom mylab import c\nimport json\n")
    write(src / "mylab" / "b.py", "import yaml\nfrom . import d\nx = 1\n")
    write(src / "mylab" / "c.py", "def c(): ...\n")
    write(src / "mylab" / "d.py", "def d(): ...\n")
    write(src / "mylab" / "unused.py", "def u(): ...\n")
    write(src / "mylab" / "sub" / "__init__.py", "from ..c import c\n")
    monkeypatch.syspath_prepend(str(src))
    found = ImportFollower(root).sources(["from mylab import a\n"], exp)
    assert rel(found, root) == [
        "src/mylab/__init__.py",
        "src/mylab/a.py",
        "src/mylab/b.py",
        "src/mylab/c.py",
        "src/mylab/d.py",
    ]


def test_a_helper_beside_the_notebook_leads_into_the_package(root, exp, monkeypatch):
    src = root / "src"
    write(src / "mylab" / "__init__.py")
    write(src / "mylab" / "sub" / "__init__.py", "from ..c import c\n")
    write(src / "mylab" / "c.py", "def c(): ...\n")
    write(exp / "helper.py", "import mylab.sub\n")
    monkeypatch.syspath_prepend(str(src))
    found = ImportFollower(root).sources(["import helper\n"], exp)
    assert rel(found, root) == [
        "experiments/toy/helper.py",
        "src/mylab/__init__.py",
        "src/mylab/c.py",
        "src/mylab/sub/__init__.py",
    ]


def test_stdlib_and_site_packages_are_never_included(exp):
    # Root "/" puts every installed module under the project: only the prefix checks keep them out.
    code = ["import json\nimport yaml\nfrom nbformat import v4\nimport os.path\nfrom email import message\n"]
    assert ImportFollower(Path("/")).sources(code, exp) == []


def test_a_package_in_a_venv_under_the_project_is_excluded(root, exp, monkeypatch):
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    write(site / "vendored_pkg" / "__init__.py", "x = 1\n")
    write(root / ".venv" / "pyvenv.cfg", "home = /usr/bin\n")
    # pip puts editable VCS installs into <venv>/src/<name>: inside the venv, not under site-packages
    write(root / ".venv" / "src" / "editable_pkg" / "editable_pkg" / "__init__.py", "y = 1\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(root / ".venv" / "src" / "editable_pkg"))
    code = ["import vendored_pkg\nimport editable_pkg\n"]
    assert ImportFollower(root).sources(code, exp) == []


def test_ipython_magics_do_not_break_parsing(root, exp):
    write(exp / "helper.py")
    cell = "%matplotlib inline\n!pip list\n%%time\nimport helper\nx = 1\n"
    assert rel(ImportFollower(root).sources([cell], exp), root) == ["experiments/toy/helper.py"]


def test_a_syntax_error_falls_back_to_regex_import_detection(root, exp):
    write(exp / "helper.py")
    write(exp / "other.py")
    cell = "import helper\ndef broken(:\n    from other import thing\n"
    found = ImportFollower(root).sources([cell], exp)
    assert rel(found, root) == ["experiments/toy/helper.py", "experiments/toy/other.py"]
    assert imported_names("import a.b\nfrom c import d\nif (:\n", None) == {"a.b", "c"}


def test_a_module_outside_the_project_is_not_included(tmp_path, root, exp, monkeypatch):
    outside = tmp_path / "elsewhere"
    write(outside / "far_away_mod.py", "z = 1\n")
    monkeypatch.syspath_prepend(str(outside))
    assert ImportFollower(root).sources(["import far_away_mod\n"], exp) == []
