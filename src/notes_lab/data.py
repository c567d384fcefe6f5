"""Synthetic scientific-paper records in the original 12-field schema, and a loader for real ones.

How a synthetic paper is made (seeded `random.Random`, nothing else):

1. cd_index comes from a mixture with a spike of neutral mass at exactly 0 (as in the SciSciNet slice),
   a consolidating tail (negative) and a disruptive tail (positive) whose magnitudes are log-uniform,
   clamped to [-1, 1] and rounded to 4 decimals. `disruption_label` follows from the chosen thresholds.
2. A *cue class* decides the text: it equals the label with probability 1 - noise_rate and is one of the
   two other classes (uniformly) otherwise. The title opens with a phrase that belongs to the cue class
   only, the abstract repeats a cue sentence, and year and citations are drawn from cue-class-dependent
   distributions. So the text reveals the cue class exactly and the label up to the known noise rate
   (see `best_achievable_accuracy`).
3. Novelty follows the Uzzi et al. construction: z-scores clipped to [-8, 8], novelty_score =
   sigmoid(-z_10pct), conventionality_score = sigmoid(z_median), labelled with a margin of 0.15.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notes_lab.paper_schema import (  # noqa: F401 - re-exported for notebooks and callers
    LABELS,
    NOVELTY_LABELS,
    PAPER_FIELDS,
    PaperValidationError,
    load_papers,
    validate_paper,
)

logger = logging.getLogger(__name__)

THRESHOLDS = {"part1": 0.1, "part2": 0.001}

# Share of papers at exactly cd_index == 0, and the sign split of the rest.
_ZERO_SHARE = 0.4
_NEGATIVE_SHARE = 2.0 / 3.0
_LOG10_MAGNITUDE = (-4.0, 0.0)

FIELDS_AND_CONCEPTS: dict[str, tuple[str, ...]] = {
    "Computer Science": ("neural networks", "compilers", "graph algorithms", "databases", "cryptography"),
    "Economics": ("labour markets", "monetary policy", "auctions", "trade", "inequality"),
    "Biology": ("gene regulation", "protein folding", "ecology", "microbiome", "evolution"),
    "Medicine": ("clinical trials", "epidemiology", "oncology", "immunology", "cardiology"),
    "Physics": ("quantum optics", "condensed matter", "cosmology", "plasma", "particle detectors"),
}

# Cue phrases are disjoint between classes, so a reader of the title can name the cue class.
TITLE_CUES: dict[str, tuple[str, ...]] = {
    "disruptive": ("A new paradigm for", "Rethinking", "Beyond the standard account of"),
    "consolidating": ("Further evidence on", "Refining estimates of", "A replication study of"),
    "neutral": ("Notes on", "A survey of methods in", "Observations about"),
}
ABSTRACT_CUES: dict[str, str] = {
    "disruptive": "We overturn the prevailing framework and propose an approach that makes earlier work obsolete.",
    "consolidating": "We confirm and extend established results, building directly on the prior literature.",
    "neutral": "We report measurements and describe the data without taking a position on prior theory.",
}
# (year low, year high) and (lognormal mu, sigma) of citations, per cue class.
_YEARS = {"disruptive": (1975, 2010), "consolidating": (2000, 2024), "neutral": (1990, 2024)}
_CITATIONS = {"disruptive": (4.0, 1.0), "consolidating": (2.6, 0.9), "neutral": (2.0, 0.9)}


@dataclass(frozen=True)
class DataConfig:
    """How to generate the synthetic papers."""

    n_papers: int = 3000
    seed: int = 20260220
    thresholds: str = "part2"
    noise_rate: float = 0.1
    novelty_margin: float = 0.15

    def __post_init__(self) -> None:
        if not isinstance(self.n_papers, int) or self.n_papers < 3:
            raise ValueError(f"DataConfig.n_papers must be an int >= 3, got {self.n_papers!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"DataConfig.seed must be an int, got {self.seed!r}")
        if self.thresholds not in THRESHOLDS:
            raise ValueError(
                f"DataConfig.thresholds must be one of {sorted(THRESHOLDS)}, got {self.thresholds!r}"
            )
        if not 0.0 <= self.noise_rate < 2.0 / 3.0:
            raise ValueError(f"DataConfig.noise_rate must be in [0, 2/3), got {self.noise_rate!r}")
        if not 0.0 <= self.novelty_margin < 1.0:
            raise ValueError(f"DataConfig.novelty_margin must be in [0, 1), got {self.novelty_margin!r}")

    @property
    def threshold(self) -> float:
        return THRESHOLDS[self.thresholds]


@dataclass(frozen=True)
class Split:
    """A seeded train/val/test split and the sha256 of its ids (see `split_ids_sha256`)."""

    train: list[dict]
    val: list[dict]
    test: list[dict]
    ids_sha256: str


# ---------------------------------------------------------------- labels


def disruption_label(cd_index: float, threshold: float) -> str:
    """Strict inequalities, as the original builder: cd > t disruptive, cd < -t consolidating."""
    if cd_index > threshold:
        return "disruptive"
    if cd_index < -threshold:
        return "consolidating"
    return "neutral"


def novelty_label(novelty_score: float, conventionality_score: float, margin: float = 0.15) -> str:
    """novel if novelty - conventionality > margin, conventional if < -margin, else balanced.

    The gap is rounded to 9 decimals first, so 0.65 - 0.5 counts as exactly 0.15 (scores carry 4).
    """
    gap = round(novelty_score - conventionality_score, 9)
    if gap > margin:
        return "novel"
    if gap < -margin:
        return "conventional"
    return "balanced"


def label_mismatches(papers: Iterable[dict], threshold: float, margin: float = 0.15) -> int:
    """How many stored labels differ from the labels re-derived from cd_index and the novelty scores."""
    wrong = 0
    for paper in papers:
        wrong += paper["disruption_label"] != disruption_label(paper["cd_index"], threshold)
        expected = novelty_label(paper["novelty_score"], paper["conventionality_score"], margin)
        wrong += paper["novelty_label"] != expected
    return wrong


def best_achievable_accuracy(noise_rate: float, class_shares: dict[str, float] | None = None) -> float:
    """The Bayes-optimal disruption accuracy of any reader of the text.

    The text identifies the cue class c exactly (disjoint title phrases). P(cue = c | label = l) is
    1 - noise_rate when c == l and noise_rate / 2 otherwise. The best guess for cue c is the label l
    maximising share(l) * P(c | l), so the best accuracy is sum over c of max over l of that product.
    With balanced classes (the default) and noise_rate < 2/3 this is exactly 1 - noise_rate.
    """
    shares = class_shares or dict.fromkeys(LABELS, 1.0 / len(LABELS))
    total = sum(shares.values())

    def p_cue(cue: str, label: str) -> float:
        return 1.0 - noise_rate if cue == label else noise_rate / (len(LABELS) - 1)

    return sum(max(shares.get(lab, 0.0) / total * p_cue(cue, lab) for lab in LABELS) for cue in LABELS)


# ---------------------------------------------------------------- generation


def generate_papers(cfg: DataConfig) -> list[dict]:
    """`cfg.n_papers` synthetic records, identical for identical configs (ids SYNTHW0000001, ...)."""
    rng = random.Random(cfg.seed)
    return [_make_paper(rng, index + 1, cfg) for index in range(cfg.n_papers)]


def _draw_cd_index(rng: random.Random) -> float:
    if rng.random() < _ZERO_SHARE:
        return 0.0
    sign = -1.0 if rng.random() < _NEGATIVE_SHARE else 1.0
    magnitude = 10.0 ** rng.uniform(*_LOG10_MAGNITUDE)
    return round(max(-1.0, min(1.0, sign * magnitude)), 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def _cue_class(rng: random.Random, label: str, noise_rate: float) -> str:
    if rng.random() >= noise_rate:
        return label
    return rng.choice([other for other in LABELS if other != label])


def _novelty_scores(rng: random.Random) -> tuple[float, float]:
    def sigmoid(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    z_tail = max(-8.0, min(8.0, rng.gauss(1.0, 2.0)))
    z_median = max(-8.0, min(8.0, rng.gauss(1.5, 2.0)))
    return round(sigmoid(-z_tail), 4), round(sigmoid(z_median), 4)


def _make_paper(rng: random.Random, number: int, cfg: DataConfig) -> dict:
    cd_index = _draw_cd_index(rng)
    label = disruption_label(cd_index, cfg.threshold)
    cue = _cue_class(rng, label, cfg.noise_rate)
    field = rng.choice(sorted(FIELDS_AND_CONCEPTS))
    concepts = rng.sample(FIELDS_AND_CONCEPTS[field], 2)
    year = rng.randint(*_YEARS[cue])
    citations = min(50_000, round(rng.lognormvariate(*_CITATIONS[cue])))
    novelty, conventionality = _novelty_scores(rng)
    title = f"{rng.choice(TITLE_CUES[cue])} {concepts[0]} in {field.lower()}"
    abstract = (
        f"This {field} paper from {year} studies {concepts[0]} and {concepts[1]}. "
        f"{ABSTRACT_CUES[cue]} It has been cited {citations} times."
    )
    return {
        "openalex_id": f"SYNTHW{number:07d}",
        "title": title,
        "abstract": abstract,
        "publication_year": year,
        "cited_by_count": citations,
        "cd_index": cd_index,
        "novelty_score": novelty,
        "conventionality_score": conventionality,
        "disruption_label": label,
        "novelty_label": novelty_label(novelty, conventionality, cfg.novelty_margin),
        "primary_field": field,
        "concepts": concepts,
    }


def cue_class_of(paper: dict) -> str | None:
    """The cue class a synthetic paper's title reveals (None for titles without a cue, e.g. real data)."""
    for cue, phrases in TITLE_CUES.items():
        if any(paper["title"].startswith(phrase) for phrase in phrases):
            return cue
    return None


