"""Label metrics, calibration error and completion grading, checked by hand."""

from __future__ import annotations

import math

import pytest

from repronotes.lab.evaluate import (
    LABELS,
    calibration_error,
    classification_metrics,
    evaluate_completions,
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
