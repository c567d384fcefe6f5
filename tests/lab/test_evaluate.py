"""Label metrics, calibration error, contract rates and completion grading, checked by hand."""

from __future__ import annotations

import math

import pytest

from notes_lab.evaluate import (
    LABELS,
    calibration_error,
    calibration_error_se,
    classification_metrics,
    contract_rates,
    evaluate_completions,
    macro_f1_bootstrap_se,
    soft_class_metrics,
)


def test_labels_order():
    assert LABELS == ("disruptive", "consolidating", "neutral")


def test_classification_metrics_by_hand():
    gold = ["disruptive", "disruptive", "consolidating", "consolidating", "neutral", "neutral"]
    predicted = ["disruptive", None, "consolidating", "disruptive", "neutral", "neutral"]
    m = classification_metrics(gold, predicted)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["recall/disruptive"] == pytest.approx(0.5)
    assert m["recall/consolidating"] == pytest.approx(0.5)
    assert m["recall/neutral"] == pytest.approx(1.0)
    assert m["min_recall"] == pytest.approx(0.5)
    assert m["min_recall_n"] == 2
    # precision: D 1/2, C 1/1, N 2/2 -> F1: D 0.5, C 2/3, N 1.0
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    assert m["invalid_rate"] == pytest.approx(1 / 6)
    assert m["predicted_share/disruptive"] == pytest.approx(2 / 6)
    assert m["confusion"] == [[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 2, 0]]


def test_all_invalid_gives_zero_f1_not_an_error():
    m = classification_metrics(["neutral", "disruptive"], [None, None])
    assert m["macro_f1"] == 0.0 and m["accuracy"] == 0.0 and m["invalid_rate"] == 1.0


def test_classification_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="rows"):
        classification_metrics(["neutral"], [])
    with pytest.raises(ValueError, match="labels must be"):
        classification_metrics(["novel"], ["neutral"])


def test_calibration_error_hand_checked():
    # low: 2 rows, 1 right (acc 0.5 vs 0.2 -> 0.3); medium: 1 row, right (1.0 vs 0.5 -> 0.5);
    # high: 2 rows, both right (1.0 vs 0.8 -> 0.2); one row without confidence is left out.
    confidences = ["low", "low", "medium", "high", "high", None]
    correct = [True, False, True, True, True, False]
    c = calibration_error(confidences, correct)
    assert c["n"] == 5
    assert c["count/low"] == 2 and c["count/medium"] == 1 and c["count/high"] == 2
    assert c["accuracy/low"] == pytest.approx(0.5)
    expected = 2 / 5 * 0.3 + 1 / 5 * 0.5 + 2 / 5 * 0.2
    assert c["ece"] == pytest.approx(expected)
    assert math.isclose(expected, 0.30)


def test_calibration_empty_bucket_and_no_rows():
    c = calibration_error(["high"], [False])
    assert c["ece"] == pytest.approx(0.8) and c["accuracy/low"] is None and c["count/low"] == 0
    assert calibration_error([None], [True])["ece"] is None
    with pytest.raises(ValueError, match="confidences"):
        calibration_error(["sure"], [True])


def test_evaluate_completions_combines_everything():
    papers = [
        {"disruption_label": "neutral"},
        {"disruption_label": "disruptive"},
        {"disruption_label": "neutral"},
    ]
    completions = [
        '{"disruption_label": "neutral", "confidence": "high"}',
        '```json\n{"disruption_label": "consolidating", "confidence": "low"}\n```',
        '{"disruption_label": "neut',
    ]
    r = evaluate_completions(papers, completions)
    assert r["n"] == 3
    assert r["parse_rate"] == pytest.approx(2 / 3)
    assert r["strict_format_rate"] == pytest.approx(1 / 3)
    assert r["accuracy"] == pytest.approx(1 / 3)
    assert r["invalid_rate"] == pytest.approx(1 / 3)
    assert r["confusion"][0] == [0, 1, 0, 0]
    assert r["calibration/n"] == 2
    assert r["calibration/ece"] == pytest.approx(0.5 * 0.2 + 0.5 * 0.2)


