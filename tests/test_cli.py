"""The CLI on a real fixture project: exit codes, messages, and records left untouched on every fault."""

import json
import shutil
import signal
import subprocess
import time

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
    record = project.root / "experiments/toy/records/cpu.json"
    executed = project.root / "experiments/toy/runs/cpu.ipynb"
    return (
        record.read_bytes() == project.snapshot[record]
        and executed.read_bytes() == project.snapshot[executed]
    )


def test_help_everywhere(project):
    for args in ([], ["run"], ["record"], ["status"], ["verify"], ["env"]):
        result = project.cli(*args, "-h")
        assert result.returncode == 0 and "Usage" in result.stdout
    assert "A typical session" in project.cli("-h").stdout


def test_record_then_run_reproduces_from_cache(recorded):
    record = recorded.record_json()
    assert set(record) >= {"run", "inputs", "metrics", "environment", "outputs"}
    assert record["metrics"]["accuracy"]["tolerance"] == {"band": 2.0}
    result = recorded.cli("run", "toy")
    assert result.returncode == 0, result.stderr
    assert "reproduced (cached run)" in result.stdout
    assert "running toy/cpu" not in result.stderr  # cache hit: nothing executed


def test_drift_fails_with_a_precise_message(recorded):
    recorded.set_param("toy", "  cpu: {params: {scale: 1.5}, timeout: 60, threads: 1}")
    result = recorded.cli("run", "toy", "--profile", "cpu")
    assert result.returncode == 1
    assert "running toy/cpu: parameters changed" in result.stderr
    line = next(x for x in result.stderr.splitlines() if "metric accuracy drifted" in x)
    assert (
        "recorded 0.25, this run 0.375, tolerance ±2·SE" in line
        and "rerun: repronotes run toy --profile cpu" in line
    )
    assert "metric count" not in result.stderr  # exact metric unchanged
    assert untouched(recorded)
    status = recorded.cli("status")  # no execution: compares the last local run with the record
    assert (
        status.returncode == 1 and "drifted" in status.stdout and "metric accuracy drifted" in status.stderr
    )


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
        ("profile", 2, "profiles.tpu: unknown profile"),
        ("parameters", 2, "no cell is tagged 'parameters'"),
        ("raises", 1, "toy/cpu: cell In[3] raised ZeroDivisionError: division by zero"),
        ("timeout", 1, "timed out after 6 s"),
        ("dies", 1, "the kernel died"),
        ("nan", 1, "NaN or inf never passes"),
    ],
)
def test_faults_give_clear_errors_and_keep_the_record(recorded, breakage, code, expected):
    folder = recorded.root / "experiments/toy"
    args = ["run", "toy"]
    if breakage == "yaml":
        (folder / "experiment.yaml").write_text("title: [broken\n")
    elif breakage == "profile":
        args += ["--profile", "tpu"]
    elif breakage == "parameters":
        write_notebook(folder / "notebook.ipynb", TOY_CODE)
        nb = json.loads((folder / "notebook.ipynb").read_text())
        nb["cells"][1]["metadata"]["tags"] = []
        (folder / "notebook.ipynb").write_text(json.dumps(nb))
    elif breakage == "raises":
        write_notebook(folder / "notebook.ipynb", "x = 1 / 0")
    elif breakage == "timeout":
        write_notebook(folder / "notebook.ipynb", "import time\ntime.sleep(120)")
        (folder / "experiment.yaml").write_text(
            (folder / "experiment.yaml").read_text().replace("timeout: 60", "timeout: 6")
        )
    elif breakage == "dies":
        write_notebook(folder / "notebook.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    elif breakage == "nan":
        write_notebook(folder / "notebook.ipynb", TOY_CODE.replace("0.25 * scale", "float('nan')"))
    result = recorded.cli(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert expected in result.stderr, result.stderr
    assert "Traceback (most recent call last)" not in result.stderr or breakage == "raises"
    assert untouched(recorded)
    if breakage == "raises":
        assert "x = 1 / 0" in result.stderr  # the failing cell's source
        assert (
            recorded.root / ".cache/repronotes/runs/toy/cpu/executed.ipynb"
        ).is_file()  # partial notebook kept
    if breakage == "nan":
        refused = recorded.cli("record", "toy", "--profile", "cpu")
        assert (
            refused.returncode == 1 and "refusing to record NaN/inf in metric(s): accuracy" in refused.stderr
        )
        assert untouched(recorded)


def test_corrupt_record_fails_verify(recorded):
    record = recorded.root / "experiments/toy/records/cpu.json"
    record.write_text(record.read_text()[:200])
    result = recorded.cli("verify", "--execute", "off")
    assert result.returncode == 1
    assert "experiments/toy/records/cpu.json: not valid JSON" in result.stderr
    status = recorded.cli("status")
    assert status.returncode == 1 and "broken record" in status.stdout


def test_sigint_stops_the_run_and_its_kernel(recorded):
    folder = recorded.root / "experiments/toy"
    write_notebook(folder / "notebook.ipynb", "import time\ntime.sleep(120)")
    proc = subprocess.Popen(
        [str(BIN / "repronotes"), "run", "toy"],
        cwd=recorded.root,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    seen = ""
    while time.time() < deadline and "cell 3/" not in seen:
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, seen + err
    assert "interrupted" in err
    assert untouched(recorded)
    leftover = subprocess.run(["pgrep", "-f", "time.sleep(120)"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_env_prints_a_redacted_fingerprint(project):
    result = project.cli("env", "--threads", "2", env={"HF_TOKEN": "hf_plantedFAKE0123456789"})
    data = json.loads(result.stdout)
    assert data["hardware_class"].endswith("-2t") and "hf_planted" not in result.stdout


def test_upstream_runs_with_its_own_profile_not_the_downstream_one(project):
    up_code = "from repronotes import capture\ncapture.metric('count', int(rows))\n"
    project.experiment(
        "up",
        code=up_code,
        params="rows = 1\n",
        spec="title: Up\nprofiles: {cpu: {params: {rows: 7}, threads: 1}}\nmetrics: {count: {exact: true}}\n",
    )
    down_code = (
        "import json, pathlib\nfrom repronotes import capture\n"
        "nb = json.loads((pathlib.Path(upstream['up']) / 'executed.ipynb').read_text())\n"
        "capture.metric('count', int(rows))\n"
        "capture.metric('upstream_params', json.dumps(nb['metadata']['papermill']['parameters'], sort_keys=True))\n"
    )
    project.experiment(
        "down",
        code=down_code,
        params="rows = 1\nupstream = {}\n",
        spec="title: Down\nneeds: [up]\nprofiles: {cpu: {params: {rows: 99}, threads: 2}}\n"
        "metrics: {count: {exact: true}, upstream_params: {exact: true}}\n",
    )
    result = project.cli("run", "down")  # the upstream has no cached run: it executes first
    assert "running up/cpu: no cached run" in result.stderr
    assert '{\\"rows\\": 7}' in result.stdout or '{"rows": 7}' in result.stdout, result.stdout
    cached = json.loads((project.root / ".cache/repronotes/runs/up/cpu/run.json").read_text())
    assert cached["hardware_class"].endswith("-1t")  # the upstream's own threads, not the downstream's


def test_record_refuses_a_dirty_tree_but_not_its_own_outputs(project):
    project.experiment()
    project.experiment("other")
    run = lambda *args: subprocess.run(["git", *args], cwd=project.root, capture_output=True, text=True)  # noqa: E731
    (project.root / ".gitignore").write_text(".cache/\nsite_build/\n")
    run("init", "-q")
    run("-c", "user.email=t@e", "-c", "user.name=t", "add", "-A")
    run("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "fixture")
    assert project.cli("record", "toy", "--profile", "cpu").returncode == 0
    second = project.cli(
        "record", "other", "--profile", "cpu"
    )  # toy's new record does not make the tree dirty
    assert second.returncode == 0, second.stderr
    assert project.record_json("other")["run"]["git_dirty"] is False
    (project.root / "notes" / "index.md").write_text("# prose cannot change a run\n")
    assert project.cli("record", "toy", "--profile", "cpu").returncode == 0
    (project.root / "requirements.lock").write_text("fixture==9.9\n")
    refused = project.cli("record", "toy", "--profile", "cpu")
    assert refused.returncode == 1 and "uncommitted changes" in refused.stderr
