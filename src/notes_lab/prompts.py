"""The prompt and the two-key JSON answer of the disruption task (the Exp4/Exp5 contract).

The prompt shows what the original task showed ("Title / Abstract / Year / Citations / Field"), one line
of instruction, and ends with an opening brace so the completion starts inside the JSON object.
"""

from __future__ import annotations

import json

INSTRUCTION = (
    'Classify the paper\'s disruption. Return JSON only: {"disruption_label": '
    '"disruptive|consolidating|neutral", "confidence": "low|medium|high"}.'
)
ANSWER_PREFIX = "{"


def format_prompt(paper: dict) -> str:
    """The model's input for one paper; the completion is expected to continue after the final '{'."""
    return (
        f"Title: {paper['title']}\n"
        f"Abstract: {paper['abstract']}\n"
        f"Year: {paper['publication_year']}\n"
        f"Citations: {paper['cited_by_count']}\n"
        f"Field: {paper['primary_field']}\n"
        f"{INSTRUCTION}\n"
        f"{ANSWER_PREFIX}"
    )


def teacher_confidence(label: str, cd_index: float) -> str:
    """The original SFT target's confidence, from the cd_index margin.

    disruptive: cd >= 0.05 high, >= 0.01 medium, else low; consolidating mirrors it with -cd;
    neutral: |cd| <= 0.00025 high, <= 0.00075 medium, else low.
    """
    if label == "disruptive":
        return _by_margin(cd_index)
    if label == "consolidating":
        return _by_margin(-cd_index)
    if label == "neutral":
        magnitude = abs(cd_index)
        if magnitude <= 0.00025:
            return "high"
        return "medium" if magnitude <= 0.00075 else "low"
    raise ValueError(f"teacher_confidence: label must be disruptive, consolidating or neutral, got {label!r}")


def _by_margin(margin: float) -> str:
    if margin >= 0.05:
        return "high"
    return "medium" if margin >= 0.01 else "low"


def target_completion(paper: dict) -> str:
    """The full JSON answer, compact, keys in fixed order (it starts with the prompt's final '{')."""
    label = paper["disruption_label"]
    return answer_json(label, teacher_confidence(label, paper["cd_index"]))


def answer_json(label: str, confidence: str) -> str:
    """The contract's JSON text for one answer: compact, keys in fixed order."""
    return json.dumps({"disruption_label": label, "confidence": confidence}, separators=(", ", ": "))


def completion_after_prompt(paper: dict) -> str:
    """What the model should generate after `format_prompt` (the target without the prompt's '{')."""
    return target_completion(paper)[len(ANSWER_PREFIX) :]


def answer_after_prompt(label: str, confidence: str) -> str:
    """`answer_json` without the opening brace that `format_prompt` already ends with."""
    return answer_json(label, confidence)[len(ANSWER_PREFIX) :]


def label_answer_prefix(label: str) -> str:
    """The answer after the prompt's '{' up to the label's closing quote: '"disruption_label": "<label>"'."""
    return answer_after_prompt(label, "low").split(", ")[0]
