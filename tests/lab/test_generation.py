"""The one greedy decoder on a tiny fp32 model: texts and ids, fixed lengths, log-probs, padding, batches."""

from __future__ import annotations

import math

import pytest

from notes_lab.generation import Generated, greedy_generate
from notes_lab.prompts import format_prompt

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prompts(split):
    return [format_prompt(p) for p in split.test[:4]]


def test_greedy_generate_returns_texts_and_ids(tiny_lm, prompts):
    model, tokenizer = tiny_lm
    out = greedy_generate(model, tokenizer, prompts, max_new_tokens=6, batch_size=2)
    assert isinstance(out, Generated)
    assert len(out.texts) == len(out.token_ids) == len(out.logprobs) == 4
    assert out.logprobs == [[], [], [], []]  # not asked for
    for text, ids in zip(out.texts, out.token_ids, strict=True):
        assert 1 <= len(ids) <= 6
        assert text == tokenizer.decode(ids, skip_special_tokens=True)
    assert tokenizer.padding_side == "left" and not model.training


def test_without_eos_stop_every_completion_has_exactly_max_new_tokens(tiny_lm, prompts):
    model, tokenizer = tiny_lm
    out = greedy_generate(model, tokenizer, prompts, 9, 4, stop_at_eos=False, with_logprobs=True)
    assert [len(ids) for ids in out.token_ids] == [9] * 4
    assert [len(lp) for lp in out.logprobs] == [9] * 4
    assert all(v <= 0 and math.isfinite(v) for row in out.logprobs for v in row)


def test_logprobs_are_the_greedy_tokens_log_probabilities(tiny_lm, prompts):
    model, tokenizer = tiny_lm
    out = greedy_generate(model, tokenizer, prompts[:1], 3, 1, stop_at_eos=False, with_logprobs=True)
    ids = tokenizer(prompts[0])["input_ids"]
    for token, logprob in zip(out.token_ids[0], out.logprobs[0], strict=True):
        with torch.no_grad():
            log_probs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, -1], -1)
        assert token == int(log_probs.argmax())
        assert logprob == pytest.approx(float(log_probs[token]), abs=1e-5)
        ids = ids + [token]


def test_batch_size_does_not_change_the_tokens(tiny_lm, prompts):
    model, tokenizer = tiny_lm
    one = greedy_generate(model, tokenizer, prompts, 12, 1, stop_at_eos=False)
    four = greedy_generate(model, tokenizer, prompts, 12, 4, stop_at_eos=False)
    assert one.token_ids == four.token_ids


def test_pad_to_left_pads_every_prompt_to_that_length(tiny_lm, prompts, monkeypatch):
    model, tokenizer = tiny_lm
    longest = max(len(tokenizer(p)["input_ids"]) for p in prompts)
    shapes, first_columns = [], []
    generate = model.generate

    def spy(**kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))
        first_columns.append(kwargs["attention_mask"][:, 0].tolist())
        return generate(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    padded = greedy_generate(model, tokenizer, prompts, 5, 2, stop_at_eos=False, pad_to=longest + 7)
    assert shapes == [(2, longest + 7), (2, longest + 7)]
    assert first_columns == [[0, 0], [0, 0]]  # every prompt padded on the left
    natural = greedy_generate(model, tokenizer, prompts, 5, 2, stop_at_eos=False)
    assert shapes[2:] == [
        (2, max(len(tokenizer(p)["input_ids"]) for p in prompts[i : i + 2])) for i in (0, 2)
    ]
    assert padded.token_ids == natural.token_ids


def test_a_prompt_longer_than_pad_to_is_an_error_not_a_truncation(tiny_lm, prompts):
    model, tokenizer = tiny_lm
    shortest = min(len(tokenizer(p)["input_ids"]) for p in prompts)
    side, training = tokenizer.padding_side, model.training
    with pytest.raises(ValueError, match=f"a prompt is longer than pad_to={shortest - 1} tokens"):
        greedy_generate(model, tokenizer, prompts, 2, 2, pad_to=shortest - 1)
    assert (tokenizer.padding_side, model.training) == (side, training)


def test_bad_arguments_and_restored_state(tiny_lm, prompts):
    model, tokenizer = tiny_lm
    with pytest.raises(ValueError, match="batch_size and max_new_tokens must be >= 1, got 0, 4"):
        greedy_generate(model, tokenizer, prompts, 4, 0)
    tokenizer.padding_side = "right"
    model.train()
    try:
        greedy_generate(model, tokenizer, prompts[:1], 2, 1)
        assert tokenizer.padding_side == "right" and model.training
    finally:
        tokenizer.padding_side = "left"
        model.eval()
