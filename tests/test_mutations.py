"""The mutation suite of issue 11 A: a record must prove every number it claims, for every tolerance kind.

One experiment captures one metric per tolerance kind. Tampering with its committed record or notebook
(a value moved 2x beyond the tolerance, an inflated SE, a deleted metric, NaN, an edited Markdown cell,
a `remove-cell` tag) must fail `repronotes verify --execute off` on a clone with no cache, `verify` in
auto mode, and `mkdocs build --strict`, naming the experiment, profile and metric; also for a record of a
profile this machine cannot run. A run whose values move 2x beyond each tolerance fails; 0.5x passes.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from projectkit import Project
from repronotes import fingerprint
from repronotes.cli import main
from repronotes.pipeline import Engine
from repronotes.project import load_settings
from repronotes.recorder import record_profile

pytestmark = pytest.mark.slow

BAND_RATE_SE = math.sqrt(0.5 * 0.5 / 400)  # ~ the binomial SE of the rate below
SEEDS_SE = 0.1 / math.sqrt(3)
CODE = f"""\
from repronotes import capture
capture.metric("exact_count", 100 + (1 if shift else 0))
capture.metric("abs_value", 1.0 + shift * 0.01)
capture.metric("rel_value", 2.0 * (1 + shift * 0.01))
capture.metric("min_value", 1.0 - shift * 0.5)
capture.metric("max_value", 1.0 + shift * 1.0)
capture.metric("ratio_low", 10.0 * (1 - shift * 0.1))
capture.metric("ratio_high", 10.0 * (1 + shift * 0.1))
capture.metric("band_rate", round(0.5 + shift * 2 * 2 ** 0.5 * {BAND_RATE_SE!r}, 6), n=400)
capture.seeds("band_seeds", [v + shift * 2 * 2 ** 0.5 * {SEEDS_SE!r} for v in (0.4, 0.5, 0.6)])
capture.metric("info_value", 7.0 + shift)
capture.series("series_point", [1, 2, 3], [v * (1 + shift * 0.01) for v in (3.0, 2.0, 1.0)])
capture.series("series_mean", [1, 2, 3], [v * (1 + shift * 0.01) for v in (3.0, 2.0, 1.0)])
"""
METRICS = {
    "exact_count": "{exact: true}",
    "abs_value": "{abs: 0.01}",
    "rel_value": "{rel: 0.01}",
    "min_value": "{min: 0.5}",
    "max_value": "{max: 2.0}",
    "ratio_low": "{min_ratio: 0.9}",
    "ratio_high": "{max_ratio: 1.1}",
    "band_rate": "{band: 2}",
    "band_seeds": "{band: 2}",
    "info_value": "{info: true}",
    "series_point": "{rel: 0.01}",
    "series_mean": "{rel: 0.01, series: mean}",
}
GATED = [m for m in METRICS if m != "info_value"]
SPEC = (
    "title: Every tolerance kind\nprofiles:\n"
    "  cpu: {params: {shift: 0.0}, timeout: 60, threads: 1}\n"
    "  gpu: {params: {shift: 0.0}, timeout: 60, requires: cuda}\n"
    "metrics:\n" + "".join(f"  {name}: {tol}\n" for name, tol in METRICS.items())
)
POST = "{{ experiment: kinds@cpu }}\n\n{{ experiment: kinds@gpu }}\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A recorded project: the cpu record made here, the gpu record made on a (faked) H100."""
    project = Project(tmp_path_factory.mktemp("mutations") / "proj")
    project.experiment("kinds", code=CODE, spec=SPEC, params="shift = 0.0\n")
    project.post("kinds_post", POST)
    env = {"REPRONOTES_GIT_COMMIT": "0" * 40}
    assert project.cli("record", "kinds", "--profile", "cpu", env=env).returncode == 0
    with pytest.MonkeyPatch.context() as mp:
        gpu = {"name": "NVIDIA H100 80GB HBM3", "short_name": "h100", "memory_mib": 81559, "driver": "580"}
        mp.setattr(fingerprint, "detect_gpu", lambda: gpu)
        mp.setattr(fingerprint, "capabilities", lambda: {"cuda"})
        mp.setenv("REPRONOTES_GIT_COMMIT", "0" * 40)
        record_profile(Engine(load_settings(project.root)), "kinds", "gpu")
    assert project.build().returncode == 0
    return project.root


