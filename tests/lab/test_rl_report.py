"""What smol-RL records and shows, on hand-made results: the SE rule, the tables, the predictions and the figures.

The SE rule (issue 14): the seeds share their evaluation rows, so every SE is the SD across seeds over sqrt(k)
with no binomial floor on the rows, and intervals use Student's t with k - 1 degrees of freedom.
"""

from __future__ import annotations

import json
import math

import pytest

from notes_lab import bandit, rl_report
from notes_lab.rl_experiment import NOISES, RLPlan, RLResults
from notes_lab.vocab import LABELS

pytest.importorskip("torch")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

PLAN = RLPlan(seeds=(0, 1, 2), steps=4, eval_every=2)
SHARES = {  # final test "disruptive" shares per seed; every other cell gets DEFAULT_SHARES
    ("high", "class_weighted"): [0.5, 0.6, 0.7],
    ("low", "soft"): [0.4, 0.45, 0.5],
}
DEFAULT_SHARES = [0.3, 0.35, 0.4]
MIN_RECALLS = {("high", "class_weighted"): [0.0, 0.02, 0.04]}
DEFAULT_MIN_RECALLS = [0.2, 0.25, 0.3]
SFT_SHARE = {"low": 0.3, "high": 0.35}


def _metrics(share, min_recall, kl, accuracy=0.5):
    return {
        "n": 20, "accuracy": accuracy, "macro_f1": 0.45, "min_recall": min_recall, "min_recall_n": 6,
        "predicted_share/disruptive": share, "prob_share/disruptive": 0.4, "kl_to_start": kl,
        "expected_reward": 0.1, **{f"recall/{label}": 0.5 for label in LABELS},
        "confusion": [[4, 1, 1, 0], [2, 5, 0, 0], [1, 1, 5, 0]], "label_nll": 1.1,
    }  # fmt: skip


def _run(reward, seed, start_share, end_share, steps=(0, 2, 4)):
    evals = []
    for index, step in enumerate(steps):
        share = start_share + (end_share - start_share) * index / (len(steps) - 1)
        evals.append({"step": step, "predicted_share/disruptive": share, "min_recall": 0.3 - 0.01 * index,
                      "kl_to_start": 0.01 * index * (seed + 1), "expected_reward": 0.1 * index})  # fmt: skip
    config = bandit.BanditConfig(reward=reward, seed=seed, steps=steps[-1], eval_every=2)
    return bandit.BanditRun(config, evals, [])


def make_results() -> RLResults:
    results = RLResults(learning_rate=1e-3, labelled_examples=16)
    for noise in NOISES:
        results.sft[noise] = {**_metrics(SFT_SHARE[noise], 0.25, 0.0), "min_recall_n": 7}
        for reward in PLAN.rewards:
            shares = SHARES.get((noise, reward), DEFAULT_SHARES)
            recalls = MIN_RECALLS.get((noise, reward), DEFAULT_MIN_RECALLS)
            results.cells[(noise, reward)] = [
                _run(reward, seed, 0.3, share) for seed, share in enumerate(shares)
            ]
            results.finals[(noise, reward)] = [_metrics(share, recall, 0.01 * (seed + 1)) for seed, (share, recall)
                                               in enumerate(zip(shares, recalls, strict=True))]  # fmt: skip
    results.sweep = {1e-3: _run("strong", 0, 0.3, 0.3), 1e-2: _run("strong", 0, 0.3, 0.9)}
    results.sweep[1e-3].evals[-1]["expected_reward"] = 0.25
    results.groups = {2: _run("class_weighted", 0, 0.3, 0.5), 8: _run("class_weighted", 0, 0.3, 0.7)}
    results.matched = {"sft": {**_metrics(0.2, 0.1, 0.0, accuracy=0.55), "min_recall_n": 5},
                       "rl": _metrics(0.6, 0.0, 0.02, accuracy=0.4)}  # fmt: skip
    results.theory = {
        ("low", "strong"): 0.25,
        ("high", "class_weighted"): 0.9,
        ("low", "class_weighted"): 0.35,
    }
    return results


