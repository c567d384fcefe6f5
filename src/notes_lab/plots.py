"""Shared matplotlib style for experiment figures: white background, one palette, readable at ~700 px.

A white figure background keeps figures legible on both light and dark page themes.
"""

from __future__ import annotations

from typing import Any

from notes_lab._deps import require

# Colour-blind-friendly (Okabe-Ito) palette; the label colours stay the same in every figure.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
LABEL_COLOURS = {"disruptive": "#D55E00", "consolidating": "#0072B2", "neutral": "#999999"}
FIGSIZE = (7.0, 3.6)
DPI = 100


def figure(title: str, xlabel: str, ylabel: str, figsize: tuple[float, float] = FIGSIZE) -> tuple[Any, Any]:
    """A (fig, ax) pair with the house style: white background, grid, title and axis labels set."""
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=figsize, dpi=DPI)
    fig.patch.set_facecolor("white")
    ax.set_facecolor("white")
    ax.set_title(title, fontsize=12)
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def save(fig: Any, path: str) -> str:
    """Save as PNG (white background, tight box) and return the path, for capture.artifact."""
    fig.savefig(path, dpi=DPI, facecolor="white", bbox_inches="tight")
    return path


def signed_log(values: list[float], floor: float = 1e-4) -> list[float]:
    """sign(x) * log10(|x| / floor + 1): zero stays zero, small magnitudes stay visible."""
    import math

    return [math.copysign(math.log10(abs(v) / floor + 1.0), v) if v else 0.0 for v in values]
