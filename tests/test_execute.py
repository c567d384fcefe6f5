import pytest

from projectkit import write_notebook
from repronotes import execute
from repronotes.errors import NotebookCellError

pytestmark = pytest.mark.slow


def _request(tmp_path, code, timeout=60):
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, code)
    return execute.ExecutionRequest(
        notebook=notebook, output=tmp_path / "out.ipynb", parameters={"scale": 2.0}, cwd=tmp_path,
        timeout=timeout, env={}, label="demo/cpu",
    )  # fmt: skip


def test_progress_names_cells_and_long_cells_send_heartbeats(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "HEARTBEAT_S", 0.5)
    events = []
    result = execute.execute(_request(tmp_path, "import time\ntime.sleep(3)\nprint(scale)"), events.append)
    assert result.cells > 0 and result.duration_s >= 3
    assert [e["index"] for e in events if not e.get("still")] == [0, 1, 2, 3]
    assert any(e.get("still") and e["index"] == 3 for e in events)
    assert all(e["label"] == "demo/cpu" for e in events)
    assert '"2.0\\n"' in (tmp_path / "out.ipynb").read_text()  # the injected parameter reached the kernel


def test_cell_error_carries_source_and_traceback(tmp_path):
    with pytest.raises(NotebookCellError) as err:
        execute.execute(_request(tmp_path, "def f():\n    return {}['missing']\nf()"))
    message = str(err.value)
    assert "demo/cpu: cell In[3] raised KeyError: 'missing'" in message
    assert "return {}['missing']" in message and "partial executed notebook kept" in message
    assert err.value.notebook and (tmp_path / "out.ipynb").is_file()
