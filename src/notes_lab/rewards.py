"""Verifiable rewards for the disruption task, scored on the RAW completion (Part 2, seed-experiments.md §3).

A reward is a sum of four components, R = parse + contract + task + think:

- ``parse``: ``unparseable`` (-1.0) when the raw text is not exactly one JSON object, else 0;
- ``contract``: ``contract_bonus`` for a valid two-key payload, ``invalid_payload`` when the raw text
  is JSON but the payload is not valid, 0 when it did not parse;
- ``task``: ``correct`` (times the gold class's multiplier) or ``wrong``, only for a valid payload;
- ``think``: ``think_penalty`` (-1.0) extra when the output carries ``<think>`` tags.

The three Part-2 variants (totals: correct / wrong / invalid payload / unparseable):

======================  ========================================================
soft (Baseline, Exp1)   +0.75 / 0.0 / -0.5 / -1.0   (contract +0.25, task +0.5 or -0.25)
strong (Exp2-Exp4)      +1.05 / -0.55 / -0.75 / -1.0 (contract +0.05, task +1.0 or -0.6)
class_weighted (Exp5)   strong, with a correct "disruptive" task term x3 -> +3.05
======================  ========================================================

**balanced** (ours, the lesson Part 2 drew and never tested). It is ``strong`` with the task term of
a correct answer scaled by a per-class weight recomputed on every scored batch::

    focus_c  = (1 - recall_c) + recall_floor     recall_c: share of the batch's class-c rows answered right
    weight_c = prior_c * focus_c / mean_c'(focus_c')      (mean over the gold classes in the batch)

``prior_c`` are static inverse-frequency weights of the training labels, normalised to mean 1 (all 1
on a balanced split; see `inverse_frequency_weights`). Why this targets min-class recall: with
w_c proportional to (1 - r_c), the expected policy gradient of the task term is that of the concave
surrogate -1/2 * sum_c (1 - r_c)^2, which pays most for the class the policy recalls worst and
nothing extra for piling onto a class it already gets right. A policy that collapses onto one
class makes that class's recall ~1, so its correct answers earn only ``recall_floor`` relative
weight while the starved classes earn the rest: the reward pushes back against the collapse that
the fixed x3 weight of Exp5 causes. Wrong answers keep strong's -0.6 (not re-weighted).

`make_reward_functions` adapts a spec to TRL: one function per component (TRL sums them and logs
``rewards/<component>/mean``), each ``fn(prompts, completions, **kwargs) -> list[float]`` with the
gold labels in the dataset column ``gold_label``. This module imports only the standard library
and `notes_lab.contract`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from notes_lab.contract import ParsedCompletion, parse_completion
from notes_lab.vocab import LABELS

logger = logging.getLogger(__name__)

COMPONENTS = ("parse", "contract", "task", "think")
GOLD_COLUMN = "gold_label"
RewardFunction = Callable[..., list[float]]


@dataclass(frozen=True)
class RewardSpec:
    """One reward variant. Penalties are negative numbers, bonuses positive ones."""

    name: str
    contract_bonus: float
    correct: float
    wrong: float
    invalid_payload: float
    unparseable: float = -1.0
    think_penalty: float = -1.0
    correct_multipliers: tuple[tuple[str, float], ...] = ()
    recall_balancing: bool = False
    recall_floor: float = 0.1
    class_priors: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("RewardSpec.name: must be a non-empty string")
        for attr in ("unparseable", "think_penalty", "invalid_payload"):
            if getattr(self, attr) > 0:
                raise ValueError(f"RewardSpec.{attr}: a penalty must be <= 0, got {getattr(self, attr)}")
        if self.correct < self.wrong:
            raise ValueError(f"RewardSpec.correct: must be at least wrong ({self.wrong}), got {self.correct}")
        for attr in ("correct_multipliers", "class_priors"):
            for label, weight in getattr(self, attr):
                if label not in LABELS or weight <= 0:
                    raise ValueError(
                        f"RewardSpec.{attr}: need (label in {LABELS}, weight > 0), got ({label!r}, {weight})"
                    )
        if not 0.0 < self.recall_floor <= 1.0:
            raise ValueError(f"RewardSpec.recall_floor: must be in (0, 1], got {self.recall_floor}")

    def multiplier(self, label: str) -> float:
        """The fixed factor on the task term of a correct answer for gold `label` (1 if unset)."""
        return dict(self.correct_multipliers).get(label, 1.0)

    def prior(self, label: str) -> float:
        """The static class weight used by recall balancing (1 if unset)."""
        return dict(self.class_priors).get(label, 1.0)


SOFT = RewardSpec("soft", contract_bonus=0.25, correct=0.5, wrong=-0.25, invalid_payload=-0.5)
STRONG = RewardSpec("strong", contract_bonus=0.05, correct=1.0, wrong=-0.6, invalid_payload=-0.75)
CLASS_WEIGHTED = RewardSpec(
    "class_weighted",
    contract_bonus=0.05,
    correct=1.0,
    wrong=-0.6,
    invalid_payload=-0.75,
    correct_multipliers=(("disruptive", 3.0),),
)
BALANCED = RewardSpec(
    "balanced", contract_bonus=0.05, correct=1.0, wrong=-0.6, invalid_payload=-0.75, recall_balancing=True
)
# The control for RL from the base: strong's format terms, no task term (a correct label earns nothing).
FORMAT_ONLY = RewardSpec("format_only", contract_bonus=0.05, correct=0.0, wrong=0.0, invalid_payload=-0.75)
REWARD_SPECS: dict[str, RewardSpec] = {
    s.name: s for s in (SOFT, STRONG, CLASS_WEIGHTED, BALANCED, FORMAT_ONLY)
}


def reward_spec(name: str, train_labels: Sequence[str] | None = None) -> RewardSpec:
    """The named variant; for ``balanced``, `train_labels` (if given) set the inverse-frequency priors."""
    if name not in REWARD_SPECS:
        raise ValueError(f"reward name: must be one of {sorted(REWARD_SPECS)}, got {name!r}")
    spec = REWARD_SPECS[name]
    if spec.recall_balancing and train_labels is not None:
        priors = tuple(sorted(inverse_frequency_weights(train_labels).items()))
        spec = RewardSpec(**{**spec.__dict__, "class_priors": priors})
    return spec


def inverse_frequency_weights(labels: Sequence[str]) -> dict[str, float]:
    """Weights proportional to 1 / count for each label seen, normalised so their mean is 1."""
    counts = Counter(labels)
    if not counts:
        raise ValueError("labels: need at least one label")
    raw = {label: 1.0 / count for label, count in counts.items()}
    mean = sum(raw.values()) / len(raw)
    return {label: value / mean for label, value in sorted(raw.items())}


@dataclass(frozen=True)
class ScoredCompletion:
    """The reward of one completion, by component."""

    parse: float
    contract: float
    task: float
    think: float
    parsed: ParsedCompletion = field(repr=False)

    @property
    def total(self) -> float:
        return self.parse + self.contract + self.task + self.think

    def component(self, name: str) -> float:
        if name not in COMPONENTS:
            raise ValueError(f"component: must be one of {COMPONENTS}, got {name!r}")
        return float(getattr(self, name))


def score_parsed(
    parsed: ParsedCompletion, gold: str, spec: RewardSpec, task_weight: float = 1.0
) -> ScoredCompletion:
    """Score one graded completion. `task_weight` scales a correct answer's task term (recall balancing)."""
    if not parsed.raw_json_ok:
        parse, contract, task = spec.unparseable, 0.0, 0.0
    elif not parsed.payload_valid:
        parse, contract, task = 0.0, spec.invalid_payload, 0.0
    elif parsed.label == gold:
        parse, contract, task = 0.0, spec.contract_bonus, spec.correct * spec.multiplier(gold) * task_weight
    else:
        parse, contract, task = 0.0, spec.contract_bonus, spec.wrong
    think = spec.think_penalty if parsed.has_think_tags else 0.0
    return ScoredCompletion(parse=parse, contract=contract, task=task, think=think, parsed=parsed)


