"""SFT arms: config validation, completion-only masking, schedule, data order, and a 2-step smoke run."""

from __future__ import annotations

import json

import pytest

from notes_lab import sft
from notes_lab.models import ModelSize, build_model
from notes_lab.sft import IGNORE_INDEX, SFTConfig

from .papers import PAPER

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


def _tokenizer(texts):
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=300, min_frequency=1, special_tokens=["<pad>", "<s>", "</s>"])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="module")
def tokenizer():
    from notes_lab.prompts import format_prompt, target_completion

    return _tokenizer([format_prompt(PAPER), target_completion(PAPER)] * 4)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="SFTConfig.arm"):
        SFTConfig(arm="adalora")
    with pytest.raises(ValueError, match="SFTConfig.warmup_steps"):
        SFTConfig(arm="lora", steps=2, warmup_steps=3)
    assert SFTConfig(arm="qdora").quantized and SFTConfig(arm="qdora").use_dora
    assert not SFTConfig(arm="lora").quantized and not SFTConfig(arm="lora").use_dora


def test_prompt_tokens_are_masked_and_completion_is_learned(tokenizer):
    prompt, completion = "Title: x\n{", '"disruption_label": "neutral", "confidence": "low"}'
    input_ids, labels = sft.encode_example(tokenizer, prompt, completion, max_length=256)
    n_prompt = len(tokenizer(prompt)["input_ids"])
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    assert len(input_ids) == len(labels) == n_prompt + len(completion_ids) + 1
    assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert labels[n_prompt:] == input_ids[n_prompt:] == completion_ids + [tokenizer.eos_token_id]


def test_overlong_rows_lose_prompt_not_completion(tokenizer):
    completion = '"disruption_label": "neutral"}'
    input_ids, labels = sft.encode_example(tokenizer, "Title: " + "word " * 100, completion, max_length=24)
    assert len(input_ids) == 24
    learned = [tok for tok in labels if tok != IGNORE_INDEX]
    assert learned == tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def test_collate_pads_right_and_ignores_padding():
    batch = sft.collate([([5, 6, 7], [-100, 6, 7]), ([8], [8])], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_batch_order_is_seeded_and_covers_each_epoch():
    order = sft.batch_order(n_rows=5, batch_size=2, steps=5, seed=3)
    assert order == sft.batch_order(n_rows=5, batch_size=2, steps=5, seed=3)
    flat = [i for batch in order for i in batch]
    assert sorted(flat[:5]) == list(range(5)) and len(flat) == 10


def test_lr_schedule_warms_up_then_decays_to_zero():
    config = SFTConfig(arm="lora", steps=10, warmup_steps=2)
    factors = [sft.lr_factor(step, config) for step in range(10)]
    assert factors[:2] == [0.5, 1.0] and factors[2] == pytest.approx(1.0)
    assert factors[-1] < 0.05 and all(a >= b for a, b in zip(factors[2:], factors[3:], strict=False))
    constant = SFTConfig(arm="lora", steps=10, warmup_steps=0, schedule="constant")
    assert {sft.lr_factor(step, constant) for step in range(10)} == {1.0}


def test_model_flops_utilization():
    assert sft.model_flops_utilization(1_000, 250.0, 1e6) == pytest.approx(1.0)


def _tiny_base(folder, tokenizer):
    size = ModelSize(
        hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab_size=300, max_positions=512
    )
    build_model(size, tokenizer, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("arm", sft.ARMS)
def test_two_step_smoke_run_of_every_arm(tmp_path, tokenizer, arm):
    pytest.importorskip("peft")
    if arm in ("qlora", "qdora"):
        pytest.importorskip("bitsandbytes")
    base = _tiny_base(tmp_path / "base", tokenizer)
    config = SFTConfig(arm=arm, rank=4, alpha=8, steps=2, batch_size=2, warmup_steps=1, threads=1)
    record = sft.run_arm(config, base, [PAPER] * 3, [PAPER] * 2, tmp_path / "run", max_new_tokens=4)
    assert len(record["losses"]) == 2 and all(loss == loss for loss in record["losses"])
    assert record["trainable_params"] > 0 and record["adapter_bytes"] > 0
    assert record["eval"]["n"] == 2 and len(record["completions"]) == 2
    assert all(text.startswith("{") for text in record["completions"])
    adapter_config = json.loads((tmp_path / "run" / "adapters" / arm / "adapter_config.json").read_text())
    assert adapter_config["use_dora"] == config.use_dora and adapter_config["r"] == 4
    assert set(adapter_config["target_modules"]) == set(sft.TARGET_MODULES)


def test_arm_configs_differ_only_in_arm_and_lr():
    configs = sft.arm_configs(
        list(sft.ARMS), {"lora": 1e-3, "qlora": 1e-3, "dora": 8e-4, "qdora": 8e-4}, steps=4, warmup_steps=1
    )
    assert list(configs) == list(sft.ARMS)
    assert configs["qdora"].lr == 8e-4 and configs["qdora"].steps == 4 and configs["qdora"].quantized
    with pytest.raises(ValueError, match="no learning rate"):
        sft.arm_configs(["dora"], {"lora": 1e-3})


def test_throughput_ratios_use_present_arms():
    records = {
        arm: {"tokens_per_sec": tps} for arm, tps in [("lora", 100.0), ("dora", 80.0), ("qlora", 50.0)]
    }
    ratios = sft.throughput_ratios(records)
    assert ratios == {"dora_over_lora_tps": 0.8, "qlora_over_lora_tps": 0.5}


def test_capture_arm_names_every_metric_with_n():
    from repronotes import capture

    ev = {
        "n": 4,
        "parse_rate": 1.0,
        "strict_format_rate": 0.75,
        "accuracy": 0.5,
        "macro_f1": 0.4,
        "invalid_rate": 0.0,
        "min_recall": 0.0,
        "min_recall_n": 1,
        "confusion": [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0]],
        "calibration/ece": 0.1,
        "calibration/ece_se": 0.03,
        "calibration/n": 4,
    }
    for label, recall in zip(("disruptive", "consolidating", "neutral"), (0.5, 1.0, 0.0), strict=True):
        ev[f"recall/{label}"] = recall
        ev[f"predicted_share/{label}"] = 0.25
    record = {
        "arm": "qdora",
        "eval": ev,
        "losses": [2.0, 1.0],
        "final_loss": 1.0,
        "lr": 8e-4,
        "trainable_params": 10,
        "adapter_bytes": 100,
        "tokens_per_sec": 5.0,
        "median_step_s": 0.2,
        "memory_mb": {"rss_mb": 500.0},
    }
    before = len(capture.captured())
    sft.capture_arm(record)
    by_name = {item["name"]: item for item in capture.captured()[before:]}
    assert by_name["qdora/train_loss_curve"]["values"] == [2.0, 1.0]
    assert by_name["qdora/macro_f1"]["n"] == 4 and by_name["qdora/macro_f1"]["se"] > 0
    assert by_name["qdora/recall/disruptive"]["n"] == 2 and by_name["qdora/min_recall"]["n"] == 1
    assert by_name["qdora/confusion"]["value"] == ev["confusion"]
    assert by_name["qdora/peak_rss_mb"]["value"] == 500.0
    assert by_name["qdora/calibration_ece"]["n"] == 4 and by_name["qdora/calibration_ece"]["se"] == 0.03
