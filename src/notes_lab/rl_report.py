"""What the smol-RL experiment records and shows: capture calls, tables, figures, and the predictions.

Seeds share their evaluation rows, so every SE here is across seeds (capture.seeds, no binomial floor),
intervals use Student's t with n - 1 degrees of freedom, and differences between rewards are paired by
seed (same LoRA initialisation and prompt order) before their SE is taken.
"""

from __future__ import annotations

from typing import Any

from notes_lab import plots, stats
from notes_lab.rl_experiment import NOISES, RLPlan, RLResults

FINAL_KEYS = ("predicted_share/disruptive", "min_recall", "accuracy", "macro_f1", "prob_share/disruptive",
              "kl_to_start", "expected_reward", "recall/disruptive", "recall/consolidating", "recall/neutral")  # fmt: skip
CURVE_KEYS = ("predicted_share/disruptive", "min_recall", "kl_to_start", "expected_reward")


def finals(results: RLResults, noise: str, reward: str, key: str) -> list[float]:
    return [float(f[key]) for f in results.finals[(noise, reward)]]


def starts(results: RLResults, noise: str, reward: str, key: str) -> list[float]:
    return [float(run.evals[0][key]) for run in results.cells[(noise, reward)]]


def predictions(r: RLResults, plan: RLPlan) -> dict[str, float]:
    """The quantities the predictions in experiment.yaml gate (means across seeds)."""

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    out = {
        "high_class_weighted_disruptive_share": mean(
            finals(r, "high", "class_weighted", "predicted_share/disruptive")
        ),
        "high_class_weighted_min_recall": mean(finals(r, "high", "class_weighted", "min_recall")),
        "low_class_weighted_disruptive_share": mean(
            finals(r, "low", "class_weighted", "predicted_share/disruptive")
        ),
        "low_class_weighted_min_recall": mean(finals(r, "low", "class_weighted", "min_recall")),
        "high_balanced_disruptive_share": mean(finals(r, "high", "balanced", "predicted_share/disruptive")),
        "soft_minus_strong_max_abs_share": max(
            abs(
                mean(finals(r, n, "soft", "predicted_share/disruptive"))
                - mean(finals(r, n, "strong", "predicted_share/disruptive"))
            )
            for n in NOISES
        ),
        "min_kl_from_sft": min(min(finals(r, n, w, "kl_to_start")) for n in NOISES for w in plan.rewards),
    }
    return out


def capture_results(results: RLResults, plan: RLPlan) -> None:
    from repronotes import capture

    for noise, metrics in results.sft.items():
        for key in ("accuracy", "label_nll", "predicted_share/disruptive", "min_recall", "macro_f1"):
            rows = {"label_nll": None, "min_recall": metrics["min_recall_n"]}.get(key, metrics["n"])
            capture.metric(f"sft/{noise}/{key}", metrics[key], n=rows)
    for rate, run in results.sweep.items():
        capture.metric(f"lr_sweep/val_expected_reward/lr_{rate:g}", run.evals[-1]["expected_reward"])
    capture.metric("lr_sweep/chosen", results.learning_rate)
    for (noise, reward), runs in results.cells.items():
        cell = f"{noise}/{reward}"
        for key in FINAL_KEYS:
            capture.seeds(f"final/{cell}/{key}", finals(results, noise, reward, key))
        share = finals(results, noise, reward, "predicted_share/disruptive")
        start = results.sft[noise]["predicted_share/disruptive"]  # the start policy on the same test rows
        capture.seeds(f"delta/{cell}/disruptive_share", [a - start for a in share])
        capture.metric(f"final/{cell}/confusion_seed0", results.finals[(noise, reward)][0]["confusion"])
        for key in CURVE_KEYS:
            band = seed_band(runs, key)
            capture.series(f"curves/{cell}/{key}", band["steps"], band["mean"])
            capture.series(f"curves_se/{cell}/{key}", band["steps"], band["se"])
    for noise in NOISES:
        if {"balanced", "class_weighted"} <= set(plan.rewards):
            diffs = [b - c for b, c in zip(finals(results, noise, "balanced", "min_recall"),
                                           finals(results, noise, "class_weighted", "min_recall"), strict=True)]  # fmt: skip
            capture.seeds(f"diff/{noise}/balanced_minus_class_weighted/min_recall", diffs)
    for (noise, reward), share in results.theory.items():
        capture.metric(f"theory/{noise}/{reward}/optimal_disruptive_share", share)
    for group, run in results.groups.items():
        capture.series(f"group_size/G{group}/disruptive_share", [e["step"] for e in run.evals],
                       [e["predicted_share/disruptive"] for e in run.evals])  # fmt: skip
    for arm, metrics in results.matched.items():
        for key in ("accuracy", "macro_f1", "min_recall"):
            rows = metrics["min_recall_n" if key == "min_recall" else "n"]
            capture.metric(f"matched/{arm}/{key}", metrics[key], n=rows)
    capture.metric("matched/labelled_examples", results.labelled_examples)
    for name, value in predictions(results, plan).items():
        capture.metric(f"prediction/{name}", value)


