import json

import pytest

from notes_lab import data, prompts


def paper(**overrides):
    base = data.generate_papers(data.DataConfig(n_papers=3))[0]
    return {**base, **overrides}


def test_prompt_lines_and_brace_ending():
    text = prompts.format_prompt(paper())
    lines = text.split("\n")
    assert [line.split(":")[0] for line in lines[:5]] == ["Title", "Abstract", "Year", "Citations", "Field"]
    assert "Return JSON only" in lines[5]
    assert text.endswith("\n{")
    assert "cd_index" not in text and "novelty" not in text.lower().replace("novelty_label", "")


@pytest.mark.parametrize(
    ("label", "cd", "confidence"),
    [
        ("disruptive", 0.05, "high"),
        ("disruptive", 0.0499, "medium"),
        ("disruptive", 0.01, "medium"),
        ("disruptive", 0.0099, "low"),
        ("consolidating", -0.05, "high"),
        ("consolidating", -0.01, "medium"),
        ("consolidating", -0.002, "low"),
        ("neutral", 0.00025, "high"),
        ("neutral", -0.0005, "medium"),
        ("neutral", 0.00075, "medium"),
        ("neutral", 0.0008, "low"),
    ],
)
def test_teacher_confidence_rule(label, cd, confidence):
    assert prompts.teacher_confidence(label, cd) == confidence


def test_teacher_confidence_rejects_unknown_label():
    with pytest.raises(ValueError, match="label must be"):
        prompts.teacher_confidence("novel", 0.2)


def test_target_is_compact_two_key_json_in_fixed_order():
    target = prompts.target_completion(paper(disruption_label="disruptive", cd_index=0.3))
    assert target == '{"disruption_label": "disruptive", "confidence": "high"}'
    assert list(json.loads(target)) == ["disruption_label", "confidence"]
    assert "{" + prompts.completion_after_prompt(paper()) == prompts.target_completion(paper())


def test_label_answer_prefix_starts_every_answer_with_that_label():
    for label in ("disruptive", "consolidating", "neutral"):
        for confidence in ("low", "medium", "high"):
            assert prompts.answer_after_prompt(label, confidence).startswith(
                prompts.label_answer_prefix(label)
            )
    assert prompts.label_answer_prefix("neutral") == '"disruption_label": "neutral"'
