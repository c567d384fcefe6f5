"""GRPO pieces: advantages on a toy group, settings validation, and 2-step smoke runs on CPU."""

from __future__ import annotations

import pytest

from notes_lab import rl
from notes_lab.rl import GRPOSettings, group_advantages, zero_spread_fraction

from .papers import PAPER

torch = pytest.importorskip("torch")


def test_group_advantages_on_a_toy_group():
    rewards_G = [1.05, -0.55, -0.55, -1.0]
    advantages_G = group_advantages(rewards_G, scale=False)
    assert advantages_G.tolist() == pytest.approx([1.3125, -0.2875, -0.2875, -0.7375], abs=1e-12)
    assert float(advantages_G.sum()) == pytest.approx(0.0, abs=1e-12)
    scaled_G = group_advantages(rewards_G, scale=True)
    std = torch.tensor(rewards_G, dtype=torch.float64).std()  # unbiased, as TRL
    assert scaled_G.tolist() == pytest.approx((advantages_G / (std + 1e-4)).tolist(), abs=1e-12)


def test_std_scaling_erases_the_reward_magnitude_of_a_two_outcome_group():
    # why the experiment runs with scale_rewards="none": x3 on a correct answer changes nothing otherwise
    strong_G, weighted_G = [1.05, 1.05, -0.55, -0.55], [3.05, 3.05, -0.55, -0.55]
    assert group_advantages(strong_G, True).tolist() == pytest.approx(
        group_advantages(weighted_G, True).tolist(), abs=1e-3
    )
    assert group_advantages(weighted_G, False)[0] > 2 * group_advantages(strong_G, False)[0]


def test_zero_spread_fraction_counts_flat_groups():
    rewards_B_G = [[-1.0, -1.0, -1.0, -1.0], [0.1, 0.1, 0.1, 0.1], [1.05, -0.55, 1.05, 1.05]]
    assert zero_spread_fraction(rewards_B_G) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="group needs"):
        group_advantages([1.0], scale=False)


def test_settings_validation_names_the_field():
    with pytest.raises(ValueError, match="num_generations"):
        GRPOSettings(reward="strong", num_generations=2)
    with pytest.raises(ValueError, match="reward"):
        GRPOSettings(reward="nope")
    with pytest.raises(ValueError, match="epsilon_high"):
        GRPOSettings(reward="strong", epsilon_high=0.1)


def test_grpo_config_is_justrl_style(tmp_path):
    pytest.importorskip("trl")
    config = rl.grpo_config(GRPOSettings(reward="strong", seed=3), tmp_path)
    assert (config.beta, config.epsilon, config.epsilon_high, config.temperature) == (0.0, 0.2, 0.28, 1.0)
    assert (config.num_iterations, config.steps_per_generation, config.gradient_accumulation_steps) == (
        1,
        1,
        1,
    )
    assert config.lr_scheduler_type == "constant" and config.seed == 3 and config.use_cpu
    assert config.scale_rewards == "none" and config.per_device_train_batch_size % config.num_generations == 0


def _tiny_base(folder):
    pytest.importorskip("transformers")
    from notes_lab.models import ModelSize, build_model, train_tokenizer
    from notes_lab.prompts import format_prompt, target_completion

    tokenizer = train_tokenizer([format_prompt(PAPER), target_completion(PAPER)] * 4, 300, folder)
    size = ModelSize(
        hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64, vocab_size=300, max_positions=512
    )
    build_model(size, tokenizer, seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    return _tiny_base(tmp_path_factory.mktemp("base"))


def _papers():
    labels = ["disruptive", "consolidating", "neutral", "neutral"]
    return [
        {**PAPER, "openalex_id": f"SYNTHW{i:07d}", "disruption_label": label}
        for i, label in enumerate(labels)
    ]


def _settings(reward, seed=0):
    return GRPOSettings(
        reward=reward, seed=seed, steps=2, prompts_per_step=2, num_generations=4, max_completion_length=6,
        eval_every=1, eval_batch_size=4, threads=1,
    )  # fmt: skip


@pytest.mark.slow
def test_two_step_smoke_run_from_base(tmp_path, tiny_base):
    run = rl.run_arm(tiny_base, None, _papers(), _papers()[:3], _settings("balanced"), tmp_path / "out")
    assert [row["step"] for row in run.evals] == [0, 1, 2]
    assert len(run.train_steps) == 2
    assert run.clip_ratio_max == 0.0  # exact: one policy update per generation batch
    final = run.evals[-1]
    assert final["n"] == 3 and 0.0 <= final["parse_rate"] <= 1.0 and final["completion_length"] >= 0
    assert final["reward"] == pytest.approx(sum(final[f"reward/{c}"] for c in rl.rewards.COMPONENTS))
    labels = ("disruptive", "consolidating", "neutral")
    assert sum(final[f"prob_share/{label}"] for label in labels) == pytest.approx(1.0)
    assert 0.0 < final["min_soft_recall"] <= final["soft_accuracy"] < 1.0
    for row in run.train_steps:
        assert row["zero_spread_fraction"] == pytest.approx(row["frac_reward_zero_std"])
        assert "rewards/task/mean" in row


@pytest.mark.slow
def test_smoke_run_continues_a_saved_adapter_and_repeats_exactly(tmp_path, tiny_base):
    peft = pytest.importorskip("peft")
    from notes_lab.models import load_causal_lm

    model, _ = load_causal_lm(tiny_base)
    adapter = peft.LoraConfig(r=4, lora_alpha=8, target_modules=list(rl.LORA_TARGETS), use_dora=True)
    peft.get_peft_model(model, adapter).save_pretrained(tmp_path / "sft")
    runs = [
        rl.run_arm(
            tiny_base, tmp_path / "sft", _papers(), _papers()[:3], _settings("class_weighted", 1), tmp_path
        )
        for _ in range(2)
    ]
    assert runs[0].evals[-1]["completions_sha256"] == runs[1].evals[-1]["completions_sha256"]
    assert [r["reward"] for r in runs[0].train_steps] == [r["reward"] for r in runs[1].train_steps]
