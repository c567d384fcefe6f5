"""Write one benchmark's numbers, with the machine they came from, into benchmarks/RESULTS.md.

Each benchmark owns a section (`## <name>`); rerunning it replaces that section only.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nWritten by the scripts in this folder; each section names the machine it ran on.\n"


def machine() -> str:
    """The hardware class and CPU/GPU model, from `repronotes env` (redacted)."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [str(Path(sys.executable).parent / "repronotes"), "--root", str(root), "env"],
        capture_output=True,
        text=True,
    )
    try:
        env = json.loads(out.stdout)
    except ValueError:
        return "unknown machine"
    gpu = env.get("gpu") or {}
    cpu = env.get("cpu", {})
    where = gpu.get("name") or f"{cpu.get('model')} ({cpu.get('logical_cores')} cores)"
    torch = env.get("packages", {}).get("torch") or _installed("torch")
    return f"{env.get('hardware_class')} · {where} · torch {torch}"


def _installed(name: str) -> str | None:
    """`repronotes env` lists only what a run imported; the benchmark names the installed version."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_section(name: str, numbers: dict[str, Any], summary: str, where: str | None = None) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else HEADER
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"## {name}",
        "",
        f"- machine: {where or machine()}",
        f"- when: {stamp}",
        f"- summary: {summary}",
        "",
    ]
    body += ["| measure | value |", "|---|---|"]
    body += [
        f"| {key} | {json.dumps(value) if isinstance(value, dict | list) else value} |"
        for key, value in numbers.items()
    ]
    section = "\n".join(body) + "\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")
