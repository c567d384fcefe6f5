"""`repronotes init`: scaffold an experiment, or adopt an existing notebook, and make the site ready.

What it writes (never overwriting anything that exists):
- <experiments_dir>/<name>/experiment.yaml: one `cpu` profile and one metric to start from;
- <experiments_dir>/<name>/notebook.ipynb: a tagged parameters cell, a computation, a capture cell
  (or a copy of the notebook being adopted, its first code cell tagged `parameters` if asked);
- a minimal mkdocs.yml and docs/index.md embedding the experiment, when the folder has no site yet;
- `.cache/` in .gitignore, so local runs never get committed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from repronotes import notebooks
from repronotes.errors import SpecError
from repronotes.spec import SPEC_FILE
from repronotes.validate import NAME

PARAMETERS = 'seed = 0\nsamples = 1000\noutput_dir = "."  # the engine injects the run folder here\n'
COMPUTATION = """\
import random

rng = random.Random(seed)
estimate = sum(rng.random() for _ in range(samples)) / samples
print(f"mean of {samples} uniform draws: {estimate:.4f}")
"""
CAPTURE = """\
from repronotes import capture

capture.metric("mean", estimate)
capture.metric("samples", samples)
"""
SPEC = """\
title: {title}
profiles:
  cpu: {{params: {{samples: 1000}}, timeout: 600}}
metrics:
  mean: {{rel: 1.0e-12}}
  samples: {{exact: true}}
"""
MKDOCS = """\
site_name: {title}
theme: {{name: material}}
plugins:
  - search
  - repronotes
"""
INDEX = "# {title}\n\nThe mean was {{{{ value: {name}.mean | .4f }}}}.\n\n{{{{ experiment: {name} }}}}\n"


@dataclass
class Scaffolded:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def init_experiment(
    root: Path,
    name: str,
    experiments_dir: str = "experiments",
    adopt: Path | None = None,
    tag_first_cell: bool = False,
) -> Scaffolded:
    if not NAME.match(name):
        raise SpecError("<command line>", "name", f"experiment names match {NAME.pattern} (e.g. pi_estimate)")
    folder = root / experiments_dir / name
    if (folder / SPEC_FILE).exists():
        raise SpecError(
            f"{experiments_dir}/{name}/{SPEC_FILE}", "<file>", "already exists; choose another name"
        )
    done = Scaffolded()
    folder.mkdir(parents=True, exist_ok=True)
    title = name.replace("_", " ").capitalize()
    nb = _adopted(adopt, tag_first_cell) if adopt is not None else _new_notebook(title)
    _write(folder / "notebook.ipynb", nbformat.writes(nb), done)
    spec = SPEC.format(title=title) if adopt is None else _adopted_spec(title)
    _write(folder / SPEC_FILE, spec, done)
    ignored = [".cache/"]
    if not (root / "mkdocs.yml").exists():
        _write(root / "mkdocs.yml", MKDOCS.format(title=title), done)
        _write(root / "docs" / "index.md", INDEX.format(title=title, name=name), done)
        ignored.append("site/")  # the site_dir of the mkdocs.yml written here
    _ignore(root, ignored, done)
    if adopt is not None:
        done.notes.append(
            f"edit {experiments_dir}/{name}/{SPEC_FILE}: declare the profile's parameters and a tolerance for every value the notebook captures"
        )
    return done


def _write(path: Path, text: str, done: Scaffolded) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    done.written.append(path)


def _new_notebook(title: str) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title}"),
        parameters,
        nbformat.v4.new_code_cell(COMPUTATION),
        nbformat.v4.new_code_cell(CAPTURE),
    ]
    return nb


def _adopted(path: Path, tag_first_cell: bool) -> Any:
    nb = notebooks.read_notebook(path, path.name)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if any("parameters" in cell.metadata.get("tags", []) for cell in code):
        return nb
    if not tag_first_cell or not code:
        rule = "no code cell is tagged 'parameters'; tag one, or pass --tag-first-cell to tag the first code cell"
        raise SpecError(path.name, "cells", rule)
    code[0].metadata.setdefault("tags", []).append("parameters")
    return nb


def _adopted_spec(title: str) -> str:
    return textwrap.dedent(
        f"""\
        title: {title}
        profiles:
          cpu: {{timeout: 600}}
        metrics:
          # one tolerance per value the notebook reports with `capture` (exact, rel, abs, band, info, ...)
          "*": {{info: true}}
        """
    )


def _ignore(root: Path, entries: list[str], done: Scaffolded) -> None:
    """Add `entries` to .gitignore unless an equivalent line is there already."""
    ignore = root / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    present = {line.strip().strip("/") for line in lines}
    missing = [entry for entry in entries if entry.strip("/") not in present]
    if not missing:
        return
    ignore.write_text("\n".join([*lines, *missing, ""]), encoding="utf-8")
    done.notes.append(
        f"added {', '.join(missing)} to .gitignore (local runs, reports and the built site are never committed)"
    )
