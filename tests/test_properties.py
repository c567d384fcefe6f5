"""Property-based tests (issue 11 E): a mutated record, committed executed notebook, cached run.json or
experiment.yaml ends in exit 1 or 2 with a one-line message naming the file, never a traceback.

One toy project is recorded once per module; each example writes one mutated file, calls the CLI
in-process (milliseconds) and puts the file back. The oracles are independent of the engine: a document
that no longer parses (or holds NaN/inf), or that differs from the original in a field the committed
notebook proves, must fail; a document equal to the original may pass.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import math
import os
import shutil
import subprocess
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from projectkit import BIN, TOY_SPEC, Project
from repronotes.cli import main

pytestmark = pytest.mark.slow  # the module records one toy project (one notebook run, ~3 s)

RECORD = "experiments/toy/records/cpu.json"
NOTEBOOK = "experiments/toy/runs/cpu.ipynb"
SPEC = "experiments/toy/experiment.yaml"
TRACEBACK = "Traceback (most recent call last)"
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CHECK = ("verify", "--execute", "off")
"""What the record and notebook properties run: the build's verification, without executing anything."""


# --- the recorded project, once per module -------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("REPRONOTES_")]:
            mp.delenv(name)
        project = Project(tmp_path_factory.mktemp("props") / "proj")
        project.experiment()
        done = project.cli("record", "toy", "--profile", "cpu", env={"REPRONOTES_GIT_COMMIT": "0000000"})
    assert done.returncode == 0, done.stderr
    return project.root


@pytest.fixture
def root(site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(site)
    return site


def invoke(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--root", str(root), *args])


@contextmanager
def replaced(path: Path, data: bytes) -> Iterator[None]:
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)


def run_json(root: Path) -> Path:
    (found,) = (root / ".cache" / "repronotes" / "runs" / "toy" / "cpu").glob("*/run.json")
    return found


def assert_reported(result: Result, file: str, must_fail: bool, what: str) -> None:
    """No traceback; exit 0, 1 or 2; a failure names `file` on one line (an error, or a finding)."""
    shown = f"{what}\n--- output ---\n{result.output}"
    if (
        result.exc_info is not None
        and result.exception is not None
        and not isinstance(result.exception, SystemExit)
    ):
        shown += "\n" + "".join(traceback.format_exception(*result.exc_info))
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert TRACEBACK not in result.output, shown
    assert result.exit_code in (0, 1, 2), shown
    if currently_in_test_context():  # `pytest --hypothesis-show-statistics` shows how often each case came up
        event(f"exit {result.exit_code}, must fail: {must_fail}")
    if must_fail:
        assert result.exit_code in (1, 2), shown
    lines = result.output.splitlines()
    if result.exit_code == 2:
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1 and file in errors[0], shown
    elif result.exit_code == 1:
        findings = [line for line in lines if line.startswith("  - toy/cpu: ")]
        assert any(file in line for line in findings), shown


# --- mutations -----------------------------------------------------------------------------------

PLACEHOLDER = "\x00mutant\x00"
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, "-0", "null", "[]", "{}", '""']
"""JSON text json.dumps cannot write: NaN and inf literals, an overflowing float, an int over Python's digit limit."""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
raw_json = st.sampled_from(RAW_TOKENS) | json_values.map(lambda v: json.dumps(v, allow_nan=True))


@dataclass(frozen=True)
class Mutation:
    kind: str
    data: bytes
    path: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        return f"{self.kind} at {self.path}: {len(self.data)} bytes"


def key_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list index path below `doc`."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    out: list[tuple[Any, ...]] = []
    for key, value in items:
        out.append((*prefix, key))
        out += key_paths(value, (*prefix, key))
    return out


