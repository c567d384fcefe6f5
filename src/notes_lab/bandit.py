"""RL on the label alone: a three-armed bandit per prompt, so the policy gradient teaches the label, not JSON.

The prompt ends where the label begins (`... {"disruption_label": "`); an action is one of the three label
tokens, and the policy is the model's softmax over them. Rewards are Part 2's with the format terms
constant (every action is a valid answer): soft +0.75 / 0, strong +1.05 / -0.55, class-weighted strong
with a correct "disruptive" x3 (+3.05), and balanced (strong with the correct term re-weighted toward the
classes the current policy recalls worst, see rewards.py).

Two estimators of the policy gradient:
- exact: the expected reward over the three actions, sum_a pi(a) R(a), differentiated exactly (zero variance);
- sampled: GRPO groups of G actions per prompt at temperature T, advantage = reward minus the group mean.
A fresh LoRA on the starting policy (the SFT model or the base) is trained with AdamW at a constant rate;
every `eval_every` steps the held-out rows are scored: class shares and recalls of the argmax, the mean
probabilities, the expected reward, and KL(pi_t || pi_start).
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any

from notes_lab import evaluate, rewards, scoring
from notes_lab._deps import require
from notes_lab.prompts import format_prompt
from notes_lab.tensors import right_padded
from notes_lab.validation import check
from notes_lab.vocab import LABELS

logger = logging.getLogger(__name__)
ESTIMATORS = ("exact", "sampled")


@dataclass(frozen=True)
class BanditConfig:
    reward: str
    seed: int = 0
    steps: int = 100
    prompts_per_step: int = 16
    learning_rate: float = 1e-3
    rank: int = 8
    estimator: str = "exact"
    group_size: int = 8
    temperature: float = 1.0
    eval_every: int = 20
    grad_clip: float = 1.0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check(self, [
            ("reward", self.reward in rewards.REWARD_SPECS, f"must be one of {sorted(rewards.REWARD_SPECS)}"),
            ("steps", self.steps >= 1, "must be >= 1"),
            ("prompts_per_step", self.prompts_per_step >= 1, "must be >= 1"),
            ("learning_rate", self.learning_rate > 0, "must be > 0"),
            ("rank", self.rank >= 1, "must be >= 1"),
            ("estimator", self.estimator in ESTIMATORS, f"must be one of {ESTIMATORS}"),
            ("group_size", self.group_size >= 2, "must be >= 2"),
            ("temperature", self.temperature > 0, "must be > 0"),
            ("eval_every", 1 <= self.eval_every <= self.steps, "must be in [1, steps]"),
        ])  # fmt: skip


@dataclass
class BanditRun:
    config: BanditConfig
    evals: list[dict[str, Any]] = field(default_factory=list)
    final_probs: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class Actions:
    """The prompts of a set of papers and how each of the three label actions is written after them."""

    prompts: list[list[int]]
    single: (
        list[int] | None
    )  # one token per label at the same place (then prompts end with the answer's start)
    answers: list[list[int]] | None  # otherwise each label's tokens after the bare prompt

    def subset(self, indices: list[int]) -> Actions:
        return Actions([self.prompts[i] for i in indices], self.single, self.answers)


def encode(tokenizer: Any, papers: list[dict]) -> Actions:
    """Prompts up to where the label is written; a hub tokenizer that splits the labels gets the full-sequence form."""
    answers = scoring.answer_ids(tokenizer)
    prompts = [list(tokenizer(format_prompt(p))["input_ids"]) for p in papers]
    split = scoring.split_at_label(answers)
    if split is not None:
        start, token_of = split
        return Actions([row + start for row in prompts], [token_of[label] for label in LABELS], None)
    return Actions(prompts, None, scoring.label_answers(answers))


def log_policy(model: Any, actions: Actions, pad_id: int, device: str) -> Any:
    """log pi(a | prompt) over the three labels, [B, 3], differentiable."""
    torch = require("torch")
    if actions.single is not None:
        rows = actions.prompts
        ids, mask = right_padded(rows, pad_id, torch)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        last = torch.tensor([len(r) - 1 for r in rows], device=logits.device)
        at_label_B_A = logits[torch.arange(len(rows), device=logits.device), last][:, actions.single].float()
        return torch.log_softmax(at_label_B_A, dim=-1)
    assert actions.answers is not None
    rows = [prompt + answer for prompt in actions.prompts for answer in actions.answers]
    ids, mask = right_padded(rows, pad_id, torch)
    ids, mask = ids.to(device), mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    token_lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    sums = torch.stack([token_lp[i, len(rows[i]) - 1 - len(a) : len(rows[i]) - 1].sum()
                        for i, a in enumerate(actions.answers * len(actions.prompts))])  # fmt: skip
    return torch.log_softmax(sums.view(len(actions.prompts), len(LABELS)), dim=-1)


def reward_table(spec: rewards.RewardSpec, gold: list[str], probs_B_A: Any) -> Any:
    """R[b, a]: the reward of answering LABELS[a] on row b (balanced: weights from the batch's soft recalls)."""
    torch = require("torch")
    weights = (
        _balanced_weights(spec, gold, probs_B_A) if spec.recall_balancing else dict.fromkeys(LABELS, 1.0)
    )
    table = [
        [
            spec.contract_bonus
            + (spec.correct * spec.multiplier(g) * weights[g] if label == g else spec.wrong)
            for label in LABELS
        ]
        for g in gold
    ]
    return torch.tensor(table, dtype=torch.float32, device=probs_B_A.device)


def _balanced_weights(spec: rewards.RewardSpec, gold: list[str], probs_B_A: Any) -> dict[str, float]:
    present = sorted(set(gold), key=LABELS.index)
    recall = {
        c: float(sum(probs_B_A[i, LABELS.index(c)] for i, g in enumerate(gold) if g == c)) / gold.count(c)
        for c in present
    }
    focus = {c: (1.0 - recall[c]) + spec.recall_floor for c in present}
    mean_focus = sum(focus.values()) / len(focus)
    return {c: spec.prior(c) * focus.get(c, mean_focus) / mean_focus for c in LABELS}


def policy_loss(logp_B_A: Any, rewards_B_A: Any, cfg: BanditConfig, generator: Any) -> Any:
    """The negative policy-gradient objective for one batch (see the module docstring)."""
    torch = require("torch")
    if cfg.estimator == "exact":
        return -(logp_B_A.exp() * rewards_B_A).sum(dim=-1).mean()
    sample_probs = torch.softmax(logp_B_A.detach() / cfg.temperature, dim=-1)
    actions_B_G = torch.multinomial(sample_probs, cfg.group_size, replacement=True, generator=generator)
    rewards_B_G = rewards_B_A.gather(1, actions_B_G)
    advantages_B_G = rewards_B_G - rewards_B_G.mean(dim=1, keepdim=True)
    return -(advantages_B_G * logp_B_A.gather(1, actions_B_G)).mean()


def evaluate_policy(model: Any, tokenizer: Any, papers: list[dict], actions: Actions,
                    reference: list[list[float]] | None, spec: rewards.RewardSpec, device: str) -> dict[str, Any]:  # fmt: skip
    """Held-out metrics of the policy: argmax classes, soft probabilities, expected reward, KL to the start."""
    torch = require("torch")
    model.eval()
    with torch.no_grad():
        n = len(actions.prompts)
        probs = torch.cat([log_policy(model, actions.subset(list(range(i, min(i + 64, n)))), tokenizer.pad_token_id,
                                      device).exp() for i in range(0, n, 64)]).cpu()  # fmt: skip
    model.train()
    gold = [p["disruption_label"] for p in papers]
    probs_list = probs.tolist()
    result: dict[str, Any] = evaluate.classification_metrics(
        gold, [LABELS[max(range(3), key=r.__getitem__)] for r in probs_list]
    )
    result.update(evaluate.soft_class_metrics(gold, [dict(zip(LABELS, r, strict=True)) for r in probs_list]))
    result["expected_reward"] = float((probs * reward_table(spec, gold, probs)).sum(dim=-1).mean())
    result["kl_to_start"] = kl_divergence(probs_list, reference) if reference is not None else 0.0
    result["probs"] = probs_list
    return result


def kl_divergence(p: list[list[float]], q: list[list[float]]) -> float:
    """Mean over rows of KL(p || q) in nats."""
    total = 0.0
    for row_p, row_q in zip(p, q, strict=True):
        total += sum(a * (math.log(a) - math.log(b)) for a, b in zip(row_p, row_q, strict=True) if a > 0)
    return total / len(p)


def train(model: Any, tokenizer: Any, train_papers: list[dict], eval_papers: list[dict], cfg: BanditConfig,
          reference: list[list[float]] | None) -> BanditRun:  # fmt: skip
    """Train the LoRA of `model` (already attached) on the bandit; evaluate every `eval_every` steps."""
    torch = require("torch")
    spec = rewards.reward_spec(cfg.reward, [p["disruption_label"] for p in train_papers])
    train_actions = encode(tokenizer, train_papers)
    eval_actions = encode(tokenizer, eval_papers)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=0.0)
    order, generator = random.Random(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    run = BanditRun(cfg)
    model.train()
    for step in range(cfg.steps + 1):
        if step % cfg.eval_every == 0 or step == cfg.steps:
            result = evaluate_policy(model, tokenizer, eval_papers, eval_actions, reference, spec, cfg.device)
            run.final_probs = result.pop("probs")
            run.evals.append({"step": step, **result})
        if step == cfg.steps:
            break
        picks = order.sample(range(len(train_actions.prompts)), cfg.prompts_per_step)
        logp = log_policy(model, train_actions.subset(picks), tokenizer.pad_token_id, cfg.device)
        table = reward_table(spec, [train_papers[i]["disruption_label"] for i in picks], logp.detach().exp())
        loss = policy_loss(logp, table, cfg, generator)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return run


def attach_lora(model: Any, rank: int, seed: int) -> Any:
    """A fresh LoRA (all seven projections, alpha = 2 x rank) on a frozen model, seeded."""
    peft = require("peft")
    torch = require("torch")
    torch.manual_seed(seed)
    config = peft.LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])  # fmt: skip
    return peft.get_peft_model(model, config)
