"""The `repronotes` command: parse, call the pipeline, print. Nothing else lives here."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn

import click

from repronotes import fingerprint, lockfile, markers, progress, report
from repronotes.cache import ensure_folder
from repronotes.errors import ReproError, UnknownExperimentError
from repronotes.model import Outcome
from repronotes.pipeline import MODES, Engine
from repronotes.plugin.config import EXECUTORS
from repronotes.project import Settings, find_root, load_settings
from repronotes.recorder import record_profile
from repronotes.redact import redactor_for
from repronotes.scaffold import init_experiment

HELP = """Reproducible research notes: re-run the notebooks behind a page and fail on drift.

\b
A typical session:
  repronotes init pi_estimate                scaffold an experiment (notebook + experiment.yaml)
  repronotes run pi_estimate                 execute, compare with the record, print a drift table
  repronotes record pi_estimate -p cpu       accept the run as the new baseline (shows the diff)
  repronotes status                          what is fresh, stale, missing or drifted (runs nothing)
  repronotes verify                          what CI and `mkdocs build` do: rerun what can run, verify the rest
  repronotes run docs/index.md               every experiment a page embeds
  repronotes env                             this machine's fingerprint and hardware class

Exit status: 0 all good, 1 drift/stale/missing/error, 2 bad input, 130/143/129 interrupted.
"""
log = logging.getLogger("repronotes")


class Context:
    def __init__(self, explicit_root: Path | None):
        self.explicit_root = explicit_root
        self._settings: Settings | None = None

    def settings(self, **overrides: Any) -> Settings:
        root = find_root(Path.cwd(), self.explicit_root)
        return load_settings(root, {k: v for k, v in overrides.items() if v is not None})

    def engine(self, mode: str | None = None, executor: str | None = None) -> Engine:
        settings = self.settings(execute=mode, executor=executor)
        return Engine(settings, log=log, progress=progress.for_terminal(sys.stderr))


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root", type=click.Path(path_type=Path), help="Project root (default: found from the current folder)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.pass_context
def main(ctx: click.Context, root: Path | None, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    ctx.obj = Context(root)


@main.command(help="Execute an experiment (or every experiment a page embeds), compare, print a drift table.")
@click.argument("target")
@click.option("-p", "--profile", "profiles", multiple=True, help="Profile(s) to run (default: all declared).")
@click.option("--force", is_flag=True, help="Re-execute even when a cached run has the same inputs.")
@click.option("--executor", type=click.Choice(EXECUTORS), default=None, help="Where to run (default: local).")
@click.pass_obj
def run(obj: Context, target: str, profiles: tuple[str, ...], force: bool, executor: str | None) -> None:
    with _user_errors():
        engine = obj.engine("force" if force else None, executor)
        names = _targets(engine, target)
        _finish(engine, engine.check_all(names, list(profiles) or None))


@main.command(help="Accept a run as the new baseline record of one profile (refuses NaN; shows the diff).")
@click.argument("experiment")
@click.option("-p", "--profile", required=True, help="The profile to record, e.g. cpu or gpu.")
@click.option(
    "--allow-dirty", is_flag=True, help="Record even with uncommitted changes to files the run depends on."
)
@click.option("--force", is_flag=True, help="Re-execute even when a cached run has the same inputs.")
@click.pass_obj
def record(obj: Context, experiment: str, profile: str, allow_dirty: bool, force: bool) -> None:
    with _user_errors():
        engine = obj.engine()
        result = record_profile(engine, experiment, profile, allow_dirty=allow_dirty, force=force)
        say = _sayer(engine)
        for warning in result.warnings:
            say(f"warning: {warning}", err=True)
        source = "executed now" if result.executed else "from the cached run with identical inputs"
        say(f"recorded {experiment}/{profile} -> {result.path.relative_to(engine.root)} ({source})")
        if result.previous_date:
            say(f"changes against the previous record ({result.previous_date}):")
            say(
                report.text_table(
                    report.verdict_rows(result.diff, ["metric", "previous", "new", "tolerance", "verdict"])
                )
            )
        else:
            say("no previous record: this is the first baseline")


@main.command(
    help="Fresh, stale, missing or drifted, per experiment and profile, without executing anything."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    with _user_errors():
        engine = obj.engine("off")
        outcomes = engine.check_all()
        say = _sayer(engine)
        if as_json:
            say(json.dumps(report.json_report(outcomes), indent=1, default=str))
        else:
            say(report.text_table(report.summary_rows(outcomes)))
            _print_findings(engine, outcomes)
        sys.exit(1 if any(o.failed for o in outcomes) else 0)


@main.command(help="What CI does: rerun every runnable profile that is stale or uncached; verify the rest.")
@click.option(
    "--execute", "mode", type=click.Choice(MODES), default=None, help="auto (default), force or off."
)
@click.option("--executor", type=click.Choice(EXECUTORS), default=None, help="Where to run (default: local).")
@click.pass_obj
def verify(obj: Context, mode: str | None, executor: str | None) -> None:
    with _user_errors():
        engine = obj.engine(mode, executor)
        _finish(engine, engine.check_all())


@main.command(
    help="Scaffold an experiment (or adopt a notebook) and make the folder a site if it is not one."
)
@click.argument("name")
@click.option(
    "--from", "adopt", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Adopt this .ipynb."
)
@click.option(
    "--tag-first-cell", is_flag=True, help="Tag the adopted notebook's first code cell `parameters`."
)
@click.pass_obj
def init(obj: Context, name: str, adopt: Path | None, tag_first_cell: bool) -> None:
    with _user_errors():
        root = (obj.explicit_root or Path.cwd()).resolve()
        settings = load_settings(root) if (root / "mkdocs.yml").is_file() else Settings(root)
        done = init_experiment(root, name, settings.experiments_dir, adopt, tag_first_cell)
        for path in done.written:
            click.echo(f"wrote {path.relative_to(root)}")
        for note in done.notes:
            click.echo(f"note: {note}")
        click.echo(f"next: repronotes run {name}   then   repronotes record {name} --profile cpu")


@main.command(help="Print this machine's environment fingerprint (redacted) and hardware class.")
@click.option(
    "--threads", type=int, default=None, help="Thread count to fingerprint for (default: all cores)."
)
@click.pass_obj
def env(obj: Context, threads: int | None) -> None:
    with _user_errors():
        settings = obj.settings()
        lock = lockfile.find_lock(settings.root, settings.lock_file)
        data = fingerprint.fingerprint(settings.root, threads, lock)
        click.echo(json.dumps(redactor_for(settings.root).obj(data), indent=1, sort_keys=True))


def _targets(engine: Engine, target: str) -> list[str]:
    if target in engine.experiments:
        return [target]
    page = _page_path(engine.settings, target)
    if page is None:
        known = ", ".join(sorted(engine.experiments)) or "none"
        raise UnknownExperimentError(
            f"{target!r} is neither an experiment (known: {known}) nor a Markdown page"
        )
    where = page.relative_to(engine.root).as_posix()
    names = markers.experiments_in(page.read_text(encoding="utf-8"), where)
    if not names:
        raise UnknownExperimentError(f"{where} embeds no experiment")
    return names


def _page_path(settings: Settings, target: str) -> Path | None:
    root = settings.root
    folders = [Path.cwd(), root, root / settings.docs_dir] + (
        [root / settings.posts_dir] if settings.posts_dir else []
    )
    for folder in folders:
        for candidate in (folder / target, folder / f"{target}.md"):
            if (
                candidate.is_file()
                and candidate.suffix == ".md"
                and candidate.resolve().is_relative_to(root.resolve())
            ):
                return candidate.resolve()
    return None


def _sayer(engine: Engine) -> Any:
    def say(text: str, err: bool = False) -> None:
        click.echo(engine.redactor.text(text), err=err)

    return say


def _finish(engine: Engine, outcomes: list[Outcome]) -> NoReturn:
    say = _sayer(engine)
    close = getattr(engine.progress, "close", None)
    if close is not None:
        close()
    say(report.text_table(report.summary_rows(outcomes)))
    for outcome in outcomes:
        if outcome.verdicts:
            say(f"\n{outcome.experiment}/{outcome.profile}: {report.badge(outcome.status, outcome.action)}")
            say(report.text_table(report.metric_rows(outcome)))
        for note in outcome.notes:
            say(f"  note: {note}")
    folder = report.write_reports(ensure_folder(engine.settings.cache, "reports"), outcomes, engine.redactor)
    shown = folder.relative_to(engine.root) if folder.is_relative_to(engine.root) else folder
    say(f"\ndrift report: {shown}/drift_report.md")
    _print_findings(engine, outcomes)
    sys.exit(1 if any(o.failed for o in outcomes) else 0)


def _print_findings(engine: Engine, outcomes: list[Outcome]) -> None:
    failures = [f for o in outcomes for f in o.findings]
    if failures:
        say = _sayer(engine)
        say(f"\nFAILED: {len(failures)} reproducibility check(s):", err=True)
        for finding in failures:
            say(f"  - {report.finding_line(finding)}", err=True)


class _user_errors:
    """User errors print one clear (redacted) message, no traceback, and exit non-zero."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if isinstance(exc, ReproError):
            click.echo(f"error: {_redacted(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        if isinstance(exc, KeyboardInterrupt):
            click.echo("interrupted; records untouched", err=True)
            sys.exit(130)
        return False


def _redacted(text: str) -> str:
    try:
        root = find_root(Path.cwd())
    except ReproError:
        root = Path.cwd()
    return redactor_for(root).text(text)


if __name__ == "__main__":  # pragma: no cover
    main()
