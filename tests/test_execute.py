"""execute.execute: the supervisor, its child, papermill and the kernel (real kernels: slow)."""

import json
import os
import subprocess

import nbformat
import pytest

from projectkit import write_notebook
from repronotes import execute
from repronotes.errors import (
    KernelDiedError,
    KernelNotFoundError,
    NotebookCellError,
    NotebookTimeoutError,
)

pytestmark = pytest.mark.slow


def _request(folder, code, timeout=60, env=None, **kwargs):
    notebook = folder / "nb.ipynb"
    write_notebook(notebook, code)
    return execute.ExecutionRequest(
        notebook=notebook, output=folder / "run" / "out.ipynb", parameters={"scale": 2.0}, cwd=folder,
        timeout=timeout, env=env or {}, label="demo/cpu", notebook_file="experiments/demo/nb.ipynb", **kwargs,
    )  # fmt: skip


def _alive(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, timeout=10).returncode == 0


def test_progress_names_cells_and_long_cells_send_heartbeats(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "HEARTBEAT_S", 0.5)
    events = []
    result = execute.execute(_request(tmp_path, "import time\ntime.sleep(3)\nprint(scale)"), events.append)
    assert result.cells == 4 and result.duration_s >= 3
    starts = [e for e in events if not e.get("still")]
    assert [e["index"] for e in starts] == [0, 1, 2, 3]  # markdown, parameters, injected, code
    assert all(e["total"] == 4 and e["event"] == "cell" for e in starts)
    last_start = events.index(starts[-1])
    beats = [e for e in events[last_start:] if e.get("still")]
    assert len(beats) >= 2 and all(e["index"] == 3 and e["total"] == 4 for e in beats)  # the sleeping cell
    assert all(e["index"] == -1 for e in events[:last_start] if e.get("still"))  # the kernel starting
    assert all(e["label"] == "demo/cpu" and e["elapsed_s"] >= 0 for e in events)
    out = nbformat.read(tmp_path / "run" / "out.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"] == "2.0\n"  # the injected parameter reached the kernel


def test_no_heartbeat_without_a_long_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "HEARTBEAT_S", 30.0)
    events = []
    execute.execute(_request(tmp_path, "x = 1"), events.append)
    assert events and not [e for e in events if e.get("still")]


def test_cell_error_carries_source_and_traceback(tmp_path):
    code = "def lookup():\n    return {}['missing']\n\nvalue = lookup()  # SECRETVAL"
    with pytest.raises(NotebookCellError) as err:
        execute.execute(_request(tmp_path, code), redact=lambda s: s.replace("SECRETVAL", "<r>"))
    message = str(err.value)
    assert "demo/cpu: cell In[3] raised KeyError: 'missing'" in message  # the code cell, after 2 code cells
    assert "  cell source:\n    def lookup():\n        return {}['missing']" in message
    assert "  traceback:\n" in message and "lookup()" in message.split("traceback:")[1]
    assert "\x1b[" not in message  # no ANSI colours from IPython's traceback
    assert "SECRETVAL" not in message and "<r>" in message  # the caller's redaction applies
    assert "partial executed notebook kept at" not in message  # the engine adds that, knowing where it is
    partial = nbformat.read(tmp_path / "run" / "out.ipynb", as_version=4)
    assert partial.cells[-1].outputs[0]["ename"] == "KeyError"


def test_the_kernel_runs_in_the_requested_folder_with_the_requested_env(tmp_path):
    exp = tmp_path / "experiments" / "demo"
    exp.mkdir(parents=True)
    (exp / "data.txt").write_text("beside the notebook\n")
    code = "import os\nprint(open('data.txt').read().strip(), os.environ['DEMO_FLAG'])"
    request = _request(exp, code, env={"DEMO_FLAG": "flag-on"})
    assert os.getcwd() != str(exp)
    execute.execute(request)
    out = nbformat.read(exp / "run" / "out.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"] == "beside the notebook flag-on\n"


def test_timeout_kills_the_run_and_everything_it_started(tmp_path):
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '97.25'])\ntime.sleep(96.5)"
    with pytest.raises(NotebookTimeoutError) as err:
        execute.execute(_request(tmp_path, code, timeout=6))
    assert "demo/cpu: timed out after 6 s (the profile's timeout)" in str(err.value)
    assert not _alive("time.sleep(96.5)") and not _alive("sleep 97.25")


def test_a_dying_kernel_is_reported_as_such(tmp_path):
    with pytest.raises(KernelDiedError) as err:
        execute.execute(_request(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
    assert str(err.value).startswith("demo/cpu: the kernel died")


def test_check_kernel_names_the_notebook_when_the_kernel_is_missing():
    execute.check_kernel("python3", "experiments/demo/nb.ipynb")  # installed: no error
    with pytest.raises(KernelNotFoundError) as err:
        execute.check_kernel("julia-9.9-nosuch", "experiments/demo/nb.ipynb")
    assert err.value.file == "experiments/demo/nb.ipynb"
    assert err.value.key == "metadata.kernelspec.name"
    assert "kernel 'julia-9.9-nosuch' is not installed here (installed: " in str(err.value)
    assert "python3" in err.value.rule and err.value.exit_code == 2


def test_epilogue_lists_the_distributions_the_notebook_imported(tmp_path):
    capture = tmp_path / "capture.jsonl"
    code = "import yaml\nimport json\nprint(yaml.safe_dump({'a': 1}))"
    execute.execute(_request(tmp_path, code, env={"REPRONOTES_CAPTURE_FILE": str(capture)}))
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    imports = [line for line in lines if line["kind"] == "imports"]
    assert len(imports) == 1
    distributions = {name.lower(): version for name, version in imports[0]["distributions"].items()}
    assert distributions["pyyaml"][0].isdigit()
    for machinery in ("ipykernel", "tornado", "jupyter-client", "jupyter_client", "pyzmq", "papermill"):
        assert machinery not in distributions
    out = nbformat.read(tmp_path / "run" / "out.ipynb", as_version=4)
    assert len(out.cells) == 4  # the silent snippets add no cell
    assert "__rn_" not in json.dumps(out)


def test_epilogue_is_silent_without_a_capture_file(tmp_path):
    execute.execute(_request(tmp_path, "import yaml"))
    assert not list(tmp_path.rglob("*.jsonl"))
