"""The one greedy decoder: left-padded batches, one beam, no sampling; optionally past end-of-sequence.

Every caller (the SFT format check, the determinism probe, RL's held-out evaluation) decodes through
`greedy_generate(model, tokenizer, prompts, max_new_tokens, batch_size)`, so they agree on padding, the
dtype under which the forward runs (bf16 autocast on CUDA, the model's own dtype on CPU) and on what a
completion is (the new tokens only, prompt stripped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from notes_lab._deps import require


@dataclass(frozen=True)
class Generated:
    texts: list[str]
    token_ids: list[list[int]]
    logprobs: list[list[float]]  # log-probability of each chosen token (empty lists unless asked for)


def greedy_generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    *,
    stop_at_eos: bool = True,
    with_logprobs: bool = False,
    pad_to: int | None = None,
    autocast: bool = True,
) -> Generated:
    """Greedy completions of `prompts` in consecutive chunks of `batch_size`.

    stop_at_eos=False decodes exactly `max_new_tokens` tokens, so outputs compare position by position;
    pad_to left-pads every prompt to that many tokens, so a prompt's shapes never depend on its batch;
    autocast=False runs a CUDA model in its own dtype (a probe comparing dtypes needs that).
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise ValueError(
            f"greedy_generate: batch_size and max_new_tokens must be >= 1, got {batch_size}, {max_new_tokens}"
        )
    torch = require("torch")
    device = next(model.parameters()).device
    previous_side, was_training = tokenizer.padding_side, model.training
    tokenizer.padding_side = "left"
    model.eval()
    texts: list[str] = []
    token_ids: list[list[int]] = []
    logprobs: list[list[float]] = []
    try:
        for start in range(0, len(prompts), batch_size):
            padding: dict[str, Any] = (
                {"padding": "max_length", "max_length": pad_to} if pad_to else {"padding": True}
            )
            chunk = list(prompts[start : start + batch_size])
            if pad_to and max(len(tokenizer(p)["input_ids"]) for p in chunk) > pad_to:
                raise ValueError(f"greedy_generate: a prompt is longer than pad_to={pad_to} tokens")
            inputs = tokenizer(chunk, return_tensors="pt", **padding)
            inputs = {k: v.to(device) for k, v in inputs.items() if k != "token_type_ids"}
            with (
                torch.inference_mode(),
                torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast and device.type == "cuda"),
            ):
                out = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                                     pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=tokenizer.eos_token_id if stop_at_eos else None,
                                     return_dict_in_generate=True, output_logits=with_logprobs)  # fmt: skip
            new_B_T = out.sequences[:, inputs["input_ids"].shape[1] :]
            token_ids.extend(new_B_T.cpu().tolist())
            texts.extend(tokenizer.batch_decode(new_B_T, skip_special_tokens=True))
            if with_logprobs:
                logits_B_T_V = torch.stack(out.logits, dim=1).float()
                chosen_B_T = (
                    torch.log_softmax(logits_B_T_V, dim=-1).gather(-1, new_B_T.unsqueeze(-1)).squeeze(-1)
                )
                logprobs.extend(chosen_B_T.cpu().tolist())
    finally:
        tokenizer.padding_side = previous_side
        model.train(was_training)
    return Generated(texts, token_ids, logprobs if with_logprobs else [[] for _ in token_ids])
