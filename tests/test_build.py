"""End to end: `mkdocs build` on a fixture site re-runs, compares, renders, and fails on drift."""

import shutil

import pytest

from projectkit import TOY_SPEC
from repronotes import fingerprint
from repronotes.pipeline import Engine
from repronotes.recorder import record_profile

pytestmark = pytest.mark.slow

POST = "Accuracy was {{ value: toy.accuracy | .1% }} (n = 200).\n\n{{ experiment: toy }}\n"


@pytest.fixture
def site(project):
    project.experiment()
    project.post("toy_post", POST)
    assert project.cli("record", "toy", "--profile", "cpu").returncode == 0
    return project


def test_clean_build_passes_and_renders_values_panel_and_notebook_page(site):
    shutil.rmtree(site.root / ".cache")  # a fresh clone: the build itself re-executes the cpu profile
    result = site.build()
    assert result.returncode == 0, result.stderr
    page = (site.root / "site_build/toy_post/index.html").read_text()
    assert "25.0%" in page and 'data-profile="cpu"' in page
    assert "reproduced in this build" in page and "rn-panel" in page
    assert "accuracy = 0.25" in page  # the notebook's printed output, inline
    assert "capture.metric" not in page  # inputs are not shown inline
    assert "repronotes run toy --profile cpu" in page
    notebook_page = site.root / "site_build/notebooks/toy/cpu/index.html"
    assert notebook_page.is_file() and "capture.metric" in notebook_page.read_text()
    assert (site.root / "site_build/assets/repronotes/repronotes.css").is_file()


def test_second_build_hits_the_cache(site):
    assert site.build().returncode == 0
    again = site.build()
    assert again.returncode == 0
    assert "running toy/cpu" not in again.stderr and "[toy/cpu] cell" not in again.stderr
    assert "reproduced (cached run)" in (site.root / "site_build/toy_post/index.html").read_text()


def test_drift_beyond_tolerance_fails_the_build_with_the_whole_story(site):
    site.set_param("toy", "  cpu: {params: {scale: 2.0}, timeout: 60, threads: 1}")
    result = site.build()
    assert result.returncode != 0
    message = result.stderr
    assert (
        "posts/toy_post.md: toy/cpu: metric accuracy drifted: recorded 0.25, this run 0.5, tolerance ±2·SE"
        in message
    )
    assert "metric speed" not in message  # faster is within min_ratio
    assert "rerun: repronotes run toy --profile cpu" in message
    assert "metric loss drifted" in message and "step 3" in message


def test_change_within_tolerance_passes(site):
    site.set_param("toy", "  cpu: {params: {scale: 1.04}, timeout: 60, threads: 1}")
    spec = site.root / "experiments/toy/experiment.yaml"
    spec.write_text(spec.read_text().replace("loss: {rel: 1.0e-6}", "loss: {rel: 0.05}"))
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "reproduced in this build" in (site.root / "site_build/toy_post/index.html").read_text()


def test_unknown_experiment_in_a_post_fails(site):
    site.post("bad", "{{ experiment: nosuch }}")
    result = site.build()
    assert result.returncode != 0
    assert "posts/bad.md embeds unknown experiment 'nosuch' (known: toy)" in result.stderr


def test_execute_off_verifies_without_running(site):
    shutil.rmtree(site.root / ".cache")  # no local run to stand in: integrity and freshness only
    result = site.build(env={"REPRONOTES_EXECUTE": "off"})
    assert result.returncode == 0, result.stderr
    assert "running toy" not in result.stderr
    assert "verified from record" in (site.root / "site_build/toy_post/index.html").read_text()


def test_stale_record_of_a_profile_this_machine_cannot_run_fails_verify(project, monkeypatch):
    spec = TOY_SPEC.replace(
        "profiles:\n", "profiles:\n  gpu: {params: {scale: 1.0}, timeout: 60, requires: cuda}\n"
    )
    project.experiment(spec=spec)
    fake_gpu = {"name": "NVIDIA H100 80GB HBM3", "short_name": "h100", "memory_mib": 81559, "driver": "580"}
    monkeypatch.setattr(fingerprint, "detect_gpu", lambda: fake_gpu)
    monkeypatch.setattr(fingerprint, "capabilities", lambda: {"cuda"})
    record_profile(Engine(project.root), "toy", "gpu", allow_dirty=True)
    assert project.record_json(profile="gpu")["environment"]["hardware_class"] == "cuda-h100"
    monkeypatch.undo()
    assert project.cli("record", "toy", "--profile", "cpu").returncode == 0
    fresh = project.cli("verify")
    assert fresh.returncode == 0, fresh.stderr
    assert "verified from record" in fresh.stdout
    notebook = project.root / "experiments/toy/notebook.ipynb"
    notebook.write_text(
        notebook.read_text().replace(
            'capture.metric(\\"count\\", 42)', 'capture.metric(\\"count\\", 42)  # edited'
        )
    )
    stale = project.cli("verify")
    assert stale.returncode == 1
    assert (
        "toy/gpu: record is stale (notebook changed); this machine cannot run it (needs cuda)" in stale.stderr
    )
    assert "rerun on cuda-h100: repronotes record toy --profile gpu" in stale.stderr
    shutil.rmtree(project.root / ".cache")  # the verify above cached a cpu run with today's inputs
    off = project.cli("verify", "--execute", "off")  # cpu could run, but may not
    assert "toy/cpu: record is stale (notebook changed); execution is off and no cached run" in off.stderr


def test_planted_secret_host_and_paths_never_reach_records_or_the_site(project):
    leaky = "import os, socket\nfrom repronotes import capture\ncapture.metric('count', 1)\n" + (
        "print(os.environ['HF_TOKEN'], os.getcwd(), os.path.expanduser('~'))\nraise_me = False\n"
    )
    project.experiment(
        code=leaky, spec="title: Leaky\nprofiles: {cpu: {timeout: 60}}\nmetrics: {count: {exact: true}}\n"
    )
    project.post("leaky", "{{ experiment: toy }}")
    env = {"HF_TOKEN": "hf_plantedFAKEsecret0123456789"}
    assert project.cli("record", "toy", "--profile", "cpu", env=env).returncode == 0
    assert project.build(env=env).returncode == 0
    published = [p for p in (project.root / "site_build").rglob("*") if p.is_file()]
    published += list((project.root / "experiments").rglob("*.json")) + list(
        (project.root / "experiments").rglob("*.ipynb")
    )
    for path in published:
        text = path.read_text(errors="replace")
        assert "hf_plantedFAKE" not in text, path
        assert str(project.root) not in text, path
    executed = (project.root / "experiments/toy/runs/cpu.ipynb").read_text()
    assert "<redacted-secret> <project>/.cache/repronotes/runs/toy/cpu" in executed


def test_run_a_post_runs_what_it_embeds(site):
    result = site.cli("run", "posts/toy_post.md")
    assert result.returncode == 0, result.stderr
    assert "toy" in result.stdout and "reproduced (cached run)" in result.stdout
    missing = site.cli("run", "no_such_post")
    assert missing.returncode == 2 and "neither an experiment" in missing.stderr
