"""Peak-memory windows: one per SFT arm, without losing the whole run's peak.

`runtime.peak_memory_mb` reads the peak since the last reset: CUDA's peak statistics, or on CPU the
process's peak RSS. `reset_peak` closes the current window (keeping its peak) and opens a new one;
`lifetime_peak_mb` is the highest peak over all windows, i.e. what the process peaked at.
"""

from __future__ import annotations

import logging
from pathlib import Path

from notes_lab import runtime
from notes_lab._deps import require

logger = logging.getLogger(__name__)

# the highest peaks of the windows closed so far, by key ("rss_mb", "allocated_mb", "reserved_mb")
_closed_window_peaks: dict[str, float] = {}


def window_peak_mb(device: str) -> dict[str, float]:
    """Peak memory since the last `reset_peak` (or process start): the keys of `runtime.peak_memory_mb`."""
    return runtime.peak_memory_mb(device)


def lifetime_peak_mb(device: str) -> dict[str, float]:
    """Peak memory of the whole process so far, across windows (same keys)."""
    current = window_peak_mb(device)
    return {key: max(value, _closed_window_peaks.get(key, 0.0)) for key, value in current.items()}


def reset_peak(device: str) -> bool:
    """Open a new window: CUDA peak stats, or the Linux process's peak RSS (VmHWM, via clear_refs).

    Returns False where the OS cannot reset the peak RSS: the window then starts at process start.
    """
    for key, value in window_peak_mb(device).items():
        _closed_window_peaks[key] = max(value, _closed_window_peaks.get(key, 0.0))
    if device.startswith("cuda"):
        require("torch").cuda.reset_peak_memory_stats()
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # 5: reset the peak RSS
    except OSError:
        logger.debug("peak RSS cannot be reset here; per-window peaks are process peaks")
        return False
    return True
