"""The one place that reads environment variables.

Everything else asks this module. Names are listed here so a reader sees every knob.
"""

from __future__ import annotations

import os
from pathlib import Path

CAPTURE_FILE = "REPRONOTES_CAPTURE_FILE"
"""Set by the engine for the kernel: where capture.* appends its JSON lines."""

OUTPUT_DIR = "REPRONOTES_OUTPUT_DIR"
"""Set by the engine for the kernel: the run's output folder (also injected as the `output_dir` parameter)."""

CACHE_DIR = "REPRONOTES_CACHE_DIR"
"""Overrides the cache folder (default: <project>/.cache/repronotes)."""

EXECUTE = "REPRONOTES_EXECUTE"
"""Overrides the plugin's `execute` option: auto | force | off."""

EXECUTOR = "REPRONOTES_EXECUTOR"
"""Overrides where runs happen: local (default) | slurm."""

GIT_COMMIT = "REPRONOTES_GIT_COMMIT"
"""The commit a record names when the tree travels without .git (the GPU machine gets a copy, not a clone)."""

GIT_DIRTY = "REPRONOTES_GIT_DIRTY"
"""With REPRONOTES_GIT_COMMIT: whether that copied tree had uncommitted changes (1/true/yes)."""

PROJECT_ROOT = "REPRONOTES_ROOT"
"""Overrides the project root (default: the nearest folder above cwd with mkdocs.yml or experiments/)."""

LOCK_WAIT = "REPRONOTES_LOCK_WAIT"
"""Seconds a run waits for another run of the same experiment/profile (default: the profile's timeout)."""

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
"""The reproducible-builds convention: a fixed build date for pages (seconds since the epoch)."""

# Environment variables that change numerics or determinism: recorded and hashed into every input hash.
NUMERICS_VARS = (
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_LAUNCH_BLOCKING",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "TORCH_DETERMINISTIC",
)


def get(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def items() -> list[tuple[str, str]]:
    """Every variable of this process (the redactor scans them for credentials)."""
    return list(os.environ.items())


def capture_file() -> Path | None:
    value = os.environ.get(CAPTURE_FILE)
    return Path(value) if value else None


def output_dir() -> Path | None:
    value = os.environ.get(OUTPUT_DIR)
    return Path(value) if value else None


def cache_dir_override() -> Path | None:
    value = os.environ.get(CACHE_DIR)
    return Path(value) if value else None


def project_root_override() -> Path | None:
    value = os.environ.get(PROJECT_ROOT)
    return Path(value) if value else None


def execute_override() -> str | None:
    return os.environ.get(EXECUTE) or None


def executor_override() -> str | None:
    return os.environ.get(EXECUTOR) or None


def git_commit_override() -> str | None:
    return os.environ.get(GIT_COMMIT) or None


def git_dirty_override() -> bool:
    return os.environ.get(GIT_DIRTY, "").lower() in {"1", "true", "yes"}


def lock_wait_override() -> float | None:
    value = os.environ.get(LOCK_WAIT)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def source_date_epoch() -> int | None:
    value = os.environ.get(SOURCE_DATE_EPOCH)
    return int(value) if value and value.isdigit() else None


def numerics_vars(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The numerics knobs a kernel started now would see (ours, overlaid with what the engine sets)."""
    merged = {**os.environ, **(extra or {})}
    return {name: merged[name] for name in NUMERICS_VARS if name in merged}


def home_dir() -> str | None:
    return os.environ.get("HOME")


def user_name() -> str | None:
    return os.environ.get("USER") or os.environ.get("LOGNAME")


def kernel_environment(extra: dict[str, str]) -> dict[str, str]:
    """The environment a notebook kernel starts with: ours plus `extra`."""
    env = dict(os.environ)
    env.update(extra)
    return env


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
