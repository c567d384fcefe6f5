"""The determinism probe: its config, its comparisons by hand, the power estimate, and a tiny end-to-end grid."""

from __future__ import annotations

import statistics

import pytest

from notes_lab import determinism as dt
from notes_lab import scoring
from notes_lab.vocab import LABELS

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_sizes": (2, 8)}, "ProbeConfig.batch_sizes must start at 1 and have >= 2 sizes"),
        ({"batch_sizes": (1,)}, "ProbeConfig.batch_sizes must start at 1"),
        ({"dtypes": ("float16",)}, r"ProbeConfig.dtypes must be among \['bfloat16', 'float32'\]"),
        ({"modes": ("default", "fast")}, "ProbeConfig.modes must be among"),
        (
            {"decode_batch_sizes": (1, 8, 16)},
            r"ProbeConfig.decode_batch_sizes must be two sizes, got \(1, 8, 16\)",
        ),
        ({"equal_length": 8}, "ProbeConfig.equal_length must be >= 16, got 8"),
    ],
)
def test_probe_config_validation_names_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        dt.ProbeConfig(**change)


def test_compare_scores_by_hand():
    reference = [[0.0, -1.0, -2.0], [-1.0, -0.5, -3.0]]
    other = [[0.0, -1.1, -2.0], [-0.4, -0.5, -3.0]]  # row 2's argmax moves from 1 to 0
    result = dt.compare_scores(reference, other)
    assert result["max_abs_delta"] == pytest.approx(0.6) and result["flips"] == 1
    assert dt.compare_scores(reference, reference) == {"max_abs_delta": 0.0, "flips": 0}
    with pytest.raises(ValueError):
        dt.compare_scores(reference, other[:1])


def test_margins_are_top1_minus_top2():
    assert dt.margins([[-1.0, -0.2, -3.0], [-0.7, -0.7, -0.1]]) == pytest.approx([0.8, 0.6])
    assert dt.margins([[-0.5, -0.5, -2.0]]) == [0.0]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([1, 2, 3], [1, 2, 3], None), ([1, 2, 3], [1, 5, 3], 1), ([4], [5], 0), ([], [], None)],
)
def test_first_divergence(a, b, expected):
    assert dt.first_divergence(a, b) == expected


