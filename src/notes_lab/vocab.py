"""The task's one vocabulary: labels, confidences and the answer's keys (imported everywhere, defined once)."""

from __future__ import annotations

LABELS = ("disruptive", "consolidating", "neutral")
NOVELTY_LABELS = ("novel", "balanced", "conventional")
CONFIDENCES = ("low", "medium", "high")
CONFIDENCE_PROBABILITY = {
    "low": 0.2,
    "medium": 0.5,
    "high": 0.8,
}  # what a stated confidence claims, for calibration
LABEL_KEY = "disruption_label"
CONFIDENCE_KEY = "confidence"
INVALID = "invalid"
