"""experiment.yaml -> validated, typed Experiment objects.

An experiment is a folder found by convention: experiments/<name>/experiment.yaml next to
its notebook. No registry to keep in sync. Every validation error names the file (relative
to the project root), the key and the rule.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repronotes.errors import SpecError, UnknownExperimentError, UnknownProfileError
from repronotes.tolerance import Tolerance, parse_tolerance

EXPERIMENTS_DIR = "experiments"
SPEC_FILE = "experiment.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"title", "description", "notebook", "needs", "depends_on", "profiles", "metrics"}
_PROFILE_KEYS = {"params", "timeout", "requires", "threads", "optional", "description"}
_CAPABILITIES = {"cuda"}
ENGINE_PARAMETERS = ("upstream", "shared_cache")
"""Parameters the engine injects into every run; notebooks declare defaults for them."""


@dataclass(frozen=True)
class Profile:
    name: str
    params: dict[str, Any]
    timeout: int = 600
    requires: tuple[str, ...] = ()
    threads: int | None = None
    optional: bool = False
    description: str = ""


@dataclass(frozen=True)
class MetricSpec:
    pattern: str
    tolerance: Tolerance
    other_hardware: Tolerance | None = None
    profiles: tuple[str, ...] | None = None

    def applies_to(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles

    def tolerance_for(self, same_hardware: bool) -> Tolerance:
        if same_hardware or self.other_hardware is None:
            return self.tolerance
        return self.other_hardware


@dataclass(frozen=True)
class Experiment:
    name: str
    folder: Path
    root: Path
    title: str
    notebook: Path
    needs: tuple[str, ...]
    depends_on: tuple[str, ...]
    profiles: dict[str, Profile]
    metrics: tuple[MetricSpec, ...]
    description: str = ""
    parameter_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def spec_file(self) -> str:
        return relative(self.folder / SPEC_FILE, self.root)

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles))
            raise UnknownProfileError(
                self.spec_file, f"profiles.{name}", f"unknown profile; declared: {known}"
            )
        return self.profiles[name]

    def metric_spec(self, metric: str, profile: str) -> MetricSpec | None:
        """The spec for a captured metric name: an exact key first, then globs in file order."""
        for spec in self.metrics:
            if spec.pattern == metric and spec.applies_to(profile):
                return spec
        for spec in self.metrics:
            if fnmatch.fnmatchcase(metric, spec.pattern) and spec.applies_to(profile):
                return spec
        return None

    def record_path(self, profile: str) -> Path:
        return self.folder / "records" / f"{profile}.json"

    def executed_path(self, profile: str) -> Path:
        return self.folder / "runs" / f"{profile}.ipynb"

    def rerun_command(self, profile: str) -> str:
        return f"repronotes run {self.name} --profile {profile}"


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def discover(root: Path) -> dict[str, Experiment]:
    """Every experiments/<name>/experiment.yaml under the project root, validated."""
    folder = root / EXPERIMENTS_DIR
    names = sorted(p.parent.name for p in folder.glob(f"*/{SPEC_FILE}")) if folder.is_dir() else []
    experiments = {name: load_experiment(root, name) for name in names}
    check_needs(experiments)
    return experiments


def load_experiment(root: Path, name: str) -> Experiment:
    folder = root / EXPERIMENTS_DIR / name
    spec_file = folder / SPEC_FILE
    if not spec_file.is_file():
        raise UnknownExperimentError(f"unknown experiment {name!r}: no {EXPERIMENTS_DIR}/{name}/{SPEC_FILE}")
    rel = relative(spec_file, root)
    if not _NAME.match(name):
        raise SpecError(rel, "<folder name>", f"experiment names match {_NAME.pattern}")
    data = _read_yaml(spec_file, rel)
    return _build_experiment(root, folder, name, rel, data)


def _read_yaml(path: Path, rel: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<document>"
        raise SpecError(rel, where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise SpecError(rel, "<document>", "must be a mapping of keys (title, profiles, metrics, ...)")
    return data


def _build_experiment(root: Path, folder: Path, name: str, rel: str, data: dict[str, Any]) -> Experiment:
    _no_unknown_keys(data, _TOP_KEYS, rel, "")
    title = _string(data, "title", rel, required=True)
    notebook = folder / _string(data, "notebook", rel, default="notebook.ipynb")
    parameter_names = read_parameter_names(notebook, relative(notebook, root))
    profiles = _profiles(data.get("profiles"), rel, parameter_names)
    return Experiment(
        name=name,
        folder=folder,
        root=root,
        title=title,
        notebook=notebook,
        needs=tuple(_string_list(data, "needs", rel)),
        depends_on=tuple(_string_list(data, "depends_on", rel)),
        profiles=profiles,
        metrics=_metrics(data.get("metrics"), rel, set(profiles)),
        description=_string(data, "description", rel, default=""),
        parameter_names=parameter_names,
    )


def read_parameter_names(notebook: Path, rel: str) -> frozenset[str]:
    """Names assigned in the cell tagged `parameters`; errors if the notebook has none."""
    if not notebook.is_file():
        raise SpecError(rel, "notebook", "file does not exist")
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecError(rel, "<notebook>", f"not a readable .ipynb ({exc})") from exc
    for cell in cells:
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return frozenset(_assigned_names("".join(cell.get("source", "")), rel))
    raise SpecError(
        rel, "cells", "no cell is tagged 'parameters' (papermill needs one to inject profile params)"
    )


def _assigned_names(source: str, rel: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SpecError(rel, "parameters cell", f"not valid Python ({exc.msg})") from exc
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _profiles(raw: Any, rel: str, parameter_names: frozenset[str]) -> dict[str, Profile]:
    if not isinstance(raw, dict) or not raw:
        raise SpecError(rel, "profiles", "must be a non-empty mapping of profile name -> settings")
    return {str(name): _profile(str(name), body, rel, parameter_names) for name, body in raw.items()}


def _profile(name: str, body: Any, rel: str, parameter_names: frozenset[str]) -> Profile:
    key = f"profiles.{name}"
    if not _NAME.match(name):
        raise SpecError(rel, key, f"profile names match {_NAME.pattern}")
    if not isinstance(body, dict):
        raise SpecError(rel, key, "must be a mapping (params, timeout, requires, threads, optional)")
    _no_unknown_keys(body, _PROFILE_KEYS, rel, key + ".")
    params = body.get("params", {}) or {}
    if not isinstance(params, dict):
        raise SpecError(rel, f"{key}.params", "must be a mapping of notebook parameter -> value")
    for param in params:
        if param in ENGINE_PARAMETERS:
            raise SpecError(
                rel, f"{key}.params.{param}", "is injected by the engine; do not set it in a profile"
            )
        if param not in parameter_names:
            known = ", ".join(sorted(parameter_names)) or "none"
            raise SpecError(
                rel, f"{key}.params.{param}", f"not a parameter of the notebook (it defines: {known})"
            )
    return Profile(
        name=name,
        params=dict(params),
        timeout=_positive_int(body, "timeout", rel, key, default=600),
        requires=_requires(body.get("requires"), rel, key),
        threads=_positive_int(body, "threads", rel, key, default=None),
        optional=_bool(body, "optional", rel, key),
        description=str(body.get("description", "")),
    )


def _requires(raw: Any, rel: str, key: str) -> tuple[str, ...]:
    values = [] if raw is None else [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or any(v not in _CAPABILITIES for v in values):
        raise SpecError(rel, f"{key}.requires", f"must be one of {sorted(_CAPABILITIES)} (or a list of them)")
    return tuple(values)


def _metrics(raw: Any, rel: str, profiles: set[str]) -> tuple[MetricSpec, ...]:
    if not isinstance(raw, dict) or not raw:
        raise SpecError(rel, "metrics", "must be a non-empty mapping of metric name -> tolerance")
    return tuple(_metric(str(name), body, rel, profiles) for name, body in raw.items())


def _metric(name: str, body: Any, rel: str, profiles: set[str]) -> MetricSpec:
    key = f"metrics.{name}"
    if not isinstance(body, dict):
        raise SpecError(rel, key, "must be a mapping such as {rel: 1.0e-4} or {exact: true}")
    body = dict(body)
    other = body.pop("other_hardware", None)
    only = body.pop("profiles", None)
    if only is not None and (not isinstance(only, list) or any(p not in profiles for p in only)):
        raise SpecError(rel, f"{key}.profiles", f"must be a list of declared profiles {sorted(profiles)}")
    tolerance = parse_tolerance(body, rel, key)
    other_tol = None
    if other is not None:
        if not isinstance(other, dict):
            raise SpecError(rel, f"{key}.other_hardware", "must be a tolerance mapping")
        other_tol = parse_tolerance({"series": tolerance.series, **other}, rel, f"{key}.other_hardware")
    return MetricSpec(name, tolerance, other_tol, tuple(only) if only is not None else None)


def check_needs(experiments: dict[str, Experiment]) -> None:
    """Every `needs` names a known experiment declaring the same profiles; no cycles."""
    for exp in experiments.values():
        for upstream in exp.needs:
            if upstream not in experiments:
                raise SpecError(exp.spec_file, "needs", f"unknown experiment {upstream!r}")
            missing = [p for p in exp.profiles if p not in experiments[upstream].profiles]
            missing = [p for p in missing if not exp.profiles[p].optional]
            if missing:
                raise SpecError(exp.spec_file, "needs", f"{upstream!r} lacks profile(s) {missing}")
    topological_order(experiments, list(experiments))


def topological_order(experiments: dict[str, Experiment], wanted: list[str]) -> list[str]:
    """`wanted` and everything they need, upstream first. Raises SpecError on a cycle."""
    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise SpecError(experiments[name].spec_file, "needs", f"dependency cycle: {cycle}")
        if name not in experiments:
            raise UnknownExperimentError(f"unknown experiment {name!r}")
        visiting.append(name)
        for upstream in experiments[name].needs:
            visit(upstream)
        visiting.pop()
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def _no_unknown_keys(data: dict[str, Any], allowed: set[str], rel: str, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(rel, f"{prefix}{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _string(data: dict[str, Any], key: str, rel: str, required: bool = False, default: str = "") -> str:
    if key not in data:
        if required:
            raise SpecError(rel, key, "is required")
        return default
    if not isinstance(data[key], str) or not data[key].strip():
        raise SpecError(rel, key, "must be a non-empty string")
    return data[key]


def _string_list(data: dict[str, Any], key: str, rel: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(rel, key, "must be a list of strings")
    return value


def _positive_int(data: dict[str, Any], key: str, rel: str, prefix: str, default: int | None) -> Any:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(rel, f"{prefix}.{key}", "must be a positive integer")
    return value


def _bool(data: dict[str, Any], key: str, rel: str, prefix: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise SpecError(rel, f"{prefix}.{key}", "must be true or false")
    return value
