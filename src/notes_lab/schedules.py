"""The one learning-rate schedule: linear warm-up, then constant or cosine decay to a floor."""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "constant")


def lr_factor(
    step: int, steps: int, warmup_steps: int, schedule: str = "cosine", floor: float = 0.0
) -> float:
    """The multiplier of the base learning rate at 0-based `step` of `steps`.

    Warm-up: (step + 1) / warmup_steps. Then `constant` stays at 1; `cosine` falls from 1 to `floor`
    at the last step.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, steps - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
