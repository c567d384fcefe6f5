"""Every reward variant on hand-written outputs: valid, wrong, fenced, truncated, think tags."""

from __future__ import annotations

import pytest

from notes_lab import rewards
from notes_lab.rewards import (
    BALANCED,
    CLASS_WEIGHTED,
    COMPONENTS,
    SOFT,
    STRONG,
    RewardLog,
    RewardSpec,
    make_reward_functions,
    score_batch,
)

VALID_DISRUPTIVE = '{"disruption_label": "disruptive", "confidence": "high"}'
VALID_NEUTRAL = '{"disruption_label": "neutral", "confidence": "low"}'
FENCED = '```json\n{"disruption_label": "disruptive", "confidence": "high"}\n```'
TRUNCATED = '{"disruption_label": "disrup'
INVALID_PAYLOAD = '{"disruption_label": "groundbreaking", "confidence": "high"}'
THINK_THEN_JSON = '<think>cites a lot</think>{"disruption_label": "disruptive", "confidence": "high"}'

# (completion, gold) -> total reward per variant: soft, strong, class_weighted
CASES = {
    "valid_correct_disruptive": (VALID_DISRUPTIVE, "disruptive", 0.75, 1.05, 3.05),
    "valid_correct_neutral": (VALID_NEUTRAL, "neutral", 0.75, 1.05, 1.05),
    "valid_wrong": (VALID_DISRUPTIVE, "neutral", 0.0, -0.55, -0.55),
    "invalid_payload": (INVALID_PAYLOAD, "disruptive", -0.5, -0.75, -0.75),
    "fenced": (FENCED, "disruptive", -1.0, -1.0, -1.0),
    "truncated": (TRUNCATED, "disruptive", -1.0, -1.0, -1.0),
    "think_tags": (THINK_THEN_JSON, "disruptive", -2.0, -2.0, -2.0),
    "empty": ("", "consolidating", -1.0, -1.0, -1.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
# balanced on a one-row batch: its only gold class gets weight prior * focus / focus = 1, i.e. strong's totals
@pytest.mark.parametrize("column, spec", [(2, SOFT), (3, STRONG), (4, CLASS_WEIGHTED), (3, BALANCED)])
def test_part2_rewards_match_the_published_table(case, column, spec):
    text, gold = CASES[case][:2]
    (scored,) = score_batch([text], [gold], spec)
    assert scored.total == pytest.approx(CASES[case][column], abs=1e-12)
    assert scored.total == pytest.approx(sum(scored.component(c) for c in COMPONENTS), abs=1e-12)


def test_components_split_as_part2_describes():
    (correct,) = score_batch([VALID_DISRUPTIVE], ["disruptive"], SOFT)
    assert (correct.parse, correct.contract, correct.task, correct.think) == (0.0, 0.25, 0.5, 0.0)
    (wrong,) = score_batch([VALID_DISRUPTIVE], ["neutral"], STRONG)
    assert (wrong.contract, wrong.task) == (0.05, -0.6)
    (think,) = score_batch([THINK_THEN_JSON], ["disruptive"], STRONG)
    assert (think.parse, think.contract, think.task, think.think) == (-1.0, 0.0, 0.0, -1.0)


def test_balanced_weights_favour_the_class_the_batch_recalls_worst():
    # the policy answers "disruptive" everywhere: disruptive recall 1, neutral recall 0
    completions = [VALID_DISRUPTIVE, VALID_DISRUPTIVE, VALID_DISRUPTIVE, VALID_NEUTRAL]
    gold = ["disruptive", "disruptive", "neutral", "neutral"]
    scored = score_batch(completions, gold, BALANCED)
    # recall: disruptive 1.0, neutral 0.5 -> focus 0.1 and 0.6, mean 0.35
    assert scored[0].task == pytest.approx(1.0 * 0.1 / 0.35)
    assert scored[3].task == pytest.approx(1.0 * 0.6 / 0.35)
    assert scored[2].task == pytest.approx(-0.6)  # wrong answers are not re-weighted
    assert scored[3].total > scored[0].total


def test_balanced_equals_strong_when_recall_is_even():
    completions = [VALID_DISRUPTIVE, VALID_NEUTRAL]
    gold = ["disruptive", "neutral"]
    totals = [s.total for s in score_batch(completions, gold, BALANCED)]
    assert totals == pytest.approx([s.total for s in score_batch(completions, gold, STRONG)])


def test_inverse_frequency_priors_have_mean_one():
    weights = rewards.inverse_frequency_weights(["a"] * 3 + ["b"] * 1)
    assert sum(weights.values()) / 2 == pytest.approx(1.0)
    assert weights["b"] == pytest.approx(3 * weights["a"])
    spec = rewards.reward_spec("balanced", ["disruptive"] * 1 + ["neutral"] * 3)
    assert spec.prior("disruptive") == pytest.approx(1.5) and spec.prior("neutral") == pytest.approx(0.5)
    assert rewards.reward_spec("strong", ["neutral"]) is STRONG


def test_trl_adapters_sum_to_the_total_and_log_each_batch():
    log = RewardLog()
    functions = make_reward_functions(CLASS_WEIGHTED, log)
    assert [f.__name__ for f in functions] == list(COMPONENTS)
    completions = [VALID_DISRUPTIVE, TRUNCATED, INVALID_PAYLOAD, VALID_NEUTRAL]
    gold = ["disruptive", "neutral", "neutral", "consolidating"]
    for _ in range(2):  # the same batch twice is still two batches
        columns = [f(prompts=["p"] * 4, completions=completions, gold_label=gold) for f in functions]
    totals = [sum(values) for values in zip(*columns, strict=True)]
    assert totals == pytest.approx([3.05, -1.0, -0.75, -0.55])
    assert log.totals() == [pytest.approx(totals)] * 2


def test_adapter_reads_conversational_completions_and_needs_gold():
    (parse_fn, *_rest) = make_reward_functions(STRONG)
    chat = [[{"role": "assistant", "content": VALID_NEUTRAL}]]
    assert parse_fn(prompts=["p"], completions=chat, gold_label=["neutral"]) == [0.0]
    with pytest.raises(KeyError, match="gold_label"):
        parse_fn(prompts=["p"], completions=[VALID_NEUTRAL])


def test_spec_validation_names_the_field():
    with pytest.raises(ValueError, match="unparseable"):
        RewardSpec("x", contract_bonus=0, correct=1, wrong=0, invalid_payload=-1, unparseable=0.5)
    with pytest.raises(ValueError, match="correct_multipliers"):
        RewardSpec(
            "x", contract_bonus=0, correct=1, wrong=0, invalid_payload=-1, correct_multipliers=(("z", 2),)
        )
    with pytest.raises(ValueError, match="reward name"):
        rewards.reward_spec("nope")
    with pytest.raises(ValueError, match="gold"):
        score_batch([VALID_NEUTRAL], ["novel"], STRONG)


def test_adapter_puts_the_prompt_brace_back():
    (parse_fn, contract_fn, task_fn, _think) = make_reward_functions(STRONG, completion_prefix="{")
    completion = VALID_NEUTRAL[1:]
    kwargs = {"prompts": ["p"], "completions": [completion], "gold_label": ["neutral"]}
    assert [parse_fn(**kwargs), contract_fn(**kwargs), task_fn(**kwargs)] == [[0.0], [0.05], [1.0]]
