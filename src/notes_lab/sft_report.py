"""What the QDoRA SFT experiment records and shows: the capture calls, the tables and the figures.

Every number here comes from sft_experiment's results; this module only names, formats and draws them,
so the notebook stays a list of calls.
"""

from __future__ import annotations

from typing import Any

from notes_lab import plots, stats
from notes_lab import sft_experiment as se
from notes_lab.sft_experiment import SFTPlan, SFTResults
from notes_lab.vocab import INVALID, LABELS


def differences(results: SFTResults, plan: SFTPlan) -> dict[str, dict[str, stats.Estimate]]:
    return {name: se.paired(results, a, b) for name, (a, b) in se.comparisons(results, plan.ranks).items()}


def capture_results(results: SFTResults, plan: SFTPlan, smooth_last: int) -> None:
    from repronotes import capture

    for key in ("accuracy", "expected_accuracy", "label_nll"):
        capture.metric(
            f"ceiling/test/{key}", results.bayes[key], n=results.bayes["n"] if key == "accuracy" else None
        )
    for name, rows in results.base.items():
        estimate = stats.mean_se(rows)
        capture.metric(f"base/{name}/label_nll", estimate.mean, n=estimate.n, se=estimate.se)
        capture.metric(f"base/{name}/lm_nll", results.base_lm_nll[name])
    quant = se.quantization(results)
    for key, value in quant.items():
        if isinstance(value, stats.Estimate):
            capture.metric(f"quantization/{key}", value.mean, n=value.n, se=value.se)
        else:
            capture.metric(f"quantization/{key}", value)
    for key, arm in results.arms.items():
        _capture_arm(capture, key, arm, se.arm_summary(arm, results, smooth_last))
    for name, diff in differences(results, plan).items():
        for metric, estimate in diff.items():
            capture.metric(f"diff/{name}/{metric}", estimate.mean, n=estimate.n, se=estimate.se)
            capture.metric(f"diff/{name}/{metric}_beyond_2se", abs(estimate.mean) > 2 * estimate.se)
    for name, value in throughput_ratios(results, plan).items():
        capture.metric(f"ratio/{name}", value)


def _capture_arm(capture: Any, key: str, arm: se.ArmResult, summary: dict[str, Any]) -> None:
    capture.metric(f"{key}/learning_rate", arm.learning_rate)
    for rate, nll in arm.val_nll.items():
        capture.metric(f"{key}/val_label_nll/lr_{rate:g}", nll)
    for name in ("label_nll", "excess_nll"):
        estimate = summary[name]
        capture.metric(f"{key}/{name}", estimate.mean, n=estimate.n, se=estimate.se)
    capture.metric(f"{key}/accuracy", summary["accuracy"], n=summary["n"])
    capture.metric(f"{key}/macro_f1", summary["macro_f1"], n=summary["n"], se=summary["macro_f1_se"])
    capture.metric(f"{key}/confusion", summary["confusion"])
    capture.metric(f"{key}/strict_format_rate", summary["strict_format_rate"], n=summary["format_n"])
    capture.metric(f"{key}/smoothed_loss", summary["smoothed_loss"])
    capture.metric(f"{key}/smoothed_loss_sd", summary["smoothed_loss_sd"])
    capture.series(f"{key}/train_loss_curve", list(range(1, len(arm.losses) + 1)), arm.losses)
    for name in ("trainable_params", "adapter_bytes", "base_params", "tokens_per_sec", "median_step_s"):
        capture.metric(f"{key}/{name}", getattr(arm, name))
    for name, value in arm.peak_mb.items():
        capture.metric(f"{key}/peak_{name}", value)


def throughput_ratios(results: SFTResults, plan: SFTPlan) -> dict[str, float]:
    """tokens/s ratios at the main rank: dora/lora, qdora/qlora, qlora/lora, qdora/lora."""
    tps = {arm.arm: arm.tokens_per_sec for arm in results.arms.values() if arm.rank == plan.rank}
    pairs = [("dora", "lora"), ("qdora", "qlora"), ("qlora", "lora"), ("qdora", "lora")]
    return {f"{a}_over_{b}_tps": tps[a] / tps[b] for a, b in pairs if a in tps and b in tps}


# --- tables --------------------------------------------------------------------------------------


def _pm(estimate: stats.Estimate, digits: int = 3) -> str:
    return f"{estimate.mean:.{digits}f} ± {estimate.se:.{digits}f}"


