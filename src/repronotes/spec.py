"""experiment.yaml -> validated, typed Experiment objects.

An experiment is a folder found by convention: <experiments_dir>/<name>/experiment.yaml next to
its notebook. No registry to keep in sync. Every validation error names the file (relative
to the project root), the key and the rule; a duplicate key is an error, not "the last one wins".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repronotes import notebooks, yamlio
from repronotes.errors import SpecError, UnknownExperimentError, UnknownProfileError
from repronotes.model import MetricRule, MetricRules, TolerancePair
from repronotes.tolerance import parse_tolerance
from repronotes.validate import (
    NAME,
    bool_value,
    no_unknown_keys,
    positive_int,
    relative,
    string,
    string_list,
)

SPEC_FILE = "experiment.yaml"
_TOP_KEYS = {"title", "description", "notebook", "needs", "depends_on", "outputs", "profiles", "metrics"}
_PROFILE_KEYS = {"params", "timeout", "requires", "threads", "optional", "description"}
_CAPABILITIES = {"cuda"}
ENGINE_PARAMETERS = ("upstream", "shared_cache", "output_dir")
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
class Experiment:
    name: str
    folder: Path
    root: Path
    title: str
    notebook: Path
    needs: tuple[str, ...]
    depends_on: tuple[str, ...]
    outputs: tuple[str, ...]
    profiles: dict[str, Profile]
    metrics: tuple[MetricRule, ...]
    description: str = ""
    parameter_names: frozenset[str] = field(default_factory=frozenset)
    kernel: str | None = None

    @property
    def spec_file(self) -> str:
        return relative(self.folder / SPEC_FILE, self.root)

    @property
    def notebook_file(self) -> str:
        return relative(self.notebook, self.root)

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles))
            raise UnknownProfileError(
                self.spec_file, f"profiles.{name}", f"unknown profile; declared: {known}"
            )
        return self.profiles[name]

    def rules(self, profile: str) -> MetricRules:
        return MetricRules(tuple(rule for rule in self.metrics if rule.applies_to(profile)))

    def record_path(self, profile: str) -> Path:
        return self.folder / "records" / f"{profile}.json"

    def executed_path(self, profile: str) -> Path:
        return self.folder / "runs" / f"{profile}.ipynb"

    def recorded_profiles(self) -> list[str]:
        """Profiles that have a record file, declared or not."""
        folder = self.folder / "records"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def execution_digest(self, profile: str) -> str:
        """What of experiment.yaml can change a run of `profile` (not titles, timeouts or tolerances)."""
        prof = self.profile(profile)
        relevant = {
            "notebook": self.notebook.name,
            "needs": list(self.needs),
            "depends_on": list(self.depends_on),
            "outputs": list(self.outputs),
            "requires": list(prof.requires),
            "threads": prof.threads,
        }
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def discover(root: Path, experiments_dir: str = "experiments") -> dict[str, Experiment]:
    """Every <experiments_dir>/<name>/experiment.yaml under the project root, validated."""
    folder = root / experiments_dir
    names = sorted(p.parent.name for p in folder.glob(f"*/{SPEC_FILE}")) if folder.is_dir() else []
    experiments = {name: load_experiment(root, name, experiments_dir) for name in names}
    check_needs(experiments)
    return experiments


def load_experiment(root: Path, name: str, experiments_dir: str = "experiments") -> Experiment:
    folder = root / experiments_dir / name
    spec_file = folder / SPEC_FILE
    if not spec_file.is_file():
        raise UnknownExperimentError(f"unknown experiment {name!r}: no {experiments_dir}/{name}/{SPEC_FILE}")
    rel = relative(spec_file, root)
    if not NAME.match(name):
        raise SpecError(rel, "<folder name>", f"experiment names match {NAME.pattern}")
    data = yamlio.load_strict(spec_file, rel)
    if not isinstance(data, dict):
        raise SpecError(rel, "<document>", "must be a mapping of keys (title, profiles, metrics, ...)")
    return _build(root, folder, name, rel, data)


def _build(root: Path, folder: Path, name: str, rel: str, data: dict[str, Any]) -> Experiment:
    no_unknown_keys(data, _TOP_KEYS, rel, "")
    title = string(data, "title", rel, required=True)
    notebook = folder / string(data, "notebook", rel, default="notebook.ipynb")
    nb = notebooks.read_notebook(notebook, relative(notebook, root))
    parameter_names = notebooks.parameter_names(nb, relative(notebook, root))
    profiles = _profiles(data.get("profiles"), rel, parameter_names)
    return Experiment(
        name=name,
        folder=folder,
        root=root,
        title=title,
        notebook=notebook,
        needs=tuple(string_list(data, "needs", rel)),
        depends_on=tuple(_inside_patterns(data, "depends_on", rel)),
        outputs=tuple(_inside_patterns(data, "outputs", rel)),
        profiles=profiles,
        metrics=_metrics(data.get("metrics"), rel, set(profiles)),
        description=string(data, "description", rel, default=""),
        parameter_names=parameter_names,
        kernel=notebooks.kernel_of(nb)[0],
    )


def _inside_patterns(data: dict[str, Any], key: str, rel: str) -> list[str]:
    """Globs relative to the experiment folder; none may be absolute (leaving the project is checked on use)."""
    patterns = string_list(data, key, rel)
    for index, pattern in enumerate(patterns):
        if pattern.startswith(("/", "~")) or (len(pattern) > 1 and pattern[1] == ":"):
            raise SpecError(rel, f"{key}[{index}]", "must be a path relative to the experiment folder")
    return patterns


def _profiles(raw: Any, rel: str, parameter_names: frozenset[str]) -> dict[str, Profile]:
    if not isinstance(raw, dict) or not raw:
        raise SpecError(rel, "profiles", "must be a non-empty mapping of profile name -> settings")
    return {str(name): _profile(str(name), body, rel, parameter_names) for name, body in raw.items()}


def _profile(name: str, body: Any, rel: str, parameter_names: frozenset[str]) -> Profile:
    key = f"profiles.{name}"
    if not NAME.match(name):
        raise SpecError(rel, key, f"profile names match {NAME.pattern}")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise SpecError(rel, key, "must be a mapping (params, timeout, requires, threads, optional)")
    no_unknown_keys(body, _PROFILE_KEYS, rel, key + ".")
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
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SpecError(
            rel, f"{key}.params", "values must be plain JSON values (finite numbers, strings, lists)"
        ) from exc
    return Profile(
        name=name,
        params=dict(params),
        timeout=positive_int(body, "timeout", rel, key) or 600,
        requires=_requires(body.get("requires"), rel, key),
        threads=positive_int(body, "threads", rel, key),
        optional=bool_value(body, "optional", rel, key),
        description=str(body.get("description", "")),
    )


def _requires(raw: Any, rel: str, key: str) -> tuple[str, ...]:
    values = [] if raw is None else [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or any(v not in _CAPABILITIES for v in values):
        raise SpecError(rel, f"{key}.requires", f"must be one of {sorted(_CAPABILITIES)} (or a list of them)")
    return tuple(values)


def _metrics(raw: Any, rel: str, profiles: set[str]) -> tuple[MetricRule, ...]:
    if not isinstance(raw, dict) or not raw:
        raise SpecError(rel, "metrics", "must be a non-empty mapping of metric name -> tolerance")
    return tuple(_metric(str(name), body, rel, profiles) for name, body in raw.items())


def _metric(name: str, body: Any, rel: str, profiles: set[str]) -> MetricRule:
    key = f"metrics.{name}"
    if not isinstance(body, dict):
        raise SpecError(rel, key, "must be a mapping such as {rel: 1.0e-4} or {exact: true}")
    body = dict(body)
    other = body.pop("other_hardware", None)
    only = body.pop("profiles", None)
    if only is not None and (not isinstance(only, list) or any(p not in profiles for p in only)):
        raise SpecError(rel, f"{key}.profiles", f"must be a list of declared profiles {sorted(profiles)}")
    same = parse_tolerance(body, rel, key)
    other_tol = None
    if other is not None:
        if not isinstance(other, dict):
            raise SpecError(rel, f"{key}.other_hardware", "must be a tolerance mapping")
        other_tol = parse_tolerance({"series": same.series, **other}, rel, f"{key}.other_hardware")
    return MetricRule(name, TolerancePair(same, other_tol), tuple(only) if only is not None else None)


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
        if name not in experiments:
            raise UnknownExperimentError(f"unknown experiment {name!r}")
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise SpecError(experiments[name].spec_file, "needs", f"dependency cycle: {cycle}")
        visiting.append(name)
        for upstream in experiments[name].needs:
            visit(upstream)
        visiting.pop()
        order.append(name)

    for name in wanted:
        visit(name)
    return order
