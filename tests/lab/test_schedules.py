"""The one learning-rate schedule: warm-up, cosine to a floor, constant."""

from __future__ import annotations

import math

import pytest

from notes_lab.schedules import SCHEDULES, lr_factor


def test_linear_warm_up():
    assert [lr_factor(step, 20, 4) for step in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert [lr_factor(step, 20, 4, "constant") for step in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_cosine_falls_from_one_to_the_floor():
    steps, warmup, floor = 12, 2, 0.1
    factors = [lr_factor(step, steps, warmup, "cosine", floor) for step in range(steps + 1)]
    assert factors[warmup] == 1.0  # decay starts at 1 right after the warm-up
    assert all(a >= b for a, b in zip(factors[warmup:], factors[warmup + 1 :], strict=False))
    assert factors[warmup + 5] == pytest.approx(floor + (1 - floor) / 2)  # half way
    assert factors[steps] == pytest.approx(floor)  # progress 1 (the step after the last one run)
    assert lr_factor(steps - 1, steps, warmup, "cosine", floor) == pytest.approx(
        floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * 9 / 10))
    )
    assert lr_factor(100, steps, warmup, "cosine", floor) == pytest.approx(floor)  # clamped beyond the end
    assert lr_factor(0, 10, 0) == 1.0


def test_constant_stays_at_one():
    assert {lr_factor(step, 10, 2, "constant") for step in range(2, 10)} == {1.0}


def test_bad_schedule_name():
    assert SCHEDULES == ("cosine", "constant")
    with pytest.raises(ValueError, match=r"schedule must be one of \('cosine', 'constant'\), got 'linear'"):
        lr_factor(0, 10, 2, "linear")