def test_compare_decodes_by_hand():
    small = dt.Decodes(
        [[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[-0.1, -0.2, -0.3], [-1.0, -1.0, -1.0], [-2.0, -2.0, -2.0]], 1.0
    )
    large = dt.Decodes(
        [[1, 2, 3], [4, 9, 6], [7, 8, 9]], [[-0.1, -0.25, -0.3], [-1.5, -7.0, -7.0], [-2.0, -2.0, -2.0]], 2.0
    )
    result = dt.compare_decodes(small, large)
    assert result["changed"] == 1 and result["first_divergence"] == [1]
    # prompt 2's deltas count only before its divergence (0.5 at position 0); prompt 1 moves by 0.05
    assert result["max_abs_logprob_delta"] == pytest.approx(0.5)
    assert result["unique_completions"] == 4
    assert dt.compare_decodes(small, small) == {"changed": 0, "first_divergence": [], "max_abs_logprob_delta": 0.0,
                                                "unique_completions": 3}  # fmt: skip


def test_margin_summary_by_hand():
    smallest = [(i + 1) / 1000 for i in range(10)]  # 0.001 ... 0.010
    values = [float(v) for v in range(1, 91)] + smallest
    summary = dt.margin_summary(values, drift=1e-4)
    density = 10 / (100 * 0.01)  # k / (n * m_k) = 10
    assert summary["density_near_tie"] == pytest.approx(density)
    assert summary["expected_flips"] == pytest.approx(density * 1e-4 * 100)  # 0.1
    assert summary["decisions_per_flip"] == pytest.approx(1 / (density * 1e-4))  # 1000
    assert summary["n"] == 100 and summary["smallest"] == 0.001
    assert summary["median"] == statistics.median(values)
    assert summary["p01"] == 0.002 and summary["p10"] == 1.0  # ordered[round(0.99)], ordered[round(9.9)]
    assert (summary["below_1e-2"], summary["below_1e-4"]) == (9, 0)
    assert dt.margin_summary(values, drift=0.0)["decisions_per_flip"] is None
    tie = dt.margin_summary([0.0] * 10 + values[:10], drift=1e-4)
    assert tie["density_near_tie"] == float("inf") and tie["below_1e-4"] == 10


def test_threads_check_reports_both_thread_counts():
    before = torch.get_num_threads()
    result = dt.threads_check(k=256, threads=2)
    assert set(result) == {"matmul_max_abs_diff", "sum_abs_diff", "k", "seconds_1", "seconds_2"}
    assert result["k"] == 256 and result["matmul_max_abs_diff"] >= 0 and result["sum_abs_diff"] >= 0
    assert torch.get_num_threads() == before


# --- on the tiny base ----------------------------------------------------------------------------


@pytest.mark.slow
def test_label_rows_cut_every_row_to_the_same_length(tiny_lm, split):
    _, tokenizer = tiny_lm
    natural, candidates = dt.label_rows(tokenizer, split.test[:5], None)
    start, token_of = scoring.split_at_label(scoring.answer_ids(tokenizer))
    assert candidates == [token_of[label] for label in LABELS]
    assert all(row[-len(start) :] == start for row in natural) and len({len(r) for r in natural}) > 1
    equal, _ = dt.label_rows(tokenizer, split.test[:5], 16)
    assert equal == [row[-16:] for row in natural]


@pytest.mark.slow
def test_label_rows_need_single_token_labels(tiny_lm, split, monkeypatch):
    monkeypatch.setattr(scoring, "split_at_label", lambda answers: None)
    with pytest.raises(ValueError, match="labels are not single tokens"):
        dt.label_rows(tiny_lm[1], split.test[:2], None)


# 16 rows of 16 tokens: 16 rows in a batch of 1 (split-K in 2 parts), 256 in a batch of 16 (4 parts)
CFG = dt.ProbeConfig(batch_sizes=(1, 16), equal_length=16, decode_prompts=3, decode_tokens=6,
                     decode_batch_sizes=(1, 3), decode_pad_to=300)  # fmt: skip


@pytest.mark.slow
def test_label_grid_end_to_end(tiny_base, split):
    papers = split.test[:16]
    labels = dt.label_grid(str(tiny_base), papers, CFG)
    assert labels["n"] == 16 and len(labels["reference"]) == 16
    expected = {f"{mode}/{short}/{padding}/bs16" for mode in CFG.modes for short in ("fp32", "bf16")
                for padding in ("equal", "padded")}  # fmt: skip
    assert set(labels["settings"]) == expected
    assert set(labels["seconds"]) == {name.rsplit("/", 1)[0] for name in expected}
    for short in ("fp32", "bf16"):  # same shapes for every row, whatever the batch: bitwise equal
        assert labels["settings"][f"batch_invariant/{short}/equal/bs16"] == {"max_abs_delta": 0.0, "flips": 0}
    assert (
        labels["settings"]["split_k/fp32/equal/bs16"]["max_abs_delta"] > 0
    )  # the probe sees a variant kernel
    for row in labels["settings"].values():
        assert 0.0 <= row["max_abs_delta"] < 0.1 and 0 <= row["flips"] <= 16
    margins = dt.reference_margins(str(tiny_base), papers, CFG)
    assert margins == pytest.approx(dt.margins(labels["reference"]), abs=1e-5)
    assert all(m >= 0 for m in margins)


@pytest.mark.slow
def test_decode_grid_end_to_end(tiny_base, split):
    decodes = dt.decode_grid(str(tiny_base), split.test[:6], CFG)
    assert decodes["n"] == 3 and decodes["tokens"] == 6
    assert set(decodes["settings"]) == {
        "default/fp32",
        "batch_invariant/fp32",
        "split_k/fp32",
        "default/bf16",
    }
    invariant = decodes["settings"]["batch_invariant/fp32"]
    assert invariant["changed"] == 0 and invariant["max_abs_logprob_delta"] == 0.0
    assert decodes["repeat_identical"] == 3
    for row in decodes["settings"].values():
        assert 1 <= row["unique_completions"] <= 6 and row["seconds"] > 0
