"""CPU ISA knobs: the comparison by hand, the subprocess protocol, and one real run of the four settings."""

from __future__ import annotations

import os
import subprocess

import pytest

from notes_lab import isa_probe
from notes_lab.prompts import format_prompt


def result(logits="a", train="t", label_logprobs=(-1.0, -2.0), forward_s=1.0, train_s=1.0):
    return {"logits_sha256": logits, "train_sha256": train, "label_logprobs": list(label_logprobs),
            "forward_s": forward_s, "train_s": train_s}  # fmt: skip


def test_compare_by_hand():
    results = {
        "default": result(),
        "avx2": result(logits="b", label_logprobs=(-1.25, -2.0), forward_s=2.0, train_s=2.0),
        "mkl_compatible": result(train="u", label_logprobs=(-1.0, -1.9), train_s=3.0),
    }
    compared = isa_probe.compare(results)
    assert compared["default"] == {"logits_identical": True, "training_identical": True,
                                   "max_abs_label_logprob_delta": 0.0, "slowdown": 1.0}  # fmt: skip
    assert compared["avx2"]["logits_identical"] is False and compared["avx2"]["training_identical"] is True
    assert compared["avx2"]["max_abs_label_logprob_delta"] == 0.25 and compared["avx2"]["slowdown"] == 2.0
    assert compared["mkl_compatible"]["training_identical"] is False
    assert compared["mkl_compatible"]["max_abs_label_logprob_delta"] == pytest.approx(0.1)
    assert compared["mkl_compatible"]["slowdown"] == 2.0


def test_run_settings_passes_each_knob_alone_and_names_a_failing_setting(monkeypatch):
    seen = []

    def fake_run(command, env, **kwargs):
        seen.append({k: env.get(k) for k in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")})
        assert command[1:3] == ["-m", "notes_lab.isa_probe"]
        return subprocess.CompletedProcess(command, 0, stdout='noise\n{"ok": 1}\n', stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    inherited = {"PATH": "/bin", "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AUTO"}
    out = isa_probe.run_settings("model", ["p"], 1, inherited)
    assert out == dict.fromkeys(isa_probe.SETTINGS, {"ok": 1})
    assert seen == [  # the kernel's own values never leak into a setting
        {"ATEN_CPU_CAPABILITY": None, "MKL_CBWR": None},
        {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": None},
        {"ATEN_CPU_CAPABILITY": None, "MKL_CBWR": "COMPATIBLE"},
        {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"},
    ]
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(
        command, 1, stdout="", stderr="Traceback\nOSError: no model here"))  # fmt: skip
    with pytest.raises(RuntimeError, match="isa_probe default failed: .*no model here"):
        isa_probe.run_settings("model", ["p"], 1, inherited)


@pytest.mark.slow
def test_run_settings_on_the_tiny_base(tiny_base, split):
    """Four fresh Python processes (about 5 s each): the real protocol, end to end."""
    torch = pytest.importorskip("torch")
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("this CPU has no AVX2")
    prompts = [format_prompt(p) for p in split.test[:2]]
    results = isa_probe.run_settings(str(tiny_base), prompts, 1, dict(os.environ))
    assert list(results) == list(isa_probe.SETTINGS)
    for name, row in results.items():
        assert len(row["label_logprobs"]) == 2 * 3 and all(v < 0 for v in row["label_logprobs"])
        assert len(row["logits_sha256"]) == len(row["train_sha256"]) == 64
        assert row["forward_s"] > 0 and row["train_s"] > 0
        if "ATEN_CPU_CAPABILITY" in isa_probe.SETTINGS[name]:
            assert row["capability"] == "AVX2"
    compared = isa_probe.compare(results)
    assert compared["default"]["logits_identical"] and compared["default"]["slowdown"] == 1.0
    for row in compared.values():  # kernels move bits, never a label log-probability by much
        assert 0.0 <= row["max_abs_label_logprob_delta"] < 1e-4
