"""Seeds, determinism knobs, device choice and the facts a record needs about them.

This is the only lab module that reads or writes environment variables (CUBLAS_WORKSPACE_CONFIG,
PYTHONHASHSEED). torch is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import random
import sys
from typing import Any

from notes_lab._deps import require

logger = logging.getLogger(__name__)

CUBLAS_WORKSPACE = ":4096:8"
_VERSIONED = ("torch", "transformers", "peft", "bitsandbytes", "trl", "tokenizers", "accelerate", "numpy")


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, numpy (if installed) and torch (CPU and every CUDA device)."""
    torch = require("torch")
    os.environ["PYTHONHASHSEED"] = str(seed)  # affects child processes only; recorded for completeness
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy comes with the experiments extra
        pass
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def configure_determinism(deterministic: bool, threads: int | None = None, warn_only: bool = True) -> None:
    """Set torch's determinism knobs in one place.

    deterministic=True: torch.use_deterministic_algorithms(True), cudnn.deterministic on, cudnn.benchmark
    off, and CUBLAS_WORKSPACE_CONFIG=:4096:8 when CUDA is present (cuBLAS needs it for reproducible
    GEMMs; set before the first cuBLAS call). deterministic=False turns those back to torch's defaults.
    TF32 is always off (matmul and cudnn) and float32 matmul precision is "highest", so fp32 means fp32.
    `threads` pins torch's intra-op thread count. warn_only=True lets an op without a deterministic
    implementation run with a warning that names it, instead of raising.
    """
    torch = require("torch")
    if deterministic and torch.cuda.is_available():
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"configure_determinism: threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


def pick_device(prefer: str = "auto") -> str:
    """Device name: prefer "auto" gives "cuda" when available else "cpu"; "cuda" without CUDA raises."""
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"pick_device: prefer must be 'auto', 'cpu' or 'cuda', got {prefer!r}")
    torch = require("torch")
    has_cuda = torch.cuda.is_available()
    if prefer == "cuda" and not has_cuda:
        raise RuntimeError("pick_device: 'cuda' requested but torch.cuda.is_available() is False")
    if prefer == "cpu":
        return "cpu"
    return "cuda" if has_cuda else "cpu"


def package_versions() -> dict[str, str | None]:
    """Installed versions of the ML stack (None when a package is missing)."""
    versions: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def torch_facts(seed: int | None = None, attention: str | None = None) -> dict[str, Any]:
    """Facts for `capture.environment(**torch_facts(...))`: versions, device, determinism knobs."""
    torch = require("torch")
    facts: dict[str, Any] = {f"{name}_version": v for name, v in package_versions().items()}
    facts.update(
        python=sys.version.split()[0],
        device="cuda" if torch.cuda.is_available() else "cpu",
        threads=torch.get_num_threads(),
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
        deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
        tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        attention_implementation=attention,
        seed=seed,
        cuda_version=torch.version.cuda,
        cudnn_version=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    )
    facts.update(_gpu_facts(torch))
    return facts


def _gpu_facts(torch: Any) -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"gpu_name": None, "gpu_sm_count": None, "gpu_memory_mb": None, "gpu_count": 0}
    props = torch.cuda.get_device_properties(0)
    return {
        "gpu_name": props.name,
        "gpu_sm_count": props.multi_processor_count,
        "gpu_memory_mb": round(props.total_memory / 2**20),
        "gpu_count": torch.cuda.device_count(),
        "gpu_capability": f"{props.major}.{props.minor}",
    }


def peak_memory_mb(device: str) -> dict[str, float]:
    """Peak memory so far: {"rss_mb"} of this process on CPU; {"allocated_mb", "reserved_mb"} on CUDA."""
    if device.startswith("cuda"):
        torch = require("torch")
        return {
            "allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
            "reserved_mb": torch.cuda.max_memory_reserved() / 2**20,
        }
    try:
        import resource

        kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
        return {"rss_mb": kilobytes / 1024.0}
    except ImportError:  # pragma: no cover - non-POSIX
        psutil = require("psutil")
        return {"rss_mb": psutil.Process().memory_info().rss / 2**20}


def quiet_libraries() -> None:
    """Keep notebook outputs readable: no tqdm/ipywidgets warning, no transformers progress bars."""
    import warnings

    warnings.filterwarnings("ignore", message="IProgress not found")
    transformers = require("transformers")
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def environment() -> dict[str, str]:
    """A copy of this process's environment (for subprocesses that must start from it)."""
    return dict(os.environ)
