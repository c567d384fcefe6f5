"""The adoption test (issue 12): the README's "Use it in your own site", step by step, from a wheel.

A wheel of the engine goes into a fresh virtualenv (MkDocs Material and the engine's own dependencies;
no torch, no lab, no npm); a new site made with `repronotes init` gets a notebook that reads a data file
and imports a helper next to it, and a requirements.txt; then it runs, records and builds; a perturbed
parameter fails the build naming the metric; a prose-only change re-executes nothing.

Each step's comment names the README step it follows. The first run installs from the package index
(slow); later runs take the pip cache (about a minute and a half in all).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from projectkit import REPO

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT = 900

HELPER = '''\
"""Estimate pi from points in the unit square."""

import csv
import random


def read_points(path):
    with open(path, newline="") as handle:
        return [(float(row["x"]), float(row["y"])) for row in csv.DictReader(handle)]


def estimate_pi(points, samples, seed):
    chosen = random.Random(seed).sample(points, samples)
    inside = sum(1 for x, y in chosen if x * x + y * y <= 1.0)
    return 4.0 * inside / samples
'''
PARAMETERS = 'samples = 2000\nseed = 0\noutput_dir = "."  # the engine injects the run folder here\n'
COMPUTE = """\
from helper import estimate_pi, read_points  # helper.py next to the notebook

points = read_points("points.csv")  # the kernel runs in the experiment folder
estimate = estimate_pi(points, samples, seed)
print(f"pi is about {estimate:.4f} from {samples} points")
"""
CAPTURE = """\
from repronotes import capture

capture.metric("pi", estimate)
capture.metric("samples", samples)
"""
SPEC = """\
title: Estimating pi
depends_on: [points.csv]  # data the notebook reads (helper.py is found from its imports)
profiles:
  cpu: {params: {samples: 2000}, timeout: 600}
metrics:
  pi: {rel: 1.0e-9}
  samples: {exact: true}
"""
PAGE = """\
# Pi estimate

From 2000 points, pi is about {{ value: pi_estimate.pi | .4f }}.

{{ experiment: pi_estimate }}
"""


def readme_blocks() -> list[str]:
    """The code blocks of the README's "Use it in your own site", dedented."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Use it in your own site\n")[1].split("\n## ")[0]
    return [textwrap.dedent(block).strip() + "\n" for block in re.findall(r"```\w*\n(.*?)```", section, re.S)]


def sh(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (so no build/ folder lands in the checkout)."""
    folder = tmp_path_factory.mktemp("adoption")
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    # README step 1, from a clone: `pip wheel . --no-deps -w dist`
    ok(
        sh(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            source,
            "--no-deps",
            "-w",
            folder / "dist",
            cwd=folder,
            timeout=INSTALL_TIMEOUT,
        )
    )
    return folder


@pytest.fixture(scope="module")
def wheel(build: Path) -> Path:
    (found,) = (build / "dist").glob("repronotes-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(build: Path, wheel: Path) -> Path:
    """README step 1: a fresh virtualenv, and the wheel installed into it (versions as in requirements.lock)."""
    env = build / "venv"
    ok(sh(sys.executable, "-m", "venv", env, cwd=build, timeout=INSTALL_TIMEOUT))
    ok(
        sh(env / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, "-c", REPO / "requirements.lock",
           cwd=build, timeout=INSTALL_TIMEOUT)
    )  # fmt: skip
    return env


@pytest.fixture
def user_env(venv: Path, tmp_path: Path) -> dict[str, str]:
    """An activated virtualenv: its bin/ first on PATH, no developer settings, no other Jupyter kernels."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRONOTES_", "PYTHON", "JUPYTER"))}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter"),
        NO_MKDOCS_2_WARNING="1",
    )
    return env


def test_the_readme_shows_what_this_test_does() -> None:
    blocks = readme_blocks()
    for text in (SPEC, PARAMETERS, COMPUTE, CAPTURE):
        assert text in blocks
    commands = next(b for b in blocks if "repronotes record" in b)
    for command in ("repronotes run pi_estimate", "git init", "repronotes record pi_estimate --profile cpu",
                    "mkdocs build --strict"):  # fmt: skip
        assert command in commands


def test_the_wheel_ships_the_engine_and_its_templates_not_the_lab(wheel: Path, venv: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("notes_lab/")]
    assert "repronotes/plugin/assets/repronotes.css" in names
    templates = {Path(n).name for n in names if n.startswith("repronotes/plugin/templates/")}
    assert templates == {p.name for p in (REPO / "src/repronotes/plugin/templates").iterdir()}
    python = venv / "bin" / "python"
    for module in ("torch", "notes_lab"):
        missing = sh(python, "-c", f"import {module}", cwd=venv)
        assert missing.returncode == 1 and "ModuleNotFoundError" in missing.stderr, module
    located = ok(sh(python, "-c", "import repronotes; print(repronotes.__file__)", cwd=venv))
    assert located.stdout.strip().startswith(str(venv))


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Estimating pi"),
        parameters,
        nbformat.v4.new_code_cell(COMPUTE),
        nbformat.v4.new_code_cell(CAPTURE),
    ]
    nbformat.write(nb, str(path))


