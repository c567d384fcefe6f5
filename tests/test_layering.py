"""The house rules of DESIGN §2, checked on the source: who may import whom, and how big a module may grow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ENGINE = SRC / "repronotes"
LAB = SRC / "notes_lab"
HEAVY = {
    "torch",
    "transformers",
    "peft",
    "bitsandbytes",
    "trl",
    "accelerate",
    "numpy",
    "matplotlib",
    "safetensors",
}
MAX_LINES = 400


def imports_of(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved within its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            else:
                found.add(node.module or "")
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("path", sources(ENGINE), ids=lambda p: p.relative_to(SRC).as_posix())
def test_the_engine_imports_nothing_of_the_lab_and_nothing_heavy(path):
    names = imports_of(path)
    assert not [n for n in names if n == "notes_lab" or n.startswith("notes_lab.")]
    assert not {n.split(".")[0] for n in names} & HEAVY


@pytest.mark.parametrize("path", sources(LAB), ids=lambda p: p.relative_to(SRC).as_posix())
def test_the_lab_imports_only_the_capture_api_of_the_engine(path):
    engine = {n for n in imports_of(path) if n == "repronotes" or n.startswith("repronotes.")}
    assert engine <= {"repronotes", "repronotes.capture"}, engine


@pytest.mark.parametrize("path", sources(ENGINE) + sources(LAB), ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_module_is_over_the_size_budget(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines (budget {MAX_LINES})"


def reads_environment(path: Path) -> bool:
    """`os.environ` or `os.getenv` in the module's code (snippets the engine sends to a kernel are strings)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        os_attribute = (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
        )
        if os_attribute and node.attr in ("environ", "getenv", "putenv"):
            return True
    return False


def test_only_environ_reads_environment_variables():
    readers = [
        p.relative_to(SRC).as_posix()
        for p in sources(ENGINE)
        if p.name != "environ.py" and reads_environment(p)
    ]
    assert readers == [], f"only environ.py may read the environment: {readers}"


def test_only_execute_calls_papermill_and_only_notebooks_parses_ipynb():
    for path in sources(ENGINE):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(SRC).as_posix()
        if "papermill.execute_notebook" in text:
            assert rel == "repronotes/execute_child.py", rel
        if "nbformat.reads" in text or "nbformat.read(" in text:
            assert rel in ("repronotes/notebooks.py", "repronotes/execute_child.py"), rel
