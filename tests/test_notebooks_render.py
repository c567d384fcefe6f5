import json

import nbformat

from repronotes.plugin.nbrender import NotebookRenderer


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
    nb.metadata["repronotes"] = {"schema": 1, "captures": [{"kind": "metric", "name": "sealed_metric_xyz"}]}
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
    assert "sealed_metric_xyz" not in full  # the seal is for verification, not for readers
    assert renderer.render(notebook, "outputs") == inline  # second call: from the cache


def test_a_cached_rendering_is_byte_for_byte_the_fresh_one(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    _notebook(notebook)
    nb = json.loads(notebook.read_text())
    nb["cells"][2]["outputs"][0]["text"] = (
        "line one\r\nline two\rcarriage\n"  # newline translation must not apply
    )
    notebook.write_text(json.dumps(nb))
    fresh = NotebookRenderer(tmp_path / "cache").render(notebook, "full")
    cached = NotebookRenderer(tmp_path / "cache").render(notebook, "full")  # a new build: read back from disk
    assert cached == fresh and "\r" in fresh


def test_figures_get_alt_text_and_a_caption_from_the_cell_metadata(tmp_path):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    described = nbformat.v4.new_code_cell("plot()")
    described.metadata["figure"] = {"alt": "A rising line <b>", "caption": "Loss falls & rises"}
    described.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    ]
    bare = nbformat.v4.new_code_cell("plot()")
    bare.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
    nb.cells = [described, bare]
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps(nb))
    for mode in ("outputs", "full"):
        html = NotebookRenderer(tmp_path / f"cache-{mode}").render(notebook, mode)
        assert 'alt="A rising line &lt;b&gt;"' in html
        assert (
            '<figure class="rn-figure">' in html and "<figcaption>Loss falls &amp; rises</figcaption>" in html
        )
        assert html.count("<figcaption>") == 1  # the bare figure keeps nbconvert's placeholder, no caption