def test_a_new_site_follows_the_readme(venv: Path, user_env: dict[str, str], tmp_path: Path) -> None:
    site, bin_ = tmp_path / "site", venv / "bin"
    site.mkdir()
    exp = site / "experiments" / "pi_estimate"

    def run(*args: str | Path) -> subprocess.CompletedProcess:
        return sh(*args, cwd=site, env=user_env)

    def git(*args: str) -> subprocess.CompletedProcess:
        return ok(run("git", "-c", "user.name=Adopter", "-c", "user.email=adopter@example.org", *args))

    # README step 2: `repronotes init pi_estimate`
    done = ok(run(bin_ / "repronotes", "init", "pi_estimate"))
    for written in ("experiments/pi_estimate/notebook.ipynb", "experiments/pi_estimate/experiment.yaml",
                    "mkdocs.yml", "docs/index.md"):  # fmt: skip
        assert f"wrote {written}" in done.stdout
    assert ".cache/" in (site / ".gitignore").read_text().splitlines()
    assert (site / "mkdocs.yml").read_text() in readme_blocks()

    # README step 3: the notebook (parameters cell, a helper and a data file beside it, capture cell),
    # the ten-line experiment.yaml, the page, and a requirements.txt
    write_notebook(exp / "notebook.ipynb")
    (exp / "helper.py").write_text(HELPER)
    rng = random.Random(42)
    points = "".join(f"{rng.random():.6f},{rng.random():.6f}\n" for _ in range(5000))
    (exp / "points.csv").write_text("x,y\n" + points)
    (exp / "experiment.yaml").write_text(SPEC)
    (site / "docs" / "index.md").write_text(PAGE)
    version = ok(
        run(
            bin_ / "python", "-c", "from importlib.metadata import version; print(version('mkdocs-material'))"
        )
    )
    (site / "requirements.txt").write_text(f"mkdocs-material=={version.stdout.strip()}\n")

    # README step 4: run (exit 1: no record yet; the table shows the values), commit, record, build
    done = run(bin_ / "repronotes", "run", "pi_estimate")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "missing record" in done.stdout and "new (no record yet)" in done.stdout
    shown = next(line.split() for line in done.stdout.splitlines() if line.startswith("pi "))
    assert shown[1] == "-" and 3.0 < float(shown[2]) < 3.3  # recorded: none yet; this run: the estimate
    assert "experiments/pi_estimate/records/cpu.json: no record yet" in done.stderr
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "Estimate pi")
    done = ok(run(bin_ / "repronotes", "record", "pi_estimate", "--profile", "cpu"))
    assert "from the cached run with identical inputs" in done.stdout
    record = json.loads((exp / "records" / "cpu.json").read_text())
    assert record["environment"]["lock"]["file"] == "requirements.txt"
    packages = record["environment"]["packages"]
    assert "repronotes" in packages and set(packages) <= {"repronotes", "ipython"}  # the kernel's own
    assert {"code:experiments/pi_estimate/helper.py", "depends_on:experiments/pi_estimate/points.csv",
            "lock:requirements.txt"} <= set(record["inputs"]["parts"])  # fmt: skip
    assert record["run"]["git_commit"] == ok(run("git", "rev-parse", "HEAD")).stdout.strip()
    git("add", "-A")
    git("commit", "-qm", "Record pi_estimate on cpu")
    done = ok(run(bin_ / "mkdocs", "build", "--strict"))
    assert "running pi_estimate" not in done.stderr
    estimate = record["metrics"]["pi"]["value"]
    page = (site / "site" / "index.html").read_text()
    assert re.search(
        rf'pi is about <span class="rn-value" data-profile="cpu"[^>]*>{estimate:.4f}</span>', page
    )
    assert not [
        line for line in ok(run("git", "status", "--porcelain")).stdout.splitlines() if ".cache" in line
    ]

    # README step 5: what fails: a changed parameter re-executes, and the build names the drifted metric
    (exp / "experiment.yaml").write_text(SPEC.replace("samples: 2000", "samples: 1000"))
    done = run(bin_ / "mkdocs", "build", "--strict")
    assert done.returncode != 0, done.stderr
    assert "running pi_estimate/cpu: parameters changed" in done.stderr
    assert "pi_estimate/cpu: metric pi drifted" in done.stderr
    assert "repronotes record pi_estimate --profile cpu" in done.stderr
    (exp / "experiment.yaml").write_text(SPEC)
    done = ok(run(bin_ / "mkdocs", "build", "--strict"))
    assert "running pi_estimate" not in done.stderr  # the recorded inputs' run is still cached

    # README step 5: prose re-executes nothing (a page, or a Markdown cell of the notebook)
    (site / "docs" / "index.md").write_text(PAGE.replace("From 2000 points", "From two thousand points"))
    nb = nbformat.read(str(exp / "notebook.ipynb"), as_version=4)
    nb.cells[0].source = "# Estimating pi by throwing darts"
    nbformat.write(nb, str(exp / "notebook.ipynb"))
    done = ok(run(bin_ / "mkdocs", "build", "--strict"))
    assert "running pi_estimate" not in done.stderr
    assert "From two thousand points" in (site / "site" / "index.html").read_text()
    assert not [
        line for line in ok(run("git", "status", "--porcelain")).stdout.splitlines() if ".cache" in line
    ]
