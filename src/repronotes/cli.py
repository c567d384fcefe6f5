"""The `repronotes` command: parse, call the pipeline, print. Nothing else lives here."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from repronotes import environ, fingerprint, markers, report
from repronotes.errors import ReproError, UnknownExperimentError
from repronotes.pipeline import MODES, Engine, Outcome
from repronotes.recorder import record_profile

HELP = """Reproducible research notes: re-run the notebooks behind a post and fail on drift.

\b
A typical session:
  repronotes status                          what is fresh, stale, missing or drifted
  repronotes run qdora_sft --profile cpu     execute, compare with the record, print a drift table
  repronotes record qdora_sft --profile cpu  accept the run as the new baseline (shows the diff)
  repronotes verify                          what CI and `mkdocs build` do: rerun what can run, verify the rest
  repronotes env                             this machine's fingerprint and hardware class

Exit status: 0 all good, 1 drift/stale/missing/error, 2 bad input, 130 interrupted.
"""


def _find_root(start: Path) -> Path:
    override = environ.project_root_override()
    if override is not None:
        return override.resolve()
    for folder in [start, *start.parents]:
        if (folder / "experiments").is_dir() or (folder / "mkdocs.yml").is_file():
            return folder
    return start


class Context:
    def __init__(self, root: Path):
        self.root = root

    def engine(self, mode: str = "auto") -> Engine:
        return Engine(self.root, mode=mode, progress=_progress)


def _progress(event: dict[str, Any]) -> None:
    click.echo("  " + report.progress_line(event), err=True)


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path), help="Project root (default: found from cwd)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.pass_context
def main(ctx: click.Context, root: Path | None, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    ctx.obj = Context((root or _find_root(Path.cwd())).resolve())


@main.command(help="Execute an experiment (or every experiment a post embeds), compare, print a drift table.")
@click.argument("target")
@click.option("-p", "--profile", "profiles", multiple=True, help="Profile(s) to run (default: all declared).")
@click.option("--force", is_flag=True, help="Re-execute even when a cached run has the same inputs.")
@click.pass_obj
def run(obj: Context, target: str, profiles: tuple[str, ...], force: bool) -> None:
    with _user_errors():
        engine = obj.engine("force" if force else "auto")
        names = _targets(obj.root, engine, target)
        outcomes = engine.check_all(names, list(profiles) or None)
        _finish(obj.root, outcomes)


@main.command(help="Accept a run as the new baseline record of one profile (refuses NaN; shows the diff).")
@click.argument("experiment")
@click.option("-p", "--profile", required=True, help="The profile to record, e.g. cpu or gpu.")
@click.option("--allow-dirty", is_flag=True, help="Record even with uncommitted changes in the git tree.")
@click.option("--force", is_flag=True, help="Re-execute even when a cached run has the same inputs.")
@click.pass_obj
def record(obj: Context, experiment: str, profile: str, allow_dirty: bool, force: bool) -> None:
    with _user_errors():
        result = record_profile(obj.engine(), experiment, profile, allow_dirty=allow_dirty, force=force)
        where = result.path.relative_to(obj.root)
        source = "executed now" if result.executed else "from the cached run with identical inputs"
        click.echo(f"recorded {experiment}/{profile} -> {where} ({source})")
        if result.previous_date:
            click.echo(f"changes against the previous record ({result.previous_date}):")
            rows = report.verdict_rows(result.diff, ["metric", "previous", "new", "tolerance", "verdict"])
            click.echo(report.text_table(rows))
        else:
            click.echo("no previous record: this is the first baseline")


@main.command(help="Fresh, stale, missing or drifted — per experiment and profile, without executing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    with _user_errors():
        outcomes = obj.engine("off").check_all()
        if as_json:
            click.echo(json.dumps(report.json_report(outcomes), indent=1, default=str))
        else:
            click.echo(report.text_table(report.summary_rows(outcomes)))
            _print_findings(outcomes)
        sys.exit(1 if any(o.failed for o in outcomes) else 0)


@main.command(help="What CI does: rerun every runnable profile that is stale or uncached; verify the rest.")
@click.option("--execute", "mode", type=click.Choice(MODES), default="auto", show_default=True)
@click.pass_obj
def verify(obj: Context, mode: str) -> None:
    with _user_errors():
        _finish(obj.root, obj.engine(mode).check_all())


@main.command(help="Print this machine's environment fingerprint (redacted) and hardware class.")
@click.option(
    "--threads", type=int, default=None, help="Thread count to fingerprint for (default: all cores)."
)
@click.pass_obj
def env(obj: Context, threads: int | None) -> None:
    click.echo(json.dumps(fingerprint.fingerprint(obj.root, threads), indent=1, sort_keys=True))


def _targets(root: Path, engine: Engine, target: str) -> list[str]:
    if target in engine.experiments:
        return [target]
    post = _post_path(root, target)
    if post is None:
        known = ", ".join(sorted(engine.experiments))
        raise UnknownExperimentError(f"{target!r} is neither an experiment ({known}) nor a post in posts/")
    names = markers.experiments_in(post.read_text(encoding="utf-8"), post.relative_to(root).as_posix())
    if not names:
        raise UnknownExperimentError(f"{post.relative_to(root)} embeds no experiment")
    return names


def _post_path(root: Path, target: str) -> Path | None:
    for candidate in (root / target, root / "posts" / target, root / "posts" / f"{target}.md"):
        if candidate.is_file() and candidate.suffix == ".md":
            return candidate
    return None


def _finish(root: Path, outcomes: list[Outcome]) -> None:
    click.echo(report.text_table(report.summary_rows(outcomes)))
    for outcome in outcomes:
        if outcome.verdicts:
            click.echo(
                f"\n{outcome.experiment}/{outcome.profile}: {report.badge(outcome.status, outcome.action)}"
            )
            click.echo(report.text_table(report.metric_rows(outcome)))
        for note in outcome.notes:
            click.echo(f"  note: {note}")
    folder = report.write_reports(root, outcomes)
    click.echo(
        f"\ndrift report: {folder.relative_to(root) if folder.is_relative_to(root) else folder}/drift_report.md"
    )
    _print_findings(outcomes)
    sys.exit(1 if any(o.failed for o in outcomes) else 0)


def _print_findings(outcomes: list[Outcome]) -> None:
    failures = [f for o in outcomes for f in o.findings]
    if failures:
        click.echo(f"\nFAILED: {len(failures)} reproducibility check(s):", err=True)
        for line in failures:
            click.echo(f"  - {line}", err=True)


class _user_errors:
    """User errors print one clear message, no traceback, and exit non-zero."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, ReproError):
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        if isinstance(exc, KeyboardInterrupt):
            click.echo("interrupted; records untouched", err=True)
            sys.exit(130)
        return False


if __name__ == "__main__":  # pragma: no cover
    main()
