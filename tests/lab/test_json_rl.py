"""Part 2's JSON-output GRPO: its table and capture lines on hand-made runs, and one tiny real TRL run."""

from __future__ import annotations

import json
import math

import pytest

from notes_lab import json_rl, rl
from notes_lab.rl import GRPOSettings

# per reward, per seed: (step-0 value, last value) of every key
START, LAST = (
    {"strong": [0.1, 0.2, 0.3], "format_only": [0.1, 0.1, 0.1]},
    {
        "strong": [0.5, 0.6, 0.7],
        "format_only": [0.9, 0.9, 0.9],
    },
)


def make_runs() -> dict[str, list[rl.RLRun]]:
    runs = {}
    for reward in ("strong", "format_only"):
        runs[reward] = [
            rl.RLRun(
                GRPOSettings(reward=reward, seed=seed),
                evals=[
                    {"step": 0, **dict.fromkeys(json_rl.KEYS, START[reward][seed])},
                    {"step": 10, **dict.fromkeys(json_rl.KEYS, LAST[reward][seed])},
                ],
            )  # fmt: skip
            for seed in range(3)
        ]
    return runs


def test_table_shows_start_and_last_means_with_the_seed_se():
    lines = json_rl.table(make_runs()).splitlines()
    assert lines[0] == (
        "| reward | strict_format_rate (step 0 → last) | parse_rate (step 0 → last) | invalid_rate (step 0 → last) "
        "| accuracy (step 0 → last) |"
    )
    se = 0.1 / math.sqrt(3)
    assert lines[2] == "| strong | " + " | ".join([f"0.200 → 0.600 ± {se:.3f}"] * 4) + " |"
    assert lines[3] == "| format_only | " + " | ".join(["0.100 → 0.900 ± 0.000"] * 4) + " |"
    assert lines[-1] == "Mean over 3 seeds ± SE across seeds; greedy decodes of the first test rows."


def test_capture_results_records_start_and_final_across_seeds(tmp_path, monkeypatch):
    capture_file = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(capture_file))
    json_rl.capture_results(make_runs())
    lines = {line["name"]: line for line in map(json.loads, capture_file.read_text().splitlines())}
    assert len(lines) == 2 * 2 * len(json_rl.KEYS)
    final = lines["json/strong/final/min_recall"]
    assert final["per_seed"] == [0.5, 0.6, 0.7] and final["value"] == pytest.approx(0.6) and final["n"] == 3
    assert final["se"] == pytest.approx(0.1 / math.sqrt(3)) and final["se_method"] == "seeds"
    start = lines["json/format_only/start/predicted_share/disruptive"]
    assert start["value"] == pytest.approx(0.1) and start["se"] == pytest.approx(0.0, abs=1e-12)
    assert {line["se_method"] for line in lines.values()} == {"seeds"}


@pytest.mark.slow
def test_one_tiny_real_run_under_the_format_only_reward(tiny_base, split, tmp_path):
    pytest.importorskip("trl")
    common = json_rl.settings_for(steps=1, prompts_per_step=2, num_generations=4, max_completion_length=6,
                                  eval_every=1, threads=1, device="cpu")  # fmt: skip
    runs = json_rl.run(tiny_base, split, ["format_only"], [0], common, 3, tmp_path)
    assert list(runs) == ["format_only"] and len(runs["format_only"]) == 1
    (run,) = runs["format_only"]
    assert run.settings.reward == "format_only" and run.settings.eval_batch_size == 3
    assert [e["step"] for e in run.evals] == [0, 1] and all(e["n"] == 3 for e in run.evals)
    assert all(math.isfinite(float(e[key])) for e in run.evals for key in json_rl.KEYS)
    assert all(row["rewards/task/mean"] == 0.0 for row in run.train_steps)  # no task term
    assert (tmp_path / "trainer" / "json_format_only_0").is_dir()
    assert json_rl.table(runs).splitlines()[2].startswith("| format_only | ")
