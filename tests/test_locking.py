"""Concurrent runs and builds: one execution per experiment/profile, the other waits and reuses it;
a bounded wait fails clearly; builds into one site folder take turns; the verification log survives."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from projectkit import BIN

pytestmark = pytest.mark.slow

MARKER = "time.sleep(131.5)"
CODE = f"""\
import os, subprocess, sys, time
from repronotes import capture
capture.metric("count", 42)
delay = float(os.environ.get("SLOW_SECONDS_X", "0"))  # slow only when asked at run time: same inputs
if delay:
    subprocess.Popen([sys.executable, "-c", "import time; {MARKER}"])
    time.sleep(delay)
"""
SPEC = """\
title: Shared
profiles:
  cpu: {timeout: 300, threads: 1}
metrics:
  count: {exact: true}
"""
POST = "Count: {{ value: toy.count }}.\n\n{{ experiment: toy }}\n"


def _start(project, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*args], cwd=project.root, env={**os.environ, **(env or {})}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        pytest.fail(f"{proc.args} still running after {timeout} s")


def _marker_alive() -> bool:
    pattern = re.sub(r"([.()])", r"\\\1", MARKER)  # pgrep takes a regular expression
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, timeout=10).returncode == 0


@pytest.fixture
def recorded(project):
    """Recorded (fast), then the cache emptied: the next run of toy/cpu must execute."""
    project.experiment(code=CODE, spec=SPEC, params="")
    result = project.cli("record", "toy", "--profile", "cpu")
    assert result.returncode == 0, result.stderr
    shutil.rmtree(project.root / ".cache" / "repronotes" / "runs")
    return project


def _entries(project) -> list[str]:
    return sorted(p.name for p in (project.root / ".cache/repronotes/runs/toy/cpu").iterdir())


def test_two_runs_at_once_execute_once_and_the_second_reuses_the_first(recorded):
    slow = {"SLOW_SECONDS_X": "4"}
    procs = [_start(recorded, str(BIN / "repronotes"), "run", "toy", env=slow) for _ in range(2)]
    results = [(proc, *_finish(proc)) for proc in procs]
    for proc, out, err in results:
        assert proc.returncode == 0, err
        assert "toy/cpu" in out and "reproduced" in out
    errs = [err for _, _, err in results]
    assert sum(err.count("running toy/cpu") for err in errs) == 1  # executed exactly once
    waited = [err for err in errs if "waiting for another run of toy/cpu" in err]
    assert len(waited) == 1 and "running toy/cpu" not in waited[0]  # the waiter reused the run
    assert "reproduced (cached run)" in next(out for _, out, err in results if err is waited[0])
    assert len(_entries(recorded)) == 1 and not _entries(recorded)[0].endswith((".failed", ".previous"))


def test_a_bounded_wait_gives_up_with_a_busy_error(recorded):
    first = _start(recorded, str(BIN / "repronotes"), "run", "toy", env={"SLOW_SECONDS_X": "120"})
    try:
        end = time.monotonic() + 60
        while not _marker_alive():  # the first run holds the lock once its notebook is running
            assert first.poll() is None and time.monotonic() < end, (
                "the first run never reached its slow cell"
            )
            time.sleep(0.2)
        second = recorded.cli("run", "toy", env={"REPRONOTES_LOCK_WAIT": "1"}, timeout=60)
        assert second.returncode == 1, second.stderr
        assert "waiting for another run of toy/cpu to finish (up to 1 s)" in second.stderr
        assert (
            "error: toy/cpu: another repronotes run still holds its lock after 1 s; wait for it to finish, or stop it"
            in second.stderr
        )
        assert "running toy/cpu" not in second.stderr and "Traceback" not in second.stderr
    finally:
        os.kill(first.pid, signal.SIGTERM)
        _finish(first, timeout=60)
    assert first.returncode == 143


def test_builds_into_the_same_site_folder_take_turns(recorded):
    recorded.post("p", POST)
    assert recorded.build().returncode == 0  # executes once and caches; the pairs below reuse the run
    site = recorded.root / "site_build"
    for _ in range(3):
        pair = [_start(recorded, str(BIN / "mkdocs"), "build", "--strict") for _ in range(2)]
        for proc in pair:
            out, err = _finish(proc)
            assert proc.returncode == 0, err
            assert "running toy/cpu" not in err
        page = (site / "p" / "index.html").read_text()
        assert "reproduced (cached run)" in page and "rn-panel" in page
        for path in ("index.html", "notebooks/toy/cpu/index.html", "assets/repronotes/repronotes.css",
                     "search/search_index.json", "sitemap.xml"):  # fmt: skip
            assert (site / path).is_file(), path
        json.loads((site / "search" / "search_index.json").read_text())
    verifications = json.loads((recorded.root / ".cache/repronotes/verifications.json").read_text())
    assert list(verifications) == ["toy/cpu"] and verifications["toy/cpu"].endswith("(cached)")


def test_builds_into_different_site_folders_run_together_and_share_the_verification_log(recorded):
    recorded.post("p", POST)
    assert recorded.cli("run", "toy").returncode == 0  # cached: both builds below only verify and render
    pair = [
        _start(recorded, str(BIN / "mkdocs"), "build", "--strict", "--site-dir", f"site_{i}") for i in (1, 2)
    ]
    for proc in pair:
        out, err = _finish(proc)
        assert proc.returncode == 0, err
        assert "another build is writing the same site folder" not in err
    for i in (1, 2):
        assert "reproduced (cached run)" in (recorded.root / f"site_{i}" / "p" / "index.html").read_text()
    verifications = json.loads((recorded.root / ".cache/repronotes/verifications.json").read_text())
    assert list(verifications) == ["toy/cpu"] and verifications["toy/cpu"].endswith("(cached)")
