"""SFT arms: config validation, completion-only masking, data order, and a 2-step run of every arm."""

from __future__ import annotations

import json
import math

import pytest

from notes_lab import sft
from notes_lab.sft import IGNORE_INDEX, SFTConfig, TrainResult

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"arm": "adalora"}, "arm"), ({"rank": 0}, "rank"), ({"alpha": 0}, "alpha"), ({"dropout": 1.0}, "dropout"),
     ({"target_modules": ()}, "target_modules"), ({"learning_rate": 0.0}, "learning_rate"),
     ({"weight_decay": -0.1}, "weight_decay"), ({"steps": 0, "warmup_steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"),
     ({"max_length": 7}, "max_length"), ({"steps": 2, "warmup_steps": 3}, "warmup_steps"),
     ({"schedule": "linear"}, "schedule"), ({"grad_clip": 0.0}, "grad_clip"), ({"threads": 0}, "threads"),
     ({"device": "mps"}, "device"), ({"timing_warmup_steps": -1}, "timing_warmup_steps")],
)  # fmt: skip
def test_config_validation_names_the_field(change, field):
    with pytest.raises(ValueError, match=rf"^SFTConfig\.{field} must .*, got "):
        SFTConfig(**{"arm": "lora", **change})


def test_config_flags():
    assert [(SFTConfig(arm=a).quantized, SFTConfig(arm=a).use_dora) for a in sft.ARMS] == [
        (False, False), (True, False), (False, True), (True, True)
    ]  # fmt: skip
    assert SFTConfig(arm="lora", device="cuda:1").on_gpu and not SFTConfig(arm="lora").on_gpu


@pytest.mark.slow
def test_encode_example_masks_the_prompt(tiny_lm):
    _, tokenizer = tiny_lm
    prompt, completion = "Title: x\n{", '"disruption_label": "neutral", "confidence": "low"}'
    input_ids, labels = sft.encode_example(tokenizer, prompt, completion, max_length=256)
    prompt_ids = tokenizer(prompt)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    assert input_ids == prompt_ids + completion_ids + [tokenizer.eos_token_id]
    assert labels == [IGNORE_INDEX] * len(prompt_ids) + completion_ids + [tokenizer.eos_token_id]


@pytest.mark.slow
def test_overlong_rows_lose_prompt_not_completion(tiny_lm):
    _, tokenizer = tiny_lm
    completion = '"disruption_label": "neutral"}'
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    prompt = "Title: " + "word " * 100
    input_ids, labels = sft.encode_example(tokenizer, prompt, completion, max_length=24)
    assert len(input_ids) == len(labels) == 24
    assert (
        [tok for tok in labels if tok != IGNORE_INDEX] == completion_ids == input_ids[-len(completion_ids) :]
    )
    assert (
        input_ids[: 24 - len(completion_ids)] == tokenizer(prompt)["input_ids"][-(24 - len(completion_ids)) :]
    )
    with pytest.raises(ValueError, match="leaves no room for the prompt"):
        sft.encode_example(tokenizer, prompt, completion, max_length=len(completion_ids))


def test_collate_pads_right_and_ignores_padding():
    batch = sft.collate([([5, 6, 7], [-100, 6, 7]), ([8], [8])], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_batch_order_is_seeded_and_reshuffles_every_epoch():
    order = sft.batch_order(n_rows=6, batch_size=3, steps=8, seed=3)
    assert order == sft.batch_order(n_rows=6, batch_size=3, steps=8, seed=3)  # every arm gets this order
    assert order != sft.batch_order(n_rows=6, batch_size=3, steps=8, seed=4)
    assert len(order) == 8 and all(len(batch) == 3 for batch in order)
    epochs = [[i for batch in order[e * 2 : e * 2 + 2] for i in batch] for e in range(4)]
    assert all(sorted(epoch) == list(range(6)) for epoch in epochs)  # each epoch covers every row once
    assert len({tuple(epoch) for epoch in epochs}) > 1  # in a new order
    with pytest.raises(ValueError, match="at least one training row"):
        sft.batch_order(0, 2, 2, 0)


def test_train_result_timing_skips_the_warm_up_steps():
    result = TrainResult(step_seconds=[5.0, 1.0, 2.0, 3.0], tokens=[100, 10, 20, 30])
    assert result.median_step_seconds(1) == 2.0 and result.tokens_per_second(1) == 10.0
    assert result.median_step_seconds(10) == 2.5  # all steps when warm-up covers them all
    assert result.tokens_per_second(0) == 160 / 11


def test_model_flops_utilization():
    assert sft.model_flops_utilization(1_000, 250.0, 1e6) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="peak_flops must be > 0"):
        sft.model_flops_utilization(1, 1.0, 0.0)


# --- two steps of each arm on the tiny base ------------------------------------------------------------


def lora_a(model):
    return {
        n.split("base_model.model.")[-1]: p.detach().clone()
        for n, p in model.named_parameters()
        if "lora_A" in n
    }


@pytest.fixture(scope="module")
def fp32_base_params(tiny_base):
    model, _ = sft.build_arm(SFTConfig(arm="lora", rank=4), tiny_base)
    return sft.base_param_count(model), lora_a(model)


@pytest.mark.slow
@pytest.mark.parametrize("arm", sft.ARMS)
def test_two_step_train_of_every_arm(tmp_path, tiny_base, split, fp32_base_params, arm):
    pytest.importorskip("peft")
    if arm.startswith("q"):
        bnb = pytest.importorskip("bitsandbytes")
    config = SFTConfig(arm=arm, rank=4, alpha=8, steps=2, batch_size=2, warmup_steps=1, threads=1)
    model, tokenizer = sft.build_arm(config, tiny_base)
    linear4bit = [m for m in model.modules() if arm.startswith("q") and isinstance(m, bnb.nn.Linear4bit)]
    assert bool(linear4bit) == config.quantized
    assert sft.base_param_count(model) == fp32_base_params[0]  # 4-bit weights counted at their logical size
    initial = lora_a(model)
    assert initial.keys() == fp32_base_params[1].keys()  # the same seven projections in every layer
    assert all(torch.equal(initial[k], fp32_base_params[1][k]) for k in initial)  # the same initial A
    result = sft.train(model, tokenizer, split.train[:6], config)
    assert len(result.losses) == len(result.step_seconds) == len(result.tokens) == 2
    assert all(math.isfinite(loss) and loss > 0 for loss in result.losses)
    assert 0 < result.trainable_params < result.total_params and all(t > 0 for t in result.tokens)
    assert not all(torch.equal(a, b) for a, b in zip(lora_a(model).values(), initial.values(), strict=True))
    size = sft.save_adapter(model, tmp_path / arm)
    assert size == (tmp_path / arm / "adapter_model.safetensors").stat().st_size > 0
    adapter_config = json.loads((tmp_path / arm / "adapter_config.json").read_text())
    assert adapter_config["use_dora"] == config.use_dora and adapter_config["r"] == 4
    assert set(adapter_config["target_modules"]) == set(sft.TARGET_MODULES)


def test_save_adapter_needs_safetensors(tmp_path):
    class Saver:
        def save_pretrained(self, folder):
            folder.mkdir()
            (folder / "adapter_model.bin").write_bytes(b"x")

    with pytest.raises(FileNotFoundError, match="no adapter_model.safetensors"):
        sft.save_adapter(Saver(), tmp_path / "out")
