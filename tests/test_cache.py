"""RunCache: entries keyed by input hash, damaged entries skipped, --force that survives failure, locks."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from repronotes.cache import EXECUTED, RUN_FILE, RunCache, ensure_folder
from repronotes.errors import BusyError
from repronotes.model import Action, MetricEntry, RunResult

LOG = logging.getLogger("repronotes.test_cache")
H1, H2, H3, H4 = ("1" * 64, "2" * 64, "3" * 64, "4" * 64)


@pytest.fixture
def cache(tmp_path: Path) -> RunCache:
    return RunCache(tmp_path / "cache", keep=3, log=LOG)


def run_in(folder: Path, input_hash: str, value: float = 0.25) -> RunResult:
    """What a finished run leaves behind: its executed notebook, and the RunResult to commit."""
    nbformat.write(nbformat.v4.new_notebook(), str(folder / EXECUTED))
    return RunResult(
        experiment="toy",
        profile="cpu",
        input_hash=input_hash,
        parts={"notebook": "n", "hardware_class": "cpu-x-1t"},
        hardware_class="cpu-x-1t",
        metrics={"accuracy": MetricEntry(value=value, n=200, se=0.03, se_method="given")},
        captures=(
            {
                "kind": "metric",
                "name": "accuracy",
                "value": value,
                "n": 200,
                "se": 0.03,
                "se_method": "given",
            },
        ),
        artifacts={},
        kernel_facts={},
        packages={},
        duration_s=1.5,
        date="2026-01-02T03:04:05+00:00",
        notebook_digest="d" * 64,
        output_files={"out.csv": "e" * 64},
        folder=folder,
    )


def complete(cache: RunCache, input_hash: str, value: float = 0.25) -> RunResult:
    run = run_in(cache.begin("toy", "cpu", input_hash), input_hash, value)
    cache.commit(run)
    return run


def entries(cache: RunCache) -> list[str]:
    parent = cache.root / "runs" / "toy" / "cpu"
    return sorted(p.name for p in parent.iterdir())


# --- lookup ---------------------------------------------------------------------------------------


def test_lookup_finds_a_complete_entry_by_hash(cache):
    run = complete(cache, H1)
    found = cache.lookup("toy", "cpu", H1)
    assert found is not None
    assert found.action is Action.CACHED and found.folder == run.folder
    assert found.metrics == run.metrics and found.output_files == run.output_files
    assert (found.input_hash, found.parts, found.duration_s) == (H1, run.parts, 1.5)
    assert cache.lookup("toy", "cpu", H2) is None
    assert cache.lookup("toy", "gpu", H1) is None


def test_an_entry_without_run_json_is_not_complete(cache):
    run_in(cache.begin("toy", "cpu", H1), H1)
    assert cache.lookup("toy", "cpu", H1) is None


def _break_json(folder: Path) -> None:
    (folder / RUN_FILE).write_text('{"schema": 2, "status": "comp')


def _wrong_schema(folder: Path) -> None:
    data = json.loads((folder / RUN_FILE).read_text())
    (folder / RUN_FILE).write_text(json.dumps({**data, "schema": 1}))


def _no_notebook(folder: Path) -> None:
    (folder / EXECUTED).unlink()


def _metric_not_an_object(folder: Path) -> None:
    data = json.loads((folder / RUN_FILE).read_text())
    (folder / RUN_FILE).write_text(json.dumps({**data, "metrics": {"accuracy": 0.25}}))


def _metric_edited(folder: Path) -> None:
    data = json.loads((folder / RUN_FILE).read_text())
    data["metrics"]["accuracy"]["value"] = 0.99
    (folder / RUN_FILE).write_text(json.dumps(data))


def _parts_missing(folder: Path) -> None:
    data = json.loads((folder / RUN_FILE).read_text())
    del data["parts"]
    (folder / RUN_FILE).write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_break_json, "unreadable"),
        (_wrong_schema, "not a complete run of schema 2"),
        (_no_notebook, "executed.ipynb is missing"),
        (_metric_not_an_object, "metric 'accuracy' is not an object"),
        (_metric_edited, "its metrics are not what its captures say"),
        (_parts_missing, "malformed"),
    ],
)
def test_a_damaged_entry_is_skipped_with_a_warning(cache, caplog, damage, reason):
    run = complete(cache, H1)
    damage(run.folder)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert cache.lookup("toy", "cpu", H1) is None
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "damaged cache entry toy/cpu" in warning and reason in warning


# --- begin / commit / abandon ---------------------------------------------------------------------


def test_a_failed_rerun_of_the_same_inputs_restores_the_last_good_entry(cache):
    good = complete(cache, H1, value=0.25)
    folder = cache.begin("toy", "cpu", H1)
    assert folder == good.folder
    assert cache.lookup("toy", "cpu", H1) is None  # moved aside while the new run is under way
    (folder / "partial.txt").write_text("half a run")
    failed = cache.abandon(folder)
    assert failed.name == folder.name + ".failed" and (failed / "partial.txt").is_file()
    restored = cache.lookup("toy", "cpu", H1)
    assert restored is not None and restored.metrics["accuracy"].value == 0.25
    assert sorted(entries(cache)) == [H1[:16], H1[:16] + ".failed"]


def test_a_successful_rerun_replaces_the_entry_and_drops_the_old_one(cache):
    complete(cache, H1, value=0.25)
    complete(cache, H1, value=0.5)
    found = cache.lookup("toy", "cpu", H1)
    assert found is not None and found.metrics["accuracy"].value == 0.5
    assert entries(cache) == [H1[:16]]


def test_abandoning_a_first_run_leaves_no_entry(cache):
    folder = cache.begin("toy", "cpu", H1)
    cache.abandon(folder)
    assert cache.lookup("toy", "cpu", H1) is None
    assert entries(cache) == [H1[:16] + ".failed"]
    complete(cache, H1)  # a later run clears the old failure
    assert entries(cache) == [H1[:16]]


def test_recover_after_a_crash_mid_run_puts_the_previous_entry_back(cache):
    complete(cache, H1, value=0.25)
    run_in(cache.begin("toy", "cpu", H1), H1, value=0.5)  # SIGKILL before commit: no run.json
    with cache.locked("toy", "cpu", wait_s=1):
        pass
    found = cache.lookup("toy", "cpu", H1)
    assert found is not None and found.metrics["accuracy"].value == 0.25
    assert H1[:16] + ".previous" not in entries(cache)


def test_recover_after_a_crash_between_commit_and_cleanup_keeps_the_new_entry(cache):
    complete(cache, H1, value=0.25)
    folder = cache.begin("toy", "cpu", H1)
    cache.commit(run_in(folder, H1, value=0.5))
    # simulate the crash: the old entry is still lying aside next to the complete new one
    stale = folder.with_name(folder.name + ".previous")
    stale.mkdir()
    (stale / RUN_FILE).write_text("{}")
    with cache.locked("toy", "cpu", wait_s=1):
        pass
    found = cache.lookup("toy", "cpu", H1)
    assert found is not None and found.metrics["accuracy"].value == 0.5
    assert entries(cache) == [H1[:16]]


# --- pruning --------------------------------------------------------------------------------------


def _age(run: RunResult, seconds_ago: float) -> None:
    stamp = time.time() - seconds_ago
    os.utime(run.folder / RUN_FILE, (stamp, stamp))


def test_prune_keeps_the_newest_entries(tmp_path):
    cache = RunCache(tmp_path / "cache", keep=2, log=LOG)
    for input_hash, age in ((H1, 300), (H2, 100), (H3, 200)):
        _age(complete(cache, input_hash), age)
    assert entries(cache) == [H2[:16], H3[:16]]  # the third commit pruned the oldest (H1)
    complete(cache, H4)
    assert entries(cache) == [H2[:16], H4[:16]]
    assert cache.lookup("toy", "cpu", H1) is None and cache.lookup("toy", "cpu", H3) is None


def test_prune_never_removes_the_entry_just_committed(tmp_path):
    cache = RunCache(tmp_path / "cache", keep=1, log=LOG)
    _age(complete(cache, H1), -3600)  # a clock that jumped: the old entry looks newer
    complete(cache, H2)
    assert cache.lookup("toy", "cpu", H2) is not None


# --- the lock -------------------------------------------------------------------------------------

HOLDER = """
import sys, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
lock.release()
"""


@pytest.fixture
def holder(cache):
    """Another process holding toy/cpu's lock until told (a line on its stdin) to let go."""
    path = ensure_folder(cache.root, "locks") / "toy@cpu.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.communicate("go\n", timeout=10)