def parent_of(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def mutated_text(doc: Any, path: tuple[Any, ...], raw: str | None) -> bytes:
    """`doc` with `path` deleted (raw None) or replaced by the JSON text `raw`."""
    doc = copy.deepcopy(doc)
    parent = parent_of(doc, path)
    if raw is None:
        del parent[path[-1]]
        return json.dumps(doc, indent=1, allow_nan=True).encode()
    parent[path[-1]] = PLACEHOLDER
    return json.dumps(doc, indent=1, allow_nan=True).replace(json.dumps(PLACEHOLDER), raw).encode()


@st.composite
def json_mutations(
    draw: st.DrawFn, original: bytes, extra: tuple[tuple[tuple[Any, ...], str], ...] = ()
) -> Mutation:
    doc = json.loads(original)
    kind = draw(st.sampled_from(["delete", "replace", "replace", "truncate", "splice", "bytes", "extra"]))
    if kind == "delete":
        path = draw(st.sampled_from(key_paths(doc)))
        return Mutation(kind, mutated_text(doc, path, None), path)
    if kind == "replace":
        path = draw(st.sampled_from(key_paths(doc)))
        return Mutation(kind, mutated_text(doc, path, draw(raw_json)), path)
    if kind == "truncate":
        return Mutation(kind, original[: draw(st.integers(0, len(original) - 1))])
    if kind == "splice":
        at = draw(st.integers(0, len(original)))
        return Mutation(kind, original[:at] + draw(st.binary(min_size=1, max_size=8)) + original[at:])
    if kind == "bytes":
        return Mutation(kind, draw(st.binary(max_size=64)))
    if not extra:
        return Mutation("none", original)
    path, raw = draw(st.sampled_from(extra))
    return Mutation(kind, mutated_text(doc, path, raw), path)


def _refuse(token: str) -> Any:
    raise ValueError(token)


def parsed(data: bytes) -> Any:
    """The JSON document, or None for text that is not UTF-8 JSON free of NaN/inf (what a record must be)."""
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_refuse)
    except ValueError:
        return None
    return None if _non_finite(doc) else doc


def _non_finite(doc: Any) -> bool:
    if isinstance(doc, float):
        return not math.isfinite(doc)
    items = doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else []
    return any(_non_finite(v) for v in items)


def differences(a: Any, b: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths where two JSON documents differ (equal numbers of different types do not differ)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[tuple[Any, ...]] = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append((*prefix, key))
            else:
                out += differences(a[key], b[key], (*prefix, key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in differences(x, y, (*prefix, i))]
    return (
        [] if a == b and type(a) in (type(b), int, float) and type(b) in (type(a), int, float) else [prefix]
    )


# --- records ----------------------------------------------------------------------------------

UNPROVEN = [
    ("title",),
    ("run", "date"),
    ("run", "git_commit"),
    ("run", "git_dirty"),
    ("run", "duration_s"),
    ("run", "parameters"),
    ("run", "repronotes"),
    ("outputs", "notebook"),
]
"""Record fields the committed notebook does not prove: a well-typed change there may pass."""


PROVEN_MAPPINGS = [("metrics",), ("inputs", "parts"), ("outputs", "files"), ("outputs", "artifacts")]
"""Mappings whose every key the notebook proves (a metric entry's keys are checked as well)."""


def record_must_fail(mutation: Mutation, original: Any) -> bool:
    doc = parsed(mutation.data)
    if doc is None:
        return True
    for path in differences(original, doc):
        added = _missing(original, path)
        if added and path[:-1] not in PROVEN_MAPPINGS and path[0] != "metrics":
            continue  # a key added next to the proven ones (an unknown key in run, say) proves nothing false
        if path in (("outputs", "files"), ("outputs", "artifacts")) and not original["outputs"][path[1]]:
            continue  # an empty mapping deleted: the loader's default is the same empty mapping
        if len(path) >= 2 and path[0] == "environment":
            continue  # descriptive; a wrong type there is caught, a different string may pass
        if not any(path[: len(p)] == p for p in UNPROVEN):
            return True
    return False


def _missing(doc: Any, path: tuple[Any, ...]) -> bool:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return True
        doc = doc[key]
    return False


def test_the_unmutated_project_verifies(root: Path) -> None:
    result = invoke(root, *CHECK)
    assert result.exit_code == 0, result.output
    assert "reproduced (cached run)" in result.output


@PROPERTY
@given(data=st.data())
def test_a_mutated_record_is_reported_naming_it(root: Path, data: st.DataObject) -> None:
    path = root / RECORD
    original = path.read_bytes()
    mutation = data.draw(json_mutations(original))
    with replaced(path, mutation.data):
        result = invoke(root, *CHECK)
    assert_reported(result, RECORD, record_must_fail(mutation, json.loads(original)), str(mutation))
    assert result.exit_code == 0 or mutation.data != original, result.output


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (("metrics", "accuracy", "value"), "NaN"),
        (("metrics", "speed", "value"), "1e999"),
        (("run", "duration_s"), "1e999"),
        (("run", "duration_s"), "9" * 5000),
        (("metrics",), "[1]"),
        (("schema",), "1"),
        (("experiment",), '"other"'),
    ],
)
def test_record_corner_cases(root: Path, path: tuple[Any, ...], raw: str) -> None:
    """Each is a broken record: NaN, an overflowing float, an int over the digit limit, a wrong type."""
    file = root / RECORD
    with replaced(file, mutated_text(json.loads(file.read_bytes()), path, raw)):
        result = invoke(root, *CHECK)
    assert_reported(result, RECORD, must_fail=True, what=f"{path} = {raw[:20]}")
    assert result.exit_code == 1
    assert "broken record" in result.output