@pytest.fixture
def captured(tmp_path, monkeypatch):
    """capture_results on the hand-made results, read back from the capture file: name -> line."""
    capture_file = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(capture_file))
    rl_report.capture_results(make_results(), PLAN)
    lines = [json.loads(line) for line in capture_file.read_text().splitlines()]
    names = [line["name"] for line in lines]
    assert len(names) == len(set(names))
    return {line["name"]: line for line in lines}


def test_a_final_value_is_the_seed_mean_with_the_seed_se_and_no_binomial_floor(captured):
    line = captured["final/high/class_weighted/predicted_share/disruptive"]
    assert line["value"] == pytest.approx(0.6) and line["n"] == 3
    assert line["per_seed"] == [0.5, 0.6, 0.7] and line["rows"] is None
    assert line["se"] == pytest.approx(0.1 / math.sqrt(3))  # sample SD 0.1 over sqrt(3); no rows, no floor
    assert line["se_method"] == "seeds"


def test_every_seed_quantity_uses_the_seed_se_alone(captured):
    from repronotes import capture

    seeded = {name: line for name, line in captured.items() if "per_seed" in line}
    prefixes = {name.split("/")[0] for name in seeded}
    assert prefixes == {"final", "delta", "diff"}
    assert all(line["se_method"] == "seeds" and line["rows"] is None for line in seeded.values())
    assert all(line["se"] == pytest.approx(capture.expected_se(line)) for line in seeded.values())
    # a rate measured on the same 20 rows by three seeds that agree: SE 0, not a binomial band
    assert captured["final/low/strong/accuracy"]["se"] == 0.0


def test_deltas_are_against_the_start_policy_on_the_same_test_rows(captured):
    line = captured["delta/high/class_weighted/disruptive_share"]
    assert line["per_seed"] == pytest.approx([0.5 - 0.35, 0.6 - 0.35, 0.7 - 0.35])


def test_reward_differences_are_paired_by_seed(captured):
    line = captured["diff/high/balanced_minus_class_weighted/min_recall"]
    assert line["per_seed"] == pytest.approx([0.2, 0.23, 0.26])
    assert line["se"] == pytest.approx(0.03 / math.sqrt(3))  # SD of the per-seed differences, 0.03


def test_single_evaluations_keep_their_binomial_se_on_their_own_rows(captured):
    accuracy = captured["sft/high/accuracy"]
    assert (accuracy["n"], accuracy["se_method"]) == (20, "binomial")
    assert captured["sft/high/min_recall"]["n"] == 7  # the worst-recalled class's rows, not all 20
    assert captured["sft/high/label_nll"]["n"] is None and captured["sft/high/label_nll"]["se"] is None
    assert captured["matched/sft/min_recall"]["n"] == 5 and captured["matched/sft/accuracy"]["n"] == 20
    assert captured["matched/labelled_examples"]["value"] == 16


def test_other_captured_lines(captured):
    assert captured["lr_sweep/chosen"]["value"] == 1e-3
    assert captured["lr_sweep/val_expected_reward/lr_0.001"]["value"] == pytest.approx(0.25)
    assert captured["theory/high/class_weighted/optimal_disruptive_share"]["value"] == 0.9
    curve = captured["curves/high/class_weighted/predicted_share/disruptive"]
    assert curve["kind"] == "series" and curve["steps"] == [0, 2, 4]
    assert curve["values"] == pytest.approx([0.3, 0.45, 0.6])
    spread = captured["curves_se/high/class_weighted/predicted_share/disruptive"]["values"]
    assert spread == pytest.approx([0.0, 0.05 / math.sqrt(3), 0.1 / math.sqrt(3)])
    assert captured["group_size/G8/disruptive_share"]["values"] == pytest.approx([0.3, 0.5, 0.7])
    assert captured["final/low/soft/confusion_seed0"]["value"][0] == [4, 1, 1, 0]
    assert captured["prediction/high_class_weighted_disruptive_share"]["value"] == pytest.approx(0.6)


def test_predictions_by_hand():
    values = rl_report.predictions(make_results(), PLAN)
    assert values == pytest.approx({
        "high_class_weighted_disruptive_share": 0.6,
        "high_class_weighted_min_recall": 0.02,
        "low_class_weighted_disruptive_share": 0.35,
        "low_class_weighted_min_recall": 0.25,
        "high_balanced_disruptive_share": 0.35,
        "soft_minus_strong_max_abs_share": 0.1,  # low: 0.45 - 0.35; high: 0
        "min_kl_from_sft": 0.01,
    })  # fmt: skip