def test_min_recall_n_is_the_count_of_the_worst_recalled_class():
    gold = ["disruptive"] * 4 + ["consolidating"] * 2 + ["neutral"] * 3
    predicted = ["disruptive", None, None, None, "consolidating", "consolidating", "neutral", "neutral", None]
    m = classification_metrics(gold, predicted)
    assert m["min_recall"] == pytest.approx(0.25) and m["min_recall_n"] == 4  # not the smallest class (2)


def test_calibration_error_se_is_a_seeded_bootstrap():
    confidences = ["high", "high", "low", "medium", None, "high", "low", "medium"]
    correct = [True, False, False, True, True, True, True, False]
    se = calibration_error_se(confidences, correct)
    assert se is not None and 0.0 < se < 0.5
    assert calibration_error_se(confidences, correct) == se
    assert calibration_error_se(confidences, correct, seed=1) != se
    assert calibration_error_se([None, None], [True, False]) is None
    assert calibration_error_se(["high"] * 6, [True] * 6) == 0.0  # every resample has ECE 0.2


def test_soft_class_metrics_by_hand():
    gold = ["disruptive", "consolidating", "neutral", "neutral"]
    probabilities = [
        {"disruptive": 0.6, "consolidating": 0.3, "neutral": 0.1},
        {"disruptive": 0.2, "consolidating": 0.7, "neutral": 0.1},
        {"disruptive": 0.5, "consolidating": 0.1, "neutral": 0.4},
        {"disruptive": 0.1, "consolidating": 0.1, "neutral": 0.8},
    ]
    m = soft_class_metrics(gold, probabilities)
    assert m["prob_share/disruptive"] == pytest.approx(1.4 / 4)
    assert m["soft_recall/neutral"] == pytest.approx(0.6)
    assert m["min_soft_recall"] == pytest.approx(0.6)
    assert m["soft_accuracy"] == pytest.approx((0.6 + 0.7 + 0.4 + 0.8) / 4)
    assert sum(m[f"prob_share/{label}"] for label in LABELS) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="probabilities has 1"):
        soft_class_metrics(gold, probabilities[:1])


STRICT = '{"disruption_label": "neutral", "confidence": "high"}'


def test_contract_rates_by_hand():
    completions = [
        STRICT,
        '{"disruption_label": "Neutral", "confidence": "high"}',  # raw JSON, valid payload, not strict
        "```json\n" + STRICT + "\n```",  # parses after cleaning only
        "<think>hm</think>" + STRICT,  # think tags
        '{"disruption_label": "neut',  # truncated
    ]
    rates = contract_rates(completions)
    assert rates == {
        "parse_rate": pytest.approx(4 / 5),
        "raw_json_rate": pytest.approx(2 / 5),
        "strict_format_rate": pytest.approx(1 / 5),
        "payload_valid_rate": pytest.approx(4 / 5),
        "think_tag_rate": pytest.approx(1 / 5),
    }
    with pytest.raises(ValueError, match="no completions"):
        contract_rates([])


def test_macro_f1_bootstrap_se_is_seeded():
    gold = ["disruptive", "consolidating", "neutral"] * 10
    predicted = ["disruptive", "neutral", "neutral", None, "consolidating", "neutral"] * 5
    se = macro_f1_bootstrap_se(gold, predicted)
    assert macro_f1_bootstrap_se(gold, predicted) == se
    assert macro_f1_bootstrap_se(gold, predicted, seed=1) != se
    assert 0.02 < se < 0.3
    many = macro_f1_bootstrap_se(gold * 10, predicted * 10)  # ten times the rows: about sqrt(10) smaller
    assert se / 5 < many < se / 2
    with pytest.raises(ValueError):
        macro_f1_bootstrap_se(gold, predicted[:-1])