# --- committed executed notebooks -------------------------------------------------------------

NOTEBOOK_SHAPES = (
    (("cells",), "[1]"),
    (("cells",), "null"),
    (("cells",), "[{}]"),
    (("cells", 0), '{"cell_type": "code"}'),
    (("metadata",), "[]"),
    (("metadata", "repronotes"), "null"),
    (("metadata", "repronotes"), '{"captures": 1}'),
    (("nbformat",), "3"),
    (("nbformat",), '"4"'),
)


def notebook_must_fail(mutation: Mutation, original: Any) -> bool:
    doc = parsed(mutation.data)
    return doc is None or bool(differences(original, doc))


@pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning")
@PROPERTY
@given(data=st.data())
def test_a_mutated_committed_notebook_is_reported_naming_it(root: Path, data: st.DataObject) -> None:
    path = root / NOTEBOOK
    original = path.read_bytes()
    mutation = data.draw(json_mutations(original, NOTEBOOK_SHAPES))
    with replaced(path, mutation.data):
        result = invoke(root, *CHECK)
    assert_reported(result, NOTEBOOK, notebook_must_fail(mutation, json.loads(original)), str(mutation))
    assert result.exit_code == 0 or mutation.data != original, result.output


# --- the cache's run.json ---------------------------------------------------------------------


@PROPERTY
@given(data=st.data())
def test_a_damaged_cached_run_never_fails_a_good_record(root: Path, data: st.DataObject) -> None:
    """`status` uses a cached run only when its inputs match; a damaged entry is skipped (the intact,
    fresh record then verifies), never trusted and never a crash."""
    path = run_json(root)
    mutation = data.draw(json_mutations(path.read_bytes()))
    with replaced(path, mutation.data):
        result = invoke(root, "status")
    assert_reported(result, "run.json", must_fail=False, what=str(mutation))
    assert result.exit_code == 0, f"{mutation}\n{result.output}"


def test_verify_re_executes_over_a_truncated_cached_run(site: Path, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    shutil.copytree(site, root)
    path = run_json(root)
    path.write_bytes(path.read_bytes()[:100])
    done = subprocess.run(
        [str(BIN / "repronotes"), "verify"], cwd=root, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ignoring a damaged cache entry toy/cpu (run.json unreadable" in done.stderr
    assert "running toy/cpu" in done.stderr
    assert "reproduced in this build" in done.stdout
    assert json.loads(path.read_text())["status"] == "complete"


# --- experiment.yaml ----------------------------------------------------------------------------

yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["cpu", "cuda", "2se", "*", "notebook.ipynb", "../x", "scale"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=4) | st.sampled_from(["rel", "abs", "exact", "band"]), inner, max_size=3
        )
    ),
    max_leaves=6,
)
YAML_NOISE = [
    "\t",
    ":",
    "- ",
    "{",
    "[",
    "]",
    "}",
    "&a",
    "*a",
    "!!python/name:os.system",
    "'",
    '"',
    "\n  x",
    "---\n",
]
METRICS = ("accuracy", "count", "loss", "speed")


