"""Peak-memory windows keep the lifetime peak."""

import pytest

from notes_lab import memory


def test_reset_peak_opens_a_window_and_keeps_the_lifetime_peak():
    block = bytearray(200 * 2**20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    before = memory.lifetime_peak_mb("cpu")["rss_mb"]
    del block
    if not memory.reset_peak("cpu"):
        pytest.skip("this OS cannot reset the peak RSS")
    window = memory.window_peak_mb("cpu")["rss_mb"]
    assert window < before - 150  # the 200 MB block is outside the new window
    assert memory.lifetime_peak_mb("cpu")["rss_mb"] >= before
