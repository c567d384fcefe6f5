"""Follow a notebook's imports to the source files under the project root that it actually runs.

The kernel starts in the experiment's folder, so a module there (`import helper`) is found first,
then whatever the interpreter would find (an editable package under `src/`, say). Modules are
located without importing them: top-level names through `importlib.util.find_spec`, submodules by
walking their package folders. Only files inside the project and outside any virtual environment
or site-packages count; their own imports (absolute and relative) are followed transitively.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Iterable
from pathlib import Path

_MAGIC = re.compile(r"^\s*[%!?]")
_IMPORT_LINE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.M)


class ImportFollower:
    """Resolves module names to local source files; memoised for one build."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self._excluded = tuple({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})
        self._tops: dict[tuple[Path, str], Path | None] = {}
        self._parsed: dict[Path, set[str]] = {}

    def sources(self, code_cells: Iterable[str], start_dir: Path) -> list[Path]:
        """Every local file the code imports, transitively, sorted."""
        start_dir = start_dir.resolve()
        pending = [name for cell in code_cells for name in imported_names(_without_magics(cell), None)]
        found: dict[Path, str] = {}
        while pending:
            for module, path in self._files_for(pending.pop(), start_dir):
                if path in found:
                    continue
                found[path] = module
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                pending.extend(self._imports_of(path, package or None))
        return sorted(found)

    def _imports_of(self, path: Path, package: str | None) -> set[str]:
        if path not in self._parsed:
            try:
                source = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                source = ""
            self._parsed[path] = imported_names(source, package)
        return self._parsed[path]

    def _files_for(self, dotted: str, start_dir: Path) -> list[tuple[str, Path]]:
        """(module name, file) for the module and each package on its path that is a local file."""
        parts = dotted.split(".")
        location = self._top(parts[0], start_dir)
        if location is None:
            return []
        files: list[tuple[str, Path]] = []
        current = location
        for depth, part in enumerate(parts):
            if depth > 0:
                nxt = _child(current, part)
                if nxt is None:
                    break
                current = nxt
            module = ".".join(parts[: depth + 1])
            init = current / "__init__.py" if current.is_dir() else current
            if init.is_file():
                files.append((module, init))
            if not current.is_dir():
                break
        return files

    def _top(self, name: str, start_dir: Path) -> Path | None:
        """The folder (package) or file (module) of a top-level name, when it is local to the project."""
        key = (start_dir, name)
        if key not in self._tops:
            self._tops[key] = self._locate_top(name, start_dir)
        return self._tops[key]

    def _locate_top(self, name: str, start_dir: Path) -> Path | None:
        beside = _child(start_dir, name)
        if beside is not None:
            return beside if self._local(beside) else None
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if spec.submodule_search_locations:
            candidates = [Path(p) for p in spec.submodule_search_locations]
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            candidates = [Path(spec.origin)]
        else:
            return None
        return next((c.resolve() for c in candidates if self._local(c)), None)

    def _local(self, path: Path) -> bool:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            return False
        if any(resolved.is_relative_to(prefix) for prefix in self._excluded):
            return False
        if any((p / "pyvenv.cfg").is_file() for p in resolved.parents if p.is_relative_to(self.root)):
            return False  # another venv under the project (e.g. pip's <venv>/src/ editable checkouts)
        return not any(part in ("site-packages", "dist-packages") for part in resolved.parts)


def _child(folder: Path, name: str) -> Path | None:
    """`name` inside a package folder: a module file or a (namespace) package folder."""
    if not folder.is_dir():
        return None
    module = folder / f"{name}.py"
    if module.is_file():
        return module
    package = folder / name
    if package.is_dir() and name.isidentifier():
        return package
    return None


def _without_magics(source: str) -> str:
    return "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())


def imported_names(source: str, package: str | None) -> set[str]:
    """Dotted names a source imports; relative imports resolved against `package`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {a or b for a, b in _IMPORT_LINE.findall(source)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(_from_import(node, package))
    return names


def _from_import(node: ast.ImportFrom, package: str | None) -> set[str]:
    if node.level:
        if package is None:
            return set()
        base_parts = package.split(".")
        up = node.level - 1
        if up >= len(base_parts):
            return set()
        base = ".".join(base_parts[: len(base_parts) - up])
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    if not module:
        return set()
    return {module} | {f"{module}.{alias.name}" for alias in node.names if alias.name != "*"}
