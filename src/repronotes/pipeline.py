"""plan -> load -> ensure runs (executor) -> assess -> outcomes: the engine both faces (CLI, plugin) call.

For every experiment and profile asked for (upstream `needs` first), the record and its committed
notebook are loaded once, the input hash is computed once, a profile this machine can run is
re-executed unless a cached run has the same input hash (`auto`), always (`force`) or never (`off`),
and `assess` turns it all into an Outcome. Loading and executing happen here; deciding does not.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from repronotes import fingerprint, lockfile
from repronotes.assess import assess
from repronotes.cache import EXECUTED, RunCache, read_run
from repronotes.errors import (
    CaptureError,
    CorruptRecordError,
    ExecutionError,
    MissingRecordError,
    UnknownExperimentError,
)
from repronotes.execute import Progress, check_kernel
from repronotes.executors import Executor, make_executor
from repronotes.inputs import InputHash, InputHasher, explain, freshness, with_machine_of
from repronotes.model import Freshness, Outcome, Policy, RecordState, RunFailure, RunResult
from repronotes.project import Settings
from repronotes.record import load_committed, load_record
from repronotes.redact import redactor_for
from repronotes.runs import finish, make_job, scrub_partial
from repronotes.spec import Experiment, Profile, discover, topological_order
from repronotes.validate import relative

MODES = ("auto", "force", "off")


class Engine:
    """One build's view of the project: experiments, this machine, the cache. Memoises what it loads."""

    def __init__(
        self,
        settings: Settings,
        log: logging.Logger | None = None,
        progress: Progress | None = None,
        executor: Executor | None = None,
    ):
        self.settings, self.root, self.mode = settings, settings.root, settings.mode
        self.log = log or logging.getLogger("repronotes")
        self.progress = progress
        self.experiments: dict[str, Experiment] = discover(self.root, settings.experiments_dir)
        self.capabilities = fingerprint.capabilities()
        self.redactor = redactor_for(self.root)
        self.lock_file = lockfile.find_lock(self.root, settings.lock_file)
        self.hasher = InputHasher(self.root, self.lock_file, self.log)
        self.cache = RunCache(settings.cache, settings.keep_runs, self.log)
        self.executor = executor or make_executor(settings.executor)
        self._states: dict[tuple[str, str], RecordState] = {}
        self._runs: dict[tuple[str, str], RunResult] = {}
        self._outcomes: dict[tuple[str, str], Outcome] = {}

    # --- planning -------------------------------------------------------------------------------

    def experiment(self, name: str) -> Experiment:
        if name not in self.experiments:
            known = ", ".join(sorted(self.experiments)) or "none"
            raise UnknownExperimentError(f"unknown experiment {name!r} (known: {known})")
        return self.experiments[name]

    def runnable(self, profile: Profile) -> bool:
        return not profile.optional and set(profile.requires) <= self.capabilities

    def hardware_for(self, profile: Profile) -> str:
        gpu = fingerprint.detect_gpu() if "cuda" in profile.requires else None
        return fingerprint.hardware_class(profile.threads, gpu)

    def plan(
        self, names: list[str] | None = None, profiles: list[str] | None = None
    ) -> list[tuple[Experiment, str]]:
        """(experiment, profile name) pairs to check, upstream first: every declared profile and every
        profile that has a record (a record of an undeclared profile is reported, not ignored)."""
        names = list(self.experiments) if names is None else names
        for name in names:
            self.experiment(name)
        pairs: list[tuple[Experiment, str]] = []
        for name in (n for n in topological_order(self.experiments, names) if n in names):
            exp = self.experiments[name]
            if profiles is not None:
                pairs += [(exp, exp.profile(p).name) for p in profiles]
            else:
                pairs += [(exp, p) for p in dict.fromkeys([*exp.profiles, *exp.recorded_profiles()])]
        return pairs

    # --- loading --------------------------------------------------------------------------------

    def record_state(self, exp: Experiment, profile: str) -> RecordState:
        key = (exp.name, profile)
        if key not in self._states:
            self._states[key] = self._load_state(exp, profile)
        return self._states[key]

    def _load_state(self, exp: Experiment, profile: str) -> RecordState:
        path = exp.record_path(profile)
        file = relative(path, self.root)
        try:
            record = load_record(path, file)
        except MissingRecordError:
            return RecordState(file, missing=True)
        except CorruptRecordError as exc:
            return RecordState(file, problem=self.redactor.text(str(exc)))
        if (record.experiment, record.profile) != (exp.name, profile):
            problem = f"{file}: names {record.experiment}/{record.profile}, not {exp.name}/{profile}"
            return RecordState(file, problem=problem)
        executed = exp.executed_path(profile)
        return RecordState(file, record, load_committed(executed, relative(executed, self.root)))

    # --- running --------------------------------------------------------------------------------

    def inputs_for(self, exp: Experiment, profile: Profile) -> InputHash:
        upstream = {name: self.ensure_run(self.experiments[name], self.experiments[name].profile(profile.name))
                    for name in exp.needs}  # fmt: skip
        files = {name: run.output_files for name, run in upstream.items()}
        return self.hasher.compute(exp, profile.name, self.hardware_for(profile), files)

    def ensure_run(self, exp: Experiment, profile: Profile, force: bool = False) -> RunResult:
        """A completed run whose inputs are today's: from this build, the cache, or executed now."""
        key = (exp.name, profile.name)
        if key in self._runs and not force:
            return self._runs[key]
        inputs = self.inputs_for(exp, profile)
        force = force or self.mode == "force"
        run = None if force else self._reusable(exp, profile, inputs)
        if run is None:
            wait = profile.timeout + 60.0
            with self.cache.locked(exp.name, profile.name, wait):
                run = None if force else self._reusable(exp, profile, inputs)  # a neighbour may have run it
                run = run or self._execute(exp, profile, inputs, force)
        self._runs[key] = run
        return run

    def current_run(self, exp: Experiment, profile: Profile) -> RunResult | None:
        """A cached run with today's inputs, without executing anything (execution off)."""
        files: dict[str, dict[str, str]] = {}
        for name in exp.needs:
            upstream = self.experiments[name]
            run = self.current_run(upstream, upstream.profile(profile.name))
            files[name] = dict(run.output_files) if run else self._recorded_outputs(name, profile.name) or {}
        inputs = self.hasher.compute(exp, profile.name, self.hardware_for(profile), files)
        return self._reusable(exp, profile, inputs)

    def _reusable(self, exp: Experiment, profile: Profile, inputs: InputHash) -> RunResult | None:
        run = self.cache.lookup(exp.name, profile.name, inputs.digest)
        if run is None or exp.kernel not in (None, "python3"):
            return run
        moved = {d: v for d, v in lockfile.installed(list(run.packages)).items() if v != run.packages[d]}
        if moved:
            self.log.info("repronotes: %s/%s: installed packages changed since the cached run (%s)", exp.name,
                          profile.name, ", ".join(f"{d} {run.packages[d]} -> {v}" for d, v in moved.items()))  # fmt: skip
            return None
        return run

    def _execute(self, exp: Experiment, profile: Profile, inputs: InputHash, force: bool) -> RunResult:
        reasons = self._why(exp, profile, inputs, force)
        self.log.info("repronotes: running %s/%s: %s", exp.name, profile.name, "; ".join(reasons))
        check_kernel(exp.kernel or "python3", exp.notebook_file)
        folder = self.cache.begin(exp.name, profile.name, inputs.digest)
        upstream = {name: self._runs[(name, profile.name)].folder for name in exp.needs}
        job = make_job(exp, profile, inputs, folder, self.cache.shared(), upstream)
        started = dt.datetime.now(dt.UTC)
        try:
            duration = self.executor.run(job, self._progress_for(exp, profile), self.redactor.text)
            run = finish(job, duration, started, self.redactor, self.hasher)
        except BaseException as exc:
            failed = self.cache.abandon(folder)
            scrub_partial(failed, self.redactor)
            if isinstance(exc, ExecutionError) and (failed / EXECUTED).is_file():
                kept = relative(failed / EXECUTED, self.root)
                exc.args = (f"{exc.args[0]}\n  partial executed notebook kept at {kept}",)
                exc.notebook = kept
            raise
        run = replace(run, reasons=tuple(reasons))
        self.cache.commit(run)
        return run

    def _progress_for(self, exp: Experiment, profile: Profile) -> Progress | None:
        """Progress events with the record's duration, so a display can tell the time left."""
        if self.progress is None:
            return None
        record = self.record_state(exp, profile.name).record
        expected = record.duration_s if record is not None else None
        report = self.progress
        return lambda event: report({**event, "expected_s": expected})

    def _why(self, exp: Experiment, profile: Profile, inputs: InputHash, force: bool) -> list[str]:
        if force:
            return ["forced"]
        parent = self.cache.folder(exp.name, profile.name, inputs.digest).parent
        newest = None
        for folder in (
            sorted(parent.glob("*/run.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            if parent.is_dir()
            else []
        ):
            try:
                newest = read_run(folder.parent)
                break
            except ValueError:
                continue
        if newest is None:
            return ["no cached run"]
        changes = freshness(newest.parts, inputs.parts).changes
        return [explain(c) for c in changes] or ["installed packages changed"]

    # --- checking -------------------------------------------------------------------------------

    def check(self, exp: Experiment, profile: str) -> Outcome:
        key = (exp.name, profile)
        if key not in self._outcomes:
            self._outcomes[key] = self._check(exp, profile)
        return self._outcomes[key]

    def check_all(self, names: list[str] | None = None, profiles: list[str] | None = None) -> list[Outcome]:
        return [self.check(exp, profile) for exp, profile in self.plan(names, profiles)]

    def _check(self, exp: Experiment, profile_name: str) -> Outcome:
        policy = self.policy(exp, profile_name)
        state = self.record_state(exp, profile_name)
        if not policy.declared:
            return assess(state, None, None, policy)
        profile = exp.profile(profile_name)
        run: RunResult | RunFailure | None = None
        if policy.runnable and self.mode != "off":
            try:
                run = self.ensure_run(exp, profile)
            except (ExecutionError, CaptureError) as exc:
                if getattr(exc, "exit_code", 1) != 1:
                    raise  # interrupted: stop everything
                message = str(exc).removeprefix(f"{exp.name}/{profile_name}: ")
                run = RunFailure(self.redactor.text(message), getattr(exc, "notebook", None))
        elif policy.runnable:
            run = self.current_run(exp, profile)
        fresh = self._freshness(exp, profile, state) if run is None and state.record is not None else None
        return assess(state, run, fresh, policy)

    def policy(self, exp: Experiment, profile_name: str) -> Policy:
        profile = exp.profiles.get(profile_name)
        runnable = profile is not None and self.runnable(profile)
        if runnable:
            why = "execution is off and no cached run has today's inputs"
        elif profile is not None and profile.requires and not set(profile.requires) <= self.capabilities:
            why = f"this machine cannot run it (needs {', '.join(profile.requires)})"
        else:
            why = "an optional profile is never run by the build"
        return Policy(
            experiment=exp.name,
            profile=profile_name,
            rules=exp.rules(profile_name),
            runnable=runnable,
            why_not_run=why,
            optional=profile.optional if profile else False,
            declared=profile is not None,
            declared_profiles=tuple(exp.profiles),
            spec_file=exp.spec_file,
        )

    def _freshness(self, exp: Experiment, profile: Profile, state: RecordState) -> Freshness:
        record = state.record
        assert record is not None
        files = {name: self._recorded_outputs(name, profile.name) for name in exp.needs}
        upstream = {name: f for name, f in files.items() if f is not None}
        now = self.hasher.compute(exp, profile.name, record.hardware_class, upstream)
        return freshness(record.input_parts, with_machine_of(now.parts, record.input_parts))

    def _recorded_outputs(self, name: str, profile: str) -> dict[str, str] | None:
        state = self.record_state(self.experiments[name], profile)
        return dict(state.record.output_files) if state.record is not None else None
