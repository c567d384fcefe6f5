import os

import pytest

torch = pytest.importorskip("torch")

from notes_lab import runtime  # noqa: E402


@pytest.fixture(autouse=True)
def restore_torch_state():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_seed_everything_repeats_draws():
    runtime.seed_everything(5)
    first = torch.rand(4)
    runtime.seed_everything(5)
    assert torch.equal(first, torch.rand(4))


def test_configure_determinism_sets_knobs_and_facts_report_them():
    runtime.configure_determinism(True, threads=1)
    facts = runtime.torch_facts(seed=3, attention="eager")
    assert facts["deterministic_algorithms"] is True and facts["threads"] == 1
    assert facts["tf32_matmul"] is False and facts["float32_matmul_precision"] == "highest"
    assert facts["seed"] == 3 and facts["attention_implementation"] == "eager"
    assert facts["torch_version"] == torch.__version__.split("+")[0] or facts["torch_version"]
    runtime.configure_determinism(False)
    assert runtime.torch_facts()["deterministic_algorithms"] is False


def test_configure_determinism_rejects_zero_threads():
    with pytest.raises(ValueError, match="threads must be >= 1"):
        runtime.configure_determinism(True, threads=0)


def test_cublas_workspace_only_with_cuda(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    runtime.configure_determinism(True)
    expected = runtime.CUBLAS_WORKSPACE if torch.cuda.is_available() else None
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == expected


def test_pick_device_and_memory():
    assert runtime.pick_device("cpu") == "cpu"
    assert runtime.pick_device() in ("cpu", "cuda")
    with pytest.raises(ValueError, match="prefer must be"):
        runtime.pick_device("tpu")
    assert runtime.peak_memory_mb("cpu")["rss_mb"] > 10
