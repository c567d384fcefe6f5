"""The CLI on a real fixture project: exit codes, messages, and records left untouched on every fault."""

import json
import shutil
import subprocess

import pytest

from projectkit import BIN, TOY_CODE, Project, write_notebook

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded_template(tmp_path_factory):
    project = Project(tmp_path_factory.mktemp("template") / "proj")
    project.experiment()
    result = project.cli("record", "toy", "--profile", "cpu")
    assert result.returncode == 0, result.stderr
    return project.root


@pytest.fixture
def recorded(recorded_template, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(recorded_template, root)
    project = Project.__new__(Project)
    project.root = root
    kept = [root / "experiments/toy/records/cpu.json", root / "experiments/toy/runs/cpu.ipynb"]
    project.snapshot = {p: p.read_bytes() for p in kept}
    return project


def untouched(project):
    return all(path.read_bytes() == data for path, data in project.snapshot.items())


def test_help_everywhere(project):
    for args in ([], ["run"], ["record"], ["status"], ["verify"], ["env"], ["init"]):
        result = project.cli(*args, "-h")
        assert result.returncode == 0 and "Usage" in result.stdout
    assert "A typical session" in project.cli("-h").stdout


def test_record_then_run_reproduces_from_cache(recorded):
    record = recorded.record_json()
    assert set(record) >= {"run", "inputs", "metrics", "environment", "outputs"}
    assert record["metrics"]["accuracy"]["tolerance"] == {"band": 2.0}
    assert record["metrics"]["accuracy"]["se_method"] == "binomial"
    assert "repronotes" in record["environment"]["packages"]  # what the notebook imported
    result = recorded.cli("run", "toy")
    assert result.returncode == 0, result.stderr
    assert "reproduced (cached run)" in result.stdout and "bit for bit (4 metrics)" in result.stdout
    assert "running toy/cpu" not in result.stderr  # cache hit: nothing executed


def test_drift_fails_with_a_precise_message_and_a_fitting_hint(recorded):
    recorded.set_param("toy", "  cpu: {params: {scale: 1.5}, timeout: 60, threads: 1}")
    result = recorded.cli("run", "toy", "--profile", "cpu")
    assert result.returncode == 1
    assert "running toy/cpu: parameters changed" in result.stderr
    line = next(x for x in result.stderr.splitlines() if "metric accuracy drifted" in x)
    assert "recorded 0.25, this run 0.375, tolerance ±2·SE" in line
    assert "if the change is intended: repronotes record toy --profile cpu" in line  # not "rerun"
    assert "metric count" not in result.stderr  # exact metric unchanged
    assert untouched(recorded)
    status = recorded.cli("status")  # no execution: compares today's cached run with the record
    assert (
        status.returncode == 1 and "drifted" in status.stdout and "metric accuracy drifted" in status.stderr
    )


def test_switching_parameters_back_and_forth_reuses_cached_runs(recorded):
    recorded.set_param("toy", "  cpu: {params: {scale: 1.5}, timeout: 60, threads: 1}")
    assert "running toy/cpu" in recorded.cli("run", "toy").stderr
    recorded.set_param("toy", "  cpu: {params: {scale: 1.0}, timeout: 60, threads: 1}")
    back = recorded.cli("run", "toy")
    assert back.returncode == 0 and "running toy/cpu" not in back.stderr


def test_record_shows_the_diff_against_the_previous_record(recorded):
    recorded.set_param("toy", "  cpu: {params: {scale: 1.1}, timeout: 60, threads: 1}")
    result = recorded.cli("record", "toy", "--profile", "cpu")
    assert result.returncode == 0, result.stderr
    assert "changes against the previous record" in result.stdout and "accuracy" in result.stdout
    assert recorded.record_json()["metrics"]["accuracy"]["value"] == pytest.approx(0.275)


@pytest.mark.parametrize(
    "breakage, code, expected",
    [
        ("yaml", 2, "experiments/toy/experiment.yaml: line"),
        ("duplicate", 2, "duplicate key 'metrics'"),
        ("profile", 2, "profiles.tpu: unknown profile"),
        ("parameters", 2, "no cell is tagged 'parameters'"),
        (
            "kernel",
            2,
            "experiments/toy/notebook.ipynb: metadata.kernelspec.name: kernel 'no-such-kernel' is not installed",
        ),
        ("raises", 1, "toy/cpu: cell In[3] raised ZeroDivisionError: division by zero"),
        ("timeout", 1, "timed out after 6 s"),
        ("dies", 1, "the kernel died"),
        ("nan", 1, "NaN or inf never passes"),
        (
            "undeclared",
            1,
            "metric extra was captured but has no tolerance — declare metrics.extra in experiments/toy/experiment.yaml",
        ),
    ],
)
def test_faults_give_clear_errors_and_keep_the_record(recorded, breakage, code, expected):
    folder = recorded.root / "experiments/toy"
    spec = folder / "experiment.yaml"
    args = ["run", "toy"]
    if breakage == "yaml":
        spec.write_text("title: [broken\n")
    elif breakage == "duplicate":
        spec.write_text(spec.read_text() + "metrics: {x: {exact: true}}\n")
    elif breakage == "profile":
        args += ["--profile", "tpu"]
    elif breakage == "parameters":
        nb = json.loads((folder / "notebook.ipynb").read_text())
        nb["cells"][1]["metadata"]["tags"] = []
        (folder / "notebook.ipynb").write_text(json.dumps(nb))
    elif breakage == "kernel":
        nb = json.loads((folder / "notebook.ipynb").read_text())
        nb["metadata"]["kernelspec"]["name"] = "no-such-kernel"
        (folder / "notebook.ipynb").write_text(json.dumps(nb))
    elif breakage == "raises":
        write_notebook(folder / "notebook.ipynb", "x = 1 / 0")
    elif breakage == "timeout":
        write_notebook(folder / "notebook.ipynb", "import time\ntime.sleep(120)")
        spec.write_text(spec.read_text().replace("timeout: 60", "timeout: 6"))
    elif breakage == "dies":
        write_notebook(folder / "notebook.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    elif breakage == "nan":
        write_notebook(folder / "notebook.ipynb", TOY_CODE.replace("0.25 * scale", "float('nan')"))
    elif breakage == "undeclared":
        write_notebook(folder / "notebook.ipynb", TOY_CODE + "capture.metric('extra', 1)\n")
    result = recorded.cli(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert expected in result.stderr, result.stderr
    assert "Traceback (most recent call last)" not in result.stderr or breakage == "raises"
    assert "notebook error" not in result.stdout or breakage in ("raises", "timeout", "dies")
    assert untouched(recorded)
    if breakage == "raises":
        assert "x = 1 / 0" in result.stderr  # the failing cell's source
        kept = list((recorded.root / ".cache/repronotes/runs/toy/cpu").glob("*.failed/executed.ipynb"))
        assert (
            len(kept) == 1
            and f"partial executed notebook kept at {kept[0].relative_to(recorded.root)}" in result.stderr
        )
    if breakage == "nan":
        refused = recorded.cli("record", "toy", "--profile", "cpu")
        assert (
            refused.returncode == 1 and "refusing to record NaN/inf in metric(s): accuracy" in refused.stderr
        )
        assert untouched(recorded)


def test_corrupt_record_fails_verify_and_status(recorded):
    record = recorded.root / "experiments/toy/records/cpu.json"
    record.write_text(record.read_text()[:200])
    result = recorded.cli("verify", "--execute", "off")
    assert result.returncode == 1
    assert "experiments/toy/records/cpu.json: not valid JSON" in result.stderr
    status = recorded.cli("status")
    assert status.returncode == 1 and "broken record" in status.stdout


def test_a_renamed_profile_is_reported_by_status_and_verify(recorded):
    recorded.set_param("toy", "  laptop: {params: {scale: 1.0}, timeout: 60, threads: 1}")
    for command in (["status"], ["verify", "--execute", "off"]):
        result = recorded.cli(*command)
        assert result.returncode == 1
        assert (
            "records/cpu.json is a record for profile 'cpu', which experiment.yaml does not declare"
            in result.stderr
        )
        assert "toy/laptop: experiments/toy/records/laptop.json: no record yet" in result.stderr


def test_no_project_is_an_error_not_an_empty_table(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()

    def run(*args):
        return subprocess.run([str(BIN / "repronotes"), *args], cwd=empty, capture_output=True, text=True)

    here = run("status")
    assert (
        here.returncode == 2
        and "not a repronotes project: no mkdocs.yml and no experiments/ folder" in here.stderr
    )
    missing = run("--root", str(tmp_path / "nowhere"), "status")
    assert missing.returncode == 2 and "--root: no such folder" in missing.stderr


def test_env_prints_a_redacted_fingerprint(project):
    result = project.cli("env", "--threads", "2", env={"HF_TOKEN": "hf_plantedFAKE0123456789abcdef"})
    data = json.loads(result.stdout)
    assert data["hardware_class"].endswith("-2t") and "hf_planted" not in result.stdout
    assert data["lock"]["file"] == "requirements.lock"


def test_the_notebook_runs_where_it_lives(project):
    code = "import helper\nfrom repronotes import capture\ncapture.metric('total', helper.total('numbers.txt'))\n"
    folder = project.experiment(
        code=code,
        spec="title: T\nprofiles: {cpu: {timeout: 60}}\nmetrics: {total: {exact: true}}\ndepends_on: [numbers.txt]\n",
    )
    (folder / "helper.py").write_text(
        "def total(path):\n    return sum(int(x) for x in open(path).read().split())\n"
    )
    (folder / "numbers.txt").write_text("1 2 3\n")
    assert project.cli("record", "toy", "--profile", "cpu").returncode == 0
    assert project.record_json()["metrics"]["total"]["value"] == 6
    parts = project.record_json()["inputs"]["parts"]
    assert "code:experiments/toy/helper.py" in parts and "depends_on:experiments/toy/numbers.txt" in parts
    (folder / "helper.py").write_text(
        "def total(path):\n    return 2 * sum(int(x) for x in open(path).read().split())\n"
    )
    changed = project.cli("run", "toy")
    assert changed.returncode == 1 and "running toy/cpu: experiments/toy/helper.py changed" in changed.stderr
    assert not list(folder.glob("*.ipynb"))[1:]  # nothing written beside the notebook but the notebook


def test_upstream_runs_with_its_own_profile_and_downstream_reads_its_outputs(project):
    up_code = "from pathlib import Path\nfrom repronotes import capture\nPath(output_dir, 'rows.txt').write_text(str(rows))\ncapture.metric('count', int(rows))\n"
    project.experiment(
        "up", code=up_code, params='rows = 1\noutput_dir = "."\n',
        spec="title: Up\noutputs: [rows.txt]\nprofiles: {cpu: {params: {rows: 7}, threads: 1}}\nmetrics: {count: {exact: true}}\n",
    )  # fmt: skip
    down_code = "from pathlib import Path\nfrom repronotes import capture\ncapture.metric('seen', int(Path(upstream['up'], 'rows.txt').read_text()))\n"
    project.experiment(
        "down", code=down_code, params="upstream = {}\n",
        spec="title: Down\nneeds: [up]\nprofiles: {cpu: {threads: 2}}\nmetrics: {seen: {exact: true}}\n",
    )  # fmt: skip
    result = project.cli("run", "down")  # the upstream has no cached run: it executes first
    assert "running up/cpu: no cached run" in result.stderr
    assert next(line for line in result.stdout.splitlines() if line.startswith("seen")).split()[:3] == [
        "seen",
        "-",
        "7",
    ]
    runs = list((project.root / ".cache/repronotes/runs/up/cpu").glob("*/run.json"))
    assert json.loads(runs[0].read_text())["hardware_class"].endswith("-1t")  # its own threads, not 2


def test_record_refuses_a_dirty_tree_but_not_its_own_outputs_or_prose(project):
    project.experiment()
    project.experiment("other")
    no_git = project.cli("record", "toy", "--profile", "cpu")
    assert no_git.returncode == 0 and "is not a git checkout: the record names no commit" in no_git.stderr

    def git(*args):
        command = ["git", "-c", "user.email=t@e", "-c", "user.name=t", *args]
        return subprocess.run(command, cwd=project.root, capture_output=True, text=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "fixture")
    assert project.cli("record", "toy", "--profile", "cpu").returncode == 0
    second = project.cli(
        "record", "other", "--profile", "cpu"
    )  # toy's new record does not make the tree dirty
    assert second.returncode == 0, second.stderr
    assert project.record_json("other")["run"]["git_dirty"] is False
    assert git("status", "--porcelain", "--", ".cache").stdout == ""  # the cache ignores itself
    (project.root / "notes" / "index.md").write_text("# prose cannot change a run\n")
    assert project.cli("record", "toy", "--profile", "cpu").returncode == 0
    (project.root / "requirements.lock").write_text("fixture==9.9\n")
    refused = project.cli("record", "toy", "--profile", "cpu")
    assert (
        refused.returncode == 1
        and "uncommitted changes to files the run depends on (requirements.lock)" in refused.stderr
    )


def test_init_scaffolds_an_experiment_that_runs_and_records(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    init = subprocess.run(
        [str(BIN / "repronotes"), "init", "pi_estimate"], cwd=root, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    for path in (
        "experiments/pi_estimate/experiment.yaml",
        "experiments/pi_estimate/notebook.ipynb",
        "mkdocs.yml",
        "docs/index.md",
    ):
        assert (root / path).is_file(), path
    assert ".cache/" in (root / ".gitignore").read_text().splitlines()
    record = subprocess.run(
        [str(BIN / "repronotes"), "record", "pi_estimate", "-p", "cpu"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert record.returncode == 0, record.stderr
    again = subprocess.run(
        [str(BIN / "repronotes"), "init", "pi_estimate"], cwd=root, capture_output=True, text=True
    )
    assert again.returncode == 2 and "already exists" in again.stderr


def test_record_refuses_a_banded_metric_captured_without_a_standard_error(recorded):
    """A band is k·SE: without n, se or seeds the record could never verify, so record refuses it."""
    folder = recorded.root / "experiments/toy"
    write_notebook(folder / "notebook.ipynb", TOY_CODE.replace(", n=200)", ")"))
    result = recorded.cli("record", "toy", "--profile", "cpu", "--allow-dirty")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "experiments/toy/experiment.yaml: metrics.accuracy:" in result.stderr
    assert "without a standard error" in result.stderr and "could never pass" in result.stderr
    assert untouched(recorded)
