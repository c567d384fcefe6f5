"""The one place that reads environment variables.

Everything else asks this module. Names are listed here so a reader sees every knob.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CAPTURE_FILE = "REPRONOTES_CAPTURE_FILE"
"""Set by the engine for the kernel: where capture.* appends its JSON lines."""

CACHE_DIR = "REPRONOTES_CACHE_DIR"
"""Overrides the cache folder (default: <project>/.cache/repronotes)."""

EXECUTE = "REPRONOTES_EXECUTE"
"""Overrides the plugin's `execute` option: auto | force | off."""

GIT_COMMIT = "REPRONOTES_GIT_COMMIT"
"""The commit a record names when the tree travels without .git (the GPU machine gets a copy, not a clone)."""

GIT_DIRTY = "REPRONOTES_GIT_DIRTY"
"""With REPRONOTES_GIT_COMMIT: whether that copied tree had uncommitted changes (1/true/yes)."""

PROJECT_ROOT = "REPRONOTES_ROOT"
"""Overrides the project root (default: the nearest folder above cwd with experiments/ and mkdocs.yml)."""

# Environment variables that change numerics or determinism: recorded verbatim.
DETERMINISM_VARS = (
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONHASHSEED",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "MKL_CBWR",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "CUDA_LAUNCH_BLOCKING",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
)

_SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH)", re.I
)


def get(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def capture_file() -> Path | None:
    value = os.environ.get(CAPTURE_FILE)
    return Path(value) if value else None


def cache_dir_override() -> Path | None:
    value = os.environ.get(CACHE_DIR)
    return Path(value) if value else None


def project_root_override() -> Path | None:
    value = os.environ.get(PROJECT_ROOT)
    return Path(value) if value else None


def execute_override() -> str | None:
    return os.environ.get(EXECUTE) or None


def git_commit_override() -> str | None:
    return os.environ.get(GIT_COMMIT) or None


def git_dirty_override() -> bool:
    return os.environ.get(GIT_DIRTY, "").lower() in {"1", "true", "yes"}


def determinism_vars() -> dict[str, str]:
    return {name: os.environ[name] for name in DETERMINISM_VARS if name in os.environ}


def secret_values(min_length: int = 6) -> list[str]:
    """Values of environment variables whose names look secret (tokens, keys, passwords)."""
    return sorted(
        {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= min_length},
        key=len,
        reverse=True,
    )


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