def recall_balancing_weights(
    parsed: Sequence[ParsedCompletion], gold: Sequence[str], spec: RewardSpec
) -> dict[str, float]:
    """Per gold class c in the batch: prior_c * ((1 - recall_c) + floor) / mean over classes of the focus."""
    totals, hits = Counter(gold), Counter(g for p, g in zip(parsed, gold, strict=True) if p.label == g)
    focus = {c: (1.0 - hits[c] / totals[c]) + spec.recall_floor for c in totals}
    mean_focus = sum(focus.values()) / len(focus)
    return {c: spec.prior(c) * focus[c] / mean_focus for c in sorted(focus)}


def score_batch(completions: Sequence[str], gold: Sequence[str], spec: RewardSpec) -> list[ScoredCompletion]:
    """Score a batch of raw completions against gold labels (the batch matters only for ``balanced``)."""
    if len(completions) != len(gold):
        raise ValueError(f"completions has {len(completions)} rows but gold has {len(gold)}")
    unknown = sorted({g for g in gold if g not in LABELS})
    if unknown:
        raise ValueError(f"gold: labels must be in {LABELS}, got {unknown}")
    parsed = [parse_completion(text) for text in completions]
    weights = recall_balancing_weights(parsed, gold, spec) if spec.recall_balancing and parsed else {}
    return [score_parsed(p, g, spec, weights.get(g, 1.0)) for p, g in zip(parsed, gold, strict=True)]


