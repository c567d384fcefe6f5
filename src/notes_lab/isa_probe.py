"""Which CPU knobs change bits: ATEN_CPU_CAPABILITY (the SIMD level of ATen's kernels) and MKL_CBWR
(MKL's conditional numerical reproducibility), each read when torch loads, so each setting runs in a
fresh Python process (`python -m notes_lab.isa_probe <json>`), with the same model, prompts and seed.

Per setting: a digest of the base model's logits on a fixed batch of prompts, the label log-probabilities
(to measure how far they moved), a digest of the parameters after ten AdamW steps of a small Llama, and
the time each took.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "mkl_compatible": {"MKL_CBWR": "COMPATIBLE"},
    "avx2_mkl_compatible": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"},
}


def run_settings(
    model_dir: str, prompts: Sequence[str], threads: int, env: dict[str, str], timeout: int = 300
) -> dict[str, dict[str, Any]]:
    """Every setting in a subprocess; `env` is the environment to start from (the kernel's)."""
    args = json.dumps({"model_dir": model_dir, "prompts": list(prompts), "threads": threads})
    out = {}
    for name, knobs in SETTINGS.items():
        clean = {k: v for k, v in env.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
        done = subprocess.run([sys.executable, "-m", "notes_lab.isa_probe", args], env={**clean, **knobs},
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"isa_probe {name} failed: {done.stderr.strip().splitlines()[-1:]}")
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def compare(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each setting against `default`: identical logits? identical training? largest label log-prob move."""
    base = results["default"]
    out = {}
    for name, result in results.items():
        moved = max(abs(a - b) for a, b in zip(result["label_logprobs"], base["label_logprobs"], strict=True))
        out[name] = {
            "logits_identical": result["logits_sha256"] == base["logits_sha256"],
            "training_identical": result["train_sha256"] == base["train_sha256"],
            "max_abs_label_logprob_delta": moved,
            "slowdown": (result["forward_s"] + result["train_s"]) / (base["forward_s"] + base["train_s"]),
        }
    return out


def _probe(model_dir: str, prompts: list[str], threads: int) -> dict[str, Any]:
    import torch

    from notes_lab import models, scoring
    from notes_lab.tensors import right_padded

    torch.set_num_threads(threads)
    model, tokenizer = models.load_causal_lm(model_dir, device="cpu")
    rows = [list(tokenizer(p)["input_ids"]) for p in prompts]
    ids, mask = right_padded(rows, tokenizer.pad_token_id, torch)
    started = time.perf_counter()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    forward_s = time.perf_counter() - started
    papers_free = scoring.split_at_label(scoring.answer_ids(tokenizer))
    assert papers_free is not None
    start, token_of = papers_free
    label_rows = [row + start for row in rows]
    label_lp = scoring.next_token_scores(
        model, label_rows, list(token_of.values()), tokenizer.pad_token_id, 8, "cpu", torch
    )
    train_digest, train_s = _short_training(tokenizer, torch)
    return {
        "logits_sha256": hashlib.sha256(logits.numpy().tobytes()).hexdigest(),
        "label_logprobs": [v for row in label_lp for v in row],
        "train_sha256": train_digest,
        "forward_s": forward_s,
        "train_s": train_s,
        "capability": torch.backends.cpu.get_cpu_capability(),
    }


def _short_training(tokenizer: Any, torch: Any) -> tuple[str, float]:
    from notes_lab import models

    size = models.ModelSize(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=192, vocab_size=len(tokenizer),
                            max_positions=128)  # fmt: skip
    model = models.build_model(size, tokenizer, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(5, len(tokenizer), (8, 64), generator=generator)
    started = time.perf_counter()
    for _ in range(10):
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
    return digest, time.perf_counter() - started


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    sys.stdout.write(json.dumps(_probe(request["model_dir"], request["prompts"], request["threads"])) + "\n")
