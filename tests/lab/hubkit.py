"""A user's hub model, built locally: a tiny Qwen2 with a Qwen2 tokenizer of its own, saved with save_pretrained.

Another architecture than the cpu base (biases on q/k/v, tied embeddings), another tokenizer (Qwen's
pre-tokenizer, no BOS, EOS and pad apart), and labels that are several tokens long, so the full-sequence
scoring path runs instead of the single-token one. The folder is what a notebook's `model_id` would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notes_lab import data, prompts
from notes_lab.vocab import CONFIDENCES, LABELS

EOS, PAD = "<|im_end|>", "<|endoftext|>"


def train_hub_tokenizer(folder: Path) -> object:
    """A Qwen2 tokenizer of its own: Qwen's pre-tokenizer (its split regex, digits one by one, NFC, byte-level
    pieces), BPE tokens of at most 3 characters trained on prompts and answers, no BOS, and Qwen2.5-Instruct's
    special tokens (EOS <|im_end|>, pad <|endoftext|>).

    It has to be Qwen's own pipeline: given a qwen2 config.json, transformers' AutoTokenizer loads
    Qwen2Tokenizer and rebuilds that pipeline around the saved vocabulary whatever tokenizer.json says.
    """
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    qwen2_tokenization = pytest.importorskip("transformers.models.qwen2.tokenization_qwen2")
    papers = data.generate_papers(data.DataConfig(n_papers=300, seed=99))
    texts = [prompts.format_prompt(p) for p in papers]
    texts += [prompts.answer_after_prompt(label, c) for label in LABELS for c in CONFIDENCES]
    pre = tokenizers.pre_tokenizers
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.normalizer = tokenizers.normalizers.NFC()
    bpe.pre_tokenizer = pre.Sequence([pre.Split(tokenizers.Regex(qwen2_tokenization.PRETOKENIZE_REGEX), "isolated"),
                                      pre.ByteLevel(add_prefix_space=False, use_regex=False)])  # fmt: skip
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=600, max_token_length=3, special_tokens=[PAD, EOS],
                                             initial_alphabet=pre.ByteLevel.alphabet(), show_progress=False)  # fmt: skip
    bpe.train_from_iterator(texts, trainer=trainer)
    trained = json.loads(bpe.to_str())["model"]
    tokenizer = transformers.Qwen2Tokenizer(vocab=trained["vocab"], merges=[tuple(m) for m in trained["merges"]],
                                            eos_token=EOS, pad_token=PAD)  # fmt: skip
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build_hub_model(folder: Path) -> Path:
    """The tokenizer and a seeded, untrained tiny Qwen2ForCausalLM, saved together in `folder`."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizer = train_hub_tokenizer(folder)
    # hidden 64, not 32: bitsandbytes' CPU 4-bit kernel needs in_features >= its 64-value block
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=64, max_position_embeddings=1024,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.Qwen2ForCausalLM(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def hub_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hub-model folder (built once per test module that imports this fixture)."""
    return build_hub_model(tmp_path_factory.mktemp("hub") / "hub_model")
