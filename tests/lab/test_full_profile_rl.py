"""The `full` profile's code path of smol_rl, end to end, on a user's hub model (issue 14, point 6).

The notebook hands `model_id` (a hub id, or a local save_pretrained folder) to `rl_experiment.run` as the base,
in place of the config-built cpu base. Here that folder is a tiny Qwen2 with a tokenizer of its own
(tests/lab/hubkit.py) whose labels are several tokens long: the bandit takes its full-sequence (`answers`) form,
and the SFT policies are trained, merged and saved, then reloaded, all on Qwen2.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from notes_lab import bandit, data, models, rl_experiment, rl_report
from notes_lab.rl_experiment import NOISES, RLPlan

from . import hubkit
from .conftest import DATA

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("tokenizers")

NOTEBOOK = Path(__file__).parents[2] / "experiments" / "smol_rl" / "notebook.ipynb"
hub_model = hubkit.hub_model  # the fixture: a tiny Qwen2 and its tokenizer in a save_pretrained folder


def notebook_code() -> str:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")


def test_the_notebook_hands_model_id_to_the_experiment_as_the_base():
    """The path this module tests is the notebook's: model_id, when set, is the base, unchanged."""
    code = notebook_code()
    assert 'model_id = ""' in code
    assert "base = model_id or models.base_model(" in code
    assert "rl_experiment.run(plan, base, splits, output_dir)" in code


@pytest.mark.slow
def test_full_profile_path_end_to_end(hub_model, split, tmp_path, monkeypatch):
    monkeypatch.setattr(rl_experiment, "_LOADED", {})
    forms = []
    encode = bandit.encode

    def recording_encode(tokenizer, papers):
        actions = encode(tokenizer, papers)
        forms.append("single" if actions.single is not None else "answers")
        return actions

    monkeypatch.setattr(bandit, "encode", recording_encode)

    model_id = str(hub_model)  # the notebook's parameter, as a user would set it to a hub id
    base = model_id or models.base_model(
        "cpu", split.train, cache_dir=tmp_path / "cache", seed=0, device="cpu"
    )
    splits = {"low": split, "high": data.build(replace(DATA, noise_rate=0.55))[2]}
    plan = RLPlan(rewards=("strong", "class_weighted"), seeds=(0,), steps=2, prompts_per_step=2,
                  learning_rates=(1e-3,), group_sizes=(2,), eval_every=1, eval_rows=6, test_rows=8, rank=2,
                  sft_steps=2)  # fmt: skip
    results = rl_experiment.run(plan, base, splits, tmp_path / "out")

    assert not (tmp_path / "cache").exists()  # the cpu base was never built
    assert forms and set(forms) == {"answers"}  # multi-token labels: every encode took the full-sequence form
    hub_weight = models.load_causal_lm(hub_model)[0].model.layers[0].self_attn.q_proj.weight
    for noise in NOISES:
        folder = tmp_path / "out" / f"sft_{noise}"
        config = json.loads((folder / "config.json").read_text())
        assert config["model_type"] == "qwen2" and config["tie_word_embeddings"]
        assert not (folder / "adapter_config.json").exists()  # merged into the base, saved whole
        model, tokenizer = models.load_causal_lm(folder)
        assert type(model).__name__ == "Qwen2ForCausalLM" and type(tokenizer).__name__ == "Qwen2Tokenizer"
        assert tokenizer.bos_token is None and tokenizer.eos_token == hubkit.EOS
        assert not torch.equal(model.model.layers[0].self_attn.q_proj.weight, hub_weight)  # the SFT merged in
        metrics = results.sft[noise]
        assert metrics["n"] == 8 and math.isfinite(metrics["label_nll"]) and metrics["label_nll"] > 0
    assert list(results.cells) == [(noise, reward) for noise in NOISES for reward in plan.rewards]
    finals = [f for cell in results.finals.values() for f in cell] + [results.matched["rl"]]
    for final in finals:
        assert final["n"] == 8
        assert all(math.isfinite(final[key]) for key in rl_report.FINAL_KEYS)
        assert sum(final["probs"][0]) == pytest.approx(1.0, abs=1e-5)
    for runs in [*results.cells.values(), list(results.groups.values())]:
        for run in runs:
            assert [e["step"] for e in run.evals] == [0, 1, 2]
            assert all(math.isfinite(e[key]) for e in run.evals for key in rl_report.CURVE_KEYS)
    assert results.learning_rate == 1e-3 and math.isfinite(results.matched["sft"]["label_nll"])
    table = rl_report.factorial_table(results, plan)
    assert "| high | class_weighted |" in table and "n = 8 test rows; one seed" in table
