"""plan -> execute -> compare -> report: the engine both faces (CLI, plugin) call.

For every experiment and profile asked for (upstream `needs` first):
- a profile this machine can run is re-executed unless a cached run has the same input hash
  (execute mode `auto`), always (`force`), or never (`off`: verify only); its captured
  metrics are compared with the record under each metric's tolerance for the hardware class;
- a profile it cannot run (gpu on CI) is verified: the committed executed notebook must match
  the record's digest (integrity) and the input hash must be unchanged (freshness).
Each check yields an Outcome; failing outcomes carry one line per failure naming the
experiment, profile, metric, recorded and new value, tolerance, and the rerun command.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repronotes import cache, fingerprint
from repronotes.errors import (
    CaptureError,
    ExecutionError,
    RecordError,
    RunInterruptedError,
    SpecError,
    UnknownExperimentError,
)
from repronotes.execute import Progress
from repronotes.record import load_record, notebook_outputs_digest
from repronotes.redact import redactor_for
from repronotes.runs import RunResult, execute_run
from repronotes.spec import Experiment, Profile, discover, relative, topological_order
from repronotes.tolerance import Verdict, compare

logger = logging.getLogger(__name__)
MODES = ("auto", "force", "off")
FAILING_STATUSES = ("drifted", "stale", "missing", "broken", "error")


@dataclass
class Outcome:
    experiment: str
    profile: str
    status: str  # reproduced | verified | stale | drifted | missing | broken | error | not-recorded
    action: str  # executed | cached | verified-only | skipped
    rerun: str
    hardware: str | None = None
    record_hardware: str | None = None
    record_date: str | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in FAILING_STATUSES


class Engine:
    """One build's view of the project: experiments, this machine, the cache."""

    def __init__(self, root: Path, mode: str = "auto", progress: Progress | None = None):
        if mode not in MODES:
            raise SpecError("<option>", "execute", f"must be one of {', '.join(MODES)}")
        self.root, self.mode, self.progress = root, mode, progress
        self.experiments: dict[str, Experiment] = discover(root)
        self.capabilities = fingerprint.capabilities()
        self.redactor = redactor_for(root)
        self._runs: dict[tuple[str, str], RunResult] = {}
        self._outcomes: dict[tuple[str, str], Outcome] = {}

    # --- planning -------------------------------------------------------------------------

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

    def plan(self, names: list[str], profiles: list[str] | None = None) -> list[tuple[Experiment, Profile]]:
        """(experiment, profile) pairs to check, upstream first; unknown names or profiles raise."""
        for name in names:
            self.experiment(name)
        order = [name for name in topological_order(self.experiments, names) if name in names]
        pairs = []
        for name in order:
            exp = self.experiments[name]
            for profile_name in profiles if profiles is not None else list(exp.profiles):
                pairs.append((exp, exp.profile(profile_name)))
        return pairs

    # --- running --------------------------------------------------------------------------

    def ensure_run(self, exp: Experiment, profile: Profile, force: bool = False) -> RunResult:
        """A completed run whose inputs match today's: from this build, the cache, or executed now."""
        key = (exp.name, profile.name)
        if key in self._runs:
            return self._runs[key]
        upstream_reran = [
            name for name in exp.needs if self._ensure_upstream(name, profile.name).action == "executed"
        ]
        inputs = cache.input_hash(exp, profile.name, self.hardware_for(profile), self.experiments)
        cached = cache.load_cached_run(self.root, exp.name, profile.name)
        reasons = self._why_execute(cached, inputs, upstream_reran, force)
        if not reasons:
            run = RunResult.from_cache(cached, cache.run_dir(self.root, exp.name, profile.name))
        else:
            logger.info("running %s/%s: %s", exp.name, profile.name, "; ".join(reasons))
            run = execute_run(exp, profile, inputs, self.redactor, self.progress)
            run.reasons = reasons
        self._runs[key] = run
        return run

    def _ensure_upstream(self, name: str, profile_name: str) -> RunResult:
        """The upstream's run of the profile with the same name: its own params, requirements and threads."""
        upstream = self.experiments[name]
        return self.ensure_run(upstream, upstream.profile(profile_name))

    def _why_execute(
        self, cached: dict[str, Any] | None, inputs: cache.InputHash, upstream: list[str], force: bool
    ):
        if force or self.mode == "force":
            return ["forced"]
        if cached is None:
            return ["no cached run"]
        if upstream:
            return [f"upstream {name} re-ran" for name in upstream]
        if cached.get("input_hash") != inputs.digest:
            return cache.explain_changes(cached.get("parts", {}), inputs.parts) or ["inputs changed"]
        return []

    # --- checking -------------------------------------------------------------------------

    def check(self, exp: Experiment, profile: Profile) -> Outcome:
        key = (exp.name, profile.name)
        if key not in self._outcomes:
            self._outcomes[key] = self._check(exp, profile)
        return self._outcomes[key]

    def check_all(self, names: list[str] | None = None, profiles: list[str] | None = None) -> list[Outcome]:
        return [self.check(exp, prof) for exp, prof in self.plan(names or list(self.experiments), profiles)]

    def _check(self, exp: Experiment, profile: Profile) -> Outcome:
        outcome = Outcome(
            exp.name, profile.name, "verified", "verified-only", exp.rerun_command(profile.name)
        )
        record = self._load_record(exp, profile, outcome)
        if outcome.status in ("broken", "not-recorded"):
            return outcome
        if self.runnable(profile) and self.mode != "off":
            self._rerun_and_compare(exp, profile, record, outcome)
        elif (
            record is not None
            and self.runnable(profile)
            and (cached := self._current_cached_run(exp, profile))
        ):
            self._rerun_and_compare(
                exp, profile, record, outcome, cached
            )  # execution off: the cached run stands in
        elif record is not None:
            self._verify_freshness(exp, profile, record, outcome)
        else:
            outcome.action = "skipped"
        return outcome

    def _current_cached_run(self, exp: Experiment, profile: Profile) -> RunResult | None:
        """This machine's last run of the profile, if it used today's inputs (execution off never executes)."""
        cached = cache.load_cached_run(self.root, exp.name, profile.name)
        inputs = cache.input_hash(exp, profile.name, self.hardware_for(profile), self.experiments)
        if cached is None or cached.get("input_hash") != inputs.digest:
            return None
        return RunResult.from_cache(cached, cache.run_dir(self.root, exp.name, profile.name))

    def _load_record(self, exp: Experiment, profile: Profile, outcome: Outcome) -> dict[str, Any] | None:
        path = exp.record_path(profile.name)
        rel = relative(path, self.root)
        if not path.is_file() and profile.optional:
            outcome.status, outcome.action = "not-recorded", "skipped"
            outcome.notes.append("optional profile, documented but not recorded")
            return None
        try:
            record = load_record(path, rel)
        except RecordError as exc:
            missing = not path.is_file()
            outcome.status = "missing" if missing else "broken"
            outcome.findings.append(
                f"{exp.name}/{profile.name}: {exc} — rerun: repronotes record "
                f"{exp.name} --profile {profile.name}"
            )
            return None
        outcome.record_hardware = record["environment"].get("hardware_class")
        outcome.record_date = record["run"].get("date")
        self._check_integrity(exp, profile, record, outcome)
        return record

    def _check_integrity(
        self, exp: Experiment, profile: Profile, record: dict[str, Any], outcome: Outcome
    ) -> None:
        executed = exp.executed_path(profile.name)
        rel = relative(executed, self.root)
        try:
            digest = notebook_outputs_digest(json.loads(executed.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            digest = None
        if digest != record["outputs"]["notebook_sha256"]:
            outcome.status = "broken"
            problem = "is missing" if digest is None else "does not match the record's outputs digest"
            outcome.findings.append(
                f"{exp.name}/{profile.name}: {rel} {problem} (integrity) — rerun: "
                f"repronotes record {exp.name} --profile {profile.name}"
            )

    def _verify_freshness(
        self, exp: Experiment, profile: Profile, record: dict[str, Any], outcome: Outcome
    ) -> None:
        recorded_class = record["environment"].get("hardware_class", "unknown")
        now = cache.input_hash(exp, profile.name, recorded_class, self.experiments)
        if now.digest != record["inputs"]["hash"]:
            reasons = cache.explain_changes(record["inputs"].get("parts", {}), now.parts)
            outcome.status = "stale" if outcome.status != "broken" else outcome.status
            outcome.findings.append(
                f"{exp.name}/{profile.name}: record is stale ({', '.join(reasons) or 'inputs changed'}); "
                f"{self._why_not_rerun(profile)} — rerun on {recorded_class}: "
                f"repronotes record {exp.name} --profile {profile.name}"
            )

    def _why_not_rerun(self, profile: Profile) -> str:
        if self.runnable(profile):
            return "execution is off and no cached run has today's inputs"
        return f"this machine cannot run it ({_needs(profile)})"

    def _rerun_and_compare(
        self,
        exp: Experiment,
        profile: Profile,
        record: dict[str, Any] | None,
        outcome: Outcome,
        run: RunResult | None = None,
    ) -> None:
        try:
            run = run or self.ensure_run(exp, profile)
        except RunInterruptedError:
            raise
        except (ExecutionError, CaptureError) as exc:
            outcome.status, outcome.action = "error", "executed"
            label = f"{exp.name}/{profile.name}: "
            message = str(exc) if str(exc).startswith(label) else label + str(exc)
            outcome.findings.append(f"{message} — rerun: {outcome.rerun}")
            return
        outcome.action, outcome.hardware = run.action, run.hardware_class
        outcome.notes.extend(f"re-ran: {reason}" for reason in run.reasons)
        if record is None:
            outcome.verdicts = [
                _new_verdict(exp, profile.name, name, entry) for name, entry in sorted(run.metrics.items())
            ]
            return
        if outcome.status == "verified":
            outcome.status = "reproduced"
        if record["inputs"]["hash"] != run.input_hash:
            changed = cache.explain_changes(record["inputs"].get("parts", {}), run.parts)
            outcome.notes.append(
                f"inputs differ from the record's ({', '.join(changed)}); compared by tolerance"
            )
        outcome.verdicts = compare_metrics(exp, profile.name, record, run)
        for verdict in (v for v in outcome.verdicts if v.failed):
            if outcome.status != "broken":
                outcome.status = "drifted"
            outcome.findings.append(drift_line(exp, profile.name, verdict, outcome.rerun))


def compare_metrics(exp: Experiment, profile: str, record: dict[str, Any], run: RunResult) -> list[Verdict]:
    same_hardware = record["environment"].get("hardware_class") == run.hardware_class
    verdicts = []
    for name in sorted(set(record["metrics"]) | set(run.metrics)):
        spec = exp.metric_spec(name, profile)
        if spec is None:
            verdicts.append(
                Verdict(name, "unexpected", None, None, "-", "no tolerance declared in experiment.yaml")
            )
            continue
        tol = spec.tolerance_for(same_hardware)
        verdicts.append(compare(name, record["metrics"].get(name), run.metrics.get(name), tol))
    return verdicts


def _new_verdict(exp: Experiment, profile: str, name: str, entry: dict[str, Any]) -> Verdict:
    spec = exp.metric_spec(name, profile)
    shown = entry.get("value") if "value" in entry else f"{len(entry.get('values', []))} pts"
    return Verdict(name, "new", None, shown, spec.tolerance.describe() if spec else "-", "no record yet")


def drift_line(exp: Experiment, profile: str, verdict: Verdict, rerun: str) -> str:
    return (
        f"{exp.name}/{profile}: metric {verdict.metric} {verdict.status}: recorded {_short(verdict.recorded)}, "
        f"this run {_short(verdict.observed)}, tolerance {verdict.tolerance}"
        f"{' (' + verdict.detail + ')' if verdict.detail else ''} — rerun: {rerun}"
    )


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def _needs(profile: Profile) -> str:
    return f"needs {', '.join(profile.requires)}" if profile.requires else "optional profile"


__all__ = ["Engine", "Outcome", "MODES", "compare_metrics", "drift_line"]