def test_a_lock_held_elsewhere_makes_a_short_wait_raise_busy(cache, holder, caplog):
    with (
        caplog.at_level(logging.INFO, logger=LOG.name),
        pytest.raises(BusyError) as err,
        cache.locked("toy", "cpu", wait_s=0.2),
    ):
        pytest.fail("the lock was acquired while another process held it")
    assert "toy/cpu: another repronotes run still holds its lock" in str(err.value)
    assert "wait for it to finish, or stop it" in str(err.value)
    assert any("waiting for another run of toy/cpu to finish" in r.getMessage() for r in caplog.records)


def test_the_wait_ends_when_the_other_run_releases_the_lock(cache, holder):
    class ReleaseWhenWaiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting for another run" in record.getMessage():
                holder.communicate("go\n", timeout=10)

    log = logging.getLogger("repronotes.test_cache.release")
    log.setLevel(logging.INFO)
    handler = ReleaseWhenWaiting()
    log.addHandler(handler)
    try:
        waiting = RunCache(cache.root, keep=3, log=log)
        entered = False
        with waiting.locked("toy", "cpu", wait_s=30):
            entered = True
        assert entered and holder.returncode == 0
    finally:
        log.removeHandler(handler)


def test_a_free_lock_is_taken_without_waiting(cache, caplog):
    with caplog.at_level(logging.INFO, logger=LOG.name), cache.locked("toy", "cpu", wait_s=0.01):
        # re-entering from another instance of the same process would block: it is really held
        other = RunCache(cache.root, keep=3, log=LOG)
        with pytest.raises(BusyError), other.locked("toy", "cpu", wait_s=0.01):
            pass
    assert sum("waiting for another run" in r.getMessage() for r in caplog.records) == 1


# --- git ------------------------------------------------------------------------------------------


def test_the_cache_ignores_itself_for_git(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "notes.md").write_text("# tracked\n")
    runs = ensure_folder(repo / ".cache" / "repronotes", "runs")
    (runs / "executed.ipynb").write_text("{}")
    assert (repo / ".cache" / "repronotes" / ".gitignore").read_text().splitlines()[-1] == "*"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(runs / "executed.ipynb")], cwd=repo)
    assert ignored.returncode == 0
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True
    )
    assert staged.stdout.split() == ["notes.md"]
