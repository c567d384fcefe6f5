"""Config-built models: sizes, the local tokenizer, the cached base, the pretraining corpus, loading."""

import json

import pytest

torch = pytest.importorskip("torch")

from notes_lab import data, models, prompts  # noqa: E402

TINY = models.ModelSize(hidden=32, layers=1, heads=2, kv_heads=1, intermediate=64, vocab_size=320,
                        max_positions=256, pretrain_steps=2, pretrain_batch=2, pretrain_lr=1e-3)  # fmt: skip


@pytest.fixture(scope="module")
def papers():
    return data.generate_papers(data.DataConfig(n_papers=40))


def corpus_texts(papers):
    return [text for document in models.pretraining_documents(papers, seed=0) for text in document]


@pytest.fixture
def tiny_sizes(monkeypatch):
    monkeypatch.setitem(models.SIZES, "tiny", TINY)


def test_size_validation_names_field():
    with pytest.raises(ValueError, match="divisible by heads"):
        models.ModelSize(
            hidden=30, layers=1, heads=4, kv_heads=1, intermediate=8, vocab_size=512, max_positions=8
        )
    with pytest.raises(ValueError, match="ModelSize.layers must be >= 1"):
        models.ModelSize(
            hidden=32, layers=0, heads=2, kv_heads=1, intermediate=8, vocab_size=512, max_positions=8
        )


def test_tokenizer_encodes_any_text_and_round_trips(tmp_path, papers):
    tokenizer = models.train_tokenizer(corpus_texts(papers), 320, tmp_path)
    for text in (prompts.target_completion(papers[0]), 'Ünïcode ✓ 数据 {"k": [1, 2]}\n\ttabs'):
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert {tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token} == {"<pad>", "<s>", "</s>"}


def llama_parameters(size, vocab):
    kv = size.hidden // size.heads * size.kv_heads
    layer = 2 * size.hidden**2 + 2 * size.hidden * kv + 3 * size.hidden * size.intermediate + 2 * size.hidden
    return 2 * vocab * size.hidden + size.layers * layer + size.hidden


@pytest.mark.slow
def test_size_presets_are_in_their_parameter_ranges(tmp_path, papers):
    tokenizer = models.train_tokenizer(corpus_texts(papers[:5]), 320, tmp_path)
    built = models.build_model(TINY, tokenizer, 0)
    assert models.parameter_count(built) == llama_parameters(TINY, max(TINY.vocab_size, len(tokenizer)))
    assert 1_000_000 <= llama_parameters(models.SIZES["cpu"], models.SIZES["cpu"].vocab_size) <= 5_000_000
    assert 50_000_000 <= llama_parameters(models.SIZES["gpu"], models.SIZES["gpu"].vocab_size) <= 150_000_000


@pytest.mark.slow
def test_save_and_load_round_trip_gives_same_logits(tmp_path, papers):
    tokenizer = models.train_tokenizer(corpus_texts(papers), 320, tmp_path)
    model = models.build_model(TINY, tokenizer, seed=1)
    model.save_pretrained(str(tmp_path))
    loaded, loaded_tokenizer = models.load_causal_lm(tmp_path)
    assert loaded_tokenizer.padding_side == "left"
    batch = loaded_tokenizer([prompts.format_prompt(papers[0])], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model.eval()(**batch).logits, loaded(**batch).logits)
    bf16, _ = models.load_causal_lm(tmp_path, dtype="bfloat16")
    assert next(bf16.parameters()).dtype == torch.bfloat16


