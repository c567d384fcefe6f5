import json
import socket

from repronotes import fingerprint
from repronotes.redact import redactor_for


def test_fingerprint_has_no_identity_and_names_the_hardware(project, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_plantedFAKEtoken1234567890")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    fp = fingerprint.fingerprint(project.root, threads=2)
    text = json.dumps(fp)
    assert "hf_planted" not in text and str(project.root) not in text
    host = socket.gethostname()
    if len(host) >= 4:
        assert host not in text
    assert fp["determinism_env"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert fp["hardware_class"].startswith("cpu-") and fp["hardware_class"].endswith("-2t")
    assert fp["lock_sha256"] and fp["packages"]["papermill"]


def test_hardware_class_names():
    assert fingerprint.gpu_short_name("NVIDIA H100 80GB HBM3") == "h100"
    assert fingerprint.gpu_short_name("NVIDIA H200") == "h200"
    assert fingerprint.gpu_short_name("NVIDIA A100-SXM4-80GB") == "a100"
    assert fingerprint.hardware_class(4, {"short_name": "h100"}) == "cuda-h100"
    assert fingerprint.isa_level({"avx2", "fma"}) == "avx2" and fingerprint.isa_level({"avx512f"}) == "avx512"


def test_redactor_scrubs_secrets_paths_and_home(project, monkeypatch):
    monkeypatch.setenv("MY_API_KEY", "sk-fake-0123456789abcdef")
    monkeypatch.setenv("HOME", "/home/alice")
    monkeypatch.setenv("USER", "alice")
    r = redactor_for(project.root)
    dirty = {
        "tb": f'File "{project.root}/src/x.py", line 3 in /home/alice/.cache/y, token sk-fake-0123456789abcdef',
        "nested": [f"{project.root}/experiments"],
    }
    clean = r.obj(dirty)
    text = json.dumps(clean)
    assert "sk-fake" not in text and str(project.root) not in text and "/home/alice" not in text
    assert "<project>/src/x.py" in clean["tb"] and "<redacted-secret>" in clean["tb"]
    assert r.leaks(json.dumps(dirty)) and not r.leaks(text)
