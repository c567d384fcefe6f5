"""Issue 11 C, end to end: a planted credential of every shape, set in the environment of a run whose
notebook prints os.environ (and fails, or captures a token), appears nowhere a person or the web sees:
the terminal, the drift reports, records, notebooks (committed and cached), the built site. Neither do
the project's absolute path nor $HOME."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PLANTED = {
    "SOME_SETTING": "hf_QwErTyUiOpAsDfGhJkLzXcVbNm12",  # innocently named: found by its shape
    "GITHUB_PAT": "ghp_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa",
    "FINE_GRAINED": "github_pat_11AAAAAAA0bbbbbbbbbb_CcDdEeFfGgHhIiJjKkLlMm",
    "OPENAI_KEY": "sk-proj-Rt5Vn1Bc6Q7f3Lk9Zp2Xw8Mm4Dd",
    "AWS_ACCESS_KEY_ID": "AKIAQWERTYUIOPASDFGH",
    "SLACK_BOT": "xoxb-2468013579-1357924680-QwErTyUiOpAs",
    "CI_HELPER": "glpat-Mn8Bv7Cx6Zl5Kj4Hg3Fd",
    "DATABASE_URL": "postgres://app:hunter2pass@db.internal:5432/x",
    "SESSION_SECRET_X": "Q7f3Lk9Zp2Xw8Rt5Vn1Bc6",
}
NEEDLES = [*PLANTED.values(), "hunter2pass"]

SPEC = """\
title: Leaky experiment
profiles:
  cpu: {timeout: 120, threads: 1}
metrics:
  count: {exact: true}
  label: {exact: true}
"""
FAILING = """\
import os
from repronotes import capture
print(os.environ)
print(dict(os.environ))
raise RuntimeError("bad token " + os.environ["GITHUB_PAT"] + " for " + os.environ["DATABASE_URL"])
"""
SUCCEEDING = """\
import os
from repronotes import capture
print(os.environ)
capture.metric("count", 42)
capture.metric("label", "token " + os.environ["GITHUB_PAT"] + " at " + os.getcwd())
capture.environment(home=os.environ["HOME"], db=os.environ["DATABASE_URL"])
"""
POST = "Count: {{ value: toy.count }}.\n\n{{ experiment: toy }}\n"


def _forbidden(project) -> list[str]:
    """Every planted secret, the project's absolute path (also where <tmp> would hide only its head), $HOME."""
    root = project.root
    tail = root.resolve().relative_to(Path(tempfile.gettempdir()).resolve()).as_posix()
    home = os.environ.get("HOME", "")
    return [*NEEDLES, str(root), str(root.resolve()), tail, *([home] if len(home) > 1 else [])]


def _published_files(project) -> list[Path]:
    """Records, committed notebooks, cached notebooks, run descriptions and rendered HTML, reports, the site.
    (Not the raw capture.jsonl of a cached run: it is what the kernel wrote, before redaction.)"""
    root = project.root
    cache = root / ".cache" / "repronotes"
    files = [*root.glob("experiments/*/records/*.json"), *root.glob("experiments/*/runs/*.ipynb")]
    files += [*cache.glob("runs/**/*.ipynb"), *cache.glob("runs/**/run.json"), *cache.glob("reports/*")]
    files += [
        *cache.glob("*.json"),
        *cache.glob("html/*"),
        *(p for p in (root / "site_build").rglob("*") if p.is_file()),
    ]
    return files


def _hits(texts: dict[str, str], needles: list[str]) -> list[tuple[str, str]]:
    return [(where, needle) for where, text in texts.items() for needle in needles if needle in text]


def _read(files: list[Path]) -> dict[str, str]:
    return {str(p): p.read_text(encoding="utf-8", errors="replace") for p in files}


def test_a_failing_run_that_prints_the_environment_leaks_nothing(project):
    project.experiment(code=FAILING, spec=SPEC, params="")
    project.post("leaky", POST)
    run = project.cli("run", "toy", env=PLANTED)
    assert run.returncode == 1, run.stderr
    assert (
        "toy/cpu: cell In[" in run.stderr and "raised RuntimeError: bad token <redacted-secret>" in run.stderr
    )
    assert "postgres://app:<redacted-secret>@db.internal:5432/x" in run.stderr
    assert "partial executed notebook kept at .cache/repronotes/runs/toy/cpu/" in run.stderr
    cache = project.root / ".cache" / "repronotes"
    reports = [cache / "reports" / "drift_report.md", cache / "reports" / "drift_report.json"]
    partial = list(cache.glob("runs/**/*.ipynb"))
    assert all(p.is_file() for p in reports) and partial
    assert "<redacted-secret>" in "".join(p.read_text() for p in partial)  # the environment was printed
    build = project.build(env=PLANTED)
    assert build.returncode != 0 and "raised RuntimeError" in build.stderr
    texts = {"run": run.stdout + run.stderr, **_read(_published_files(project))}
    assert set(map(str, [*reports, *partial])) <= set(texts)
    assert _hits(texts, _forbidden(project)) == []
    assert _hits({"build": build.stdout + build.stderr}, NEEDLES) == []  # MkDocs itself prints the site path


def test_a_recorded_and_published_run_that_captures_a_token_leaks_nothing(project):
    project.experiment(code=SUCCEEDING, spec=SPEC, params="")
    project.post("leaky", POST)
    record = project.cli("record", "toy", "--profile", "cpu", env=PLANTED)
    assert record.returncode == 0, record.stderr
    assert (
        project.record_json()["metrics"]["label"]["value"]
        == "token <redacted-secret> at <project>/experiments/toy"
    )
    shutil.rmtree(project.root / ".cache")  # the build executes again, with the same planted environment
    build = project.build(env=PLANTED)
    assert build.returncode == 0, build.stderr
    assert "running toy/cpu" in build.stderr
    page = (project.root / "site_build" / "leaky" / "index.html").read_text()
    assert (
        "&lt;redacted-secret&gt;" in page and "GITHUB_PAT" in page
    )  # the printed environment is on the page
    run = project.cli("run", "toy", env=PLANTED)
    assert run.returncode == 0, run.stderr
    files = _published_files(project)
    names = {p.name for p in files}
    assert {"cpu.json", "cpu.ipynb", "executed.ipynb", "run.json", "drift_report.md", "index.html"} <= names
    texts = {"record": record.stdout + record.stderr, "run": run.stdout + run.stderr, **_read(files)}
    assert _hits(texts, _forbidden(project)) == []
    assert _hits({"build": build.stdout + build.stderr}, NEEDLES) == []  # MkDocs itself prints the site path
