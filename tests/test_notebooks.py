"""notebooks.py: the whole-notebook digest, the seal, parameters, kernels and reading errors."""

from __future__ import annotations

import nbformat
import pytest

from repronotes import notebooks
from repronotes.errors import SpecError
from repronotes.model import Seal

FILE = "experiments/toy/notebook.ipynb"
LINES = [
    {"kind": "metric", "name": "acc", "value": 0.25, "n": 200, "se": 0.03, "se_method": "binomial"},
    {"kind": "series", "name": "loss", "steps": [1, 2], "values": [1.0, 0.5]},
]
PARTS = {"notebook": "n1", "parameters": "p1"}
FILES = {"fig.png": "f" * 64}


def make_nb():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("scale = 1.0\nsteps: int = 3\n")
    params.metadata["tags"] = ["parameters"]
    code = nbformat.v4.new_code_cell("print(scale)", execution_count=1)
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1.0\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), params, code]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    notebooks.set_seal(nb, notebooks.make_seal(LINES, "h" * 64, PARTS, FILES))
    return nb


def roundtrip(nb, tmp_path):
    path = tmp_path / "nb.ipynb"
    notebooks.write_notebook(path, nb)
    return notebooks.read_notebook(path, FILE)


# --- digest ---------------------------------------------------------------------------------------


def _markdown(nb):
    nb.cells[0].source = "# Title, reworded"


def _tag(nb):
    nb.cells[2].metadata["tags"] = ["remove-cell"]


def _cell_metadata(nb):
    nb.cells[2].metadata["jupyter"] = {"source_hidden": True}


def _output(nb):
    nb.cells[2].outputs[0].text = "2.0\n"


def _hidden_output(nb):
    nb.cells[2].outputs.append(nbformat.v4.new_output("display_data", data={"text/plain": "x"}))


def _seal(nb):
    nb.metadata["repronotes"]["captures"][0]["value"] = 0.26


def _seal_tolerances(nb):
    notebooks.set_seal(
        nb, notebooks.make_seal(LINES, "h" * 64, PARTS, FILES, {"acc": {"tolerance": {"band": 2}}})
    )


def _notebook_metadata(nb):
    nb.metadata["title"] = "other"


def _code(nb):
    nb.cells[2].source = "print(scale * 2)"


@pytest.mark.parametrize(
    "change", [_markdown, _tag, _cell_metadata, _output, _hidden_output, _seal, _seal_tolerances, _notebook_metadata,
               _code],
)  # fmt: skip
def test_any_edit_changes_the_digest(change):
    nb = make_nb()
    before = notebooks.digest(nb)
    change(nb)
    assert notebooks.digest(nb) != before


def test_digest_survives_an_nbformat_round_trip(tmp_path):
    nb = make_nb()
    once = roundtrip(nb, tmp_path)
    assert notebooks.digest(once) == notebooks.digest(nb)
    assert notebooks.digest(roundtrip(once, tmp_path)) == notebooks.digest(nb)
    plain = nbformat.reads(nbformat.writes(once), as_version=4)
    assert notebooks.digest(plain) == notebooks.digest(nb)


def test_sealing_after_reading_then_writing_keeps_the_digest(tmp_path):
    """What `record` does: read the cached notebook, seal it, digest it, write it; a reader must agree."""
    nb = roundtrip(make_nb(), tmp_path)
    notebooks.set_seal(
        nb, notebooks.make_seal(LINES, "h" * 64, PARTS, FILES, {"acc": {"tolerance": {"rel": 0.1}}})
    )
    assert notebooks.digest(roundtrip(nb, tmp_path)) == notebooks.digest(nb)


def test_digest_is_a_sha256_hex():
    value = notebooks.digest(make_nb())
    assert len(value) == 64 and int(value, 16) >= 0


# --- the seal -------------------------------------------------------------------------------------


def test_seal_round_trip(tmp_path):
    tolerances = {"acc": {"tolerance": {"band": 2.0}}, "loss": {"tolerance": {"rel": 1e-6}}}
    nb = make_nb()
    notebooks.set_seal(nb, notebooks.make_seal(LINES, "h" * 64, PARTS, FILES, tolerances))
    for source in (nb, roundtrip(nb, tmp_path)):
        seal = notebooks.read_seal(source)
        assert seal == Seal(tuple(LINES), "h" * 64, PARTS, FILES, tolerances)
        assert (
            type(seal.captures[0]) is dict and type(seal.tolerances["acc"]) is dict
        )  # plain, not NotebookNode


