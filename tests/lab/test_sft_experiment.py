"""The QDoRA SFT experiment and its report: the plan, the summaries by hand, and one tiny end-to-end run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from notes_lab import evaluate, generator, scoring, sft_report, stats
from notes_lab import sft_experiment as se
from notes_lab.sft_experiment import ArmResult, SFTPlan, SFTResults

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"arms": ()}, "arms"), ({"arms": ("lora", "adalora")}, "arms"), ({"rank": 0, "low_rank": None}, "rank"),
     ({"low_rank": 16}, "low_rank"), ({"low_rank": 0}, "low_rank"), ({"arms": ("lora",)}, "low_rank_arms"),
     ({"learning_rates": ()}, "learning_rates"), ({"learning_rates": (1e-3, -1.0)}, "learning_rates"),
     ({"val_rows": 9}, "val_rows"), ({"smooth_last": 1}, "smooth_last"), ({"steps": 5}, "smooth_last")],
)  # fmt: skip
def test_plan_validation_names_the_field(change, field):
    with pytest.raises(ValueError, match=rf"^SFTPlan\.{field} must "):
        SFTPlan(**change)


def test_plan_runs_and_configs():
    plan = SFTPlan()
    assert plan.ranks == (2, 16)
    assert plan.runs() == [("lora", 16), ("qlora", 16), ("dora", 16), ("qdora", 16), ("lora", 2), ("dora", 2)]
    assert SFTPlan(low_rank=None).runs() == [(arm, 16) for arm in ("lora", "qlora", "dora", "qdora")]
    assert SFTPlan(low_rank=None).ranks == (16,)
    config = SFTPlan(steps=20, batch_size=4, warmup_steps=2, seed=3, threads=1).config("qdora", 2, 5e-3)
    assert (config.arm, config.rank, config.alpha, config.learning_rate) == ("qdora", 2, 4, 5e-3)
    assert (config.steps, config.batch_size, config.warmup_steps, config.seed, config.threads) == (
        20,
        4,
        2,
        3,
        1,
    )


# --- summaries on hand-made results --------------------------------------------------------------------

GOLD = ["disruptive", "consolidating", "neutral", "disruptive"]


def log_rows(gold_p: float, shift: float = 0.0) -> list[dict[str, float]]:
    """Rows giving the gold label probability gold_p (log-prob lowered by `shift`), the rest split evenly."""
    rows = []
    for gold in GOLD:
        rest = (1 - gold_p) / 2
        rows.append(
            {label: (math.log(gold_p) - shift) if label == gold else math.log(rest) for label in GOLD[:3]}
        )
    return rows


def arm(name: str, rows: list[dict[str, float]], rank: int = 4) -> ArmResult:
    return ArmResult(name, rank, 1e-3, {1e-3: 1.0}, [3.0, 2.0, 1.0, 1.0], 10, 100, 1000, 50.0, 0.1,
                     {"rss_mb": 1.0}, rows, ['{"disruption_label": "neutral", "confidence": "low"}'])  # fmt: skip


@pytest.fixture
def hand_results():
    papers = [{"disruption_label": g} for g in GOLD]
    arms = {"r4/lora": arm("lora", log_rows(0.5)), "r4/qlora": arm("qlora", log_rows(0.5, shift=0.125)),
            "r2/lora": arm("lora", log_rows(0.25), rank=2)}  # fmt: skip
    return SFTResults(
        bayes={"accuracy": 0.75, "expected_accuracy": 0.7, "label_nll": 0.6, "n": 4},
        bayes_nll_rows=[0.5, 0.5, 0.5, 0.5],
        base={"fp32": [1.0, 1.0, 1.0, 1.0], "nf4": [1.5, 1.25, 1.75, 1.5]},
        base_lm_nll={"fp32": 2.0, "nf4": 2.25},
        arms=arms,
        test_papers=papers,
    )


def test_paired_differences_by_hand(hand_results):
    same = se.paired(hand_results, "r4/lora", "r4/lora")
    assert same["label_nll"] == stats.Estimate(0.0, 0.0, 4) and same["accuracy"] == stats.Estimate(
        0.0, 0.0, 4
    )
    worse = se.paired(hand_results, "r4/qlora", "r4/lora")
    assert worse["label_nll"].mean == pytest.approx(0.125) and worse["label_nll"].se == pytest.approx(
        0.0, abs=1e-12
    )
    low = se.paired(
        hand_results, "r2/lora", "r4/lora"
    )  # gold 0.25 is below the others' 0.375: every row wrong
    assert low["label_nll"].mean == pytest.approx(math.log(2)) and low["accuracy"].mean == -1.0


def test_comparisons_name_the_pairs_present(hand_results):
    assert se.comparisons(hand_results, (2, 4)) == {
        "r4/qlora_minus_lora": ("r4/qlora", "r4/lora"),
        "lora/r2_minus_r4": ("r2/lora", "r4/lora"),
    }
    assert se.comparisons(hand_results, (4,)) == {"r4/qlora_minus_lora": ("r4/qlora", "r4/lora")}


def test_quantization_damage_and_the_share_left(hand_results):
    quant = se.quantization(hand_results)
    assert quant["damage_label_nll"].mean == pytest.approx(0.5) and quant["damage_label_nll"].n == 4
    assert quant["damage_lm_nll"] == pytest.approx(0.25)
    assert quant["gap/r4/qlora"].mean == pytest.approx(0.125)
    assert quant["left_share/r4/qlora"] == pytest.approx(0.25)  # 0.125 of the 0.5 damage is left
    hand_results.base["nf4"] = [1.5, 0.5, 1.0, 1.0]  # mean damage 0: no share to speak of
    assert "left_share/r4/qlora" not in se.quantization(hand_results)


def test_arm_summary_by_hand(hand_results):
    summary = se.arm_summary(hand_results.arms["r4/lora"], hand_results, smooth_last=2)
    assert summary["label_nll"].mean == pytest.approx(math.log(2)) and summary["n"] == 4
    assert summary["excess_nll"].mean == pytest.approx(math.log(2) - 0.5)
    assert summary["accuracy"] == 1.0 and summary["macro_f1"] == 1.0
    # a resample of 4 rows can miss a class (its F1 is then 0), so even a perfect run has a spread
    assert summary["macro_f1_se"] == evaluate.macro_f1_bootstrap_se(GOLD, GOLD) > 0
    assert summary["confusion"] == [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    assert summary["strict_format_rate"] == 1.0 and summary["format_n"] == 1
    assert (summary["smoothed_loss"], summary["smoothed_loss_sd"]) == (1.0, 0.0)


def test_throughput_ratios_at_the_main_rank(hand_results):
    hand_results.arms["r4/qlora"].tokens_per_sec = 25.0
    assert sft_report.throughput_ratios(hand_results, SFTPlan(arms=("lora", "qlora"), rank=4, low_rank=2,
                                                              low_rank_arms=("lora",))) == {"qlora_over_lora_tps": 0.5}  # fmt: skip


# --- one tiny end-to-end run -----------------------------------------------------------------------------

PLAN = SFTPlan(arms=("lora", "qdora"), rank=4, low_rank=2, low_rank_arms=("lora",), learning_rates=(1e-3, 3e-3),
               steps=3, batch_size=2, warmup_steps=1, threads=1, val_rows=20, format_rows=4, smooth_last=2,
               score_batch_size=16)  # fmt: skip


@pytest.fixture(scope="module")
def run(tiny_base, split, tmp_path_factory):
    pytest.importorskip("bitsandbytes")
    out = tmp_path_factory.mktemp("sft")
    test = split.test[:40]
    return se.run(PLAN, tiny_base, split.train, split.val, test, out), out, test


@pytest.mark.slow
def test_run_scores_every_arm_and_keeps_the_best_rate_on_val(run):
    results, _, test = run
    assert list(results.arms) == ["r4/lora", "r4/qdora", "r2/lora"]
    for result in results.arms.values():
        assert list(result.val_nll) == list(PLAN.learning_rates)
        assert all(math.isfinite(v) and v > 0 for v in result.val_nll.values())
        assert result.learning_rate == min(result.val_nll, key=result.val_nll.__getitem__)
        assert len(result.losses) == PLAN.steps and all(math.isfinite(v) for v in result.losses)
        assert len(result.test_log_probs) == len(test)
        for row in result.test_log_probs:
            assert sum(math.exp(v) for v in row.values()) == pytest.approx(1.0, abs=1e-6)
        assert len(result.format_completions) == 4 and all(
            t.startswith("{") for t in result.format_completions
        )
        assert result.trainable_params > 0 and result.adapter_bytes > 0 and result.tokens_per_sec > 0
    assert results.arms["r2/lora"].trainable_params * 2 == results.arms["r4/lora"].trainable_params
    assert results.bayes == generator.bayes_summary(test)
    assert results.bayes_nll_rows == [-math.log(p["bayes_posterior"][p["disruption_label"]]) for p in test]
    for name in ("fp32", "nf4"):
        assert len(results.base[name]) == len(test) and all(
            math.isfinite(v) and v > 0 for v in results.base[name]
        )
        assert 0 < results.base_lm_nll[name] < 10
    assert results.base["fp32"] != results.base["nf4"]  # 4-bit weights score differently


@pytest.mark.slow
def test_run_saves_the_chosen_adapters(run):
    results, out, _ = run
    for folder, rank in (("lora", 4), ("qdora", 4), ("lora-r2", 2)):
        adapter = Path(out) / "adapters" / folder
        config = json.loads((adapter / "adapter_config.json").read_text())
        assert config["r"] == rank and config["use_dora"] == (folder == "qdora")
        assert (adapter / "adapter_model.safetensors").stat().st_size == results.arms[
            f"r{rank}/{folder.split('-')[0]}"
        ].adapter_bytes
    assert sorted(p.name for p in (Path(out) / "adapters").iterdir()) == ["lora", "lora-r2", "qdora"]


@pytest.mark.slow
def test_run_summaries_are_sane(run):
    results, _, test = run
    for key, result in results.arms.items():
        summary = se.arm_summary(result, results, PLAN.smooth_last)
        nll_rows = scoring.label_nll(result.test_log_probs, test)
        assert summary["label_nll"].mean == pytest.approx(sum(nll_rows) / len(nll_rows))
        assert summary["excess_nll"].mean == pytest.approx(
            summary["label_nll"].mean - results.bayes["label_nll"]
        )
        assert summary["excess_nll"].se > 0 and summary["n"] == 40
        assert 0 <= summary["accuracy"] <= 1 and 0 <= summary["macro_f1"] <= 1 and summary["macro_f1_se"] >= 0
        assert sum(map(sum, summary["confusion"])) == 40
        assert summary["smoothed_loss"] == pytest.approx(sum(result.losses[-2:]) / 2), key
        same = se.paired(results, key, key)
        assert (same["label_nll"].mean, same["label_nll"].se, same["accuracy"].se) == (0.0, 0.0, 0.0)
    assert se.comparisons(results, PLAN.ranks) == {"lora/r2_minus_r4": ("r2/lora", "r4/lora")}
    quant = se.quantization(results)
    assert quant["damage_label_nll"].n == 40 and math.isfinite(quant["damage_label_nll"].mean)
    assert not any(
        k.startswith(("gap/", "left_share/")) for k in quant
    )  # qdora's fp32 twin (dora) did not run


@pytest.mark.slow
def test_capture_results_writes_the_expected_metrics(run, tmp_path, monkeypatch):
    results, _, _ = run
    capture_file = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(capture_file))
    sft_report.capture_results(results, PLAN, PLAN.smooth_last)
    lines = [json.loads(line) for line in capture_file.read_text().splitlines()]
    by_name = {line["name"]: line for line in lines}
    assert len(by_name) == len(lines)  # every name once
    expected = {"ceiling/test/accuracy", "ceiling/test/expected_accuracy", "ceiling/test/label_nll",
                "base/fp32/label_nll", "base/nf4/label_nll", "base/fp32/lm_nll", "base/nf4/lm_nll",
                "quantization/damage_label_nll", "quantization/damage_lm_nll",
                "diff/lora/r2_minus_r4/label_nll", "diff/lora/r2_minus_r4/accuracy",
                "diff/lora/r2_minus_r4/label_nll_beyond_2se", "diff/lora/r2_minus_r4/accuracy_beyond_2se",
                "ratio/qdora_over_lora_tps"}  # fmt: skip
    for key in ("r4/lora", "r4/qdora", "r2/lora"):
        expected |= {f"{key}/{name}" for name in (
            "learning_rate", "val_label_nll/lr_0.001", "val_label_nll/lr_0.003", "label_nll", "excess_nll",
            "accuracy", "macro_f1", "confusion", "strict_format_rate", "smoothed_loss", "smoothed_loss_sd",
            "train_loss_curve", "trainable_params", "adapter_bytes", "base_params", "tokens_per_sec",
            "median_step_s", "peak_rss_mb")}  # fmt: skip
    assert set(by_name) == expected
    assert (
        by_name["ceiling/test/accuracy"]["n"] == 40
        and by_name["ceiling/test/accuracy"]["se_method"] == "binomial"
    )
    assert by_name["r4/lora/label_nll"]["se_method"] == "given" and by_name["r4/lora/label_nll"]["n"] == 40
    assert by_name["r4/qdora/train_loss_curve"]["kind"] == "series"
    assert by_name["r4/qdora/train_loss_curve"]["values"] == results.arms["r4/qdora"].losses
    assert by_name["r2/lora/learning_rate"]["value"] == results.arms["r2/lora"].learning_rate


@pytest.mark.slow
def test_tables_and_figures_render(run, tmp_path):
    results, _, _ = run
    table = sft_report.results_table(results, PLAN, PLAN.smooth_last).splitlines()
    assert table[0].startswith("| arm | rank |") and len([r for r in table if r.startswith("| lora") or
                                                         r.startswith("| qdora")]) == 3  # fmt: skip
    assert any(r.startswith("| **Bayes ceiling**") for r in table) and "n = 40" in table[-1]
    differences = sft_report.differences_table(results, PLAN).splitlines()
    assert differences[2].startswith("| lora/r2_minus_r4 |") and differences[2].endswith(
        ("| yes |", "| no |")
    )
    grid = sft_report.grid_table(results, PLAN).splitlines()
    assert grid[0] == "| arm | rank | lr 0.001 | lr 0.003 | chosen |" and len(grid) == 2 + 3 + 2
    for plot in (sft_report.plot_grid, sft_report.plot_confusions):
        path = plot(results, PLAN, str(tmp_path / f"{plot.__name__}.png"))
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
