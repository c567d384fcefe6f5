"""Llama-architecture causal LMs built from a config, a locally trained tokenizer, and a cached base model.

Nothing here downloads. `base_model` trains a byte-level BPE tokenizer on the synthetic corpus, builds a
small Llama from `SIZES`, pretrains it briefly on the prompts (titles, abstracts, year, citations,
field) each followed by a contract-shaped answer with a random label (the format, never the task; see
`pretraining_documents`), and saves both with `save_pretrained` into a folder named by the
hash of everything that went in. `load_causal_lm` is the one `from_pretrained` path: it takes that folder
or, in the `full` profile, a hub id such as "Qwen/Qwen2.5-0.5B-Instruct" (that profile is documented,
not run here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from notes_lab import prompts
from notes_lab._deps import require
from notes_lab.schedules import lr_factor
from notes_lab.tensors import right_padded
from notes_lab.vocab import CONFIDENCES, LABELS

logger = logging.getLogger(__name__)

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
BASE_MODEL_INFO = "base_model.json"


@dataclass(frozen=True)
class ModelSize:
    """Shape of a Llama model; the embedding rows are max(vocab_size, len(tokenizer))."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    pretrain_steps: int = 60
    pretrain_batch: int = 16
    pretrain_lr: float = 3e-3

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "heads", "kv_heads", "intermediate", "vocab_size", "max_positions"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelSize.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"ModelSize.hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.heads % self.kv_heads:
            raise ValueError(
                f"ModelSize.heads ({self.heads}) must be divisible by kv_heads ({self.kv_heads})"
            )
        if self.vocab_size < 300:
            raise ValueError(
                f"ModelSize.vocab_size must be >= 300 (256 bytes + specials), got {self.vocab_size}"
            )


SIZES: dict[str, ModelSize] = {
    # about 1.1M parameters: builds and pretrains in seconds on 2 CPU cores.
    "cpu": ModelSize(hidden=128, layers=3, heads=4, kv_heads=2, intermediate=384, vocab_size=2048,
                     max_positions=512, pretrain_steps=240, pretrain_batch=16, pretrain_lr=3e-3),
    # about 88M parameters: pretrains in well under a minute on one H100.
    "gpu": ModelSize(hidden=768, layers=12, heads=12, kv_heads=4, intermediate=2048, vocab_size=8192,
                     max_positions=1024, pretrain_steps=200, pretrain_batch=32, pretrain_lr=1e-3),
}  # fmt: skip


def train_tokenizer(texts: list[str], vocab_size: int, folder: str | Path) -> Any:
    """Byte-level BPE trained on `texts` (encodes any string), BOS prepended, saved into `folder`."""
    tokenizers = require("tokenizers")
    transformers = require("transformers")
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    tokenizer = tokenizers.Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    wrapped = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD
    )
    wrapped.save_pretrained(str(folder))
    return wrapped


def build_model(size: ModelSize, tokenizer: Any, seed: int) -> Any:
    """A freshly initialised LlamaForCausalLM (fp32, eager attention) seeded by `seed`."""
    torch = require("torch")
    transformers = require("transformers")
    config = transformers.LlamaConfig(
        vocab_size=max(size.vocab_size, len(tokenizer)),
        hidden_size=size.hidden,
        intermediate_size=size.intermediate,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.kv_heads,
        max_position_embeddings=size.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config)


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def pretraining_documents(papers: list[dict], seed: int) -> list[tuple[str, str]]:
    """The pretraining corpus: (prompt, answer) per paper, the answer's label and confidence drawn at random.

    The random answers are seeded and independent of the paper, so the base learns the contract's
    *format* (as any real base model knows JSON) and nothing about the task. Without them the tokens
    only an answer uses (a lone '"' after the prompt's '{', and '"}') keep untrained output rows, which
    no adapter on the attention and MLP projections can reach: greedy decoding still finds them, but
    sampling at temperature 1.0 at those positions is close to uniform over the vocabulary.
    """
    rng = random.Random(seed)
    return [
        (prompts.format_prompt(paper), prompts.answer_after_prompt(rng.choice(LABELS), rng.choice(CONFIDENCES)))
        for paper in papers
    ]  # fmt: skip


def encode_document(tokenizer: Any, prompt: str, answer: str, max_length: int) -> list[int]:
    """Ids of prompt then answer then EOS, tokenised apart as fine-tuning and generation see them."""
    answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    prompt_ids = list(tokenizer(prompt)["input_ids"])
    return (prompt_ids + answer_ids)[-max_length:]


def base_model_key(size_name: str, papers: list[dict], seed: int, steps: int, device: str) -> dict[str, Any]:
    """Everything the cached base model depends on (hashed into its folder name)."""
    documents = pretraining_documents(papers, seed)
    corpus = hashlib.sha256(json.dumps(documents).encode()).hexdigest()
    here = Path(__file__).parent
    code = hashlib.sha256((here / "models.py").read_bytes() + (here / "prompts.py").read_bytes()).hexdigest()
    versions = {name: _version(name) for name in ("torch", "transformers", "tokenizers")}
    return {"size": size_name, "shape": asdict(SIZES[size_name]), "corpus_sha256": corpus, "seed": seed,
            "steps": steps, "device": device, "code_sha256": code, "versions": versions}  # fmt: skip


