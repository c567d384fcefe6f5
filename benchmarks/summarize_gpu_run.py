"""Write the headline numbers of a kept GPU run (benchmarks/gpu_runs/<run>/) into benchmarks/RESULTS.md.

Reads the record JSON files the run produced, so no number is typed by hand.

    .venv/bin/python benchmarks/summarize_gpu_run.py benchmarks/gpu_runs/2026-11-26-h200
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402

KEYS = {
    "greedy_determinism": ("changed_across_batch_sizes/", "changed_across_dtypes", "deterministic_slowdown/",
                           "max_abs_logprob_delta/bf16.bs1", "max_abs_logprob_delta/fp16.bs1", "peak_memory/"),
    "qdora_sft": ("/tokens_per_sec", "ratio/", "/flop_utilization", "/peak_allocated_mb", "/final_loss",
                  "loss_gap/", "/accuracy", "train_rows", "test_rows", "total_seconds"),
}  # fmt: skip


def main() -> None:
    folder = Path(sys.argv[1])
    numbers: dict[str, object] = {}
    where = ""
    for experiment, wanted in KEYS.items():
        record = json.loads((folder / f"{experiment}.record.json").read_text())
        env = record["environment"]
        where = f"{env['hardware_class']} · {env['gpu']['name']} · torch {env['packages']['torch']}"
        numbers[f"{experiment} wall s"] = record["run"]["duration_s"]
        for name, entry in sorted(record["metrics"].items()):
            if "value" in entry and any(key in name for key in wanted):
                value = entry["value"]
                numbers[f"{experiment} {name}"] = round(value, 4) if isinstance(value, float) else value
    summary = f"kept as evidence, not records (upstream data came from the wrong profile; see {folder.name}/README.md)"
    write_section(f"gpu run {folder.name}", numbers, summary, where=where)


if __name__ == "__main__":
    main()
