"""The `full` profile's code path of qdora_sft, end to end, on a model that is not the cpu base.

A user's hub id (say "Qwen/Qwen2.5-0.5B-Instruct") replaces the config-built Llama: another architecture
(biases on q/k/v, tied embeddings), another tokenizer (Qwen's pre-tokenizer, no BOS, EOS and pad apart), and
labels that are several tokens long, so the full-sequence scoring path runs instead of the single-token one.
Here a tiny Qwen2 with a Qwen2 tokenizer of its own is written with save_pretrained into a folder, and that
folder is the `model_id` the notebook passes on, exactly as it passes a hub id.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from notes_lab import data, models, prompts, scoring, sft_experiment, sft_report
from notes_lab.vocab import LABELS

from . import hubkit
from .hubkit import EOS, PAD

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

NOTEBOOK = Path(__file__).parents[2] / "experiments" / "qdora_sft" / "notebook.ipynb"
hub_model = hubkit.hub_model  # the fixture: a tiny Qwen2 and its tokenizer in a save_pretrained folder


def notebook_code() -> str:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")


def test_the_notebook_hands_model_id_to_the_experiment_as_the_base():
    """The path this module tests is the notebook's: model_id, when set, is the base, unchanged."""
    code = notebook_code()
    assert 'model_id = ""' in code
    assert "base = model_id or models.base_model(" in code
    assert "sft_experiment.run(plan, base, split.train, split.val, split.test, output_dir)" in code


@pytest.mark.slow
def test_the_hub_folder_is_another_architecture_with_multi_token_labels(hub_model, tiny_base):
    model, tokenizer = models.load_causal_lm(hub_model)
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.config.tie_word_embeddings
    assert model.model.layers[0].self_attn.q_proj.bias is not None
    assert json.loads((tiny_base / "config.json").read_text())["model_type"] == "llama"
    assert type(tokenizer).__name__ == "Qwen2Tokenizer" and tokenizer.bos_token is None
    assert (tokenizer.eos_token, tokenizer.pad_token) == (EOS, PAD)
    assert (
        tokenizer("Year: 2019")["input_ids"] == tokenizer("Year: 2019", add_special_tokens=False)["input_ids"]
    )
    answers = scoring.answer_ids(tokenizer)
    assert all(len(ids) > 12 for ids in answers.values()) and len({len(ids) for ids in answers.values()}) > 1
    assert scoring.split_at_label(answers) is None  # so scoring takes the full-sequence path
    prompt = prompts.format_prompt(data.generate_papers(data.DataConfig(n_papers=3, seed=1))[0])
    assert tokenizer.decode(tokenizer(prompt)["input_ids"]) == prompt


@pytest.mark.slow
def test_full_profile_path_end_to_end(hub_model, split, tmp_path, monkeypatch):
    paths = {"full": 0, "fast": 0}
    full_path, fast_path = scoring._full_sequence_scores, scoring.next_token_scores

    def count(name, function):
        def wrapper(*args, **kwargs):
            paths[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(scoring, "_full_sequence_scores", count("full", full_path))
    monkeypatch.setattr(scoring, "next_token_scores", count("fast", fast_path))

    model_id = str(hub_model)  # the notebook's parameter, as a user would set it to a hub id
    base = model_id or models.base_model(
        "cpu", split.train, cache_dir=tmp_path / "cache", seed=0, device="cpu"
    )
    plan = sft_experiment.SFTPlan(arms=("lora", "qdora"), rank=4, low_rank=None, low_rank_arms=(),
                                  learning_rates=(3e-3,), steps=2, batch_size=2, warmup_steps=1, threads=1,
                                  val_rows=10, format_rows=2, smooth_last=2, score_batch_size=16)  # fmt: skip
    test = split.test[:20]
    results = sft_experiment.run(plan, base, split.train, split.val, test, tmp_path / "out")

    assert paths["fast"] == 0 and paths["full"] == 2 + 2 * 2  # the two bases, then val and test per arm
    assert not (tmp_path / "cache").exists()  # the cpu base was never built
    assert list(results.arms) == ["r4/lora", "r4/qdora"]
    for rows in results.base.values():
        assert len(rows) == 20 and all(math.isfinite(v) and v > 0 for v in rows)
    for key, result in results.arms.items():
        assert len(result.losses) == 2 and all(math.isfinite(v) for v in result.losses)
        for row in result.test_log_probs:
            assert set(row) == set(LABELS) and all(math.isfinite(v) and v < 0 for v in row.values())
            assert sum(math.exp(v) for v in row.values()) == pytest.approx(1.0, abs=1e-6)
        adapter = tmp_path / "out" / "adapters" / result.arm
        assert (adapter / "adapter_model.safetensors").stat().st_size == result.adapter_bytes > 0, key
        adapter_config = json.loads((adapter / "adapter_config.json").read_text())
        assert adapter_config["base_model_name_or_path"] == model_id
        assert adapter_config["use_dora"] == (result.arm == "qdora")
    table = sft_report.results_table(results, plan, plan.smooth_last)
    assert "| lora | 4 |" in table and "| qdora | 4 |" in table and "n = 20" in table


@pytest.mark.slow
def test_multi_token_labels_are_scored_up_to_their_last_token(hub_model, split):
    """Each label's tokens after the prompt, without the closing quote (it follows a different label in each
    answer, so it would not cancel), renormalised: what the single-token path scores for the cpu base."""
    model, tokenizer = models.load_causal_lm(hub_model)
    papers = split.test[:3]
    scored = scoring.label_log_probs(model, tokenizer, papers, 4, "cpu")
    for paper, row in zip(papers, scored, strict=True):
        prompt_ids = tokenizer(prompts.format_prompt(paper))["input_ids"]
        log_p = {}
        for label in LABELS:
            answer = tokenizer(prompts.label_answer_prefix(label)[:-1], add_special_tokens=False)["input_ids"]
            assert len(answer) > 3  # several tokens for the label alone
            ids = torch.tensor([prompt_ids + answer])
            with torch.no_grad():
                token_lp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
            log_p[label] = float(token_lp[torch.arange(ids.shape[1] - 1), ids[0, 1:]][-len(answer) :].sum())
        total = math.log(sum(math.exp(v) for v in log_p.values()))
        assert row == pytest.approx({label: v - total for label, v in log_p.items()}, abs=1e-5)
