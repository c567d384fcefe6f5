"""Benchmark: wall time and peak memory of every experiment's profile, against the issue budgets.

Re-executes each experiment of the chosen profile once, in `needs` order (`repronotes run <name>
--profile <p> --force` per experiment, upstream first so nothing runs twice), then reads the
durations and the captured peak-memory metrics from the run cache. Writes benchmarks/RESULTS.md
(section "experiments: <profile>").

    .venv/bin/python benchmarks/bench_experiments.py [--profile cpu]
    .venv/bin/python benchmarks/bench_experiments.py --from-records   # no re-execution: the durations the
                                                                      # committed records measured
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402

BUDGETS_S = {  # issue budgets (cpu: 2-core machine; gpu: one H100)
    "cpu": {"synthetic_data+greedy_determinism": 120, "qdora_sft": 240, "smol_rl": 300},
    "gpu": {"synthetic_data+greedy_determinism": 120, "qdora_sft": 150, "smol_rl": 150},
}
MEMORY_BUDGETS_MB = {  # issue budgets on the whole run's peak (issue 4: cpu peak RSS below 4 GiB)
    "cpu": {"qdora_sft peak_rss_mb": 4096},
}


def order(profile: str) -> list[str]:
    code = (
        "import json, sys; from pathlib import Path; from repronotes.spec import discover, topological_order;"
        "e = discover(Path(sys.argv[1])); print(json.dumps([n for n in topological_order(e, sorted(e))"
        " if sys.argv[2] in e[n].profiles]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO), profile], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def run_once(name: str, profile: str) -> float:
    """Execute one experiment now; its upstream runs come from the cache filled a moment ago."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "repronotes"), "run", name, "--profile", profile], cwd=REPO, capture_output=True, text=True
    )
    if "running" not in done.stderr and "re-ran" not in done.stdout:
        sys.stderr.write(f"{name}: nothing executed?\n{done.stderr[-500:]}\n")
    return time.perf_counter() - start


def peak_memory(name: str, profile: str) -> dict[str, float]:
    entries = (REPO / ".cache/repronotes/runs" / name / profile).glob("*/run.json")  # one per input hash
    run = json.loads(max(entries, key=lambda p: p.stat().st_mtime).read_text())
    return {k: round(v["value"], 1) for k, v in run["metrics"].items() if "peak" in k and "value" in v}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--from-records", action="store_true", help="read durations from the records")
    args = parser.parse_args()
    names = order(args.profile)
    if args.from_records:
        report(names, args.profile, *from_records(names, args.profile))
        return
    cache = REPO / ".cache/repronotes/runs"
    for name in names:  # drop cached runs so each `run` executes exactly its own notebook
        for target in (cache / name / args.profile).glob("*/run.json"):
            target.unlink()
    seconds = {name: round(run_once(name, args.profile), 1) for name in names}
    memory = {name: peak_memory(name, args.profile) for name in names}
    report(names, args.profile, seconds, memory, "fresh executions by this script")


def from_records(names: list[str], profile: str) -> tuple[dict[str, float], dict[str, dict[str, float]], str]:
    seconds, memory, where = {}, {}, ""
    for name in names:
        record = json.loads((REPO / "experiments" / name / "records" / f"{profile}.json").read_text())
        seconds[name] = record["run"]["duration_s"]
        memory[name] = {
            k: round(v["value"], 1) for k, v in record["metrics"].items() if "peak" in k and "value" in v
        }
        where = record["environment"]["hardware_class"]
    return seconds, memory, f"durations measured by the record runs ({where})"


def report(names: list[str], profile: str, seconds: dict, memory: dict, source: str) -> None:
    numbers: dict[str, object] = {"source": source}
    numbers.update({f"{name} wall s": s for name, s in seconds.items()})
    for name in names:
        for key, value in memory[name].items():
            numbers[f"{name} {key}"] = value
    verdicts = []
    for group, budget in BUDGETS_S.get(profile, {}).items():
        total = sum(seconds.get(part, 0.0) for part in group.split("+"))
        numbers[f"{group} wall s (budget {budget})"] = round(total, 1)
        verdicts.append(f"{group} {total:.0f}/{budget} s {'ok' if total <= budget else 'OVER'}")
    for key, budget in MEMORY_BUDGETS_MB.get(profile, {}).items():
        name, metric = key.split(" ")
        peak = memory.get(name, {}).get(metric)
        numbers[f"{key} (budget {budget})"] = peak
        verdicts.append(f"{key} {peak}/{budget} MB {'ok' if peak is not None and peak <= budget else 'OVER'}")
    print(json.dumps(numbers, indent=1))
    write_section(f"experiments: {profile}", numbers, "; ".join(verdicts))


if __name__ == "__main__":
    main()
