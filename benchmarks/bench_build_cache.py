"""Benchmark: does a second `mkdocs build` with nothing changed cost no more than a verify-only build?

Target (issue 2): a cached build re-executes nothing and takes at most 1.3x the same build with
execution off. For comparison it also times mkdocs-jupyter's own `execute: true` on the notebooks
that run standalone (experiments without `needs`), cold and with its cache.
Writes the numbers and the machine to benchmarks/RESULTS.md (section "build cache").

    .venv/bin/python benchmarks/bench_build_cache.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_section  # noqa: E402


def build(
    env_extra: dict[str, str], site_dir: Path, cwd: Path = REPO, config: str = "mkdocs.yml"
) -> tuple[float, str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **env_extra}
    start = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "mkdocs"), "build", "-f", config, "-d", str(site_dir)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"build failed:\n{done.stderr[-3000:]}")
    return elapsed, done.stderr


def timed(label: str, env_extra: dict[str, str], repeats: int, site_dir: Path) -> list[float]:
    times = []
    for _ in range(repeats):
        seconds, log = build(env_extra, site_dir)
        if "running " in log and "REPRONOTES_EXECUTE" not in env_extra:
            raise SystemExit(f"{label}: a cached build re-executed something:\n{log[-2000:]}")
        times.append(seconds)
    return times


def mkdocs_jupyter_times(site_dir: Path) -> dict[str, float] | None:
    """mkdocs-jupyter `execute: true` over the standalone notebooks, cold then cached."""
    standalone = []
    for spec in sorted((REPO / "experiments").glob("*/experiment.yaml")):
        text = spec.read_text()
        if "needs:" not in text or "needs: []" in text:
            standalone.append(spec.parent / "notebook.ipynb")
    if not standalone:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for notebook in standalone:
            shutil.copy(notebook, docs / f"{notebook.parent.name}.ipynb")
        (docs / "index.md").write_text("# mkdocs-jupyter comparison\n")
        config = Path(tmp) / "mkdocs.yml"
        config.write_text(
            "site_name: compare\ntheme: {name: material, font: false}\nplugins:\n"
            "  - mkdocs-jupyter: {execute: true, allow_errors: false, cache: true, cache_dir: .mkj-cache}\n"
        )
        cold, _ = build({}, site_dir, cwd=Path(tmp), config=str(config))
        warm, _ = build({}, site_dir, cwd=Path(tmp), config=str(config))
    return {"notebooks": len(standalone), "cold_s": round(cold, 2), "cached_s": round(warm, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = Path(tmp) / "site"
        warmup, _ = build({}, site_dir)  # fills the run cache (executes what is stale or uncached)
        cached = timed("cached", {}, args.repeats, site_dir)
        off = timed("execute off", {"REPRONOTES_EXECUTE": "off"}, args.repeats, site_dir)
        comparison = mkdocs_jupyter_times(site_dir)
    ratio = statistics.median(cached) / statistics.median(off)
    result = {
        "warm-up build (may execute) s": round(warmup, 2),
        "cached build s (median)": round(statistics.median(cached), 2),
        "execute-off build s (median)": round(statistics.median(off), 2),
        "ratio cached / off": round(ratio, 3),
        "target": "<= 1.3",
        "mkdocs-jupyter execute:true": comparison,
    }
    print(json.dumps(result, indent=1))
    write_section("build cache", result, f"cached/off ratio {ratio:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
