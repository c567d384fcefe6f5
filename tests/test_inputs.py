"""Input hashes: each input changes exactly its named part, `explain` says why; freshness of a record."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

import nbformat
import pytest

import repronotes.inputs
from projectkit import TOY_CODE, TOY_SPEC
from repronotes import lockfile
from repronotes.errors import SpecError
from repronotes.inputs import InputHash, InputHasher, explain, freshness, with_machine_of
from repronotes.model import Change
from repronotes.spec import load_experiment

LOG = logging.getLogger("repronotes.test_inputs")
SMALL_SPEC = "title: T\nprofiles: {cpu: {}}\nmetrics: {count: {exact: true}}\n"


def compute(
    project,
    name: str = "toy",
    upstream: Mapping[str, Mapping[str, str] | None] | None = None,
    hasher: InputHasher | None = None,
) -> InputHash:
    exp = load_experiment(project.root, name)
    hasher = hasher or InputHasher(project.root, lockfile.find_lock(project.root, None), LOG)
    return hasher.compute(exp, "cpu", "cpu-x-1t", upstream or {})  # type: ignore[arg-type]


def changed(before: InputHash, after: InputHash) -> dict[str, str]:
    """part -> explanation, for every part that differs."""
    return {c.part: explain(c) for c in freshness(before.parts, after.parts).changes}


def edit_notebook(folder: Path, edit) -> None:
    path = folder / "notebook.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    edit(nb)
    nbformat.write(nb, str(path))


# --- what goes into the hash ----------------------------------------------------------------------


def test_the_hash_is_stable_and_ignores_markdown(project):
    folder = project.experiment()
    first = compute(project)
    assert compute(project) == first
    assert {"hardware_class", "numerics", "notebook", "spec", "parameters", "capture", "repronotes"} <= set(
        first.parts
    )

    def retitle(nb):
        nb["cells"][0]["source"] = "# A new title, same code"
        nb.cells.append(nbformat.v4.new_markdown_cell("More prose."))

    edit_notebook(folder, retitle)
    assert compute(project) == first


def test_a_code_cell_changes_the_notebook_part(project):
    folder = project.experiment()
    before = compute(project)
    edit_notebook(
        folder, lambda nb: nb["cells"][2].__setitem__("source", nb["cells"][2]["source"] + "x = 1\n")
    )
    after = compute(project)
    assert after.digest != before.digest
    assert changed(before, after) == {"notebook": "notebook changed"}


def test_the_kernelspec_changes_the_notebook_part(project):
    folder = project.experiment()
    before = compute(project)
    edit_notebook(folder, lambda nb: nb["metadata"]["kernelspec"].__setitem__("name", "python3-other"))
    assert changed(before, compute(project)) == {"notebook": "notebook changed"}


def test_profile_params_change_the_parameters_part(project):
    project.experiment()
    before = compute(project)
    project.set_param("toy", "  cpu: {params: {scale: 2.0}, timeout: 60, threads: 1}")
    assert changed(before, compute(project)) == {"parameters": "parameters changed"}


@pytest.mark.parametrize(
    "addition, parts",
    [
        ("needs: [up]\n", {"spec", "upstream:up"}),
        ("depends_on: ['*.csv']\n", {"spec", "depends_on:experiments/toy/a.csv"}),
        ("outputs: ['*.csv']\n", {"spec"}),
    ],
)
def test_execution_relevant_spec_keys_change_the_spec_part(project, addition, parts):
    folder = project.experiment()
    (folder / "a.csv").write_text("1\n")
    before = compute(project)
    (folder / "experiment.yaml").write_text(TOY_SPEC + addition)
    diff = changed(before, compute(project))
    assert set(diff) == parts
    assert diff["spec"] == "spec changed"


def test_threads_change_the_spec_and_the_numerics(project):
    project.experiment()
    before = compute(project)
    project.set_param("toy", "  cpu: {params: {scale: 1.0}, timeout: 60, threads: 2}")
    after = compute(project)
    assert set(changed(before, after)) == {"spec", "numerics"}
    assert json.loads(after.parts["numerics"])["OMP_NUM_THREADS"] == "2"


@pytest.mark.parametrize(
    "old, new",
    [
        ("title: Toy experiment", "title: Another title"),
        ("timeout: 60", "timeout: 900"),
        ("count: {exact: true}", "count: {abs: 1}"),
        ("accuracy: {band: 2}", "accuracy: {band: 3, other_hardware: {band: 5}}"),
    ],
)
def test_titles_timeouts_and_tolerances_do_not_change_the_hash(project, old, new):
    folder = project.experiment()
    before = compute(project)
    assert old in TOY_SPEC
    (folder / "experiment.yaml").write_text(TOY_SPEC.replace(old, new))
    assert compute(project) == before


def test_a_helper_module_beside_the_notebook_is_a_code_part(project):
    folder = project.experiment(code=TOY_CODE + "import helper\n")
    (folder / "helper.py").write_text("def f(): return 1\n")
    before = compute(project)
    assert "code:experiments/toy/helper.py" in before.parts
    (folder / "helper.py").write_text("def f(): return 2\n")
    assert changed(before, compute(project)) == {
        "code:experiments/toy/helper.py": "experiments/toy/helper.py changed"
    }


def test_a_depends_on_file_is_relative_to_the_experiment_folder(project):
    folder = project.experiment(spec=TOY_SPEC + "depends_on: ['data/*.csv', '../../shared/*.txt']\n")
    (folder / "data").mkdir()
    (folder / "data" / "a.csv").write_text("1\n")
    (project.root / "shared").mkdir()
    (project.root / "shared" / "vocab.txt").write_text("a b\n")
    before = compute(project)
    assert {"depends_on:experiments/toy/data/a.csv", "depends_on:shared/vocab.txt"} <= set(before.parts)
    (folder / "data" / "a.csv").write_text("2\n")
    assert changed(before, compute(project)) == {
        "depends_on:experiments/toy/data/a.csv": "experiments/toy/data/a.csv changed"
    }


def test_the_lock_file_and_the_installed_versions_of_locked_packages(project, monkeypatch):
    project.experiment()
    before = compute(project)
    assert "lock:requirements.lock" in before.parts and "packages" in before.parts
    (project.root / "requirements.lock").write_text("fixture==2.0\n")
    locked = compute(project)
    assert changed(before, locked) == {"lock:requirements.lock": "requirements.lock changed"}
    seen: list[list[str]] = []

    def installed(names: list[str]) -> dict[str, str]:
        seen.append(list(names))
        return {name: "9.9" for name in names}

    monkeypatch.setattr(lockfile, "installed", installed)
    assert changed(locked, compute(project)) == {"packages": "packages changed"}
    assert seen == [["fixture"]]


def test_no_lock_file_means_no_lock_parts(project):
    project.experiment()
    (project.root / "requirements.lock").unlink()
    parts = compute(project).parts
    assert not any(key.startswith("lock:") for key in parts) and "packages" not in parts


def test_numerics_environment_variables(project, monkeypatch):
    project.experiment()
    before = compute(project)
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    diff = changed(before, compute(project))
    assert set(diff) == {"numerics"}
    assert diff["numerics"].startswith("numerics variables ") and "COMPATIBLE" in diff["numerics"]


def test_the_capture_module_is_hashed(project, tmp_path, monkeypatch):
    project.experiment()
    copy = tmp_path / "capture_copy.py"
    shutil.copy(repronotes.inputs.capture.__file__, copy)
    monkeypatch.setattr(repronotes.inputs.capture, "__file__", str(copy))
    before = compute(project)
    copy.write_text(copy.read_text() + "\n# the SE formula changed\n")
    assert changed(before, compute(project)) == {"capture": "capture changed"}


def test_the_repronotes_version_is_hashed(project, monkeypatch):
    project.experiment()
    before = compute(project)
    monkeypatch.setattr(repronotes.inputs, "__version__", "99.0")
    assert changed(before, compute(project)) == {
        "repronotes": f"repronotes {before.parts['repronotes']} -> 99.0"
    }


def test_upstream_outputs_not_records(project):
    project.experiment("up", spec=SMALL_SPEC)
    project.experiment(spec=TOY_SPEC + "needs: [up]\n")
    absent = compute(project)
    assert absent.parts["upstream:up"] == "absent"
    first = compute(project, upstream={"up": {"data.csv": "a" * 64}})
    assert first.parts["upstream:up"] != "absent"
    assert compute(project, upstream={"up": {"data.csv": "a" * 64}}) == first
    renamed = compute(project, upstream={"up": {"data2.csv": "a" * 64}})
    other = compute(project, upstream={"up": {"data.csv": "b" * 64}})
    assert changed(first, other) == {"upstream:up": "upstream up outputs changed"}
    assert set(changed(first, renamed)) == {"upstream:up"}
    assert changed(absent, first) == {"upstream:up": "upstream up outputs changed"}


# --- depends_on guards ----------------------------------------------------------------------------


def test_depends_on_leaving_the_project_is_a_spec_error(project):
    project.experiment(spec=TOY_SPEC + "depends_on: ['../../../etc/*']\n")
    (project.root.parent / "etc").mkdir()
    (project.root.parent / "etc" / "passwd").write_text("secret\n")
    with pytest.raises(SpecError) as err:
        compute(project)
    assert err.value.file == "experiments/toy/experiment.yaml"
    assert err.value.key == "depends_on[0]"
    assert "leaves the project" in str(err.value)


@pytest.mark.parametrize("link", ["folder", "file"])
def test_depends_on_through_a_symlink_to_outside_is_a_spec_error(project, link):
    folder = project.experiment(spec=TOY_SPEC + "depends_on: ['data/*.csv']\n")
    outside = project.root.parent / "outside"
    outside.mkdir()
    (outside / "a.csv").write_text("1\n")
    if link == "folder":
        (folder / "data").symlink_to(outside, target_is_directory=True)
    else:
        (folder / "data").mkdir()
        (folder / "data" / "a.csv").symlink_to(outside / "a.csv")
    with pytest.raises(SpecError, match=r"experiments/toy/experiment.yaml: depends_on\[0\]: .*leaves"):
        compute(project)


def test_a_glob_matching_nothing_warns_once(project, caplog):
    project.experiment(spec=TOY_SPEC + "depends_on: ['data/*.csv']\n")
    hasher = InputHasher(project.root, None, LOG)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        compute(project, hasher=hasher)
        compute(project, hasher=hasher)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        "experiments/toy/experiment.yaml: depends_on[0]" in warnings[0] and "matches no file" in warnings[0]
    )


# --- output files ---------------------------------------------------------------------------------


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for name in (
        "executed.ipynb",
        "capture.jsonl",
        "run.json",
        ".hidden",
        ".cache/x.bin",
        "b.csv",
        "out/a.txt",
    ):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(name)
    return run


def test_output_files_default_to_everything_but_engine_files_and_dot_files(project, tmp_path):
    project.experiment()
    run = _run_folder(tmp_path)
    hasher = InputHasher(project.root, None, LOG)
    files = hasher.output_files(
        load_experiment(project.root, "toy"), run, {"executed.ipynb", "capture.jsonl", "run.json"}
    )
    assert list(files) == ["b.csv", "out/a.txt"]
    assert files["b.csv"] == lockfile.file_sha256(run / "b.csv")


def test_outputs_globs_restrict_the_output_files(project, tmp_path):
    project.experiment(spec=TOY_SPEC + "outputs: ['*.csv']\n")
    run = _run_folder(tmp_path)
    hasher = InputHasher(project.root, None, LOG)
    files = hasher.output_files(load_experiment(project.root, "toy"), run, {"executed.ipynb"})
    assert list(files) == ["b.csv"]


# --- freshness ------------------------------------------------------------------------------------

RECORDED = {
    "hardware_class": "cpu-a",
    "numerics": "{}",
    "notebook": "n1",
    "code:x.py": "c1",
    "parameters": "p",
}


def test_unchanged_parts_are_fresh():
    result = freshness(RECORDED, dict(RECORDED))
    assert result.fresh and result.changes == () and result.ignored == ()


def test_changed_added_and_removed_parts():
    now = {**RECORDED, "notebook": "n2", "code:y.py": "c2"}
    del now["code:x.py"]
    result = freshness(RECORDED, now)
    assert not result.fresh
    assert result.changes == (
        Change("code:x.py", "removed", "c1", None),
        Change("code:y.py", "added", None, "c2"),
        Change("notebook", "changed", "n1", "n2"),
    )
    assert [explain(c) for c in result.changes] == ["x.py removed", "y.py added", "notebook changed"]


def test_a_lock_added_since_a_lockless_record_is_ignored_not_counted():
    now = {**RECORDED, "lock:requirements.lock": "l1", "packages": "v1"}
    result = freshness(RECORDED, now)
    assert result.fresh
    assert {c.part for c in result.ignored} == {"lock:requirements.lock", "packages"}
    # once a record has a lock, a changed or swapped lock counts
    with_lock = {**RECORDED, "lock:requirements.lock": "l1", "packages": "v1"}
    swapped = {**RECORDED, "lock:uv.lock": "l2", "packages": "v1"}
    assert {c.part for c in freshness(with_lock, swapped).changes} == {
        "lock:requirements.lock",
        "lock:uv.lock",
    }


def test_with_machine_of_replaces_only_the_machine_parts():
    now = {
        **RECORDED,
        "hardware_class": "cuda-h100",
        "numerics": '{"X": "1"}',
        "packages": "p2",
        "notebook": "n2",
    }
    machine = {"hardware_class": "cpu-a", "numerics": "{}", "packages": "p1", "notebook": "n1", "spec": "s"}
    out = with_machine_of(now, machine)
    assert out == {**now, "hardware_class": "cpu-a", "numerics": "{}", "packages": "p1"}
    assert "spec" not in out
    assert now["hardware_class"] == "cuda-h100"  # the input is not modified
