"""Teacher-forced label scores on a tiny model: normalised, path-independent, batch-independent."""

from __future__ import annotations

import math

import pytest

from notes_lab import scoring
from notes_lab.prompts import format_prompt, label_answer_prefix
from notes_lab.vocab import LABELS

torch = pytest.importorskip("torch")


def test_split_at_label_on_hand_made_answers():
    one = {"disruptive": [1, 2, 7, 3], "consolidating": [1, 2, 8, 3], "neutral": [1, 2, 9, 3]}
    assert scoring.split_at_label(one) == ([1, 2], {"disruptive": 7, "consolidating": 8, "neutral": 9})
    assert scoring.split_at_label({**one, "neutral": [1, 2, 9, 4, 3]}) is None  # a longer label
    assert scoring.split_at_label({**one, "neutral": [1, 5, 9, 3]}) is None  # two differing positions


def test_label_answers_drop_only_the_shared_end():
    answers = {"disruptive": [1, 2, 7, 4, 3], "consolidating": [1, 2, 8, 3], "neutral": [1, 2, 9, 5, 3]}
    assert scoring.label_answers(answers) == [[1, 2, 7, 4], [1, 2, 8], [1, 2, 9, 5]]  # LABELS order
    assert scoring.label_answers({**answers, "neutral": [1, 2, 9, 6]}) == [
        [1, 2, 7, 4, 3],
        [1, 2, 8, 3],
        [1, 2, 9, 6],
    ]
    assert scoring.label_answers(dict.fromkeys(LABELS, [1, 3])) == [[1]] * 3  # at least one token is kept


@pytest.mark.slow
def test_labels_are_single_tokens_for_the_tiny_base(tiny_lm):
    _, tokenizer = tiny_lm
    answers = scoring.answer_ids(tokenizer)
    for label in LABELS:
        assert answers[label] == tokenizer(label_answer_prefix(label), add_special_tokens=False)["input_ids"]
    split = scoring.split_at_label(answers)
    assert split is not None
    start, token_of = split
    assert len(set(token_of.values())) == 3 and all(row[: len(start)] == start for row in answers.values())


@pytest.fixture(scope="module")
def papers(split):
    return split.test[:6]  # prompts of different lengths: the batches are padded


def scores(tiny_lm, papers, batch_size=4):
    model, tokenizer = tiny_lm
    return scoring.label_log_probs(model, tokenizer, papers, batch_size, "cpu")


@pytest.mark.slow
def test_label_log_probs_are_normalised_over_the_labels(tiny_lm, papers):
    rows = scores(tiny_lm, papers)
    assert len(rows) == len(papers)
    for row in rows:
        assert set(row) == set(LABELS) and all(v < 0 for v in row.values())
        assert sum(math.exp(v) for v in row.values()) == pytest.approx(1.0, abs=1e-9)
    model, tokenizer = tiny_lm
    probabilities = scoring.label_probabilities(model, tokenizer, papers, 4, "cpu")
    assert probabilities == [pytest.approx({k: math.exp(v) for k, v in row.items()}) for row in rows]


@pytest.mark.slow
def test_single_token_fast_path_equals_the_full_sequence_path(tiny_lm, papers, monkeypatch):
    calls = {"fast": 0, "full": 0}
    fast_path, full_path = scoring.next_token_scores, scoring._full_sequence_scores

    def spy_fast(*args, **kwargs):
        calls["fast"] += 1
        return fast_path(*args, **kwargs)

    def spy_full(*args, **kwargs):
        calls["full"] += 1
        return full_path(*args, **kwargs)

    monkeypatch.setattr(scoring, "next_token_scores", spy_fast)
    monkeypatch.setattr(scoring, "_full_sequence_scores", spy_full)
    fast = scores(tiny_lm, papers)
    assert calls == {"fast": 1, "full": 0}
    monkeypatch.setattr(scoring, "split_at_label", lambda answers: None)
    full = scores(tiny_lm, papers)
    assert calls == {"fast": 1, "full": 1}
    for a, b in zip(fast, full, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


@pytest.mark.slow
def test_full_sequence_path_matches_scoring_one_sequence_at_a_time(tiny_lm, papers, monkeypatch):
    """No padding, no batching: each label's answer up to the label's last character (not the closing quote,
    which follows a different label in each answer) scored after the prompt, renormalised by hand."""
    model, tokenizer = tiny_lm
    monkeypatch.setattr(scoring, "split_at_label", lambda answers: None)
    batched = scores(tiny_lm, papers, batch_size=5)
    for paper, row in zip(papers, batched, strict=True):
        prompt_ids = tokenizer(format_prompt(paper))["input_ids"]
        log_p = {}
        for label in LABELS:
            text = label_answer_prefix(label)
            assert text.endswith(label + '"')
            answer = tokenizer(text[:-1], add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt_ids + answer])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0]
            token_lp = torch.log_softmax(logits[:-1], -1)[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
            log_p[label] = float(token_lp[-len(answer) :].sum())
        total = math.log(sum(math.exp(v) for v in log_p.values()))
        assert row == pytest.approx({label: v - total for label, v in log_p.items()}, abs=1e-5)


@pytest.mark.slow
def test_batch_size_does_not_change_the_scores(tiny_lm, papers):
    one, six = scores(tiny_lm, papers, batch_size=1), scores(tiny_lm, papers, batch_size=6)
    for a, b in zip(one, six, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


@pytest.mark.slow
def test_scoring_leaves_the_training_flag_as_it_was(tiny_lm, papers):
    model, tokenizer = tiny_lm
    model.train()
    try:
        scoring.label_log_probs(model, tokenizer, papers[:2], 2, "cpu")
        assert model.training
    finally:
        model.eval()
    scoring.label_log_probs(model, tokenizer, papers[:2], 2, "cpu")
    assert not model.training


def test_label_nll_and_argmax_labels():
    rows = [
        {"disruptive": math.log(0.7), "consolidating": math.log(0.2), "neutral": math.log(0.1)},
        {"disruptive": math.log(0.1), "consolidating": math.log(0.3), "neutral": math.log(0.6)},
    ]
    papers = [{"disruption_label": "consolidating"}, {"disruption_label": "neutral"}]
    assert scoring.label_nll(rows, papers) == pytest.approx([-math.log(0.2), -math.log(0.6)])
    assert scoring.argmax_labels(rows) == ["disruptive", "neutral"]
    with pytest.raises(ValueError):
        scoring.label_nll(rows, papers[:1])


@pytest.mark.slow
def test_lm_nll_is_a_positive_per_token_mean_independent_of_batch_size(tiny_lm, papers):
    model, tokenizer = tiny_lm
    texts = [format_prompt(p) for p in papers]
    nll = scoring.lm_nll(model, tokenizer, texts, 4, "cpu")
    assert math.isfinite(nll) and 0 < nll < math.log(len(tokenizer)) + 2
    assert scoring.lm_nll(model, tokenizer, texts, 1, "cpu") == pytest.approx(nll, abs=1e-5)
    ids = torch.tensor([tokenizer(texts[0])["input_ids"]])
    with torch.no_grad():
        by_hand = float(torch.nn.functional.cross_entropy(model(input_ids=ids).logits[0, :-1], ids[0, 1:]))
    assert scoring.lm_nll(model, tokenizer, texts[:1], 1, "cpu") == pytest.approx(by_hand, abs=1e-5)
