"""The two-key JSON answer contract and its parser.

The model must answer with exactly one JSON object and nothing else::

    {"disruption_label": "disruptive"|"consolidating"|"neutral", "confidence": "low"|"medium"|"high"}

`parse_completion` grades one completion on four levels, as the original evaluation did
(seed-experiments.md §2 and §3):

- ``raw_json_ok``: the raw text (whitespace stripped) is exactly one JSON object;
- ``format_strict_ok``: ``raw_json_ok`` and exactly the two keys with valid values, no code fences,
  no think tags (the evaluation's strict-format rate; the RL reward's raw-output rule is ``raw_json_ok``,
  with the payload graded separately);
- ``parse_ok``: some JSON object can be read, raw or after cleaning (think tags, code fences, prose);
- ``payload_valid``: the object read has a valid label and a valid confidence.

Only a valid payload yields a predicted ``label``; everything else counts as "invalid".
This module imports only the standard library (and the lab's vocabulary).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from notes_lab.vocab import CONFIDENCE_KEY, CONFIDENCES, LABEL_KEY, LABELS

CONTRACT_KEYS = (LABEL_KEY, CONFIDENCE_KEY)

_THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_THINK_TAG = re.compile(r"</?think>", re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z]*")


@dataclass(frozen=True)
class ParsedCompletion:
    """How one completion fares against the contract (see the module docstring)."""

    parse_ok: bool
    raw_json_ok: bool
    format_strict_ok: bool
    payload_valid: bool
    label: str | None
    confidence: str | None
    has_think_tags: bool


def parse_completion(text: str) -> ParsedCompletion:
    """Grade one completion against the two-key contract."""
    stripped = text.strip()
    has_think_tags = bool(_THINK_TAG.search(text))
    has_fence = "```" in text
    raw_payload = _raw_object(stripped)
    payload = raw_payload if raw_payload is not None else _first_object(_cleaned(text))
    label = _normalised(payload, LABEL_KEY, LABELS)
    confidence = _normalised(payload, CONFIDENCE_KEY, CONFIDENCES)
    payload_valid = label is not None and confidence is not None
    raw_json_ok = raw_payload is not None
    format_strict_ok = (
        raw_json_ok and not has_fence and not has_think_tags and _is_strict_payload(raw_payload)
    )
    return ParsedCompletion(
        parse_ok=payload is not None,
        raw_json_ok=raw_json_ok,
        format_strict_ok=format_strict_ok,
        payload_valid=payload_valid,
        label=label if payload_valid else None,
        confidence=confidence if payload_valid else None,
        has_think_tags=has_think_tags,
    )


def _raw_object(stripped: str) -> dict[str, Any] | None:
    """The object if the whole stripped text is one JSON object, else None."""
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _cleaned(text: str) -> str:
    """Drop think blocks (a dangling <think> eats the rest) and code-fence markers."""
    without_think = _THINK_BLOCK.sub(" ", text)
    return _FENCE.sub(" ", without_think)


def _first_object(text: str) -> dict[str, Any] | None:
    """The first JSON object embedded anywhere in `text` (prose around it is ignored)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _normalised(payload: dict[str, Any] | None, key: str, allowed: tuple[str, ...]) -> str | None:
    """The value under `key`, lower-cased and stripped, if it is one of `allowed`."""
    if payload is None:
        return None
    value = payload.get(key)
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if value in allowed else None


def _is_strict_payload(payload: dict[str, Any] | None) -> bool:
    """Exactly the two keys, each with an allowed value written exactly (no case or space slack)."""
    if payload is None or set(payload) != set(CONTRACT_KEYS):
        return False
    return payload[LABEL_KEY] in LABELS and payload[CONFIDENCE_KEY] in CONFIDENCES
