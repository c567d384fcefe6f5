"""The two-key JSON contract parser and its edge cases."""

from __future__ import annotations

import pytest

from notes_lab.contract import parse_completion

CLEAN = '{"disruption_label": "neutral", "confidence": "high"}'


def test_clean_answer_passes_every_level():
    parsed = parse_completion(CLEAN)
    assert parsed.parse_ok and parsed.raw_json_ok and parsed.format_strict_ok and parsed.payload_valid
    assert (parsed.label, parsed.confidence) == ("neutral", "high")
    assert not parsed.has_think_tags


def test_surrounding_whitespace_is_still_raw_json():
    parsed = parse_completion("\n  " + CLEAN + "  \n")
    assert parsed.raw_json_ok and parsed.format_strict_ok


def test_fenced_answer_parses_after_cleaning_but_is_not_raw():
    parsed = parse_completion("```json\n" + CLEAN + "\n```")
    assert parsed.parse_ok and parsed.payload_valid and parsed.label == "neutral"
    assert not parsed.raw_json_ok and not parsed.format_strict_ok


def test_truncated_answer_does_not_parse():
    parsed = parse_completion('{"disruption_label": "neutral", "conf')
    assert not parsed.parse_ok and not parsed.payload_valid and parsed.label is None


def test_extra_key_keeps_payload_but_breaks_strict_format():
    parsed = parse_completion('{"disruption_label": "disruptive", "confidence": "low", "why": "x"}')
    assert parsed.raw_json_ok and parsed.payload_valid and parsed.label == "disruptive"
    assert not parsed.format_strict_ok


@pytest.mark.parametrize(
    "text",
    [
        '{"disruption_label": "revolutionary", "confidence": "high"}',
        '{"disruption_label": "neutral", "confidence": "certain"}',
        '{"disruption_label": "neutral"}',
        '{"disruption_label": 3, "confidence": "low"}',
    ],
)
def test_wrong_or_missing_values_are_invalid(text):
    parsed = parse_completion(text)
    assert parsed.parse_ok and parsed.raw_json_ok
    assert not parsed.payload_valid and not parsed.format_strict_ok
    assert parsed.label is None and parsed.confidence is None


def test_think_tags_are_cleaned_for_parsing_but_flagged():
    parsed = parse_completion("<think>maybe {not json}</think>" + CLEAN)
    assert parsed.has_think_tags and parsed.parse_ok and parsed.label == "neutral"
    assert not parsed.raw_json_ok and not parsed.format_strict_ok


def test_object_inside_prose_is_found():
    parsed = parse_completion("Sure! Here it is: " + CLEAN + " Hope that helps.")
    assert parsed.parse_ok and parsed.payload_valid and not parsed.raw_json_ok


def test_case_slack_is_valid_payload_but_not_strict():
    parsed = parse_completion('{"disruption_label": "Neutral", "confidence": "HIGH"}')
    assert parsed.payload_valid and parsed.label == "neutral" and parsed.confidence == "high"
    assert not parsed.format_strict_ok


@pytest.mark.parametrize("text", ["", "neutral", "[1, 2]", "{}{}", '"{}"'])
def test_non_objects(text):
    parsed = parse_completion(text)
    assert not parsed.raw_json_ok and not parsed.payload_valid


def test_two_objects_are_not_raw_json_but_the_first_one_parses():
    parsed = parse_completion(CLEAN + CLEAN)
    assert not parsed.raw_json_ok and parsed.parse_ok and parsed.label == "neutral"
