"""Tiny fixture projects for the engine tests: experiments, notebooks, a site, and the CLI to drive them.

(Not in conftest.py: tests/site has a conftest of its own, and `from conftest import` would be ambiguous.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


TOY_CODE = """\
from repronotes import capture
accuracy = round(0.25 * scale, 6)
capture.metric("accuracy", accuracy, n=200)
capture.metric("count", 42)
capture.series("loss", [1, 2, 3], [1.0, 0.5, 0.25 * scale])
capture.metric("speed", 1000.0 * scale)
print(f"accuracy = {accuracy}")
"""

TOY_SPEC = """\
title: Toy experiment
profiles:
  cpu: {params: {scale: 1.0}, timeout: 60, threads: 1}
metrics:
  accuracy: {band: 2}
  count: {exact: true}
  loss: {rel: 1.0e-6}
  speed: {min_ratio: 0.9}
"""


def write_notebook(
    path: Path, code: str, params: str = "scale = 1.0\n", extra_cells: tuple[str, ...] = ()
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell(params)
    parameters.metadata["tags"] = ["parameters"]
    cells = [nbformat.v4.new_markdown_cell("# Fixture notebook"), parameters, nbformat.v4.new_code_cell(code)]
    cells += [nbformat.v4.new_code_cell(extra) for extra in extra_cells]
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


class Project:
    """A throwaway repronotes project under tmp_path."""

    def __init__(self, root: Path):
        self.root = root
        (root / "notes").mkdir(parents=True)
        (root / "posts").mkdir()
        (root / "notes" / "index.md").write_text("# Fixture notes\n")
        (root / "requirements.lock").write_text("fixture==1.0\n")
        (root / "mkdocs.yml").write_text(
            textwrap.dedent(
                """\
                site_name: Fixture notes
                site_url: https://example.org/notes/
                docs_dir: notes
                site_dir: site_build
                theme: {name: material, font: false}
                plugins:
                  - repronotes: {posts_dir: posts}
                  - blog: {blog_dir: ".", post_dir: posts, post_url_format: "{slug}"}
                  - search
                markdown_extensions: [admonition, pymdownx.details, attr_list, md_in_html, tables]
                """
            )
        )

    def experiment(self, name: str = "toy", code: str = TOY_CODE, spec: str = TOY_SPEC, **kwargs) -> Path:
        folder = self.root / "experiments" / name
        write_notebook(folder / "notebook.ipynb", code, **kwargs)
        (folder / "experiment.yaml").write_text(spec)
        return folder

    def post(self, name: str, body: str, date: str = "2026-01-02") -> Path:
        path = self.root / "posts" / f"{name}.md"
        path.write_text(
            f"---\ndate: {date}\nslug: {name}\n---\n\n# Post {name}\n\nIntro.\n\n<!-- more -->\n\n{body}\n"
        )
        return path

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: int = 180
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "repronotes"), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )

    def build(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "mkdocs"), "build", "--strict"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **(env or {})},
        )

    def record_json(self, name: str = "toy", profile: str = "cpu") -> dict:
        return json.loads((self.root / "experiments" / name / "records" / f"{profile}.json").read_text())

    def set_param(self, name: str, profile_line: str) -> None:
        spec = self.root / "experiments" / name / "experiment.yaml"
        lines = spec.read_text().splitlines()
        spec.write_text(
            "\n".join(profile_line if line.strip().startswith("cpu:") else line for line in lines) + "\n"
        )