@pytest.mark.slow
def test_build_model_is_seeded(tmp_path, papers):
    tokenizer = models.train_tokenizer(corpus_texts(papers), 320, tmp_path)
    a, b = (models.build_model(TINY, tokenizer, seed=4) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.slow
def test_base_model_is_cached_by_input_hash(tmp_path, papers, tiny_sizes):
    first = models.base_model("tiny", papers, tmp_path, seed=0, device="cpu")
    info = json.loads((first / models.BASE_MODEL_INFO).read_text())
    assert len(info["losses"]) == 2 and info["key"]["steps"] == 2
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert models.base_model("tiny", papers, tmp_path, seed=0, device="cpu") == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert models.base_model("tiny", papers, tmp_path, seed=1, device="cpu") != first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    model, tokenizer = models.load_causal_lm(first)
    assert model.config.num_hidden_layers == 1 and tokenizer.eos_token == "</s>"


def test_base_model_rejects_unknown_size(tmp_path, papers):
    with pytest.raises(ValueError, match="size_name must be one of"):
        models.base_model("huge", papers, tmp_path)


def test_load_rejects_unknown_dtype(tmp_path):
    with pytest.raises(ValueError, match="dtype must be one of"):
        models.load_causal_lm(tmp_path, dtype="int3")


@pytest.mark.slow
def test_base_model_key_includes_cpu_threads(tmp_path, papers, tiny_sizes):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = models.base_model("tiny", papers, tmp_path, seed=0, device="cpu")
        torch.set_num_threads(2)
        two = models.base_model("tiny", papers, tmp_path, seed=0, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert one != two
    assert json.loads((one / models.BASE_MODEL_INFO).read_text())["key"]["device"] == "cpu-1t"


def test_pretraining_answers_follow_the_contract_and_ignore_the_paper(papers):
    from notes_lab.contract import parse_completion
    from notes_lab.prompts import ANSWER_PREFIX

    documents = models.pretraining_documents(papers, seed=3)
    assert [prompt for prompt, _ in documents] == [prompts.format_prompt(p) for p in papers]
    parsed = [parse_completion(ANSWER_PREFIX + answer) for _, answer in documents]
    assert all(p.format_strict_ok and p.payload_valid for p in parsed)
    assert len({p.label for p in parsed}) == 3
    relabelled = [dict(p, disruption_label="neutral", cd_index=0.0) for p in papers]
    assert [a for _, a in models.pretraining_documents(relabelled, seed=3)] == [a for _, a in documents]
    assert models.pretraining_documents(papers, seed=4) != documents


def test_every_answer_token_occurs_in_the_pretraining_stream(tmp_path, papers):
    """Tokens seen only in answers would keep untrained output rows that adapters cannot reach.

    A prompts-only corpus fails this: with merges learnt, the lone '"' after '{' and '"}' never occur.
    """
    tokenizer = models.train_tokenizer(corpus_texts(papers) + [prompts.INSTRUCTION], 2048, tmp_path)
    stream = set()
    for prompt, answer in models.pretraining_documents(papers, seed=0):
        stream.update(models.encode_document(tokenizer, prompt, answer, 4096))
    for paper in papers:
        answer_ids = tokenizer(prompts.completion_after_prompt(paper), add_special_tokens=False)["input_ids"]
        assert set(answer_ids) | {tokenizer.eos_token_id} <= stream


def test_encode_document_tokenises_prompt_and_answer_apart(tmp_path, papers):
    tokenizer = models.train_tokenizer(corpus_texts(papers), 320, tmp_path)
    prompt, answer = models.pretraining_documents(papers, seed=0)[0]
    ids = models.encode_document(tokenizer, prompt, answer, 4096)
    prompt_ids = tokenizer(prompt)["input_ids"]
    assert ids[: len(prompt_ids)] == prompt_ids and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == prompt + answer
    assert models.encode_document(tokenizer, prompt, answer, 10) == ids[-10:]


@pytest.mark.slow
def test_load_causal_lm_in_4bit(tiny_base, split):
    bnb = pytest.importorskip("bitsandbytes")
    model, tokenizer = models.load_causal_lm(tiny_base, quantize_4bit=True)
    quantized = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 7 * model.config.num_hidden_layers  # every projection; lm_head stays full
    assert quantized[0].weight.quant_state.quant_type == "nf4" and quantized[0].compute_dtype == torch.float32
    assert not isinstance(model.lm_head, bnb.nn.Linear4bit) and tokenizer.padding_side == "left"
    full, _ = models.load_causal_lm(tiny_base)
    batch = tokenizer([prompts.format_prompt(split.test[0])], return_tensors="pt")
    with torch.no_grad():
        four_bit, fp32 = model(**batch).logits, full(**batch).logits
    assert torch.isfinite(four_bit).all() and not torch.equal(four_bit, fp32)
    assert torch.corrcoef(torch.stack([four_bit.flatten(), fp32.flatten()]))[0, 1] > 0.5


@pytest.mark.slow
def test_4bit_layers_keep_their_layout_so_dora_scores_the_same_in_eval(tiny_base, split):
    """bitsandbytes repacks a Linear4bit for AVX512-BF16 CPUs in eval + no_grad; peft's DoRA then
    dequantises the packed weight as plain NF4 and gets the norms wrong (0.13 output error measured).
    load_causal_lm turns the repack off, so eval and train mode (dropout 0) agree on every CPU."""
    bnb = pytest.importorskip("bitsandbytes")
    peft = pytest.importorskip("peft")
    model, tokenizer = models.load_causal_lm(tiny_base, quantize_4bit=True)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and not any(m.support_avx512bf16_for_cpu for m in layers)
    torch.manual_seed(0)
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "down_proj"],
                             use_dora=True, init_lora_weights=False)  # fmt: skip
    model = peft.get_peft_model(model, config)
    batch = tokenizer([prompts.format_prompt(split.test[0])], return_tensors="pt")
    model.train()
    trained_mode = model(**batch).logits.detach()
    model.eval()
    with torch.no_grad():
        eval_mode = model(**batch).logits
    assert torch.allclose(eval_mode, trained_mode, atol=1e-5), (eval_mode - trained_mode).abs().max()


def test_keep_4bit_layout_turns_off_every_repack_flag():
    class Layer(torch.nn.Module):
        def __init__(self, flag):
            super().__init__()
            self.support_avx512bf16_for_cpu = flag

    model = torch.nn.Sequential(Layer(True), Layer(False), torch.nn.Linear(2, 2), Layer(True))
    assert models.keep_4bit_layout(model) == 2
    assert not any(getattr(m, "support_avx512bf16_for_cpu", False) for m in model.modules())
