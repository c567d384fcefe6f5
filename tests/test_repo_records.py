"""This site's own committed records, checked the way a fresh clone without a cache (and without a GPU) sees
them: every record verifies without a rerun, and a tampered record of any profile fails, naming it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (REPO / ".git").exists(), reason="needs the git checkout to list its files"
)


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """The working tree's tracked and unignored files, without .cache, site_build or .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    target = tmp_path_factory.mktemp("clone") / "repo"
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture
def clone(fresh_clone, tmp_path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(fresh_clone, root)
    return root


def verify_off(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "NO_MKDOCS_2_WARNING": "1"}
    env.pop("REPRONOTES_CACHE_DIR", None)
    command = [sys.executable, "-m", "repronotes.cli", "verify", "--execute", "off"]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def edit_record(root: Path, experiment: str, profile: str, change) -> None:
    path = root / f"experiments/{experiment}/records/{profile}.json"
    data = json.loads(path.read_text())
    change(data["metrics"])
    path.write_text(json.dumps(data, indent=1, allow_nan=True))


def test_every_committed_record_verifies_without_a_rerun(fresh_clone):
    result = verify_off(fresh_clone)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "running " not in result.stderr


@pytest.mark.parametrize(
    "profile, change, named",
    [
        ("gpu", lambda m: m["n_balanced"].update(value=m["n_balanced"]["value"] + 100), "metric n_balanced"),
        ("gpu", lambda m: m.pop("dataset_sha256"), "metric dataset_sha256"),
        ("gpu", lambda m: m["split/low/test"].update(value=float("nan")), "NaN is not allowed"),
        (
            "cpu",
            lambda m: m["bayes/low/test/accuracy"].update(value=0.99),
            "metric bayes/low/test/accuracy",
        ),
    ],
)
def test_a_tampered_record_fails_naming_experiment_profile_and_metric(clone, profile, change, named):
    edit_record(clone, "synthetic_data", profile, change)
    result = verify_off(clone)
    assert result.returncode == 1
    assert f"synthetic_data/{profile}:" in result.stderr and named in result.stderr
