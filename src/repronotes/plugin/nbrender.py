"""Executed notebooks -> HTML, the way mkdocs-jupyter renders them (its nb2html), cached on disk.

Two renderings:
- `outputs`: what a post shows inline — outputs only, no Markdown cells, no cells tagged
  remove-cell/parameters/injected-parameters; figures, tables, printed results.
- `full`: the whole executed notebook for its own page (inputs too, hide-input honoured).
nb2html inlines ~600 kB of scoped JupyterLab CSS and a few scripts into every conversion; we
strip them, publish the CSS once as an asset, and drop scripts that would load from a CDN.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from repronotes.atomic import write_bytes_atomic
from repronotes.notebooks import read_notebook

REMOVE_TAGS = ("remove-cell", "parameters", "injected-parameters")
_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.S)
_SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.S)
_ANCHOR = re.compile(r'<a class="anchor-link" href="#[^"]*">¶</a>')


class NotebookRenderer:
    def __init__(self, cache_dir: Path):
        self.cache_dir = cache_dir
        self.css: str | None = None

    def render(self, notebook: Path, mode: str) -> str:
        """HTML for `mode` ('outputs' or 'full'), from the cache when the notebook is unchanged.

        The cache holds bytes and is read back as bytes, so a warm build's pages equal a cold build's.
        """
        key = self._key(notebook, mode)
        cached_html, cached_css = self.cache_dir / f"{key}.html", self.cache_dir / "notebook.css"
        if cached_html.is_file() and cached_css.is_file():
            self.css = self.css or cached_css.read_bytes().decode("utf-8")
            return cached_html.read_bytes().decode("utf-8")
        html, css = _convert(notebook, mode)
        write_bytes_atomic(cached_html, html.encode("utf-8"))
        write_bytes_atomic(cached_css, css.encode("utf-8"))
        self.css = css
        return html

    def _key(self, notebook: Path, mode: str) -> str:
        digest = hashlib.sha256(notebook.read_bytes())
        digest.update(f"{mode}|{metadata.version('mkdocs-jupyter')}|{metadata.version('nbconvert')}".encode())
        digest.update(Path(__file__).read_bytes())  # a change to this renderer invalidates the cache
        return digest.hexdigest()[:32]


def _convert(notebook: Path, mode: str) -> tuple[str, str]:
    from mkdocs_jupyter.nbconvert2 import nb2html

    nb = read_notebook(notebook, notebook.name)
    nb.metadata.pop("repronotes", None)  # the seal is for verification, not for readers
    nb.cells = [cell for cell in nb.cells if _keep(cell, mode)]
    if mode == "outputs":  # warnings and progress bars are noise on a post (the full page keeps them)
        for cell in nb.cells:
            cell.outputs = [o for o in cell.outputs if not _is_noise(o)]
        nb.cells = [cell for cell in nb.cells if cell.outputs]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "notebook.ipynb"
        source.write_text(nbformat.writes(nb), encoding="utf-8")
        html = nb2html(
            str(source),
            no_input=(mode == "outputs"),
            no_prompt=(mode == "full"),  # nb2html: no_prompt would undo no_input
            remove_tag_config={"remove_input_tags": ["hide-input"]},  # nb2html keeps only the first tag
            custom_mathjax_url="",
        )
    css = "\n".join(block[block.index(">") + 1 : -len("</style>")] for block in _STYLE.findall(html))
    body = _SCRIPT.sub("", _STYLE.sub("", html))
    if mode == "outputs":
        body = _ANCHOR.sub("", body)
    return _figures(body.strip(), _figure_texts(nb)), css


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def _figure_texts(nb: Any) -> list[tuple[str | None, str | None]]:
    """(alt, caption) for every image output, in document order, from the cell's `figure` metadata."""
    texts: list[tuple[str | None, str | None]] = []
    for cell in nb.cells:
        figure = cell.get("metadata", {}).get("figure") or {}
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if any(kind in output.get("data", {}) for kind in _IMAGE_TYPES):
                texts.append((figure.get("alt"), figure.get("caption")))
    return texts


def _figures(body: str, texts: list[tuple[str | None, str | None]]) -> str:
    """Give each notebook image its alt text and wrap it in a <figure> with its caption (cell metadata
    ``figure: {alt, caption}``); an image without one keeps nbconvert's placeholder, so it stays visible."""
    if not any(alt or caption for alt, caption in texts):
        return body
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "html.parser")
    images = soup.find_all("img")
    if len(images) != len(texts):
        return body  # the rendering does not map one to one onto the outputs: leave it as nbconvert made it
    for image, (alt, caption) in zip(images, texts, strict=True):
        if alt:
            image["alt"] = alt
        if caption:
            figure = soup.new_tag("figure", attrs={"class": "rn-figure"})
            image.wrap(figure)
            figcaption = soup.new_tag("figcaption")
            figcaption.string = caption
            figure.append(figcaption)
    return str(soup)


def _is_noise(output: Any) -> bool:
    """stderr (warnings, tqdm) and HTML progress widgets such as the Trainer's notebook callback."""
    if output.get("output_type") == "stream":
        return bool(output.get("name") == "stderr")
    html = output.get("data", {}).get("text/html", "")
    return "<progress" in ("".join(html) if isinstance(html, list) else html)


def _keep(cell: Any, mode: str) -> bool:
    if mode == "full":
        return True
    tags = set(cell.get("metadata", {}).get("tags", []))
    if cell.get("cell_type") != "code" or tags & set(REMOVE_TAGS):
        return False
    return bool(cell.get("outputs"))