def quantiles(values: Sequence[float], probabilities: Sequence[float]) -> list[float]:
    """Linearly interpolated quantiles (numpy's default "linear" method), in pure Python."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantiles: no values")
    result = []
    for p in probabilities:
        position = p * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        result.append(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    return result


def relabel_counts(papers: Iterable[dict], threshold: float) -> dict[str, int]:
    """Disruption label counts if the labels were re-derived from cd_index with `threshold`."""
    counts = Counter(disruption_label(paper["cd_index"], threshold) for paper in papers)
    return {label: counts.get(label, 0) for label in sorted(LABELS)}


# ---------------------------------------------------------------- sampling and splitting


def label_counts(papers: Iterable[dict], key: str = "disruption_label") -> dict[str, int]:
    """Counts per label, keys sorted."""
    return dict(sorted(Counter(paper[key] for paper in papers).items()))


def balanced_sample(papers: list[dict], seed: int) -> list[dict]:
    """Down-sample every disruption class to the smallest class (no oversampling), then shuffle."""
    by_label: dict[str, list[dict]] = {}
    for paper in sorted(papers, key=lambda p: p["openalex_id"]):
        by_label.setdefault(paper["disruption_label"], []).append(paper)
    if not by_label:
        return []
    rng = random.Random(seed)
    smallest = min(len(rows) for rows in by_label.values())
    sample = [row for label in sorted(by_label) for row in rng.sample(by_label[label], smallest)]
    rng.shuffle(sample)
    return sample


def split_papers(papers: Sequence[dict], seed: int, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> Split:
    """Shuffle the papers (ordered by id first, so input order does not matter) and cut them.

    val and test get round(n * ratio) rows, train the rest (this reproduces the original 1,972,797 ->
    1,578,237 / 197,280 / 197,280).
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or not math.isclose(sum(ratios), 1.0):
        raise ValueError(f"split_papers: ratios must be three non-negative shares summing to 1, got {ratios}")
    ordered = sorted(papers, key=lambda p: p["openalex_id"])
    if len({p["openalex_id"] for p in ordered}) != len(ordered):
        raise ValueError("split_papers: openalex_id must be unique")
    random.Random(seed).shuffle(ordered)
    n_val, n_test = round(len(ordered) * ratios[1]), round(len(ordered) * ratios[2])
    n_train = len(ordered) - n_val - n_test
    train, val, test = ordered[:n_train], ordered[n_train : n_train + n_val], ordered[n_train + n_val :]
    return Split(train, val, test, split_ids_sha256(train, val, test))


