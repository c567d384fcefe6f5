"""Teacher-forced scores: a model's probability of each label after a prompt, its label NLL, and LM NLL.

No sampling: the same weights give the same numbers. The label is scored where generation would write
it, after the prompt and the answer's fixed start `"disruption_label": "` (tokenised apart, as
generation sees them). When every label is one token there (the tokenizers here), one forward pass per
prompt scores all three; otherwise each label's tokens are scored in full. Probabilities are
renormalised over the three labels, so the format's own tokens cancel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from notes_lab.prompts import format_prompt, label_answer_prefix
from notes_lab.tensors import right_padded
from notes_lab.vocab import LABELS


def answer_ids(tokenizer: Any) -> dict[str, list[int]]:
    return {
        label: list(tokenizer(label_answer_prefix(label), add_special_tokens=False)["input_ids"])
        for label in LABELS
    }


def split_at_label(answers: dict[str, list[int]]) -> tuple[list[int], dict[str, int]] | None:
    """(shared answer start, label -> its single token) when the labels differ in exactly one token."""
    rows = list(answers.values())
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        return None
    differing = [i for i in range(width) if len({row[i] for row in rows}) > 1]
    if len(differing) != 1:
        return None
    at = differing[0]
    return rows[0][:at], {label: ids[at] for label, ids in answers.items()}


def label_log_probs(
    model: Any, tokenizer: Any, papers: Sequence[dict], batch_size: int, device: str
) -> list[dict[str, float]]:
    """Per paper, log P(label) renormalised over the three labels."""
    torch = _torch()
    answers = answer_ids(tokenizer)
    split = split_at_label(answers)
    prompts = [list(tokenizer(format_prompt(paper))["input_ids"]) for paper in papers]
    was_training = model.training
    model.eval()
    try:
        if split is not None:
            start, token_of = split
            raw = next_token_scores(model, [p + start for p in prompts], list(token_of.values()), tokenizer.pad_token_id,
                                     batch_size, device, torch)  # fmt: skip
            scores = [dict(zip(token_of, row, strict=True)) for row in raw]
        else:
            scores = _full_sequence_scores(
                model, prompts, answers, tokenizer.pad_token_id, batch_size, device, torch
            )
    finally:
        model.train(was_training)
    return [_log_normalised(row) for row in scores]


def label_probabilities(
    model: Any, tokenizer: Any, papers: Sequence[dict], batch_size: int, device: str
) -> list[dict[str, float]]:
    return [
        {label: math.exp(v) for label, v in row.items()}
        for row in label_log_probs(model, tokenizer, papers, batch_size, device)
    ]


def label_nll(log_probs: Sequence[dict[str, float]], papers: Sequence[dict]) -> list[float]:
    """Per row, -log P(gold label) (nats)."""
    return [-row[paper["disruption_label"]] for row, paper in zip(log_probs, papers, strict=True)]


def argmax_labels(log_probs: Sequence[dict[str, float]]) -> list[str]:
    return [max(LABELS, key=lambda label: row[label]) for row in log_probs]


def next_token_scores(
    model: Any,
    rows: list[list[int]],
    candidates: list[int],
    pad_id: int,
    batch_size: int,
    device: str,
    torch: Any,
    autocast: bool = True,
) -> list[list[float]]:
    """log-softmax scores of `candidates` at the position after each row's last token (bf16 autocast on
    CUDA unless `autocast` is False, so a probe can compare the model's own dtypes)."""
    out: list[list[float]] = []
    for begin in range(0, len(rows), batch_size):
        chunk = rows[begin : begin + batch_size]
        ids, mask = right_padded(chunk, pad_id, torch)
        enabled = autocast and device.startswith("cuda")
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        last = torch.tensor([len(row) - 1 for row in chunk], device=logits.device)
        at_end = logits[torch.arange(len(chunk), device=logits.device), last]
        scores = torch.log_softmax(at_end, dim=-1)[:, candidates]
        out.extend(scores.cpu().tolist())
    return out


def label_answers(answers: dict[str, list[int]]) -> list[list[int]]:
    """Each label's answer tokens (LABELS order) without the answers' shared end: the closing quote follows a
    different label in each, so it would not cancel; the label is scored up to its last token, the quantity
    the single-token path scores."""
    shared_end, rows = 0, list(answers.values())
    while shared_end < min(map(len, rows)) - 1 and len({row[-1 - shared_end] for row in rows}) == 1:
        shared_end += 1
    return [answers[label][: len(answers[label]) - shared_end] for label in LABELS]


def _full_sequence_scores(
    model: Any,
    prompts: list[list[int]],
    answers: dict[str, list[int]],
    pad_id: int,
    batch_size: int,
    device: str,
    torch: Any,
) -> list[dict[str, float]]:
    answers = dict(zip(LABELS, label_answers(answers), strict=True))
    sequences = [
        (i, label, prompt + ids, len(ids))
        for i, prompt in enumerate(prompts)
        for label, ids in answers.items()
    ]
    scores: dict[tuple[int, str], float] = {}
    for begin in range(0, len(sequences), batch_size):
        chunk = sequences[begin : begin + batch_size]
        ids, mask = right_padded([row for _, _, row, _ in chunk], pad_id, torch)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        token_lp = (
            torch.log_softmax(logits[:, :-1], dim=-1)
            .gather(-1, ids[:, 1:, None].to(logits.device))
            .squeeze(-1)
        )
        for row_index, (i, label, row, k) in enumerate(chunk):
            scores[(i, label)] = float(token_lp[row_index, len(row) - 1 - k : len(row) - 1].sum())
    return [{label: scores[(i, label)] for label in LABELS} for i in range(len(prompts))]


def _log_normalised(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    log_total = top + math.log(sum(math.exp(v - top) for v in scores.values()))
    return {label: value - log_total for label, value in scores.items()}


def lm_nll(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int, device: str) -> float:
    """Mean next-token NLL (nats per token) of `texts` under the model: how well the base knows the corpus."""
    torch = _torch()
    rows = [list(tokenizer(text)["input_ids"]) for text in texts]
    total, count = 0.0, 0
    model.eval()
    for begin in range(0, len(rows), batch_size):
        ids, mask = right_padded(rows[begin : begin + batch_size], tokenizer.pad_token_id, torch)
        ids, mask = ids.to(device), mask.to(device)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        token_lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        valid = mask[:, 1:].bool()
        total -= float(token_lp[valid].sum())
        count += int(valid.sum())
    return total / count


def _torch() -> Any:
    from notes_lab._deps import require

    return require("torch")
