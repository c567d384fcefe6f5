"""Input hashes: everything a run depends on, one named part at a time, so a change says *why*.

Parts of the hash of one experiment x profile:
  notebook             code cells and kernelspec (not Markdown: prose cannot change a result)
  spec                 experiment.yaml's execution-relevant content (needs, depends_on, outputs, requires, threads)
  parameters           the profile's parameters
  code:<file>          every source file under the project the notebook imports, followed transitively
  capture, repronotes  the capture API (it computes SEs) and the engine's version
  lock:<file>          the lock file; `packages`: the installed versions of what it pins
  depends_on:<file>    declared data files (globs relative to the experiment folder, inside the project)
  upstream:<name>      the digest of each upstream's output files (not of its record)
  hardware_class, numerics   the machine: ISA level, threads, GPU; numerics variables (MKL_CBWR, ...)
The machine parts are compared against the record's own machine when checking freshness, so a
record made elsewhere is not stale merely because this machine differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from repronotes import __version__, capture, environ, lockfile, notebooks
from repronotes.errors import SpecError
from repronotes.imports import ImportFollower
from repronotes.model import Change, Freshness
from repronotes.spec import Experiment, Profile
from repronotes.validate import inside, relative

MACHINE_PARTS = ("hardware_class", "numerics", "packages")


@dataclass(frozen=True)
class InputHash:
    digest: str
    parts: dict[str, str]


def digest_parts(parts: Mapping[str, str]) -> str:
    return _sha(json.dumps(dict(parts), sort_keys=True))


def manifest_digest(files: Mapping[str, str]) -> str:
    """What a downstream depends on: its upstream's output files, by name and content."""
    return _sha(json.dumps(dict(files), sort_keys=True))


def kernel_numerics(profile: Profile) -> dict[str, str]:
    """The numerics variables a kernel for this profile starts with (the engine pins threads and hash seed)."""
    return environ.numerics_vars(engine_kernel_vars(profile))


def engine_kernel_vars(profile: Profile) -> dict[str, str]:
    extra = {"PYTHONHASHSEED": "0"}
    if profile.threads:
        extra["OMP_NUM_THREADS"] = extra["MKL_NUM_THREADS"] = str(profile.threads)
    return extra


