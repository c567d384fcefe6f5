"""The smol-RL experiment: plan validation, the theory by hand, fresh start policies, and one tiny end-to-end run."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from notes_lab import bandit, data, rl_experiment, rl_report
from notes_lab.rl_experiment import NOISES, RLPlan
from notes_lab.vocab import LABELS

from .conftest import DATA

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

D, C, N = LABELS


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rewards": ("strong", "nope")}, "rewards"),
        ({"seeds": ()}, "seeds"),
        ({"learning_rates": ()}, "learning_rates"),
        ({"eval_every": 0}, "eval_every"),
        ({"steps": 10, "eval_every": 11}, "eval_every"),
    ],
)
def test_plan_validation_names_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"^RLPlan\.{field} "):
        RLPlan(**changes)


def test_plan_builds_bandit_configs_with_its_own_settings():
    plan = RLPlan(steps=7, prompts_per_step=3, rank=2, eval_every=7, device="cpu")
    cfg = plan.bandit("balanced", 4, 0.05, estimator="sampled", group_size=2)
    assert (cfg.reward, cfg.seed, cfg.learning_rate, cfg.estimator, cfg.group_size) == (
        "balanced", 4, 0.05, "sampled", 2,
    )  # fmt: skip
    assert (cfg.steps, cfg.prompts_per_step, cfg.rank, cfg.eval_every) == (7, 3, 2, 7)


def _row(d, c, n):
    return {"disruption_label": D, "bayes_posterior": {D: d, C: c, N: n}}


def test_optimal_disruptive_share_by_hand():
    """Expected reward of answering a under posterior P: strong gives 1.6 P(a) - 0.55 for every a, so the
    argmax of P wins; class_weighted gives 3.6 P(D) - 0.55 for "disruptive" (x3 on its correct term)."""
    rows = [
        _row(0.2, 0.5, 0.3),  # class_weighted: D 0.17 < C 0.25 -> consolidating
        _row(0.3, 0.5, 0.2),  # D 0.53 > C 0.25 -> disruptive, though C is the most likely class
        _row(0.5, 0.3, 0.2),  # D everywhere
        _row(0.25, 0.4, 0.35),  # D 0.35 > C 0.09 -> disruptive
        _row(0.1, 0.2, 0.7),  # D -0.19 < N 0.57 -> neutral
    ]
    assert rl_experiment.optimal_disruptive_share(rows, "class_weighted") == pytest.approx(3 / 5)
    assert rl_experiment.optimal_disruptive_share(rows, "strong") == pytest.approx(1 / 5)
    assert rl_experiment.optimal_disruptive_share(rows, "soft") == pytest.approx(1 / 5)
    # the boundary: D wins iff 3.6 P(D) >= 1.6 max P(other)
    assert rl_experiment.optimal_disruptive_share([_row(0.3, 0.66, 0.04)], "class_weighted") == 1.0
    assert rl_experiment.optimal_disruptive_share([_row(0.29, 0.66, 0.05)], "class_weighted") == 0.0


@pytest.mark.slow
def test_start_policy_is_a_fresh_lora_on_an_unchanged_copy(tiny_base, split, monkeypatch):
    monkeypatch.setattr(rl_experiment, "_LOADED", {})
    plan = RLPlan(rank=4)
    first, tokenizer = rl_experiment.start_policy(tiny_base, plan, seed=0)
    embedding = first.get_input_embeddings().weight
    original = embedding.detach().clone()
    with torch.no_grad():
        embedding.add_(1.0)  # what a merge into this copy would do
    bandit.train(first, tokenizer, split.train, split.val[:4],
                 bandit.BanditConfig(reward="strong", steps=1, eval_every=1, prompts_per_step=4, rank=4), None)  # fmt: skip
    second, same_tokenizer = rl_experiment.start_policy(tiny_base, plan, seed=0)
    assert list(rl_experiment._LOADED) == [str(tiny_base)] and same_tokenizer is tokenizer  # loaded once
    assert torch.equal(second.get_input_embeddings().weight, original)
    lora_b = {n: p for n, p in second.named_parameters() if "lora_B" in n}
    assert lora_b and all(not p.detach().any() for p in lora_b.values())  # starts as the start policy
    trained_b = {n: p for n, p in first.named_parameters() if "lora_B" in n}
    assert any(p.detach().any() for p in trained_b.values())
    lora_a = [(n, p) for n, p in second.named_parameters() if "lora_A" in n]
    first_a = dict(first.named_parameters())
    assert all(torch.equal(p, first_a[n]) for n, p in lora_a)  # the same seed, the same initialisation
    third, _ = rl_experiment.start_policy(tiny_base, plan, seed=1)
    third_a = dict(third.named_parameters())
    assert not all(torch.equal(p, third_a[n]) for n, p in lora_a)


@pytest.mark.slow
def test_sft_policy_of_a_few_steps_replaces_a_loaded_start_policy(tiny_base, split, tmp_path, monkeypatch):
    """Fewer SFT steps than the recipe's 5 warm-up steps still train; rewriting a folder drops the copy loaded
    from it before, so a re-run in the same kernel starts from the new policy."""
    folder = tmp_path / "sft_low"
    monkeypatch.setattr(rl_experiment, "_LOADED", {str(folder): ("stale model", "stale tokenizer")})
    assert rl_experiment.sft_policy(tiny_base, split.train[:8], RLPlan(sft_steps=1), folder) == folder
    assert rl_experiment._LOADED == {} and (folder / "model.safetensors").exists()


# --- one tiny end-to-end run ----------------------------------------------------------------------------------

PLAN = RLPlan(rewards=("soft", "strong", "class_weighted", "balanced"), seeds=(0, 1), steps=4, prompts_per_step=4,
              learning_rates=(1e-3, 1e-2), group_sizes=(2,), eval_every=2, eval_rows=16, test_rows=20, rank=4,
              sft_steps=3)  # fmt: skip


@pytest.fixture(scope="module")
def experiment(tiny_base, split, tmp_path_factory):
    splits = {"low": split, "high": data.build(replace(DATA, noise_rate=0.55))[2]}
    out = tmp_path_factory.mktemp("rl_out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rl_experiment, "_LOADED", {})
        results = rl_experiment.run(PLAN, tiny_base, splits, out)
    return results, splits, out


@pytest.mark.slow
def test_run_fills_every_part_of_the_results(experiment):
    results, splits, out = experiment
    assert set(results.sft) == set(NOISES) and all(m["n"] == 20 for m in results.sft.values())
    for noise in NOISES:
        folder = out / f"sft_{noise}"
        assert (folder / "model.safetensors").exists() and (folder / "tokenizer_config.json").exists()
        assert not (folder / "adapter_config.json").exists()  # merged: a plain model folder
        assert json.loads((folder / "config.json").read_text())["model_type"] == "llama"
        assert math.isfinite(results.sft[noise]["label_nll"]) and results.sft[noise]["label_nll"] > 0
    assert set(results.sweep) == {1e-3, 1e-2}
    assert list(results.cells) == [(noise, reward) for noise in NOISES for reward in PLAN.rewards]
    for (noise, reward), runs in results.cells.items():
        assert [run.config.seed for run in runs] == [0, 1]
        assert all(run.config.reward == reward and run.config.estimator == "exact" for run in runs)
        assert all([e["step"] for e in run.evals] == [0, 2, 4] for run in runs)
        finals = results.finals[(noise, reward)]
        assert len(finals) == 2 and all(f["n"] == 20 and len(f["probs"]) == 20 for f in finals)
        for final in finals:
            values = [final[key] for key in rl_report.FINAL_KEYS]
            assert all(math.isfinite(v) for v in values), (noise, reward)
            assert final["kl_to_start"] > 0  # on test, against the SFT policy's test probabilities
    (group_run,) = results.groups.values()
    assert list(results.groups) == [2] and group_run.config.estimator == "sampled"
    assert group_run.config.reward == "class_weighted" and group_run.config.group_size == 2
    assert set(results.matched) == {"sft", "rl"} and all(m["n"] == 20 for m in results.matched.values())
    assert results.labelled_examples == PLAN.steps * PLAN.prompts_per_step == 16
    assert results.theory == {
        (noise, reward): rl_experiment.optimal_disruptive_share(splits[noise].test[:20], reward)
        for noise in NOISES
        for reward in ("soft", "strong", "class_weighted")
    }


@pytest.mark.slow
def test_the_chosen_rate_is_the_argmax_of_the_sweep_and_every_arm_uses_it(experiment):
    results, _, _ = experiment
    last = {rate: run.evals[-1]["expected_reward"] for rate, run in results.sweep.items()}
    assert results.learning_rate == max(last, key=last.__getitem__)
    assert last[results.learning_rate] > min(last.values())  # a real choice, not a tie
    assert all(run.config.reward == "strong" and run.config.seed == 0 for run in results.sweep.values())
    rates = {run.config.learning_rate for runs in results.cells.values() for run in runs}
    assert (
        rates == {results.learning_rate} and results.groups[2].config.learning_rate == results.learning_rate
    )


@pytest.mark.slow
def test_every_arm_starts_at_its_sft_policy(experiment):
    """A fresh LoRA changes nothing at step 0: every reward and seed of a noise level starts from the same
    probabilities, at KL 0 from the SFT policy's own (val) probabilities."""
    results, _, _ = experiment
    for noise in NOISES:
        starts = [run.evals[0] for reward in PLAN.rewards for run in results.cells[(noise, reward)]]
        assert all(s["kl_to_start"] == pytest.approx(0.0, abs=1e-12) for s in starts)  # same path, same dtype
        shares = {round(s["prob_share/disruptive"], 9) for s in starts}
        assert len(shares) == 1
        moved = [run.evals[-1]["kl_to_start"] for runs in results.cells.values() for run in runs]
        assert min(moved) > 0