def base_model(
    size_name: str,
    papers: list[dict],
    cache_dir: str | Path,
    seed: int = 0,
    steps: int | None = None,
    device: str | None = None,
) -> Path:
    """Tokenizer + briefly pretrained Llama, cached under cache_dir/<input hash>/; returns that folder."""
    if size_name not in SIZES:
        raise ValueError(f"base_model: size_name must be one of {sorted(SIZES)}, got {size_name!r}")
    from notes_lab import runtime

    device = device or runtime.pick_device()
    steps = SIZES[size_name].pretrain_steps if steps is None else steps
    # CPU float sums depend on the thread count, so the weights do too: it is part of the key.
    threads = require("torch").get_num_threads()
    kind = "cuda" if device.startswith("cuda") else f"cpu-{threads}t"
    key = base_model_key(size_name, papers, seed, steps, kind)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    target = Path(cache_dir) / f"base-{size_name}-{digest}"
    if (target / BASE_MODEL_INFO).exists():
        logger.info("base model cache hit: %s", target)
        return target
    staging = Path(cache_dir) / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    info = _build_and_pretrain(SIZES[size_name], papers, staging, seed, steps, device)
    info["key"] = key
    (staging / BASE_MODEL_INFO).write_text(
        json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    try:
        staging.rename(target)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _build_and_pretrain(
    size: ModelSize, papers: list[dict], folder: Path, seed: int, steps: int, device: str
):
    from notes_lab import runtime

    runtime.seed_everything(seed)
    documents = pretraining_documents(papers, seed)
    started = time.perf_counter()
    texts = [text for document in documents for text in document]
    tokenizer = train_tokenizer(texts + [prompts.INSTRUCTION], size.vocab_size, folder)
    model = build_model(size, tokenizer, seed).to(device)
    encoded = [encode_document(tokenizer, *document, size.max_positions) for document in documents]
    losses = pretrain(model, tokenizer, encoded, size, steps, seed, device)
    model.to("cpu").save_pretrained(str(folder))
    return {"parameters": parameter_count(model), "vocab": len(tokenizer), "losses": losses,
            "seconds": time.perf_counter() - started}  # fmt: skip


def pretrain(
    model: Any,
    tokenizer: Any,
    documents: list[list[int]],
    size: ModelSize,
    steps: int,
    seed: int,
    device: str,
):
    """Plain next-token training on random batches of token-id `documents` (AdamW, cosine); returns the losses."""
    torch = require("torch")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=size.pretrain_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, steps, 5, "cosine", floor=0.1)
    )
    use_bf16 = device.startswith("cuda")
    model.train()
    losses = []
    for _ in range(steps):
        picks = torch.randint(len(documents), (size.pretrain_batch,), generator=generator).tolist()
        input_ids_B_T, attention_B_T = right_padded(
            [documents[i] for i in picks], tokenizer.pad_token_id, torch
        )
        labels_B_T = input_ids_B_T.masked_fill(attention_B_T == 0, -100)
        batch = {"input_ids": input_ids_B_T.to(device), "attention_mask": attention_B_T.to(device)}
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(**batch, labels=labels_B_T.to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_causal_lm(
    name_or_path: str | Path,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    quantize_4bit: bool = False,
    compute_dtype: str | None = None,
    attn_implementation: str = "eager",
) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder or a hub id, through one from_pretrained path.

    quantize_4bit loads NF4 weights with double quantisation (bitsandbytes) and computes in
    `compute_dtype` (default: `dtype`). The tokenizer pads on the left, for batched generation.
    """
    torch = require("torch")
    transformers = require("transformers")
    torch_dtype = _torch_dtype(torch, dtype)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "attn_implementation": attn_implementation}
    if quantize_4bit:
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=_torch_dtype(torch, compute_dtype or dtype),
        )
        kwargs["device_map"] = {"": device}
    model = transformers.AutoModelForCausalLM.from_pretrained(str(name_or_path), **kwargs)
    if quantize_4bit:
        keep_4bit_layout(model)
    else:
        model.to(device)
    model.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(name_or_path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def keep_4bit_layout(model: Any) -> int:
    """Stop bitsandbytes repacking 4-bit weights for AVX512-BF16 CPUs; returns how many layers it touched.

    On a CPU with AVX512-BF16, a Linear4bit in eval mode under no_grad repacks its weight in place into a
    bf16 layout. peft's DoRA then dequantises that packed weight as if it were plain NF4 and divides by the
    wrong column norms (measured: QDoRA test label NLL 0.984 instead of 0.916 on the same adapter), and
    every 4-bit matmul drops to bf16. Turning the repack off keeps evaluation in the compute dtype and makes
    a record independent of whether the CPU has the bf16 extension.
    """
    touched = 0
    for module in model.modules():
        if getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            touched += 1
    return touched


def _torch_dtype(torch: Any, name: str) -> Any:
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}  # fmt: skip
    if name not in names:
        raise ValueError(f"dtype must be one of {sorted(names)}, got {name!r}")
    return names[name]
