"""How a synthetic paper's text is written, and the exact posterior P(label | text) that follows from it.

A paper's label comes from its cd_index (data.py). Its text is written by a *text class* c: the label
with probability 1 - noise_rate, otherwise one of the two other classes (uniformly). The text class
leaves evidence, none of it decisive:

- a title opener and `evidence_sentences` abstract sentences, each drawn from one shared pool; a phrase
  that leans toward c has weight exp(informativeness), every other phrase weight 1 (0: no evidence);
- the citation count, lognormal with overlapping class means (CITATION_MU, sigma CITATION_SIGMA), rounded;
- year, field and concepts carry no evidence.

Because every draw is known, P(text | c) is exact, and so is the posterior over labels:
P(l | text) ∝ prior(l) · Σ_c P(c | l) · P(text | c). Averaged over rows it gives the task's ceiling
(Bayes accuracy) and the best achievable label NLL, on the very rows a model is evaluated on.
Pure Python (math and random): identical for identical seeds on any machine.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from notes_lab.vocab import LABELS

EVIDENCE: dict[str, tuple[str, ...]] = {
    "disruptive": (
        "We overturn the prevailing framework.",
        "Our approach makes earlier methods obsolete.",
        "We introduce a new paradigm for the problem.",
        "The results challenge a long-held assumption.",
        "We open a line of inquiry that did not exist before.",
        "Prior accounts cannot explain what we observe.",
    ),
    "consolidating": (
        "We confirm established results on a larger sample.",
        "Our analysis extends the standard model.",
        "We build directly on the prior literature.",
        "The findings refine known estimates.",
        "We replicate and generalise an earlier study.",
        "Our method improves an existing technique.",
    ),
    "neutral": (
        "We report measurements without taking a position.",
        "The data are described in detail.",
        "We release a dataset for further study.",
        "Observations are summarised in tables.",
        "We document the procedure step by step.",
        "Descriptive statistics are provided.",
    ),
}
TITLE_OPENERS: dict[str, tuple[str, ...]] = {
    "disruptive": ("Rethinking", "Beyond", "A new paradigm for"),
    "consolidating": ("Extending", "Revisiting", "Further evidence on"),
    "neutral": ("Notes on", "A survey of", "Observations about"),
}
CITATION_MU = {"disruptive": 3.2, "consolidating": 2.6, "neutral": 2.0}
CITATION_SIGMA = 1.0
MAX_CITATIONS = 50_000


@dataclass(frozen=True)
class TextModel:
    """The knobs of the text: how much it says about the text class, and how much that says about the label."""

    informativeness: float = 1.0
    evidence_sentences: int = 4
    noise_rate: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.informativeness <= 20.0:
            raise ValueError(f"TextModel.informativeness must be in [0, 20], got {self.informativeness!r}")
        if not 0 <= self.evidence_sentences <= 12:
            raise ValueError(
                f"TextModel.evidence_sentences must be in [0, 12], got {self.evidence_sentences!r}"
            )
        if not 0.0 <= self.noise_rate < 1.0:
            raise ValueError(f"TextModel.noise_rate must be in [0, 1), got {self.noise_rate!r}")


def _pool(groups: Mapping[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(lean, phrase) for lean in LABELS for phrase in groups[lean]]


@functools.lru_cache(maxsize=64)
def phrase_probabilities(kind: str, beta: float) -> dict[str, dict[str, float]]:
    """P(phrase | text class) for every phrase of a pool ("title" or "evidence"): weight exp(beta) when the
    phrase leans toward the class, 1 otherwise."""
    pool = _pool(TITLE_OPENERS if kind == "title" else EVIDENCE)
    out: dict[str, dict[str, float]] = {}
    for cls in LABELS:
        weights = {phrase: math.exp(beta) if lean == cls else 1.0 for lean, phrase in pool}
        total = sum(weights.values())
        out[cls] = {phrase: weight / total for phrase, weight in weights.items()}
    return out


def text_class(rng: random.Random, label: str, noise_rate: float) -> str:
    if rng.random() >= noise_rate:
        return label
    return rng.choice([other for other in LABELS if other != label])


def draw_text(rng: random.Random, cls: str, model: TextModel) -> tuple[str, list[str], int]:
    """(title opener, evidence sentences, citations) written by text class `cls`."""
    titles = phrase_probabilities("title", model.informativeness)[cls]
    sentences = phrase_probabilities("evidence", model.informativeness)[cls]
    opener = rng.choices(list(titles), weights=list(titles.values()))[0]
    evidence = rng.choices(list(sentences), weights=list(sentences.values()), k=model.evidence_sentences)
    citations = min(MAX_CITATIONS, round(rng.lognormvariate(CITATION_MU[cls], CITATION_SIGMA)))
    return opener, evidence, citations


def citation_probability(count: int, cls: str) -> float:
    """P(round(lognormal) == count | cls), exactly (the cap at MAX_CITATIONS has negligible mass)."""
    mu, sigma = CITATION_MU[cls], CITATION_SIGMA

    def below(x: float) -> float:
        return 0.5 * (1.0 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2.0)))) if x > 0 else 0.0

    return below(count + 0.5) - below(count - 0.5)


def text_likelihoods(
    opener: str, evidence: Sequence[str], citations: int, model: TextModel
) -> dict[str, float]:
    """P(text | text class) for each class, up to a factor shared by all classes (year, field, concepts)."""
    titles = phrase_probabilities("title", model.informativeness)
    sentences = phrase_probabilities("evidence", model.informativeness)
    out = {}
    for cls in LABELS:
        log_p = math.log(titles[cls][opener]) + sum(math.log(sentences[cls][s]) for s in evidence)
        out[cls] = math.exp(log_p) * citation_probability(citations, cls)
    return out


def label_posterior(
    likelihoods: Mapping[str, float], noise_rate: float, prior: Mapping[str, float] | None = None
) -> dict[str, float]:
    """P(label | text) from P(text | text class), the noise channel P(class | label) and the label prior."""
    prior = prior or dict.fromkeys(LABELS, 1.0 / len(LABELS))
    joint = {}
    for label in LABELS:
        channel = sum(
            likelihoods[cls] * ((1.0 - noise_rate) if cls == label else noise_rate / (len(LABELS) - 1))
            for cls in LABELS
        )
        joint[label] = prior[label] * channel
    total = sum(joint.values())
    return {label: joint[label] / total for label in LABELS}


def bayes_summary(rows: Sequence[Mapping[str, object]], key: str = "bayes_posterior") -> dict[str, float]:
    """The ceiling on these rows: realised and expected Bayes accuracy, and the Bayes label NLL (nats)."""
    if not rows:
        raise ValueError("bayes_summary: no rows")
    hits, expected, nll = 0, 0.0, 0.0
    for row in rows:
        posterior = row[key]
        assert isinstance(posterior, Mapping)
        best = max(LABELS, key=lambda label: posterior[label])
        hits += best == row["disruption_label"]
        expected += posterior[best]
        nll -= math.log(posterior[row["disruption_label"]])
    n = len(rows)
    return {"accuracy": hits / n, "expected_accuracy": expected / n, "label_nll": nll / n, "n": n}
