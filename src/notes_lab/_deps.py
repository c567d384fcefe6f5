"""Lazy imports of the heavy ML stack, with an error that names the install command."""

from __future__ import annotations

import importlib
from types import ModuleType

INSTALL_HINT = "pip install -r requirements.lock && pip install --no-deps -e .  (or: make venv)"


def require(module: str) -> ModuleType:
    """Import `module` or raise ImportError naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            f"notes_lab needs {module!r} (the 'experiments' extra). Install it with: {INSTALL_HINT}"
        ) from exc
