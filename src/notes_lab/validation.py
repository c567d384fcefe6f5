"""The one validation idiom of the lab's config dataclasses: a list of (field, ok, rule) checked in order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check(config: Any, rules: Iterable[tuple[str, bool, str]]) -> None:
    """ValueError naming the config class, the field, the rule and the value for the first broken rule."""
    for name, ok, rule in rules:
        if not ok:
            raise ValueError(f"{type(config).__name__}.{name} {rule}, got {getattr(config, name)!r}")