def test_make_seal_without_tolerances():
    seal = notebooks.make_seal(LINES, "h", PARTS, FILES)
    assert seal == {
        "schema": 1,
        "captures": LINES,
        "input_hash": "h",
        "input_parts": PARTS,
        "output_files": FILES,
    }
    assert notebooks.read_seal(nbformat.v4.new_notebook()) is None


@pytest.mark.parametrize(
    "key, value",
    [
        ("schema", 2),
        ("schema", None),
        ("captures", "not a list"),
        ("captures", [1, 2]),
        ("input_hash", None),
        ("input_hash", 5),
        ("input_parts", ["notebook"]),
        ("input_parts", {"notebook": 1}),
        ("output_files", None),
        ("output_files", {"fig.png": None}),
        ("tolerances", ["acc"]),
    ],
)
def test_read_seal_is_none_for_a_malformed_seal(key, value):
    nb = make_nb()
    nb.metadata["repronotes"][key] = value
    assert notebooks.read_seal(nb) is None


def test_read_seal_is_none_when_the_seal_is_not_a_mapping():
    nb = make_nb()
    nb.metadata["repronotes"] = "sealed"
    assert notebooks.read_seal(nb) is None


# --- parameters, kernel, paths ---------------------------------------------------------------------


def _with_params(source: str):
    nb = make_nb()
    nb.cells[1].source = source
    return nb


def test_parameter_names_from_assignments_and_annotations():
    source = "a = 1\nb: int = 2\nc: float\nd = e = 3\nf += 1\nprint(a)\ndef g():\n    h = 1\n"
    assert notebooks.parameter_names(_with_params(source), FILE) == {"a", "b", "c", "d", "e", "f"}
    assert notebooks.parameter_names(_with_params(""), FILE) == frozenset()


def test_parameters_cell_must_exist():
    nb = make_nb()
    nb.cells[1].metadata["tags"] = []
    with pytest.raises(SpecError) as err:
        notebooks.parameter_names(nb, FILE)
    assert (err.value.file, err.value.key) == (FILE, "cells") and "tagged 'parameters'" in err.value.rule


def test_a_markdown_cell_tagged_parameters_does_not_count():
    nb = make_nb()
    nb.cells[1].metadata["tags"] = []
    nb.cells[0].metadata["tags"] = ["parameters"]
    with pytest.raises(SpecError, match="tagged 'parameters'"):
        notebooks.parameter_names(nb, FILE)


def test_parameters_cell_must_be_python():
    with pytest.raises(SpecError) as err:
        notebooks.parameter_names(_with_params("scale = = 1\n"), FILE)
    assert (err.value.file, err.value.key) == (
        FILE,
        "parameters cell",
    ) and "not valid Python" in err.value.rule


def test_kernel_of():
    nb = make_nb()
    assert notebooks.kernel_of(nb) == ("python3", "python")
    del nb.metadata["kernelspec"]
    assert notebooks.kernel_of(nb) == (None, None)
    nb.metadata["language_info"] = {"name": "python"}
    assert notebooks.kernel_of(nb) == (None, "python")
    nb.metadata["kernelspec"] = {"name": "", "display_name": "x"}
    assert notebooks.kernel_of(nb) == (None, "python")


def test_code_sources_skip_markdown():
    assert notebooks.code_sources(make_nb()) == ["scale = 1.0\nsteps: int = 3\n", "print(scale)"]


def test_drop_local_paths():
    nb = make_nb()
    nb.metadata["papermill"] = {
        "input_path": "/home/me/nb.ipynb",
        "output_path": "/tmp/x.ipynb",
        "duration": 1.5,
    }
    notebooks.drop_local_paths(nb)
    assert nb.metadata["papermill"] == {"duration": 1.5}
    plain = make_nb()
    notebooks.drop_local_paths(plain)  # no papermill metadata: nothing to do
    assert "papermill" not in plain.metadata


# --- reading --------------------------------------------------------------------------------------


def test_read_notebook_missing_file(tmp_path):
    with pytest.raises(SpecError) as err:
        notebooks.read_notebook(tmp_path / "nope.ipynb", FILE)
    assert (err.value.file, err.value.rule) == (FILE, "file does not exist")


@pytest.mark.parametrize(
    "content, rule",
    [
        (b"{not json", "not a valid .ipynb"),
        (b'{"cells": [1], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "not a valid .ipynb"),
        (
            b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "extra": 1}',
            "not a valid .ipynb",
        ),
        (b"\xff\xfe\x00", "cannot be read"),
    ],
)
def test_read_notebook_errors_name_the_file(tmp_path, content, rule):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(SpecError) as err:
        notebooks.read_notebook(path, FILE)
    assert str(err.value).startswith(f"{FILE}: <notebook>: ") and rule in err.value.rule
