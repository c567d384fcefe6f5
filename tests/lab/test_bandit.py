"""The label-only bandit: actions, the policy over three labels, rewards by hand, both gradient estimators, training."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest

from notes_lab import bandit, data, models, rewards, scoring
from notes_lab.prompts import format_prompt, label_answer_prefix
from notes_lab.vocab import LABELS

from . import hubkit
from .conftest import DATA

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
hub_model = hubkit.hub_model  # the fixture: a tiny Qwen2 whose labels are several tokens long

D, C, N = LABELS


def flat(rows):
    """A table (nested lists or a tensor) as one flat list, for pytest.approx."""
    rows = rows.tolist() if hasattr(rows, "tolist") else rows
    return [float(v) for row in rows for v in row]


# --- configuration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reward": "nope"}, "reward"),
        ({"steps": 0, "eval_every": 1}, "steps"),
        ({"prompts_per_step": 0}, "prompts_per_step"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"rank": 0}, "rank"),
        ({"estimator": "reinforce"}, "estimator"),
        ({"group_size": 1}, "group_size"),
        ({"temperature": 0.0}, "temperature"),
        ({"eval_every": 0}, "eval_every"),
        ({"steps": 5, "eval_every": 6}, "eval_every"),
    ],
)
def test_config_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"^BanditConfig\.{field} "):
        bandit.BanditConfig(**{"reward": "strong", **changes})


def test_every_reward_variant_is_a_valid_config():
    for name in rewards.REWARD_SPECS:
        assert bandit.BanditConfig(reward=name).reward == name


# --- rewards, by hand -----------------------------------------------------------------------------------------


def _table(name, gold, probs=None, train_labels=None):
    probs = probs if probs is not None else [[1 / 3] * 3 for _ in gold]
    spec = rewards.reward_spec(name, train_labels)
    return flat(bandit.reward_table(spec, gold, torch.tensor(probs)))


def test_reward_tables_of_the_fixed_rewards():
    gold = [D, C, N]
    assert _table("soft", gold) == pytest.approx(flat([[0.75, 0.0, 0.0], [0.0, 0.75, 0.0], [0.0, 0.0, 0.75]]))
    assert _table("strong", gold) == pytest.approx(
        flat([[1.05, -0.55, -0.55], [-0.55, 1.05, -0.55], [-0.55, -0.55, 1.05]])
    )
    assert _table("class_weighted", gold) == pytest.approx(
        flat([[3.05, -0.55, -0.55], [-0.55, 1.05, -0.55], [-0.55, -0.55, 1.05]])
    )
    # format_only: strong's format terms, no task term, so every (valid) label earns the contract bonus
    assert _table("format_only", gold) == pytest.approx([0.05] * 9)


def test_balanced_reward_table_by_hand():
    # priors from the train labels D, D, C, N: 1/count = (1/2, 1, 1), mean 5/6 -> D 0.6, C 1.2, N 1.2
    probs = [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.5, 0.25, 0.25]]
    gold = [D, D, C]  # no neutral row in the batch
    # soft recalls: D (0.6 + 0.2) / 2 = 0.4, C 0.25; focus = 1 - recall + 0.1: D 0.7, C 0.85, mean 0.775
    w_d, w_c = 0.6 * 0.7 / 0.775, 1.2 * 0.85 / 0.775
    table = _table("balanced", gold, probs, train_labels=[D, D, C, N])
    assert table == pytest.approx(
        flat([[0.05 + w_d, -0.55, -0.55], [0.05 + w_d, -0.55, -0.55], [-0.55, 0.05 + w_c, -0.55]]), abs=1e-6
    )
    spec = rewards.reward_spec("balanced", [D, D, C, N])
    weights = bandit._balanced_weights(spec, gold, torch.tensor(probs))
    assert weights == pytest.approx(
        {D: w_d, C: w_c, N: 1.2}
    )  # an absent class: its prior x mean focus / mean


def test_balanced_weights_on_one_hot_policies_are_the_rewards_module_weights():
    """With a deterministic policy the soft recall is the hard recall rewards.recall_balancing_weights uses."""
    gold, answers = [D, D, D, C, C, N], [D, C, D, C, C, D]
    probs = torch.tensor([[float(a == label) for label in LABELS] for a in answers])
    spec = rewards.reward_spec("balanced", [D, C, N, N])
    parsed = [SimpleNamespace(label=a) for a in answers]
    expected = rewards.recall_balancing_weights(parsed, gold, spec)
    assert {c: bandit._balanced_weights(spec, gold, probs)[c] for c in expected} == pytest.approx(expected)


# --- the policy gradient ----------------------------------------------------------------------------------------

REWARDS_B_A = [[1.05, -0.55, -0.55], [-0.55, 3.05, -0.55]]
LOGITS_B_A = [[0.3, -0.2, 0.5], [1.0, 0.1, -0.4]]


def _grad(loss_of, logits):
    leaf = torch.tensor(logits, requires_grad=True)
    loss_of(torch.log_softmax(leaf, dim=-1)).backward()
    return leaf.grad


def test_exact_estimator_is_the_exact_policy_gradient():
    cfg = bandit.BanditConfig(reward="strong", estimator="exact")
    table = torch.tensor(REWARDS_B_A)
    autograd = _grad(lambda logp: bandit.policy_loss(logp, table, cfg, None), LOGITS_B_A)
    # by hand: d/dlogits of -mean_b E[R] = -(1/B) sum_a pi_a (R_a - E[R]) d log pi_a / d logits,
    # with d log pi_a / d logit_k = [a == k] - pi_k
    by_hand = torch.zeros(2, 3)
    for b, (row, rewards_a) in enumerate(zip(LOGITS_B_A, REWARDS_B_A, strict=True)):
        pi = [math.exp(v) / sum(math.exp(u) for u in row) for v in row]
        mean_reward = sum(p * r for p, r in zip(pi, rewards_a, strict=True))
        for a in range(3):
            for k in range(3):
                by_hand[b, k] -= pi[a] * (rewards_a[a] - mean_reward) * ((a == k) - pi[k]) / 2
    assert flat(autograd) == pytest.approx(flat(by_hand), abs=1e-6)
    # a constant added to every reward (the contract bonus) changes nothing
    shifted = _grad(lambda logp: bandit.policy_loss(logp, table + 0.7, cfg, None), LOGITS_B_A)
    assert flat(shifted) == pytest.approx(flat(autograd), abs=1e-6)


def test_sampled_estimator_is_seeded():
    cfg = bandit.BanditConfig(reward="strong", estimator="sampled", group_size=4)
    logp = torch.log_softmax(torch.tensor(LOGITS_B_A), dim=-1)
    table = torch.tensor(REWARDS_B_A)

    def loss(seed):
        return float(bandit.policy_loss(logp, table, cfg, torch.Generator().manual_seed(seed)))

    assert loss(3) == loss(3)
    assert len({loss(seed) for seed in range(6)}) > 1


@pytest.mark.parametrize("group_size", [2, 8])
def test_sampled_estimator_has_the_exact_direction_scaled_by_one_minus_one_over_g(group_size):
    """The advantage subtracts the group mean *including* the sample itself, so its expectation is the exact
    gradient times (G - 1) / G: E[(r_i - mean_j r_j) grad log pi(a_i)] = (1 - 1/G) E[r grad log pi], since
    E[grad log pi] = 0. Same direction, smaller by a constant (Adam normalises it away)."""
    repeats = 6000  # the two rows, each drawn 6000 x G times
    table = torch.tensor(REWARDS_B_A).repeat(repeats, 1)
    exact = _grad(
        lambda logp: bandit.policy_loss(logp, torch.tensor(REWARDS_B_A), _cfg("exact"), None), LOGITS_B_A
    )

    def sampled_loss(logp):
        cfg = _cfg("sampled", group_size)
        return bandit.policy_loss(logp.repeat(repeats, 1), table, cfg, torch.Generator().manual_seed(0))

    sampled = _grad(sampled_loss, LOGITS_B_A)
    factor = (group_size - 1) / group_size
    assert flat(sampled) == pytest.approx(flat(factor * exact), abs=0.01)
    assert float(exact.abs().max()) > 0.1  # so the tolerance above is tight


def _cfg(estimator, group_size=8):
    return bandit.BanditConfig(reward="strong", estimator=estimator, group_size=group_size)


def test_kl_divergence_by_hand():
    p = [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]]
    q = [[0.25, 0.25, 0.5], [1 / 3, 1 / 3, 1 / 3]]
    # row 1: 0.5 ln 2 + 0.5 ln 2 + 0 (a zero probability adds nothing) = ln 2; row 2: 0
    assert bandit.kl_divergence(p, q) == pytest.approx(math.log(2) / 2)
    assert bandit.kl_divergence(p, p) == 0.0


# --- actions and the policy on real models --------------------------------------------------------------------


def test_encode_single_token_labels(tiny_lm, split):
    _, tokenizer = tiny_lm
    papers = split.test[:3]
    actions = bandit.encode(tokenizer, papers)
    assert actions.answers is None and len(set(actions.single)) == 3
    for paper, row in zip(papers, actions.prompts, strict=True):
        plain = list(tokenizer(format_prompt(paper))["input_ids"])
        assert row[: len(plain)] == plain and len(row) > len(plain)  # the prompt, then the answer's start
        for label, token in zip(LABELS, actions.single, strict=True):
            assert tokenizer.decode(row[len(plain) :] + [token]) == label_answer_prefix(label)[:-1]
    sub = actions.subset([2, 0])
    assert sub.prompts == [actions.prompts[2], actions.prompts[0]] and sub.single == actions.single


@pytest.mark.slow
def test_encode_multi_token_labels(hub_model, split):
    _, tokenizer = models.load_causal_lm(hub_model)
    papers = split.test[:2]
    actions = bandit.encode(tokenizer, papers)
    assert actions.single is None
    assert actions.answers == scoring.label_answers(scoring.answer_ids(tokenizer))
    assert actions.prompts == [list(tokenizer(format_prompt(p))["input_ids"]) for p in papers]
    for label, answer in zip(LABELS, actions.answers, strict=True):
        assert len(answer) > 3 and tokenizer.decode(answer) in (
            label_answer_prefix(label),
            label_answer_prefix(label)[:-1],
        )


def _check_against_scoring(model, tokenizer, papers, actions, abs_tol):
    logp = bandit.log_policy(model, actions, tokenizer.pad_token_id, "cpu")
    assert tuple(logp.shape) == (len(papers), 3)
    assert logp.exp().sum(dim=-1).tolist() == pytest.approx([1.0] * len(papers), abs=1e-6)
    expected = scoring.label_log_probs(model, tokenizer, papers, 4, "cpu")
    assert flat(logp) == pytest.approx(
        flat([[row[label] for label in LABELS] for row in expected]), abs=abs_tol
    )
    return logp


def test_log_policy_single_token_path_is_scoring_and_differentiable(tiny_lm, split):
    model, tokenizer = tiny_lm
    papers = split.test[:5]
    actions = bandit.encode(tokenizer, papers)
    with torch.no_grad():
        _check_against_scoring(model, tokenizer, papers, actions, 1e-5)
    # the full-sequence form of the same labels scores the same thing: the answer's start cancels
    plain = [list(tokenizer(format_prompt(p))["input_ids"]) for p in papers]
    full = bandit.Actions(plain, None, scoring.label_answers(scoring.answer_ids(tokenizer)))
    with torch.no_grad():
        _check_against_scoring(model, tokenizer, papers, full, 1e-5)
    policy = bandit.attach_lora(copy.deepcopy(model), 4, 0)
    logp = bandit.log_policy(policy, actions, tokenizer.pad_token_id, "cpu")
    logp[:, 0].sum().backward()
    lora_grads = [p.grad for name, p in policy.named_parameters() if "lora_" in name]
    assert (
        lora_grads
        and all(g is not None for g in lora_grads)
        and any(float(g.abs().sum()) > 0 for g in lora_grads)
    )


@pytest.mark.slow
def test_log_policy_multi_token_path_is_scoring(hub_model, split):
    model, tokenizer = models.load_causal_lm(hub_model)
    papers = split.test[:4]
    actions = bandit.encode(tokenizer, papers)
    assert actions.answers is not None
    with torch.no_grad():
        _check_against_scoring(model, tokenizer, papers, actions, 5e-5)
    model.requires_grad_(True)
    logp = bandit.log_policy(model, actions, tokenizer.pad_token_id, "cpu")
    logp[:, 1].sum().backward()
    assert float(model.model.embed_tokens.weight.grad.abs().sum()) > 0


def test_evaluate_policy_metrics_and_kl(tiny_lm, split):
    model, tokenizer = tiny_lm
    policy = copy.deepcopy(model)  # evaluate_policy leaves the model in train mode
    papers = split.val[:10]
    actions = bandit.encode(tokenizer, papers)
    spec = rewards.reward_spec("strong")
    first = bandit.evaluate_policy(policy, tokenizer, papers, actions, None, spec, "cpu")
    assert first["n"] == 10 and first["kl_to_start"] == 0.0 and len(first["probs"]) == 10
    assert sum(first[f"predicted_share/{label}"] for label in LABELS) == pytest.approx(1.0)
    assert sum(first[f"prob_share/{label}"] for label in LABELS) == pytest.approx(1.0)
    # strong: E[R] per row = 0.05 + 1.0 p_gold - 0.6 (1 - p_gold) = 1.6 p_gold - 0.55
    assert first["expected_reward"] == pytest.approx(1.6 * first["soft_accuracy"] - 0.55, abs=1e-6)
    again = bandit.evaluate_policy(policy, tokenizer, papers, actions, first["probs"], spec, "cpu")
    assert again["kl_to_start"] == pytest.approx(0.0, abs=1e-12)
    uniform = [[1 / 3] * 3 for _ in papers]
    other = bandit.evaluate_policy(policy, tokenizer, papers, actions, uniform, spec, "cpu")
    assert (
        other["kl_to_start"] == pytest.approx(bandit.kl_divergence(first["probs"], uniform))
        and other["kl_to_start"] > 0
    )


# --- training --------------------------------------------------------------------------------------------------


def _train(model, tokenizer, split, reward, steps, eval_every, reference=None, **changes):
    policy = bandit.attach_lora(copy.deepcopy(model), 4, 0)
    cfg = bandit.BanditConfig(reward=reward, steps=steps, eval_every=eval_every, prompts_per_step=16,
                              learning_rate=1e-2, rank=4, **changes)  # fmt: skip
    return policy, bandit.train(policy, tokenizer, split.train, split.val[:16], cfg, reference)


@pytest.mark.slow
def test_train_evaluates_at_zero_every_eval_every_and_the_last_step_and_moves_only_the_lora(tiny_lm, split):
    model, tokenizer = tiny_lm
    start = bandit.evaluate_policy(copy.deepcopy(model), tokenizer, split.val[:16], bandit.encode(tokenizer, split.val[:16]),
                                   None, rewards.reward_spec("strong"), "cpu")["probs"]  # fmt: skip
    policy, run = _train(model, tokenizer, split, "strong", steps=3, eval_every=2, reference=start)
    assert [e["step"] for e in run.evals] == [0, 2, 3]
    assert run.evals[0]["kl_to_start"] == pytest.approx(0.0, abs=1e-6)  # a fresh LoRA is the start policy
    assert run.evals[-1]["kl_to_start"] > 1e-4
    assert len(run.final_probs) == 16 and all(
        sum(row) == pytest.approx(1.0, abs=1e-6) for row in run.final_probs
    )
    assert "probs" not in run.evals[-1]
    merged_weight = policy.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
    assert torch.equal(merged_weight, model.model.layers[0].self_attn.q_proj.weight)  # the base stays frozen


@pytest.mark.slow
def test_class_weighted_at_high_noise_raises_the_disruptive_probability(tiny_lm):
    """Qualitative, on a tiny model that cannot tell the rows apart: the x3 on a correct "disruptive" pushes its
    probability up (on a balanced batch answering it pays 0.65 on average against -0.02 for the others); strong,
    with the same seed, rate and batches, does not."""
    model, tokenizer = tiny_lm
    high = data.build(data.DataConfig(n_papers=DATA.n_papers, seed=DATA.seed, noise_rate=0.55))[2]
    shares = {}
    for reward in ("class_weighted", "strong"):
        run = _train(model, tokenizer, high, reward, steps=4, eval_every=2)[1]
        shares[reward] = [e["prob_share/disruptive"] for e in run.evals]
    assert shares["class_weighted"][0] == shares["strong"][0]
    assert shares["class_weighted"][-1] > shares["class_weighted"][0] + 0.05
    assert shares["class_weighted"][-1] > shares["strong"][-1] + 0.05
