"""Input hashes, and the local cache of verified runs (.cache/repronotes, git-ignored).

The input hash covers what can change a result, and nothing that cannot:
  notebook code cells + kernelspec (not Markdown), the profile's parameters, the
  repronotes.lab sources the notebook imports (transitively), declared `depends_on` globs,
  the lock file, the upstream experiments' recorded results, and the hardware class.
Each part is hashed on its own, so a re-run can say *why* ("lab/sft.py changed").
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repronotes import environ
from repronotes.errors import RecordError
from repronotes.fingerprint import LOCK_FILE
from repronotes.record import load_record, record_metrics_digest, write_json_atomic
from repronotes.spec import Experiment, relative

LAB_PACKAGE = "repronotes.lab"
_LAB_IMPORT = re.compile(r"repronotes\.lab(?:\.(\w+))?")


@dataclass(frozen=True)
class InputHash:
    digest: str
    parts: dict[str, str]


def cache_root(root: Path) -> Path:
    return environ.cache_dir_override() or root / ".cache" / "repronotes"


def run_dir(root: Path, experiment: str, profile: str) -> Path:
    return cache_root(root) / "runs" / experiment / profile


def shared_cache_dir(root: Path) -> Path:
    return cache_root(root) / "shared"


def input_hash(exp: Experiment, profile: str, hardware: str, experiments: dict[str, Experiment]) -> InputHash:
    parts: dict[str, str] = {"hardware_class": hardware}
    notebook = json.loads(exp.notebook.read_text(encoding="utf-8"))
    parts["notebook"] = _sha(_code_and_kernel(notebook))
    parts["parameters"] = _sha(json.dumps(exp.profile(profile).params, sort_keys=True))
    for path in lab_sources(exp.root, notebook):
        parts[relative(path, exp.root)] = _sha_file(path)
    for path in _globbed(exp):
        parts[relative(path, exp.root)] = _sha_file(path)
    lock = exp.root / LOCK_FILE
    parts["lock"] = _sha_file(lock) if lock.is_file() else "absent"
    for upstream in exp.needs:
        parts[f"upstream:{upstream}@{profile}"] = _upstream_part(experiments[upstream], profile)
    digest = _sha(json.dumps(parts, sort_keys=True))
    return InputHash(digest, parts)


def explain_changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Human reasons an input hash changed: 'lab/sft.py changed', 'lock changed'."""
    reasons = []
    for key in sorted(set(old) | set(new)):
        label = key.removeprefix("src/repronotes/")
        if key not in old:
            reasons.append(f"{label} added")
        elif key not in new:
            reasons.append(f"{label} removed")
        elif old[key] != new[key]:
            reasons.append(
                f"hardware class {old[key]} -> {new[key]}" if key == "hardware_class" else f"{label} changed"
            )
    return reasons


def lab_sources(root: Path, notebook: dict[str, Any]) -> list[Path]:
    """The lab modules the notebook's code imports, followed through lab's own imports."""
    lab_dir = root / "src" / "repronotes" / "lab"
    pending = set()
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            pending |= _lab_modules_in(_source(cell))
    seen: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        path = lab_dir / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen[name] = path
        pending |= _lab_modules_in(path.read_text(encoding="utf-8"), lab_dir_relative=True)
    init = lab_dir / "__init__.py"
    extra = [init] if init.is_file() and seen else []
    return extra + [seen[name] for name in sorted(seen)]


def _lab_modules_in(source: str, lab_dir_relative: bool = False) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {m.group(1) for m in _LAB_IMPORT.finditer(source) if m.group(1)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith(LAB_PACKAGE + ".")}
        elif isinstance(node, ast.ImportFrom):
            found |= _from_import(node, lab_dir_relative)
    return found


def _from_import(node: ast.ImportFrom, lab_dir_relative: bool) -> set[str]:
    module = node.module or ""
    if node.level and lab_dir_relative:  # `from .data import x` or `from . import data` inside lab/
        return {module.split(".")[0]} if module else {a.name for a in node.names}
    if module == LAB_PACKAGE:
        return {a.name for a in node.names}
    if module.startswith(LAB_PACKAGE + "."):
        return {module.split(".")[2]}
    return set()


def _code_and_kernel(notebook: dict[str, Any]) -> str:
    spec = notebook.get("metadata", {}).get("kernelspec", {})
    kernel = {"name": spec.get("name"), "language": spec.get("language")}
    code = [_source(c) for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    return json.dumps({"kernel": kernel, "code": code}, sort_keys=True)


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _globbed(exp: Experiment) -> list[Path]:
    files: set[Path] = set()
    for pattern in exp.depends_on:
        files |= {p for p in exp.root.glob(pattern) if p.is_file()}
    return sorted(files)


def _upstream_part(upstream: Experiment, profile: str) -> str:
    path = upstream.record_path(profile)
    try:
        return record_metrics_digest(load_record(path, relative(path, upstream.root)))
    except RecordError:
        return "no-record"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the run cache -------------------------------------------------------------------------

RUN_FILE = "run.json"


def load_cached_run(root: Path, experiment: str, profile: str) -> dict[str, Any] | None:
    """The last completed run of this experiment/profile on this machine, if any."""
    path = run_dir(root, experiment, profile) / RUN_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("status") == "complete" else None


def save_cached_run(root: Path, experiment: str, profile: str, run: dict[str, Any]) -> None:
    write_json_atomic(run_dir(root, experiment, profile) / RUN_FILE, run, allow_nan=True)