def summarize_scores(scored: Sequence[ScoredCompletion]) -> dict[str, float]:
    """Mean total reward and mean of each component: keys ``reward`` and ``reward/<component>``."""
    if not scored:
        raise ValueError("scored: need at least one completion")
    n = len(scored)
    summary = {"reward": sum(s.total for s in scored) / n}
    summary.update({f"reward/{c}": sum(s.component(c) for s in scored) / n for c in COMPONENTS})
    return summary


class RewardLog:
    """Keeps every batch the TRL adapters scored: totals and components, in call order.

    TRL calls the component functions in order on the same batch; the ``parse`` function (called
    first) scores the batch once and the others read the cached result, so a batch is parsed once.
    """

    def __init__(self) -> None:
        self.batches: list[list[ScoredCompletion]] = []
        self._last_key: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def scored(
        self, completions: Sequence[str], gold: Sequence[str], spec: RewardSpec, fresh: bool
    ) -> list[ScoredCompletion]:
        """Score a new batch (`fresh`) or reuse the last one, which must be the same batch."""
        key = (tuple(completions), tuple(gold))
        if fresh or key != self._last_key:
            self.batches.append(score_batch(completions, gold, spec))
            self._last_key = key
        return self.batches[-1]

    def totals(self) -> list[list[float]]:
        """Total reward of every completion, one list per scored batch."""
        return [[s.total for s in batch] for batch in self.batches]


def make_reward_functions(
    spec: RewardSpec, log: RewardLog | None = None, completion_prefix: str = ""
) -> list[RewardFunction]:
    """TRL reward functions, one per component; their sum is the spec's reward.

    `completion_prefix` is put back in front of each completion before scoring: our prompt ends
    with the answer's opening "{" (lab.prompts.ANSWER_PREFIX), so the raw answer is prefix + completion.
    """
    shared_log = log if log is not None else RewardLog()
    return [_component_function(spec, c, shared_log, completion_prefix) for c in COMPONENTS]


def _component_function(spec: RewardSpec, component: str, log: RewardLog, prefix: str) -> RewardFunction:
    def reward_fn(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        if GOLD_COLUMN not in kwargs:
            raise KeyError(
                f"reward {spec.name}: the dataset needs a {GOLD_COLUMN!r} column with the gold labels"
            )
        texts = [prefix + _completion_text(c) for c in completions]
        scored = log.scored(texts, list(kwargs[GOLD_COLUMN]), spec, fresh=component == COMPONENTS[0])
        return [s.component(component) for s in scored]

    reward_fn.__name__ = component
    reward_fn.__qualname__ = f"{spec.name}.{component}"
    return reward_fn


def _completion_text(completion: Any) -> str:
    """A plain-text completion, or the content of the last message of a conversational one."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"completion: expected str or a list of messages, got {type(completion).__name__}")
