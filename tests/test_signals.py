"""Interrupting a run (SIGINT, SIGTERM, SIGHUP) through the CLI and through `mkdocs build`: the exit code
says which signal, nothing the run started survives, the record and committed notebook are untouched,
and the last good cache entry of the same inputs is still there to be reused."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from projectkit import BIN

pytestmark = pytest.mark.slow

MARKER = "time.sleep(121.5)"  # in the command line of a process the notebook starts: unique to these tests
CODE = f"""\
import os, subprocess, sys, time
from repronotes import capture
capture.metric("count", 42)
if os.environ.get("SLOW_MARKER_X"):  # slow only when asked at run time: the inputs stay the same
    subprocess.Popen([sys.executable, "-c", "import time; {MARKER}"])
    time.sleep(120)
"""
SPEC = """\
title: Interruptible
profiles:
  cpu: {timeout: 300, threads: 1}
metrics:
  count: {exact: true}
"""
SLOW = {"SLOW_MARKER_X": "1"}


def _marker_alive() -> bool:
    pattern = re.sub(r"([.()])", r"\\\1", MARKER)  # pgrep takes a regular expression
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, timeout=10).returncode == 0


def _survivors(root: Path) -> list[str]:
    """Live processes of the run: the marker, anything naming the project, or working inside it (the kernel)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(os.getpid()):
            continue
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie runs nothing; its parent (or init) reaps it
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except (OSError, IndexError):
            continue
        if MARKER in cmdline or str(root) in cmdline or f"{cwd}/".startswith(f"{root}/"):
            found.append(f"{proc.name} (cwd {cwd}): {cmdline}")
    return found


def _start(project, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=project.root, env={**os.environ, **env}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_the_slow_cell(proc: subprocess.Popen, deadline_s: float = 60) -> None:
    """Until the notebook's slow cell has started the marker process (or the command died early)."""
    end = time.monotonic() + deadline_s
    while not _marker_alive():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"the slow cell never started (exit {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen, signum: int) -> tuple[str, str]:
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C: the terminal signals the foreground process group
    else:
        os.kill(proc.pid, signum)  # `kill`, a CI runner cancelling a job, a closed terminal
    try:
        return proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        pytest.fail(f"still running 60 s after {signal.Signals(signum).name}")


@pytest.fixture
def recorded(project):
    """A recorded experiment (fast, no SLOW_MARKER_X) with its cache entry."""
    project.experiment(code=CODE, spec=SPEC, params="")
    result = project.cli("record", "toy", "--profile", "cpu")
    assert result.returncode == 0, result.stderr
    yield project
    for line in _survivors(project.root):  # never leave a sleeping process behind, even when a test failed
        os.kill(int(line.split()[0]), signal.SIGKILL)


def _snapshot(project) -> dict[str, bytes]:
    toy = project.root / "experiments" / "toy"
    entries = list((project.root / ".cache/repronotes/runs/toy/cpu").glob("*/run.json"))
    assert len(entries) == 1
    return {str(p): p.read_bytes() for p in [toy / "records/cpu.json", toy / "runs/cpu.ipynb", *entries]}


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_an_interrupted_forced_run_kills_everything_and_keeps_the_last_good_entry(recorded, signum, code):
    before = _snapshot(recorded)
    proc = _start(recorded, [str(BIN / "repronotes"), "run", "toy", "--force"], SLOW)
    _wait_for_the_slow_cell(proc)
    out, err = _stop(proc, signum)
    assert proc.returncode == code, err
    assert f"toy/cpu: interrupted ({signal.Signals(signum).name}); records untouched" in err
    assert "Traceback" not in err
    assert not _marker_alive() and _survivors(recorded.root) == []
    assert _snapshot(recorded) == before  # record, committed notebook and the cached run, byte for byte
    again = recorded.cli("run", "toy")
    assert again.returncode == 0, again.stderr
    assert "reproduced (cached run)" in again.stdout
    assert "running toy/cpu" not in again.stderr


def test_sigterm_during_mkdocs_build_stops_the_build_and_every_process(recorded):
    recorded.post("p", "{{ experiment: toy }}\n")
    before = _snapshot(recorded)
    proc = _start(
        recorded, [str(BIN / "mkdocs"), "build", "--strict"], {**SLOW, "REPRONOTES_EXECUTE": "force"}
    )
    _wait_for_the_slow_cell(proc)
    out, err = _stop(proc, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert not _marker_alive() and _survivors(recorded.root) == []
    assert _snapshot(recorded) == before
    rebuilt = recorded.build()  # the interrupted build left no lock behind, and the cache entry serves
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "running toy/cpu" not in rebuilt.stderr
    assert "reproduced (cached run)" in (recorded.root / "site_build/p/index.html").read_text()