class InputHasher:
    """Computes input hashes for one build; file digests and package versions are memoised."""

    def __init__(self, root: Path, lock: Path | None, log: logging.Logger):
        self.root, self.lock, self.log = root, lock, log
        self.follower = ImportFollower(root)
        self._files: dict[Path, tuple[tuple[int, int, int, int], str]] = {}
        self._packages: str | None = None
        self._warned: set[str] = set()
        self._hashes: dict[tuple[str, str, str, str], InputHash] = {}

    def compute(
        self, exp: Experiment, profile: str, hardware: str, upstream_outputs: Mapping[str, Mapping[str, str]]
    ) -> InputHash:
        key = (exp.name, profile, hardware, json.dumps(upstream_outputs, sort_keys=True, default=dict))
        if key not in self._hashes:
            self._hashes[key] = self._compute(exp, profile, hardware, upstream_outputs)
        return self._hashes[key]

    def _compute(
        self, exp: Experiment, profile: str, hardware: str, upstream_outputs: Mapping[str, Mapping[str, str]]
    ) -> InputHash:
        prof = exp.profile(profile)
        nb = notebooks.read_notebook(exp.notebook, exp.notebook_file)
        code = notebooks.code_sources(nb)
        parts: dict[str, str] = {
            "hardware_class": hardware,
            "numerics": json.dumps(kernel_numerics(prof), sort_keys=True),
            "notebook": _sha(json.dumps({"kernel": notebooks.kernel_of(nb), "code": code}, sort_keys=True)),
            "spec": exp.execution_digest(profile),
            "parameters": _sha(json.dumps(prof.params, sort_keys=True)),
            "capture": self._file_sha(Path(capture.__file__)),
            "repronotes": __version__,
        }
        for path in self.follower.sources(code, exp.folder):
            parts[f"code:{relative(path, self.root)}"] = self._file_sha(path)
        for path in self.data_files(exp):
            parts[f"depends_on:{relative(path, self.root)}"] = self._file_sha(path)
        if self.lock is not None:
            parts[f"lock:{relative(self.lock, self.root)}"] = self._file_sha(self.lock)
            parts["packages"] = self._locked_versions()
        for name in exp.needs:
            files = upstream_outputs.get(name)
            parts[f"upstream:{name}"] = manifest_digest(files) if files is not None else "absent"
        return InputHash(digest_parts(parts), parts)

    def data_files(self, exp: Experiment) -> list[Path]:
        """Files matched by `depends_on` (relative to the experiment folder); none may leave the project."""
        files: set[Path] = set()
        for index, pattern in enumerate(exp.depends_on):
            base = exp.folder.joinpath(*_literal_prefix(pattern))
            matched = (
                [p for p in exp.folder.glob(pattern) if p.is_file()] if inside(base, self.root) else None
            )
            if matched is None or not all(inside(p, self.root) for p in matched):
                raise SpecError(
                    exp.spec_file, f"depends_on[{index}]", f"{pattern!r} leaves the project folder"
                )
            if not matched:
                self._warn_once(f"{exp.spec_file}: depends_on[{index}]: {pattern!r} matches no file")
            files.update(p.resolve() for p in matched)
        return sorted(files)

    def output_files(self, exp: Experiment, folder: Path, engine_files: set[str]) -> dict[str, str]:
        """The run folder's output files (`outputs` globs, default all) -> sha256, engine files excluded."""
        patterns = exp.outputs or ("**/*",)
        found: dict[str, str] = {}
        for pattern in patterns:
            for path in folder.glob(pattern):
                name = path.relative_to(folder).as_posix()
                hidden = any(part.startswith(".") for part in Path(name).parts)
                if path.is_file() and name not in engine_files and not hidden:
                    found[name] = self._file_sha(path)
        return dict(sorted(found.items()))

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.log.warning("repronotes: %s", message)

    def _locked_versions(self) -> str:
        if self._packages is None:
            assert self.lock is not None
            names = sorted(lockfile.pinned(self.lock))
            self._packages = _sha(json.dumps(lockfile.installed(names), sort_keys=True))
        return self._packages

    def _file_sha(self, path: Path) -> str:
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)
        known = self._files.get(path)
        if known is not None and known[0] == key:
            return known[1]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self._files[path] = (key, digest)
        return digest


def freshness(recorded: Mapping[str, str], now: Mapping[str, str]) -> Freshness:
    """The record's input parts against today's. A lock file added since a record made without one is
    noted, not counted: adding a lock does not stale old records until they are re-recorded."""
    had_lock = any(key.startswith("lock:") for key in recorded)
    changes: list[Change] = []
    ignored: list[Change] = []
    for key in sorted(set(recorded) | set(now)):
        old, new = recorded.get(key), now.get(key)
        if old == new:
            continue
        kind = "added" if old is None else "removed" if new is None else "changed"
        change = Change(key, kind, old, new)
        lock_added = not had_lock and kind == "added" and (key.startswith("lock:") or key == "packages")
        (ignored if lock_added else changes).append(change)
    return Freshness(tuple(changes), tuple(ignored))


def with_machine_of(parts: Mapping[str, str], machine: Mapping[str, str]) -> dict[str, str]:
    """`parts` with the machine-specific parts replaced by another machine's (the record's)."""
    out = dict(parts)
    for key in MACHINE_PARTS:
        if key in machine and key in out:
            out[key] = machine[key]
    return out


def explain(change: Change) -> str:
    """A person's reason: 'code:src/lab/sft.py changed', 'hardware class cpu-a -> cpu-b'."""
    if change.part == "hardware_class":
        return f"hardware class {change.old} -> {change.new}"
    if change.part == "numerics" and change.old is not None and change.new is not None:
        return f"numerics variables {change.old} -> {change.new}"
    if change.part == "repronotes" and change.old is not None:
        return f"repronotes {change.old} -> {change.new}"
    label = change.part.removeprefix("code:").removeprefix("depends_on:").removeprefix("lock:")
    if change.part.startswith("upstream:"):
        label = f"upstream {change.part.removeprefix('upstream:')} outputs"
    return f"{label} {change.kind}"


def _literal_prefix(pattern: str) -> list[str]:
    """The leading path parts of a glob that hold no wildcard."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return parts


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
