"""End to end: `mkdocs build` on a fixture site re-runs, compares, renders, and fails on drift."""

import shutil

import pytest

from projectkit import TOY_SPEC
from repronotes import fingerprint
from repronotes.pipeline import Engine
from repronotes.project import load_settings
from repronotes.recorder import record_profile

pytestmark = pytest.mark.slow

POST = "Accuracy was {{ value: toy.accuracy | .1% }} (n = 200), count {{ value: toy.count | d }}.\n\n{{ experiment: toy }}\n"


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
    assert "repronotes: running toy/cpu: no cached run" in result.stderr  # why it ran, in the build log
    page = (site.root / "site_build/toy_post/index.html").read_text()
    assert "25.0%" in page and ", count <span" in page and 'data-profile="cpu"' in page
    assert "reproduced in this build" in page and "rn-panel" in page and "bit for bit" in page
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


def test_warm_and_cold_builds_write_identical_pages(site):
    env = {"SOURCE_DATE_EPOCH": "1767225600", "REPRONOTES_EXECUTE": "off"}
    assert site.build(env=env).returncode == 0
    cold = {p.relative_to(site.root): p.read_bytes() for p in (site.root / "site_build").rglob("*.html")}
    warm_result = site.build(env=env)  # the notebook HTML now comes from the render cache
    assert warm_result.returncode == 0
    warm = {p.relative_to(site.root): p.read_bytes() for p in (site.root / "site_build").rglob("*.html")}
    assert cold.keys() == warm.keys()
    assert [p for p in cold if cold[p] != warm[p]] == []


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
    assert (
        "if the change is intended: repronotes record toy --profile cpu" in message
    )  # the parameters changed
    assert "metric loss drifted" in message and "step 3" in message


def test_change_within_tolerance_passes_but_a_looser_tolerance_needs_a_record(site):
    site.set_param("toy", "  cpu: {params: {scale: 1.04}, timeout: 60, threads: 1}")
    spec = site.root / "experiments/toy/experiment.yaml"
    spec.write_text(spec.read_text().replace("loss: {rel: 1.0e-6}", "loss: {rel: 0.05}"))
    result = site.build()
    assert result.returncode != 0
    assert "the tolerance of metric loss is looser than the record's (rel 1e-06 -> rel 0.05)" in result.stderr
    assert site.cli("record", "toy", "--profile", "cpu").returncode == 0
    rebuilt = site.build()
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "reproduced" in (site.root / "site_build/toy_post/index.html").read_text()


def test_unknown_experiment_in_a_post_fails(site):
    site.post("bad", "{{ experiment: nosuch }}")
    result = site.build()
    assert result.returncode != 0
    assert "posts/bad.md embeds unknown experiment 'nosuch' (known: toy)" in result.stderr


def test_unknown_metric_in_a_marker_lists_the_known_ones(site):
    site.post("bad", "{{ value: toy.acuracy }}")
    result = site.build()
    assert result.returncode != 0
    assert (
        "posts/bad.md: {{ value: toy.acuracy }}: no metric 'acuracy' in the cpu record (it has: accuracy, count"
        in result.stderr
    )


def test_renaming_a_profile_fails_clearly_instead_of_crashing(site):
    site.set_param("toy", "  laptop: {params: {scale: 1.0}, timeout: 60, threads: 1}")
    result = site.build()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert (
        "experiments/toy/records/cpu.json is a record for profile 'cpu', which experiment.yaml does not declare (declared: laptop)"
        in result.stderr
    )


def test_execute_off_verifies_without_running(site):
    shutil.rmtree(site.root / ".cache")  # no local run to stand in: integrity, self-consistency and freshness
    result = site.build(env={"REPRONOTES_EXECUTE": "off"})
    assert result.returncode == 0, result.stderr
    assert "running toy" not in result.stderr
    assert "verified from record" in (site.root / "site_build/toy_post/index.html").read_text()


def test_disabled_plugin_builds_and_leaves_markers_alone(site):
    config = site.root / "mkdocs.yml"
    config.write_text(
        config.read_text().replace("- repronotes: {posts_dir: posts}", "- repronotes: {enabled: false}")
    )
    (site.root / "notes/index.md").write_text("# Notes\n\nSee {{ value: toy.accuracy }}.\n")
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "{{ value: toy.accuracy }}" in (site.root / "site_build/index.html").read_text()


def test_posts_are_mounted_only_when_asked_and_whatever_the_plugin_order(site):
    config = site.root / "mkdocs.yml"
    text = config.read_text()
    plugin = "  - repronotes: {posts_dir: posts}\n"
    config.write_text(text.replace(plugin, "").replace("  - search\n", "  - search\n" + plugin))  # after blog
    assert site.build().returncode == 0
    assert (site.root / "site_build/toy_post/index.html").is_file()
    config.write_text(text.replace(plugin, "  - repronotes\n"))
    (site.root / "notes/index.md").write_text("# Notes\n\n{{ experiment: toy }}\n")
    assert site.build().returncode == 0
    assert not (site.root / "site_build/toy_post").exists()  # posts_dir is off by default


def test_stale_record_of_a_profile_this_machine_cannot_run_fails_verify(project, monkeypatch):
    spec = TOY_SPEC.replace(
        "profiles:\n", "profiles:\n  gpu: {params: {scale: 1.0}, timeout: 60, requires: cuda}\n"
    )
    project.experiment(spec=spec)
    fake_gpu = {"name": "NVIDIA H100 80GB HBM3", "short_name": "h100", "memory_mib": 81559, "driver": "580"}
    monkeypatch.setattr(fingerprint, "detect_gpu", lambda: fake_gpu)
    monkeypatch.setattr(fingerprint, "capabilities", lambda: {"cuda"})
    monkeypatch.setenv("REPRONOTES_GIT_COMMIT", "0" * 40)
    record_profile(Engine(load_settings(project.root)), "toy", "gpu")
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
    assert "on cuda-h100: repronotes record toy --profile gpu" in stale.stderr
    shutil.rmtree(project.root / ".cache")  # the verify above cached a cpu run with today's inputs
    off = project.cli("verify", "--execute", "off")  # cpu could run, but may not
    assert "toy/cpu: record is stale (notebook changed); execution is off and no cached run" in off.stderr


def test_run_a_page_runs_what_it_embeds(site):
    (site.root / "notes/results.md").write_text("# Results\n\n{{ value: toy.count }}\n")
    for target in ("posts/toy_post.md", "toy_post", "notes/results.md", "results.md"):
        result = site.cli("run", target)
        assert result.returncode == 0, (target, result.stderr)
        assert "reproduced (cached run)" in result.stdout
    missing = site.cli("run", "no_such_post")
    assert (
        missing.returncode == 2
        and "is neither an experiment (known: toy) nor a Markdown page" in missing.stderr
    )
