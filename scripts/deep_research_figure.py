"""Draw the schematic of a deep-research run used by posts/deep_research.md.

The figure is a diagram, not data: a query is planned, then searched, read and re-planned in a loop,
and finally written up as a report. The four traits that make a query "deep research" are annotated
on the stages they belong to.

    .venv/bin/python scripts/deep_research_figure.py   # writes notes/assets/figures/deep_research_loop.svg
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "notes/assets/figures/deep_research_loop.svg"

# (label, centre x, centre y, fill colour) in axes units: x in [0, 10], y in [0, 4].
STAGES = [
    ("Question", 0.9, 2.0, "#e8eaf6"),
    ("Plan\nsub-questions", 3.0, 2.0, "#c5cae9"),
    ("Search\n& browse", 5.2, 3.0, "#ffe0b2"),
    ("Read\n& extract", 5.2, 1.0, "#ffe0b2"),
    ("Synthesise\nreport", 8.4, 2.0, "#c8e6c9"),
]
ARROWS = [(0, 1, 0.0), (1, 2, 0.0), (2, 3, -0.35), (3, 2, -0.35), (3, 1, 0.0), (3, 4, 0.0)]
TRAITS = [
    ("agentic: the model\nchooses each next step", 2.9, 0.85),
    ("large-scale information seeking", 5.2, 3.85),
    ("information consumption", 7.45, 0.72),
    ("long horizon: many rounds of this loop", 5.2, 0.1),
]
BOX_W, BOX_H = 1.55, 0.85


def draw(output: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "deep_research_loop", "font.size": 11})
    fig, ax = plt.subplots(figsize=(9.0, 3.8), dpi=100)
    fig.patch.set_facecolor("white")
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.25, 4.3)
    ax.axis("off")
    for label, x, y, colour in STAGES:
        box = FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2),
            BOX_W,
            BOX_H,
            boxstyle="round,pad=0.04,rounding_size=0.12",
            facecolor=colour,
            edgecolor="#37474f",
            linewidth=1.2,
        )
        ax.add_patch(box)
        ax.text(x, y, label, ha="center", va="center", color="#212121", fontsize=11)
    for start, end, bend in ARROWS:
        (_, x0, y0, _), (_, x1, y1, _) = STAGES[start], STAGES[end]
        arrow = FancyArrowPatch(
            (x0, y0),
            (x1, y1),
            connectionstyle=f"arc3,rad={bend}",
            arrowstyle="-|>",
            mutation_scale=14,
            color="#37474f",
            linewidth=1.3,
            shrinkA=34,
            shrinkB=34,
        )
        ax.add_patch(arrow)
    for text, x, y in TRAITS:
        ax.text(x, y, text, ha="center", va="center", fontsize=9.5, style="italic", color="#5d4037")
    ax.set_title("Anatomy of a deep-research run (schematic)", fontsize=13, color="#212121")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, format="svg", bbox_inches="tight", facecolor="white", metadata={"Date": None})
    plt.close(fig)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the SVG")
    args = parser.parse_args()
    print(f"wrote {draw(args.output)}")


if __name__ == "__main__":
    main()
