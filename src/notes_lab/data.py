"""Synthetic scientific-paper records in the original 12-field schema, splits, and the files they live in.

How a synthetic paper is made (seeded `random.Random`, nothing else):

1. cd_index comes from a mixture with a spike of neutral mass at exactly 0 (as in the SciSciNet slice),
   a consolidating tail (negative) and a disruptive tail (positive) whose magnitudes are log-uniform,
   clamped to [-1, 1] and rounded to 4 decimals. `disruption_label` follows from the chosen thresholds.
2. The text is written by generator.py: a text class (the label, or with probability noise_rate one of
   the others) draws a title opener, a few evidence sentences from a shared pool and a citation count,
   none of them decisive. Each row carries the exact posterior P(label | text) under a uniform label
   prior (`bayes_posterior`: the balanced splits have uniform priors), so the ceiling of the task is
   known on every set of rows a model is scored on.
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from notes_lab import generator
from notes_lab.paper_schema import PaperValidationError, load_papers
from notes_lab.vocab import LABELS

logger = logging.getLogger(__name__)

THRESHOLDS = {"part1": 0.1, "part2": 0.001}

# Share of papers at exactly cd_index == 0, and the sign split of the rest.
_ZERO_SHARE = 0.4
_NEGATIVE_SHARE = 2.0 / 3.0
_LOG10_MAGNITUDE = (-4.0, 0.0)
YEARS = (1975, 2024)  # uniform for every paper: the year says nothing about the label

FIELDS_AND_CONCEPTS: dict[str, tuple[str, ...]] = {
    "Computer Science": ("neural networks", "compilers", "graph algorithms", "databases", "cryptography"),
    "Economics": ("labour markets", "monetary policy", "auctions", "trade", "inequality"),
    "Biology": ("gene regulation", "protein folding", "ecology", "microbiome", "evolution"),
    "Medicine": ("clinical trials", "epidemiology", "oncology", "immunology", "cardiology"),
    "Physics": ("quantum optics", "condensed matter", "cosmology", "plasma", "particle detectors"),
}


@dataclass(frozen=True)
class DataConfig:
    """How to generate the synthetic papers; validation names the field and the rule."""

    n_papers: int = 9000
    seed: int = 20260220
    thresholds: str = "part2"
    noise_rate: float = 0.1
    informativeness: float = 1.0
    evidence_sentences: int = 4
    novelty_margin: float = 0.15
    split_ratios: tuple[float, float, float] = (0.5, 0.2, 0.3)

    def __post_init__(self) -> None:
        rules = [
            ("n_papers", isinstance(self.n_papers, int) and self.n_papers >= 3, "must be an int >= 3"),
            ("seed", isinstance(self.seed, int), "must be an int"),
            ("thresholds", self.thresholds in THRESHOLDS, f"must be one of {sorted(THRESHOLDS)}"),
            ("novelty_margin", 0.0 <= self.novelty_margin < 1.0, "must be in [0, 1)"),
            ("split_ratios", len(self.split_ratios) == 3 and math.isclose(sum(self.split_ratios), 1.0),
             "must be three shares summing to 1"),
        ]  # fmt: skip
        for name, ok, rule in rules:
            if not ok:
                raise ValueError(f"DataConfig.{name} {rule}, got {getattr(self, name)!r}")
        _ = self.text_model  # validates noise_rate, informativeness and evidence_sentences

    @property
    def threshold(self) -> float:
        return THRESHOLDS[self.thresholds]

    @property
    def text_model(self) -> generator.TextModel:
        return generator.TextModel(self.informativeness, self.evidence_sentences, self.noise_rate)


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


def _novelty_scores(rng: random.Random) -> tuple[float, float]:
    def sigmoid(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    z_tail = max(-8.0, min(8.0, rng.gauss(1.0, 2.0)))
    z_median = max(-8.0, min(8.0, rng.gauss(1.5, 2.0)))
    return round(sigmoid(-z_tail), 4), round(sigmoid(z_median), 4)


def _make_paper(rng: random.Random, number: int, cfg: DataConfig) -> dict:
    cd_index = _draw_cd_index(rng)
    label = disruption_label(cd_index, cfg.threshold)
    model = cfg.text_model
    cls = generator.text_class(rng, label, model.noise_rate)
    field = rng.choice(sorted(FIELDS_AND_CONCEPTS))
    concepts = rng.sample(FIELDS_AND_CONCEPTS[field], 2)
    year = rng.randint(*YEARS)
    opener, evidence, citations = generator.draw_text(rng, cls, model)
    novelty, conventionality = _novelty_scores(rng)
    likelihoods = generator.text_likelihoods(opener, evidence, citations, model)
    posterior = generator.label_posterior(likelihoods, model.noise_rate)
    abstract = " ".join([f"This {field} paper from {year} studies {concepts[0]} and {concepts[1]}.", *evidence,
                         f"It has been cited {citations} times."])  # fmt: skip
    return {
        "openalex_id": f"SYNTHW{number:07d}",
        "title": f"{opener} {concepts[0]} in {field.lower()}",
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
        "text_class": cls,
        "bayes_posterior": {k: round(v, 12) for k, v in posterior.items()},
    }


def build(cfg: DataConfig) -> tuple[list[dict], list[dict], Split]:
    """The raw papers, the class-balanced sample and its split, all from one config."""
    papers = generate_papers(cfg)
    balanced = balanced_sample(papers, cfg.seed)
    return papers, balanced, split_papers(balanced, cfg.seed, cfg.split_ratios)


def tune_informativeness(
    cfg: DataConfig, grid: Sequence[float], target: float
) -> tuple[float, dict[float, float]]:
    """The informativeness whose *val* split comes closest to Bayes accuracy `target`, and the whole grid.

    Each candidate regenerates the papers with the same seed; the expected Bayes accuracy (mean of the
    largest posterior) is the criterion, the less noisy estimate of the ceiling.
    """
    if not grid:
        raise ValueError("tune_informativeness: empty grid")
    scores = {}
    for beta in grid:
        split = build(replace(cfg, informativeness=float(beta)))[2]
        scores[float(beta)] = generator.bayes_summary(split.val)["expected_accuracy"]
    chosen = min(scores, key=lambda beta: (abs(scores[beta] - target), beta))
    return chosen, scores


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


def split_papers(papers: Sequence[dict], seed: int, ratios: Sequence[float] = (0.5, 0.2, 0.3)) -> Split:
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