@pytest.fixture
def clone(template, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(template, root)
    project = Project.__new__(Project)
    project.root = root
    return project


def verify(root: Path, mode: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--root", str(root), "verify", "--execute", mode])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def record_path(root: Path, profile: str) -> Path:
    return root / f"experiments/kinds/records/{profile}.json"


def mutate_record(root: Path, profile: str, metrics: list[str], how: str) -> None:
    path = record_path(root, profile)
    data = json.loads(path.read_text())
    for name in metrics:
        entry = data["metrics"][name]
        if how == "delete":
            del data["metrics"][name]
        elif how == "beyond":
            _move_beyond(entry, METRICS[name])
        elif how == "se":
            entry["se"] = entry["se"] * 100
        elif how == "nan":
            key = "values" if "values" in entry else "value"
            entry[key] = [float("nan")] * len(entry[key]) if key == "values" else float("nan")
    path.write_text(json.dumps(data, indent=1, allow_nan=True))


def _move_beyond(entry: dict, tolerance: str) -> None:
    """Move a recorded value 2x beyond its tolerance (any move for exact and info)."""
    if "values" in entry:
        entry["values"] = [v * 1.02 for v in entry["values"]]
    elif "exact" in tolerance:
        entry["value"] += 1
    elif "band" in tolerance:
        entry["value"] += 4 * 2**0.5 * (entry["se"] or 0.05)
    else:
        entry["value"] = entry["value"] * 1.3 + 0.05


def mutate_notebook(root: Path, profile: str, how: str) -> None:
    path = root / f"experiments/kinds/runs/{profile}.ipynb"
    nb = json.loads(path.read_text())
    if how == "markdown":
        cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        cell["source"] = "# A different story, told after the fact"
    else:
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and c.get("outputs") is not None)
        cell["metadata"].setdefault("tags", []).append("remove-cell")
    path.write_text(json.dumps(nb, indent=1))


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
@pytest.mark.parametrize("how", ["beyond", "delete", "nan"])
@pytest.mark.parametrize("metric", list(METRICS))
def test_a_tampered_record_fails_verify_off_on_a_fresh_clone_and_in_auto(clone, profile, how, metric):
    shutil.rmtree(clone.root / ".cache")
    mutate_record(clone.root, profile, [metric], how)
    code, output = verify(clone.root, "off")
    assert code == 1, output
    assert f"kinds/{profile}:" in output
    if how == "nan":
        assert "NaN is not allowed in a record" in output and "records/" in output
    else:
        assert f"metric {metric}" in output
    if profile == "cpu":  # auto mode re-runs the cpu profile; the gpu profile cannot run here
        auto_code, auto_output = verify(clone.root, "auto")
        assert auto_code == 1 and f"kinds/{profile}:" in auto_output


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
@pytest.mark.parametrize("metric", ["band_rate", "band_seeds"])
def test_an_inflated_standard_error_is_caught(clone, profile, metric):
    mutate_record(clone.root, profile, [metric], "se")
    code, output = verify(clone.root, "off")
    assert (
        code == 1
        and f"kinds/{profile}: experiments/kinds/records/{profile}.json: metric {metric} differs" in output
    )


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
@pytest.mark.parametrize("how", ["markdown", "remove-cell"])
def test_an_edited_committed_notebook_is_caught(clone, profile, how):
    shutil.rmtree(clone.root / ".cache")
    mutate_notebook(clone.root, profile, how)
    code, output = verify(clone.root, "off")
    assert code == 1
    assert (
        f"kinds/{profile}: experiments/kinds/runs/{profile}.ipynb does not match the record's notebook digest"
        in output
    )


@pytest.mark.parametrize("how", ["beyond", "delete", "se", "nan", "markdown", "remove-cell"])
def test_the_build_fails_on_every_tampering_naming_what_was_touched(clone, how):
    """One build per kind of tampering, with every metric of both records touched at once."""
    for profile in ("cpu", "gpu"):
        if how in ("markdown", "remove-cell"):
            mutate_notebook(clone.root, profile, how)
        else:
            metrics = ["band_rate", "band_seeds"] if how == "se" else list(METRICS)
            mutate_record(clone.root, profile, metrics, how)
    result = clone.build()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    for profile in ("cpu", "gpu"):
        assert f"kinds/{profile}:" in result.stderr
        if how in ("beyond", "delete"):
            assert all(f"metric {m}" in result.stderr for m in METRICS)


def run_shifted(clone: Project, shift: float) -> tuple[int, str]:
    clone.set_param("kinds", f"  cpu: {{params: {{shift: {shift}}}, timeout: 60, threads: 1}}")
    result = clone.cli("run", "kinds", "--profile", "cpu")
    return result.returncode, result.stdout + result.stderr


def test_a_run_2x_beyond_every_tolerance_fails_on_every_gated_metric(clone):
    code, output = run_shifted(clone, 2.0)
    assert code == 1
    drifted = {m for m in GATED if f"metric {m} drifted" in output}
    assert drifted == set(GATED), sorted(set(GATED) - drifted)
    assert "metric info_value" not in output.split("FAILED")[-1]


def test_a_run_half_a_tolerance_away_passes_where_the_tolerance_allows(clone):
    code, output = run_shifted(clone, 0.5)
    failing = output.split("FAILED")[-1] if "FAILED" in output else ""
    assert "metric exact_count drifted" in failing  # exact allows no move at all
    assert [m for m in GATED if m != "exact_count" and f"metric {m} " in failing] == []
    assert code == 1  # because of exact_count alone