@pytest.mark.slow
def test_the_report_runs_on_real_results(experiment, tmp_path, monkeypatch):
    results, _, _ = experiment
    capture_file = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(capture_file))
    rl_report.capture_results(results, PLAN)
    lines = [json.loads(line) for line in capture_file.read_text().splitlines()]
    metrics = {line["name"]: line for line in lines if line["kind"] == "metric"}
    assert metrics["lr_sweep/chosen"]["value"] == results.learning_rate
    assert all(math.isfinite(m["value"]) for m in metrics.values() if isinstance(m["value"], float))
    assert {m["se_method"] for name, m in metrics.items() if name.startswith(("final/", "delta/", "diff/"))
            and not name.endswith("confusion_seed0")} == {"seeds"}  # fmt: skip
    table = rl_report.factorial_table(results, PLAN)
    assert table.count("\n| high |") == 1 + len(PLAN.rewards) and "t with 1 degrees of freedom" in table
    predictions = rl_report.predictions_table(results, PLAN).splitlines()[2:]
    assert len(predictions) == len(rl_report.PREDICTIONS) and all(
        row.endswith(("| yes |", "| **no** |")) for row in predictions
    )
    assert rl_report.controls_table(results).count("\n|") == 1 + 1 + 2  # separator, G = 2, SFT and RL
