"""The environment a run happens in: software, hardware, determinism knobs. Returns plain dicts.

Never imports torch: GPU facts come from nvidia-smi, and the facts only the kernel knows
(CUDA/cuDNN versions, SM count, deterministic algorithms, TF32, attention) arrive through
`capture.environment()`. The packages a record lists are the distributions the notebook actually
imported (read from the kernel at the end of the run), not a fixed list.
Nothing here records a hostname, a user name, a path or a secret.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from repronotes import environ, lockfile


def fingerprint(
    root: Path,
    threads: int | None = None,
    lock: Path | None = None,
    packages: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything about this machine and environment that can change a result."""
    gpu = detect_gpu()
    return {
        "hardware_class": hardware_class(threads, gpu),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "repronotes": metadata.version("repronotes"),
        "packages": dict(sorted((packages or {}).items())),
        "lock": _lock_facts(root, lock),
        "os": {"system": platform.system(), "release": platform.release(), "machine": platform.machine()},
        "cpu": {**cpu_info(), "threads": threads or os.cpu_count()},
        "gpu": gpu,
        "numerics_env": environ.numerics_vars(),
    }


def _lock_facts(root: Path, lock: Path | None) -> dict[str, Any] | None:
    if lock is None or not lock.is_file():
        return None
    try:
        name = lock.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        name = lock.name
    return {"file": name, "sha256": lockfile.file_sha256(lock)}


def hardware_class(threads: int | None, gpu: dict[str, Any] | None) -> str:
    """A short name for numerically equivalent hardware: `cuda-h100`, `cpu-amd-avx2-2t`."""
    if gpu is not None:
        return f"cuda-{gpu['short_name']}"
    cpu = cpu_info()
    return f"cpu-{cpu['vendor']}-{cpu['isa_level']}-{threads or os.cpu_count()}t"


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    flags: set[str] = set()
    model, vendor = platform.processor() or "unknown", "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and model in ("unknown", ""):
                model = value
            elif key == "vendor_id" and vendor == "unknown":
                vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(value, value.lower())
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    if vendor == "unknown" and platform.machine() in ("arm64", "aarch64"):
        vendor = "arm"
    return {"model": model, "vendor": vendor, "isa_level": isa_level(flags), "logical_cores": os.cpu_count()}


def isa_level(flags: set[str]) -> str:
    """The widest SIMD level the kernels may dispatch to (it changes float results)."""
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    if "asimd" in flags or "neon" in flags:
        return "neon"
    if "sse4_2" in flags:
        return "sse4"
    return "baseline"


@functools.lru_cache(maxsize=1)
def detect_gpu() -> dict[str, Any] | None:
    """The first NVIDIA GPU as nvidia-smi reports it, or None."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    query = "--query-gpu=name,memory.total,driver_version"
    try:
        out = subprocess.run(
            [smi, query, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    fields = [part.strip() for part in out.stdout.strip().splitlines()[0].split(",")]
    if len(fields) != 3:
        return None
    name, memory, driver = fields
    try:
        memory_mib = int(float(memory))
    except ValueError:
        memory_mib = None
    return {"name": name, "short_name": gpu_short_name(name), "memory_mib": memory_mib, "driver": driver}


def gpu_short_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100'; 'NVIDIA H200' -> 'h200'; otherwise a slug."""
    match = re.search(r"\b([A-Z]{1,2}\d{2,4}[A-Z]?)\b", name.upper().replace("NVIDIA", ""))
    if match:
        return match.group(1).lower()
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"


def capabilities() -> set[str]:
    """What this machine can run: `cuda` when an NVIDIA GPU answers."""
    return {"cuda"} if detect_gpu() is not None else set()
