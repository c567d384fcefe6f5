"""What the determinism probe records and shows: capture calls, tables, the margin figure, the power estimate."""

from __future__ import annotations

from typing import Any

from notes_lab import determinism, plots


def plot_margins(margins: list[float], path: str) -> str:
    fig, ax = plots.figure(f"Label-decision margins of the base ({len(margins)} prompts)",
                           "top-1 minus top-2 log-probability (nats, log scale)", "prompts")  # fmt: skip
    floor = 1e-6
    ax.hist(
        [max(m, floor) for m in margins], bins=[10 ** (e / 4) for e in range(-24, 5)], color=plots.PALETTE[0]
    )
    ax.set_xscale("log")
    ax.axvline(1e-2, color="#555555", linestyle=":", linewidth=1)
    ax.text(1e-2, ax.get_ylim()[1] * 0.9, " 0.01", fontsize=8, color="#555555")
    return plots.save(fig, path)


def label_table(labels: dict[str, Any]) -> str:
    lines = ["| matmul mode | dtype | padding | batch | max abs Δ log-prob vs batch 1 | decisions flipped |",
             "|---|---|---|---:|---:|---:|"]  # fmt: skip
    for name, row in labels["settings"].items():
        mode, dtype, padding, batch = name.split("/")
        lines.append(f"| {mode} | {dtype} | {padding} | {batch.removeprefix('bs')} | {row['max_abs_delta']:.3g} | "
                     f"{row['flips']} of {labels['n']} |")  # fmt: skip
    return "\n".join(lines)


def decode_table(decodes: dict[str, Any], cfg: determinism.ProbeConfig) -> str:
    small, large = cfg.decode_batch_sizes
    lines = [f"| matmul mode | dtype | prompts whose completion changed (batch {small} vs {large}) | first divergence | "
             "max abs Δ log-prob before it | seconds |", "|---|---|---:|---|---:|---:|"]  # fmt: skip
    for name, row in decodes["settings"].items():
        mode, dtype = name.split("/")
        where = ", ".join(map(str, sorted(row["first_divergence"]))) or "–"
        lines.append(f"| {mode} | {dtype} | {row['changed']} of {decodes['n']} | {where} | "
                     f"{row['max_abs_logprob_delta']:.3g} | {row['seconds']:.1f} |")  # fmt: skip
    repeat = decodes.get("repeat_identical")
    return "\n".join(lines) + (f"\n\n{decodes['tokens']} tokens per prompt. Repeating the default fp32 batch: "
                               f"{repeat} of {decodes['n']} completions identical.")  # fmt: skip


def threads_and_isa(threads: dict[str, Any], isa: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"A {64}×{threads['k']} by {threads['k']}×256 matmul with 1 thread and with 2: largest difference "
        f"{threads['matmul_max_abs_diff']:.3g}; a sum over 2²⁰ values: difference {threads['sum_abs_diff']:.3g}.",
        "",
        "| CPU setting | logits identical to default | training identical | max abs Δ label log-prob | time vs default |",
        "|---|---|---|---:|---:|",
    ]
    for name, row in isa.items():
        lines.append(f"| {name} | {row['logits_identical']} | {row['training_identical']} | "
                     f"{row['max_abs_label_logprob_delta']:.3g} | {row['slowdown']:.2f}× |")  # fmt: skip
    return "\n".join(lines)


def power(margins: list[float], isa: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Expected flips at the drift the ISA knob causes, and the decisions needed to expect one."""
    drift = isa["avx2"]["max_abs_label_logprob_delta"]
    summary = determinism.margin_summary(margins, drift)
    per_flip = summary["decisions_per_flip"]
    text = (
        f"Moving from the default kernels to AVX2 moves a label log-probability by up to {drift:.2g}. "
        f"The smallest of {summary['n']} margins is {summary['smallest']:.2g} ({summary['below_1e-2']} below 0.01); the "
        f"ten smallest put the density near a tie at about {summary['density_near_tie']:.3g} per nat, so at that "
        f"drift about {summary['expected_flips']:.2g} of these {summary['n']} decisions would be expected to flip"
        + (f", and it would take about {per_flip:,.0f} decisions to expect one flip." if per_flip else ".")
    )
    return {**summary, "drift": drift, "text": text}


def capture_all(margins: list[float], labels: dict[str, Any], decodes: dict[str, Any], threads: dict[str, Any],
                isa: dict[str, dict[str, Any]], power_result: dict[str, Any]) -> None:  # fmt: skip
    from repronotes import capture

    for key in ("median", "p01", "p10", "smallest", "density_near_tie"):
        capture.metric(f"margins/{key}", power_result[key])
    for key in ("below_1e-2", "below_1e-4"):
        capture.metric(f"margins/{key}", power_result[key], n=power_result["n"])
    capture.metric("power/isa_drift", power_result["drift"])
    capture.metric("power/expected_flips", power_result["expected_flips"])
    capture.metric("power/decisions_per_flip", power_result["decisions_per_flip"] or -1.0)
    capture.metric("margins/n", power_result["n"])
    capture.metric("labels/n", labels["n"])
    capture.metric("decode/n", decodes["n"])
    capture.metric("decode/tokens", decodes["tokens"])
    for name, row in labels["settings"].items():
        capture.metric(f"labels/{name}/max_abs_delta", row["max_abs_delta"])
        capture.metric(f"labels/{name}/flips", row["flips"])
    for name, seconds in labels["seconds"].items():
        capture.metric(f"seconds/labels/{name}", seconds)
    base = labels["seconds"]["default/fp32/padded"]
    for mode in ("batch_invariant", "split_k"):
        capture.metric(f"slowdown/{mode}", labels["seconds"][f"{mode}/fp32/padded"] / base)
    for name, row in decodes["settings"].items():
        capture.metric(f"decode/{name}/changed", row["changed"])
        capture.metric(f"decode/{name}/first_divergence", sorted(row["first_divergence"]))
        capture.metric(f"decode/{name}/max_abs_logprob_delta", row["max_abs_logprob_delta"])
        capture.metric(f"decode/{name}/unique_completions", row["unique_completions"])
        capture.metric(f"seconds/decode/{name}", row["seconds"])
    capture.metric("decode/repeat_identical", decodes["repeat_identical"], n=decodes["n"])
    capture.metric("threads/matmul_k4096_max_abs_diff", threads["matmul_max_abs_diff"])
    capture.metric("threads/sum_2e20_abs_diff", threads["sum_abs_diff"])
    for name, row in isa.items():
        for key in ("logits_identical", "training_identical", "max_abs_label_logprob_delta"):
            capture.metric(f"isa/{name}/{key}", row[key])
        capture.metric(f"isa/{name}/slowdown", row["slowdown"])