def seed_band(runs: list[Any], key: str) -> dict[str, list[float]]:
    steps = [e["step"] for e in runs[0].evals]
    band: dict[str, list[float]] = {"steps": steps, "mean": [], "se": [], "low": [], "high": []}
    for index in range(len(steps)):
        values = [float(run.evals[index][key]) for run in runs]
        estimate = stats.mean_se(values)
        band["mean"].append(estimate.mean)
        band["se"].append(estimate.se)
        band["low"].append(min(values))
        band["high"].append(max(values))
    return band


def _cell(values: list[float]) -> str:
    """mean, the 95% t interval (n - 1 degrees of freedom) and the per-seed values."""
    estimate = stats.mean_se(values)
    dots = ", ".join(f"{v:.2f}" for v in values)
    if estimate.n < 2:
        return f"{estimate.mean:.3f} ({dots})"
    half = stats.t_quantile(estimate.n - 1) * estimate.se
    return f"{estimate.mean:.3f} ± {half:.3f} ({dots})"


def factorial_table(results: RLResults, plan: RLPlan) -> str:
    lines = ["| label noise | reward | disruptive share | min-class recall | accuracy | KL to SFT |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for noise in NOISES:
        sft_row = results.sft[noise]
        lines.append(f"| {noise} | (SFT, step 0) | {sft_row['predicted_share/disruptive']:.3f} | "
                     f"{sft_row['min_recall']:.3f} | {sft_row['accuracy']:.3f} | 0 |")  # fmt: skip
        for reward in plan.rewards:
            cells = [
                _cell(finals(results, noise, reward, k))
                for k in ("predicted_share/disruptive", "min_recall", "accuracy", "kl_to_start")
            ]
            lines.append(f"| {noise} | {reward} | " + " | ".join(cells) + " |")
    n = results.sft[NOISES[0]]["n"]
    if len(plan.seeds) < 2:
        return "\n".join(lines) + f"\n\nFinal policies on n = {n} test rows; one seed, so no interval."
    return "\n".join(lines) + (
        f"\n\nFinal policies on n = {n} test rows; mean ± the 95% t interval over "
        f"{len(plan.seeds)} seeds (t with {len(plan.seeds) - 1} degrees of freedom), per-seed values in brackets."
    )


def theory_table(results: RLResults) -> str:
    lines = [
        '| label noise | reward | share of rows where "disruptive" is the best answer |',
        "|---|---|---:|",
    ]
    for (noise, reward), share in sorted(results.theory.items()):
        lines.append(f"| {noise} | {reward} | {share:.3f} |")
    return "\n".join(lines)


def plot_curves(results: RLResults, plan: RLPlan, key: str, label: str, path: str) -> str:
    """One panel per label-noise level, one line per reward, a band from the lowest to the highest seed."""
    plt = plots.require("matplotlib.pyplot")
    fig, axes = plt.subplots(1, len(NOISES), figsize=(10.0, 3.8), dpi=plots.DPI, sharey=True)
    fig.patch.set_facecolor("white")
    for ax, noise in zip(axes, NOISES, strict=True):
        for index, reward in enumerate(plan.rewards):
            band = seed_band(results.cells[(noise, reward)], key)
            colour = plots.PALETTE[index % len(plots.PALETTE)]
            ax.plot(band["steps"], band["mean"], marker="o", markersize=3, color=colour, label=reward)
            ax.fill_between(band["steps"], band["low"], band["high"], color=colour, alpha=0.15)
        ax.set_title(f"label noise {noise}", fontsize=11)
        ax.set_xlabel("bandit step", fontsize=10)
        ax.grid(True, color="#dddddd", linewidth=0.6)
    axes[0].set_ylabel(label, fontsize=10)
    axes[-1].legend(fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return plots.save(fig, path)


def plot_sweep(results: RLResults, path: str) -> str:
    fig, ax = plots.figure("Bandit learning rate, chosen on val (strong reward, low noise)", "bandit step",
                           "val expected reward")  # fmt: skip
    for index, (rate, run) in enumerate(sorted(results.sweep.items())):
        ax.plot([e["step"] for e in run.evals], [e["expected_reward"] for e in run.evals], marker="o", markersize=3,
                color=plots.PALETTE[index], label=f"lr {rate:g}" + (" (chosen)" if rate == results.learning_rate else ""))  # fmt: skip
    ax.legend(fontsize=9, frameon=False)
    return plots.save(fig, path)


PREDICTIONS = (  # (metric, the rule written before the runs, the check)
    ("high_class_weighted_disruptive_share", ">= 0.8 (collapse onto the weighted class)", lambda v: v >= 0.8),
    ("high_class_weighted_min_recall", "<= 0.05 (another class starved)", lambda v: v <= 0.05),
    (
        "low_class_weighted_disruptive_share",
        "<= 0.6 (a shift toward the optimum, no collapse)",
        lambda v: v <= 0.6,
    ),
    ("low_class_weighted_min_recall", ">= 0.2 (every class still recalled)", lambda v: v >= 0.2),
    ("high_balanced_disruptive_share", "<= 0.6 (balanced does not collapse)", lambda v: v <= 0.6),
    ("soft_minus_strong_max_abs_share", "<= 0.05 (soft and strong push the same way)", lambda v: v <= 0.05),
    ("min_kl_from_sft", "> 0 (every RL-from-SFT run moved its policy)", lambda v: v > 0),
)


def predictions_table(results: RLResults, plan: RLPlan) -> str:
    values = predictions(results, plan)
    lines = [
        "| prediction (mean over seeds) | written before the runs | observed | held? |",
        "|---|---|---:|---|",
    ]
    for name, rule, check in PREDICTIONS:
        lines.append(
            f"| {name.replace('_', ' ')} | {rule} | {values[name]:.3f} | {'yes' if check(values[name]) else '**no**'} |"
        )
    return "\n".join(lines)


def controls_table(results: RLResults) -> str:
    lines = ["| control | setting | disruptive share (first → last eval) | note |", "|---|---|---|---|"]
    for group, run in sorted(results.groups.items()):
        first, last = run.evals[0]["predicted_share/disruptive"], run.evals[-1]["predicted_share/disruptive"]
        lines.append(f"| group sampling | G = {group}, class-weighted, high noise, seed 0 | {first:.3f} → {last:.3f} | "
                     "sampled GRPO estimator instead of the exact expectation |")  # fmt: skip
    n = results.labelled_examples
    for arm, metrics in results.matched.items():
        lines.append(f"| matched labelled examples | {arm.upper()} from the base, {n:,} labelled rows | "
                     f"{metrics['predicted_share/disruptive']:.3f} | accuracy {metrics['accuracy']:.3f}, macro-F1 "
                     f"{metrics['macro_f1']:.3f} (n = {metrics['n']}) |")  # fmt: skip
    return "\n".join(lines)