@st.composite
def yaml_mutations(draw: st.DrawFn) -> Mutation:
    doc = yaml.safe_load(TOY_SPEC)
    text = TOY_SPEC.encode()
    kind = draw(
        st.sampled_from(
            ["delete", "replace", "replace", "duplicate", "truncate", "noise", "bytes", "document"]
        )
    )
    if kind in ("delete", "replace"):
        path = draw(st.sampled_from(key_paths(doc)))
        doc = copy.deepcopy(doc)
        if kind == "delete":
            del parent_of(doc, path)[path[-1]]
        else:
            parent_of(doc, path)[path[-1]] = draw(yaml_values)
        return Mutation(kind, yaml.safe_dump(doc, sort_keys=False).encode(), path)
    if kind == "duplicate":
        lines = TOY_SPEC.splitlines(keepends=True)
        at = draw(st.integers(0, len(lines) - 1))
        return Mutation(kind, "".join([*lines[: at + 1], lines[at], *lines[at + 1 :]]).encode(), (at,))
    if kind == "truncate":
        return Mutation(kind, text[: draw(st.integers(0, len(text) - 1))])
    if kind == "noise":
        at = draw(st.integers(0, len(TOY_SPEC)))
        return Mutation(kind, (TOY_SPEC[:at] + draw(st.sampled_from(YAML_NOISE)) + TOY_SPEC[at:]).encode())
    if kind == "bytes":
        return Mutation(kind, draw(st.binary(max_size=64)))
    return Mutation(kind, yaml.safe_dump(draw(yaml_values)).encode())


def spec_must_fail(mutation: Mutation) -> bool:
    """Unreadable YAML, a duplicate key, or a spec that drops the recorded profile or a recorded metric."""
    if mutation.kind == "duplicate":
        return True
    try:
        doc = yaml.safe_load(mutation.data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return True
    if doc == yaml.safe_load(TOY_SPEC):
        return False
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), dict) or "cpu" not in doc["profiles"]:
        return True
    metrics = doc.get("metrics")
    if not isinstance(metrics, dict):
        return True
    patterns = [key for key in metrics if isinstance(key, str)]
    return not all(any(fnmatch.fnmatchcase(m, p) for p in patterns) for m in METRICS)


@PROPERTY
@given(mutation=yaml_mutations())
def test_a_mutated_experiment_yaml_is_reported_naming_it(root: Path, mutation: Mutation) -> None:
    with replaced(root / SPEC, mutation.data):
        result = invoke(root, "status")
    shown = f"{mutation}\n{result.output}"
    if result.exit_code == 1:  # a readable spec whose meaning changed: findings, one line each
        assert "FAILED:" in result.output, shown
        assert_reported(result, "toy/cpu", spec_must_fail(mutation), str(mutation))
    else:
        assert_reported(result, SPEC, spec_must_fail(mutation), str(mutation))
    if mutation.kind != "duplicate" and yaml.safe_load(TOY_SPEC) == _safe_yaml(mutation.data):
        assert result.exit_code == 0, shown  # the same document, written differently, changes nothing


def _safe_yaml(data: bytes) -> Any:
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"title: a\ntitle: b\n", "line 2: not valid YAML (duplicate key 'title'"),
        (b"title: x\nprofiles:\n\tcpu: {}\n", "line 3: not valid YAML"),
        (b"- 1\n- 2\n", "<document>: must be a mapping"),
        (b"", "<document>: must be a mapping"),
        (b"\xff\xfe", "<file>: cannot be read (UnicodeDecodeError)"),
        (b"profiles: null\n", "title: is required"),
        (
            TOY_SPEC.replace("scale: 1.0", "scale: .nan").encode(),
            "profiles.cpu.params: values must be plain JSON",
        ),
        (
            TOY_SPEC.replace("scale:", "nope:").encode(),
            "profiles.cpu.params.nope: not a parameter of the notebook",
        ),
    ],
)
def test_experiment_yaml_corner_cases(root: Path, text: bytes, says: str) -> None:
    with replaced(root / SPEC, text):
        result = invoke(root, "status")
    assert_reported(result, SPEC, must_fail=True, what=text.decode(errors="replace"))
    assert result.exit_code == 2
    assert f"error: {SPEC}: {says}" in result.output