def split_ids_sha256(train: Sequence[dict], val: Sequence[dict], test: Sequence[dict]) -> str:
    """sha256 of the compact JSON {"train": [ids], "val": [ids], "test": [ids]} (ids in split order)."""
    ids = {
        name: [p["openalex_id"] for p in rows]
        for name, rows in (("train", train), ("val", val), ("test", test))
    }
    return hashlib.sha256(json.dumps(ids, separators=(",", ":")).encode()).hexdigest()


def dataset_sha256(papers: Iterable[dict]) -> str:
    """sha256 over the canonical JSON lines (sorted keys, compact) of the papers, in their order."""
    digest = hashlib.sha256()
    for paper in papers:
        digest.update(_canonical_line(paper).encode())
    return digest.hexdigest()


def _canonical_line(paper: dict) -> str:
    return json.dumps(paper, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- files


def save_split(split: Split, folder: str | Path) -> None:
    """Write train.jsonl, val.jsonl, test.jsonl and meta.json (counts, hashes) into `folder`."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"ids_sha256": split.ids_sha256, "counts": {}, "dataset_sha256": {}}
    for name in ("train", "val", "test"):
        rows = getattr(split, name)
        (target / f"{name}.jsonl").write_text("".join(_canonical_line(p) for p in rows), encoding="utf-8")
        meta["counts"][name] = len(rows)
        meta["dataset_sha256"][name] = dataset_sha256(rows)
    (target / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_split(folder: str | Path) -> Split:
    """Read a folder written by `save_split`; the split-id hash must match meta.json."""
    source = Path(folder)
    meta = json.loads((source / "meta.json").read_text(encoding="utf-8"))
    parts = {name: load_papers(source / f"{name}.jsonl") for name in ("train", "val", "test")}
    ids_sha256 = split_ids_sha256(parts["train"], parts["val"], parts["test"])
    if ids_sha256 != meta["ids_sha256"]:
        raise PaperValidationError(
            f"{source / 'meta.json'}: ids_sha256 {meta['ids_sha256']} != files {ids_sha256}"
        )
    return Split(parts["train"], parts["val"], parts["test"], ids_sha256)
