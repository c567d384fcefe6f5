"""Part 2's JSON-output GRPO through TRL, from the base model: the strong reward against a format-only one.

The format-only reward keeps strong's parse and contract terms and pays nothing for the label, so whatever
it changes is the format (and any label drift that comes with learning it), not the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from notes_lab import rl, stats
from notes_lab.data import Split

KEYS = (
    "strict_format_rate",
    "parse_rate",
    "invalid_rate",
    "accuracy",
    "predicted_share/disruptive",
    "min_recall",
)


def settings_for(**common: Any) -> dict[str, Any]:
    return common


def run(base: str | Path, split: Split, reward_names: list[str], seeds: list[int], common: dict[str, Any],
        eval_rows: int, output_dir: str | Path) -> dict[str, list[rl.RLRun]]:  # fmt: skip
    """Every reward x seed from the base; held-out rows are the first `eval_rows` test rows."""
    runs: dict[str, list[rl.RLRun]] = {}
    for reward in reward_names:
        runs[reward] = [
            rl.run_arm(
                base,
                None,
                split.train,
                split.test[:eval_rows],
                rl.GRPOSettings(reward=reward, seed=seed, eval_batch_size=eval_rows, **common),
                Path(output_dir) / "trainer" / f"json_{reward}_{seed}",
            )  # fmt: skip
            for seed in seeds
        ]
    return runs


def table(runs: dict[str, list[rl.RLRun]]) -> str:
    lines = [
        "| reward | " + " | ".join(f"{k} (step 0 → last)" for k in KEYS[:4]) + " |",
        "|---|" + "---|" * 4,
    ]
    for reward, seed_runs in runs.items():
        cells = []
        for key in KEYS[:4]:
            first = stats.mean_se([float(r.evals[0][key]) for r in seed_runs])
            last = stats.mean_se([float(r.evals[-1][key]) for r in seed_runs])
            cells.append(f"{first.mean:.3f} → {last.mean:.3f} ± {last.se:.3f}")
        lines.append(f"| {reward} | " + " | ".join(cells) + " |")
    n = len(next(iter(runs.values())))
    return (
        "\n".join(lines)
        + f"\n\nMean over {n} seeds ± SE across seeds; greedy decodes of the first test rows."
    )


def capture_results(runs: dict[str, list[rl.RLRun]]) -> None:
    from repronotes import capture

    for reward, seed_runs in runs.items():
        for key in KEYS:
            capture.seeds(f"json/{reward}/start/{key}", [float(r.evals[0][key]) for r in seed_runs])
            capture.seeds(f"json/{reward}/final/{key}", [float(r.evals[-1][key]) for r in seed_runs])