def results_table(results: SFTResults, plan: SFTPlan, smooth_last: int) -> str:
    n = results.bayes["n"]
    lines = [
        "| arm | rank | lr (val) | test label NLL | excess over Bayes | accuracy | macro-F1 | strict format | tokens/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in results.arms.values():
        s = se.arm_summary(arm, results, smooth_last)
        lines.append(
            f"| {arm.arm} | {arm.rank} | {arm.learning_rate:g} | {_pm(s['label_nll'])} | {_pm(s['excess_nll'])} | "
            f"{s['accuracy']:.3f} | {s['macro_f1']:.3f} ± {s['macro_f1_se']:.3f} | "
            f"{s['strict_format_rate']:.2f} (n={s['format_n']}) | {arm.tokens_per_sec:,.0f} |"
        )
    lines.append(
        f"| **Bayes ceiling** | | | {results.bayes['label_nll']:.3f} | 0 | {results.bayes['accuracy']:.3f} | | | |"
    )
    return (
        "\n".join(lines)
        + f"\n\nTest rows n = {n} (rates and NLLs); the format check decodes the first {plan.format_rows}."
    )


def differences_table(results: SFTResults, plan: SFTPlan) -> str:
    lines = [
        "| difference (same test rows) | Δ label NLL | Δ accuracy | beyond 2 paired SE? |",
        "|---|---:|---:|---|",
    ]
    for name, diff in differences(results, plan).items():
        nll, acc = diff["label_nll"], diff["accuracy"]
        verdict = "yes" if abs(nll.mean) > 2 * nll.se else "no"
        lines.append(f"| {name} | {_pm(nll, 4)} | {_pm(acc)} | {verdict} |")
    return (
        "\n".join(lines)
        + f"\n\nn = {results.bayes['n']} rows per difference; SE from a paired bootstrap over rows."
    )


def grid_table(results: SFTResults, plan: SFTPlan) -> str:
    head = "| arm | rank | " + " | ".join(f"lr {lr:g}" for lr in plan.learning_rates) + " | chosen |"
    lines = [head, "|---|---:|" + "---:|" * len(plan.learning_rates) + "---:|"]
    for arm in results.arms.values():
        cells = [f"{arm.val_nll[lr]:.4f}" for lr in plan.learning_rates]
        lines.append(f"| {arm.arm} | {arm.rank} | " + " | ".join(cells) + f" | {arm.learning_rate:g} |")
    return (
        "\n".join(lines) + f"\n\nVal label NLL on the first {plan.val_rows} val rows; the lowest is chosen."
    )


# --- figures -------------------------------------------------------------------------------------


def plot_grid(results: SFTResults, plan: SFTPlan, path: str) -> str:
    fig, ax = plots.figure("Learning rate chosen on val", "learning rate (log scale)", "val label NLL (nats)")
    for index, arm in enumerate(results.arms.values()):
        rates = list(plan.learning_rates)
        ax.plot(rates, [arm.val_nll[r] for r in rates], marker="o", color=plots.PALETTE[index % len(plots.PALETTE)],
                label=f"{arm.arm} r{arm.rank}")  # fmt: skip
    ax.set_xscale("log")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return plots.save(fig, path)


def plot_confusions(results: SFTResults, plan: SFTPlan, path: str) -> str:
    plt = plots.require("matplotlib.pyplot")
    arms = [arm for arm in results.arms.values() if arm.rank == plan.rank]
    fig, axes = plt.subplots(1, len(arms), figsize=(2.4 * len(arms), 2.8), dpi=plots.DPI, sharey=True)
    short = {"disruptive": "D", "consolidating": "C", "neutral": "N", INVALID: "inv"}
    for ax, arm in zip(list(getattr(axes, "flat", [axes])), arms, strict=True):
        matrix = se.arm_summary(arm, results, plan.smooth_last)["confusion"]
        ax.imshow([row[: len(LABELS)] for row in matrix], cmap="Blues")
        for i, row in enumerate(matrix):
            for j, count in enumerate(row[: len(LABELS)]):
                ax.text(j, i, count, ha="center", va="center", fontsize=9)
        ax.set_title(arm.arm, fontsize=11)
        ax.set_xticks(range(len(LABELS)), [short[c] for c in LABELS], fontsize=9)
        ax.set_yticks(range(len(LABELS)), [short[c] for c in LABELS], fontsize=9)
        ax.set_xlabel("predicted", fontsize=9)
    fig.patch.set_facecolor("white")
    fig.tight_layout()
    return plots.save(fig, path)
