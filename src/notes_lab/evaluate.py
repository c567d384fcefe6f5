"""Evaluation: contract rates of completions, label metrics, calibration. Plain Python, no torch.

"Invalid" (no valid payload) is a prediction of its own: it counts as wrong everywhere, it belongs to
no class (so it lowers recall and never raises precision), and it has its own column in the confusion
matrix, as in the original evaluation (seed-experiments.md §2).
"""

from __future__ import annotations

import logging
import random
import statistics
from collections.abc import Sequence
from typing import Any

from notes_lab.contract import parse_completion
from notes_lab.vocab import CONFIDENCE_PROBABILITY, INVALID, LABELS

logger = logging.getLogger(__name__)


def classification_metrics(gold: list[str], predicted: list[str | None]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class recall and predicted share, invalid rate, confusion matrix.

    `predicted[i] is None` means the i-th completion was invalid. Keys: ``n``, ``accuracy``,
    ``macro_f1``, ``recall/<label>``, ``min_recall`` (and ``min_recall_n``, the gold count of its
    class), ``predicted_share/<label>``,
    ``invalid_rate``, ``confusion`` (rows: gold labels in LABELS order; columns: LABELS + invalid).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} rows but predicted has {len(predicted)}")
    if not gold:
        raise ValueError("gold: need at least one row")
    unknown = sorted({g for g in gold if g not in LABELS})
    if unknown:
        raise ValueError(f"gold: labels must be in {LABELS}, got {unknown}")
    columns = (*LABELS, INVALID)
    confusion = [[0] * len(columns) for _ in LABELS]
    for g, p in zip(gold, predicted, strict=True):
        column = columns.index(p) if p in LABELS else len(LABELS)
        confusion[LABELS.index(g)][column] += 1
    n = len(gold)
    metrics: dict[str, Any] = {"n": n}
    correct = sum(confusion[i][i] for i in range(len(LABELS)))
    metrics["accuracy"] = correct / n
    f1s, recalls = [], []
    for i, label in enumerate(LABELS):
        gold_count = sum(confusion[i])
        predicted_count = sum(row[i] for row in confusion)
        recall = confusion[i][i] / gold_count if gold_count else 0.0
        precision = confusion[i][i] / predicted_count if predicted_count else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        recalls.append(recall)
        metrics[f"recall/{label}"] = recall
        metrics[f"predicted_share/{label}"] = predicted_count / n
    metrics["macro_f1"] = sum(f1s) / len(f1s)
    metrics["min_recall"] = min(recalls)
    # the n behind min_recall: the gold count of the worst-recalled class (the smallest, on a tie)
    metrics["min_recall_n"] = min(sum(confusion[i]) for i, r in enumerate(recalls) if r == min(recalls))
    metrics["invalid_rate"] = sum(row[-1] for row in confusion) / n
    metrics["confusion"] = confusion
    return metrics


def calibration_error(confidences: list[str | None], correct: list[bool]) -> dict[str, Any]:
    """Three-bucket expected calibration error, low/medium/high = 0.2/0.5/0.8 (the original's values).

    ECE = sum over buckets b of (n_b / N) * |accuracy_b - confidence_b|, where N counts the rows
    with a stated confidence (rows whose confidence is None are left out). Returns ``ece``, ``n``
    and per bucket ``count/<b>``, ``confidence/<b>`` and ``accuracy/<b>`` (None when empty).
    """
    if len(confidences) != len(correct):
        raise ValueError(f"confidences has {len(confidences)} rows but correct has {len(correct)}")
    stated = [(c, ok) for c, ok in zip(confidences, correct, strict=True) if c is not None]
    bad = sorted({c for c, _ in stated if c not in CONFIDENCE_PROBABILITY})
    if bad:
        raise ValueError(f"confidences: values must be in {tuple(CONFIDENCE_PROBABILITY)} or None, got {bad}")
    total = len(stated)
    result: dict[str, Any] = {"n": total}
    ece = 0.0
    for bucket, value in CONFIDENCE_PROBABILITY.items():
        hits = [ok for c, ok in stated if c == bucket]
        accuracy = sum(hits) / len(hits) if hits else None
        result[f"count/{bucket}"] = len(hits)
        result[f"confidence/{bucket}"] = value
        result[f"accuracy/{bucket}"] = accuracy
        if hits:
            ece += len(hits) / total * abs(accuracy - value)
    result["ece"] = ece if total else None
    return result