def test_predictions_table_says_which_held():
    rows = rl_report.predictions_table(make_results(), PLAN).splitlines()
    assert rows[0].startswith("| prediction (mean over seeds) |") and len(rows) == 2 + len(
        rl_report.PREDICTIONS
    )
    assert (
        "| high class weighted disruptive share | >= 0.8 (collapse onto the weighted class) | 0.600 | **no** |"
        in rows
    )
    assert "| high class weighted min recall | <= 0.05 (another class starved) | 0.020 | yes |" in rows
    assert any(
        r.startswith("| soft minus strong max abs share |") and r.endswith("| 0.100 | **no** |") for r in rows
    )
    assert sum(r.endswith("| yes |") for r in rows) == 5


def test_factorial_table_shows_the_t_interval_and_the_seeds():
    table = rl_report.factorial_table(make_results(), PLAN)
    half = 4.303 * 0.1 / math.sqrt(3)
    assert f"{half:.3f}" == "0.248"
    row = next(line for line in table.splitlines() if line.startswith("| high | class_weighted |"))
    assert row.split(" | ")[2] == "0.600 ± 0.248 (0.50, 0.60, 0.70)"
    assert "| low | (SFT, step 0) | 0.300 | 0.250 | 0.500 | 0 |" in table
    assert "n = 20 test rows" in table and "t with 2 degrees of freedom" in table
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + 2 * (
        1 + len(PLAN.rewards)
    )


def test_one_seed_gets_no_interval():
    results = make_results()
    for key in results.finals:
        results.finals[key] = results.finals[key][:1]
    table = rl_report.factorial_table(results, RLPlan(seeds=(0,), steps=4, eval_every=2))
    row = next(line for line in table.splitlines() if line.startswith("| high | class_weighted |"))
    assert row.split(" | ")[2] == "0.500 (0.50)" and "±" not in table and "one seed, so no interval" in table


def test_seed_band_by_hand():
    runs = [_run("strong", 0, 0.2, 0.4), _run("strong", 1, 0.2, 0.6)]
    band = rl_report.seed_band(runs, "predicted_share/disruptive")
    assert band["steps"] == [0, 2, 4]
    assert band["mean"] == pytest.approx([0.2, 0.35, 0.5])
    assert band["se"] == pytest.approx([0.0, 0.05, 0.1])  # two seeds: |a - b| / 2
    assert band["low"] == pytest.approx([0.2, 0.3, 0.4]) and band["high"] == pytest.approx([0.2, 0.4, 0.6])


def test_theory_table_lists_every_cell_sorted():
    lines = rl_report.theory_table(make_results()).splitlines()
    assert lines[2:] == [
        "| high | class_weighted | 0.900 |",
        "| low | class_weighted | 0.350 |",
        "| low | strong | 0.250 |",
    ]


def test_controls_table():
    lines = rl_report.controls_table(make_results()).splitlines()
    assert len(lines) == 2 + 2 + 2
    assert lines[2].startswith(
        "| group sampling | G = 2, class-weighted, high noise, seed 0 | 0.300 → 0.500 |"
    )
    assert lines[3].startswith("| group sampling | G = 8,") and "0.300 → 0.700" in lines[3]
    assert lines[4].startswith("| matched labelled examples | SFT from the base, 16 labelled rows | 0.200 |")
    assert "accuracy 0.550, macro-F1 0.450 (n = 20)" in lines[4]
    assert lines[5].startswith("| matched labelled examples | RL from the base, 16 labelled rows | 0.600 |")


@pytest.mark.slow
def test_figures_are_written_as_png(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    results = make_results()
    curves = rl_report.plot_curves(
        results, PLAN, "min_recall", "smallest recall", str(tmp_path / "curves.png")
    )
    sweep = rl_report.plot_sweep(results, str(tmp_path / "sweep.png"))
    plt.close("all")
    for path in (curves, sweep):
        with open(path, "rb") as handle:
            content = handle.read()
        assert content[:8] == b"\x89PNG\r\n\x1a\n" and len(content) > 5000
