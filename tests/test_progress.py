"""Progress a person can read: plain lines off a terminal (never more than one per cell), live lines on one."""

from __future__ import annotations

import io

from repronotes import progress, report


def events(label: str = "toy/cpu", cells: int = 3, expected: float | None = None) -> list[dict]:
    out = []
    for index in range(cells):
        out.append({"event": "cell", "index": index, "total": cells, "label": label, "elapsed_s": 10.0 * index,
                    "expected_s": expected})  # fmt: skip
        out += [{"event": "cell", "index": index, "total": cells, "label": label, "elapsed_s": 10.0 * index + 5,
                 "still": True, "expected_s": expected}] * 3  # fmt: skip
    return out


def test_plain_progress_prints_one_line_per_cell_however_long_the_cell():
    lines: list[str] = []
    display = progress.PlainProgress(lines.append)
    for event in events(cells=4):
        display(event)
    assert lines == [f"[toy/cpu] cell {i}/4 · 00:{10 * (i - 1):02d}" for i in range(1, 5)]


def test_the_record_duration_gives_the_time_left():
    line = report.progress_line(
        {"label": "toy/cpu", "index": 1, "total": 5, "elapsed_s": 70, "expected_s": 100}
    )
    assert line == "[toy/cpu] cell 2/5 · 01:10 · ~00:30 left"
    overdue = report.progress_line(
        {"label": "toy/cpu", "index": 1, "total": 5, "elapsed_s": 130, "expected_s": 100}
    )
    assert overdue.endswith("· ~00:00 left")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_live_line_per_running_experiment():
    stream = FakeTerminal()
    display = progress.for_terminal(stream)
    assert isinstance(display, progress.LiveProgress)
    for event in events("up/cpu", 2, expected=40.0) + events("down/cpu", 3):
        display(event)
    display.close()
    text = stream.getvalue()
    assert "[up/cpu] cell 2/2" in text and "[down/cpu] cell 3/3" in text
    assert len(display._tasks) == 2  # one line each, updated in place


def test_off_a_terminal_the_display_is_plain():
    stream = io.StringIO()
    display = progress.for_terminal(stream)
    assert isinstance(display, progress.PlainProgress)
    display(events(cells=1)[0])
    assert stream.getvalue() == "  [toy/cpu] cell 1/1 · 00:00\n"
