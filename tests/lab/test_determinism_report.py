"""What the determinism probe shows and records, on hand-made probe results."""

from __future__ import annotations

import json

import pytest

from notes_lab import determinism, determinism_report

LABELS_RESULT = {
    "n": 8,
    "settings": {
        "default/fp32/padded/bs16": {"max_abs_delta": 2.5e-7, "flips": 1},
        "batch_invariant/fp32/padded/bs16": {"max_abs_delta": 0.0, "flips": 0},
        "split_k/fp32/padded/bs16": {"max_abs_delta": 1e-3, "flips": 2},
    },
    "seconds": {"default/fp32/padded": 2.0, "batch_invariant/fp32/padded": 3.0, "split_k/fp32/padded": 5.0},
}
DECODES = {
    "n": 4,
    "tokens": 16,
    "repeat_identical": 4,
    "settings": {
        "default/fp32": {"changed": 2, "first_divergence": [9, 3], "max_abs_logprob_delta": 1e-6,
                         "unique_completions": 6, "seconds": 1.0},
        "batch_invariant/fp32": {"changed": 0, "first_divergence": [], "max_abs_logprob_delta": 0.0,
                                 "unique_completions": 4, "seconds": 2.0},
    },
}  # fmt: skip
THREADS = {"matmul_max_abs_diff": 1e-5, "sum_abs_diff": 0.0, "k": 4096, "seconds_1": 0.1, "seconds_2": 0.05}
ISA = {
    "default": {"logits_identical": True, "training_identical": True, "max_abs_label_logprob_delta": 0.0,
                "slowdown": 1.0},
    "avx2": {"logits_identical": False, "training_identical": False, "max_abs_label_logprob_delta": 1e-4,
             "slowdown": 1.2},
}  # fmt: skip
MARGINS = [float(v) for v in range(1, 91)] + [(i + 1) / 1000 for i in range(10)]


def test_label_and_decode_tables():
    table = determinism_report.label_table(LABELS_RESULT).splitlines()
    assert len(table) == 2 + 3
    assert table[2] == "| default | fp32 | padded | 16 | 2.5e-07 | 1 of 8 |"
    decode = determinism_report.decode_table(DECODES, determinism.ProbeConfig()).splitlines()
    assert decode[2].startswith("| default | fp32 | 2 of 4 | 3, 9 |")
    assert decode[3].startswith("| batch_invariant | fp32 | 0 of 4 | – |")
    assert (
        decode[-1] == "16 tokens per prompt. Repeating the default fp32 batch: 4 of 4 completions identical."
    )
    text = determinism_report.threads_and_isa(THREADS, ISA)
    assert "| avx2 | False | False | 0.0001 | 1.20× |" in text and "4096" in text


def test_power_uses_the_avx2_drift():
    power = determinism_report.power(MARGINS, ISA)
    assert power["drift"] == 1e-4
    assert power["expected_flips"] == pytest.approx(10 * 1e-4 * 100)  # density 10 per nat, 100 decisions
    assert power["decisions_per_flip"] == pytest.approx(1000)
    assert "about 1,000 decisions to expect one flip" in power["text"]
    still = determinism_report.power(MARGINS, {"avx2": {**ISA["avx2"], "max_abs_label_logprob_delta": 0.0}})
    assert still["decisions_per_flip"] is None and still["text"].endswith("would be expected to flip.")


def test_capture_all_names(tmp_path, monkeypatch):
    capture_file = tmp_path / "capture.jsonl"
    monkeypatch.setenv("REPRONOTES_CAPTURE_FILE", str(capture_file))
    power = determinism_report.power(MARGINS, ISA)
    determinism_report.capture_all(MARGINS, LABELS_RESULT, DECODES, THREADS, ISA, power)
    by_name = {line["name"]: line for line in map(json.loads, capture_file.read_text().splitlines())}
    assert by_name["slowdown/split_k"]["value"] == 2.5 and by_name["slowdown/batch_invariant"]["value"] == 1.5
    assert by_name["margins/below_1e-2"]["value"] == 9 and by_name["margins/below_1e-2"]["n"] == 100
    assert by_name["labels/default/fp32/padded/bs16/flips"]["value"] == 1
    assert by_name["decode/default/fp32/first_divergence"]["value"] == [3, 9]
    assert (
        by_name["decode/repeat_identical"]["n"] == 4 and by_name["power/decisions_per_flip"]["value"] == 1000
    )
    assert by_name["isa/avx2/logits_identical"]["value"] is False
