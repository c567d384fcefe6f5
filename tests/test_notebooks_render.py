import json

import nbformat

from repronotes.plugin.notebooks import NotebookRenderer


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    hidden = nbformat.v4.new_code_cell("print('plumbing')")
    hidden.metadata["tags"] = ["remove-cell"]
    hidden.outputs = [nbformat.v4.new_output("stream", name="stdout", text="plumbing output")]
    shown = nbformat.v4.new_code_cell("print('result')")
    shown.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="the result is 42"),
        nbformat.v4.new_output("stream", name="stderr", text="FutureWarning: noisy"),
        nbformat.v4.new_output("display_data", data={"text/html": "<progress value=1></progress> step 3"}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), hidden, shown]
    path.write_text(json.dumps(nb))


def test_inline_outputs_drop_plumbing_and_noise_but_the_full_page_keeps_everything(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    _notebook(notebook)
    renderer = NotebookRenderer(tmp_path / "cache")
    inline = renderer.render(notebook, "outputs")
    assert "the result is 42" in inline
    for noise in ("plumbing output", "FutureWarning", "<progress", "print(", "<h1"):
        assert noise not in inline
    full = renderer.render(notebook, "full")
    assert "FutureWarning" in full and "print(" in full and "plumbing output" in full
    assert "<script" not in inline + full and "<style" not in inline + full
    assert renderer.css and ".jupyter-wrapper" in renderer.css
    assert renderer.render(notebook, "outputs") == inline  # second call: from the cache