def calibration_error_se(
    confidences: list[str | None], correct: list[bool], resamples: int = 200, seed: int = 0
) -> float | None:
    """Bootstrap standard error of the three-bucket ECE (rows resampled with replacement, seeded).

    ECE is not a rate, so a binomial SE does not describe it; this is the spread of ECE over
    `resamples` resampled evaluation sets. None when no row states a confidence.
    """
    rows = list(zip(confidences, correct, strict=True))
    if not any(c is not None for c, _ in rows):
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        sample = [rows[rng.randrange(len(rows))] for _ in rows]
        ece = calibration_error([c for c, _ in sample], [ok for _, ok in sample])["ece"]
        if ece is not None:
            values.append(ece)
    return statistics.stdev(values) if len(values) > 1 else None


def soft_class_metrics(gold: list[str], probabilities: list[dict[str, float]]) -> dict[str, float]:
    """Class metrics of the policy's label probabilities instead of its greedy answers.

    ``prob_share/<label>``: mean probability of the label over all rows (the expected predicted
    share at temperature 1); ``soft_recall/<label>``: mean probability of the gold label over the
    rows of that class; ``min_soft_recall`` and ``soft_accuracy`` (mean probability of the gold label).
    """
    if len(gold) != len(probabilities) or not gold:
        raise ValueError(f"gold has {len(gold)} rows but probabilities has {len(probabilities)} (need >= 1)")
    n = len(gold)
    result = {f"prob_share/{label}": sum(p[label] for p in probabilities) / n for label in LABELS}
    soft_recalls = []
    for label in LABELS:
        rows = [p[label] for g, p in zip(gold, probabilities, strict=True) if g == label]
        soft_recalls.append(sum(rows) / len(rows) if rows else 0.0)
        result[f"soft_recall/{label}"] = soft_recalls[-1]
    result["min_soft_recall"] = min(soft_recalls)
    result["soft_accuracy"] = sum(p[g] for g, p in zip(gold, probabilities, strict=True)) / n
    return result


def evaluate_completions(papers: list[dict], completions: list[str]) -> dict[str, Any]:
    """Grade completions against the gold labels of `papers` (same order).

    Returns ``n`` (rows; the n of every rate here), ``parse_rate``, ``raw_json_rate``,
    ``strict_format_rate``, ``payload_valid_rate``, ``think_tag_rate``, all keys of
    `classification_metrics`, and the calibration keys prefixed ``calibration/`` (whose rates
    have n = ``calibration/n``).
    """
    if len(papers) != len(completions):
        raise ValueError(f"papers has {len(papers)} rows but completions has {len(completions)}")
    parsed = [parse_completion(text) for text in completions]
    gold = [paper["disruption_label"] for paper in papers]
    result: dict[str, Any] = dict(contract_rates(completions))
    result.update(classification_metrics(gold, [p.label for p in parsed]))
    correct = [p.label == g for p, g in zip(parsed, gold, strict=True)]
    confidences = [p.confidence for p in parsed]
    calibration = calibration_error(confidences, correct)
    calibration["ece_se"] = calibration_error_se(confidences, correct)
    result.update({f"calibration/{key}": value for key, value in calibration.items()})
    return result


def contract_rates(completions: Sequence[str]) -> dict[str, float]:
    """Shares of completions that parse, are raw JSON, meet the strict two-key format, carry a valid payload."""
    if not completions:
        raise ValueError("contract_rates: no completions")
    parsed = [parse_completion(text) for text in completions]
    n = len(parsed)
    return {
        "parse_rate": sum(p.parse_ok for p in parsed) / n,
        "raw_json_rate": sum(p.raw_json_ok for p in parsed) / n,
        "strict_format_rate": sum(p.format_strict_ok for p in parsed) / n,
        "payload_valid_rate": sum(p.payload_valid for p in parsed) / n,
        "think_tag_rate": sum(p.has_think_tags for p in parsed) / n,
    }


def macro_f1_bootstrap_se(
    gold: Sequence[str], predicted: Sequence[str | None], resamples: int = 200, seed: int = 0
) -> float:
    """Bootstrap SE of macro-F1 over rows (seeded): macro-F1 is not a rate, so no binomial SE fits it."""
    rng = random.Random(seed)
    rows = list(zip(gold, predicted, strict=True))
    values = []
    for _ in range(resamples):
        sample = [rows[rng.randrange(len(rows))] for _ in rows]
        values.append(classification_metrics([g for g, _ in sample], [p for _, p in sample])["macro_f1"])
    return statistics.stdev(values)
