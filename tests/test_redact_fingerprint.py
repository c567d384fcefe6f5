"""The redactor (secrets by value and by name, paths on boundaries), the fingerprint, lock files."""

import json
import socket

import pytest

from repronotes import environ, fingerprint, lockfile
from repronotes.redact import SECRET, TOKEN_SHAPES, looks_secret, redactor_for

# One fake credential of every shape the redactor knows, none of them real.
TOKENS = {
    "hf": "hf_AbCdEfGhIjKlMnOpQrStUvWx12",
    "ghp": "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOPqrstuv",
    "sk": "sk-proj-abcdEFGH1234ijklMNOP5678qrst",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "slack": "xoxb-1234567890-0987654321-abcdEFGHijkl",
    "gitlab": "glpat-abcdEFGH0123ijklMNOP",
}


@pytest.fixture
def clean_env(monkeypatch):
    """No credential of the developer's shell may satisfy (or spoil) an assertion here."""
    for name, value in list(environ.items()):
        if looks_secret(name, value) or TOKEN_SHAPES.search(value) or "://" in value:
            monkeypatch.delenv(name)
    return monkeypatch


# --- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(TOKENS))
def test_a_token_in_an_innocently_named_variable_is_found_by_value(project, clean_env, shape):
    token = TOKENS[shape]
    clean_env.setenv("SOME_SETTING", f"mode=fast;{token}")
    r = redactor_for(project.root)
    assert token in r.secrets  # found in the environment, not only by its shape in a text
    assert r.text(f"print({token!r}) -> {token}") == f"print('{SECRET}') -> {SECRET}"
    assert r.leaks(f"x{token}x") == [SECRET]


@pytest.mark.parametrize("shape", sorted(TOKENS))
def test_token_shapes_are_redacted_in_any_text_even_when_not_in_the_environment(project, clean_env, shape):
    token = TOKENS[shape]
    r = redactor_for(project.root)
    assert token not in r.secrets
    assert r.text(f"Authorization: Bearer {token}\n") == f"Authorization: Bearer {SECRET}\n"


def test_short_or_embedded_lookalikes_are_not_tokens(project, clean_env):
    r = redactor_for(project.root)
    kept = "hf_short sk-abc my_hf_AbCdEfGhIjKlMnOpQrStUvWx12 AKIA1234 xoxb-1"
    assert r.text(kept) == kept


def test_url_password_is_redacted_everywhere_and_the_url_keeps_its_shape(project, clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://app:hunter2pass@db.internal:5432/x")
    r = redactor_for(project.root)
    assert "hunter2pass" in r.secrets and "postgres://app:hunter2pass@db.internal:5432/x" not in r.secrets
    text = r.text("connecting to postgres://app:hunter2pass@db.internal:5432/x\npassword was 'hunter2pass'\n")
    assert "hunter2pass" not in text
    assert f"postgres://app:{SECRET}@db.internal:5432/x" in text
    assert f"password was '{SECRET}'" in text


def test_url_password_not_in_the_environment_is_still_redacted_in_urls(project, clean_env):
    r = redactor_for(project.root)
    assert r.text("mysql://dbuser:s3cr3tpw@localhost/db") == f"mysql://dbuser:{SECRET}@localhost/db"


@pytest.mark.parametrize("name", ["GITHUB_PAT", "OPENAI_KEY", "MY_PASSWORD", "SERVICE_TOKEN"])
def test_variables_named_like_secrets_are_redacted_from_six_characters(project, clean_env, name):
    clean_env.setenv(name, "zq7wx2")
    clean_env.setenv("OTHER_PASSWORD", "abcde")  # too short to be told from ordinary words
    r = redactor_for(project.root)
    assert r.text("value zq7wx2 and abcde") == f"value {SECRET} and abcde"


def test_suggestively_named_variable_is_redacted_only_with_a_random_looking_value(project, clean_env):
    clean_env.setenv("SESSION_X", "q8Zr4Lp0Xw2Nv7Ks")
    clean_env.setenv("SESSION_Y", "aaaaaaaaaaaaaaaaaaaa")
    clean_env.setenv("SESSION_Z", "Zr4Lp0Xw2")  # random, but shorter than 16
    r = redactor_for(project.root)
    assert r.text("a q8Zr4Lp0Xw2Nv7Ks b") == f"a {SECRET} b"
    assert r.text("aaaaaaaaaaaaaaaaaaaa Zr4Lp0Xw2") == "aaaaaaaaaaaaaaaaaaaa Zr4Lp0Xw2"


def test_an_ordinary_variable_is_not_a_secret(project, clean_env):
    clean_env.setenv("EDITOR_THEME", "q8Zr4Lp0Xw2Nv7KsQ")
    r = redactor_for(project.root)
    assert r.text("theme q8Zr4Lp0Xw2Nv7KsQ") == "theme q8Zr4Lp0Xw2Nv7KsQ"


# --- paths and identity ----------------------------------------------------------------------------


def test_paths_are_replaced_on_path_boundaries_only(project, clean_env):
    r = redactor_for(project.root)
    root = str(project.root)
    assert r.text(f"{root}/x") == "<project>/x"
    assert r.text(f'File "{root}", line 1') == 'File "<project>", line 1'
    sibling = r.text(f"{root}_cache_sec/x")
    assert "<project>" not in sibling and sibling.endswith("proj_cache_sec/x")
    assert "<project>" not in r.text(f"{root}.bak/x")


def test_home_and_user_are_replaced(project, clean_env):
    clean_env.setenv("HOME", "/home/alice")
    clean_env.setenv("USER", "alice")
    r = redactor_for(project.root)
    assert r.text("/home/alice/.cache/x") == "~/.cache/x"
    assert r.text("ssh alice@example.org") == "ssh <user>@example.org"
    assert r.text("/home/alicea/x") == "/home/alicea/x"  # another user's home is not ours
    assert r.text("alice in wonderland") == "alice in wonderland"  # a bare word is not an identity


def test_hostname_is_replaced(project, clean_env):
    clean_env.setattr(socket, "gethostname", lambda: "buildbox-42")
    r = redactor_for(project.root)
    assert r.text("ran on buildbox-42.") == "ran on <host>."
    assert r.text("ran on buildbox-421") == "ran on buildbox-421"


def test_obj_redacts_dict_keys_nested_lists_and_tuples(project, clean_env):
    clean_env.setenv("GITHUB_PAT", "zq7wx2abc")
    r = redactor_for(project.root)
    root = str(project.root)
    dirty = {
        f"{root}/a": [1, 2.5, None, True, ("zq7wx2abc", {"k": [f"{root}/b"]})],
        "plain": {"zq7wx2abc": "ok"},
    }
    clean = r.obj(dirty)
    assert clean == {
        "<project>/a": [1, 2.5, None, True, [SECRET, {"k": ["<project>/b"]}]],
        "plain": {SECRET: "ok"},
    }


def test_leaks_reports_what_is_still_there(project, clean_env):
    clean_env.setenv("GITHUB_PAT", "zq7wx2abc")
    r = redactor_for(project.root)
    dirty = f"token zq7wx2abc in {project.root}/x"
    assert {SECRET, "<project>"} <= set(r.leaks(dirty))
    assert r.leaks(r.text(dirty)) == []
    assert "<project>" not in r.leaks(f"{project.root}_other/x")


# --- fingerprint -----------------------------------------------------------------------------------


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(fingerprint, "detect_gpu", lambda: None)


def test_fingerprint_carries_no_identity_path_or_secret(project, clean_env, no_gpu):
    clean_env.setenv("SOME_SETTING", TOKENS["hf"])
    clean_env.setenv("GITHUB_PAT", TOKENS["ghp"])
    clean_env.setenv("HOME", "/home/alice")
    clean_env.setenv("USER", "alice")
    clean_env.setattr(socket, "gethostname", lambda: "buildbox-42")
    fp = fingerprint.fingerprint(project.root, threads=2, lock=project.root / "requirements.lock")
    text = json.dumps(fp)
    for forbidden in (TOKENS["hf"], TOKENS["ghp"], str(project.root), "/home/alice", "alice", "buildbox"):
        assert forbidden not in text
    assert fp["lock"]["file"] == "requirements.lock"


def test_fingerprint_lists_the_numerics_variables_that_are_set(project, clean_env, no_gpu):
    for name in environ.NUMERICS_VARS:
        clean_env.delenv(name, raising=False)
    clean_env.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    clean_env.setenv("PYTHONHASHSEED", "0")
    clean_env.setenv("SOME_UNRELATED_VAR", "1")
    fp = fingerprint.fingerprint(project.root, threads=2)
    assert fp["numerics_env"] == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONHASHSEED": "0"}


def test_fingerprint_hardware_class_packages_and_lock(project, clean_env, no_gpu):
    (project.root / "locks").mkdir()
    lock = project.root / "locks" / "requirements.lock"
    lock.write_text("numpy==2.1.3\n")
    fp = fingerprint.fingerprint(
        project.root, threads=2, lock=lock, packages={"pyyaml": "6.0", "numpy": "2.1.3"}
    )
    assert fp["hardware_class"].startswith("cpu-") and fp["hardware_class"].endswith("-2t")
    assert fp["gpu"] is None and fp["cpu"]["threads"] == 2
    assert fp["packages"] == {"numpy": "2.1.3", "pyyaml": "6.0"}  # what the notebook imported, nothing more
    assert fp["lock"] == {"file": "locks/requirements.lock", "sha256": lockfile.file_sha256(lock)}
    bare = fingerprint.fingerprint(project.root, threads=2)
    assert bare["packages"] == {} and bare["lock"] is None


def test_fingerprint_hardware_class_of_a_gpu(project, monkeypatch):
    gpu = {"name": "NVIDIA H100 80GB HBM3", "short_name": "h100", "memory_mib": 81559, "driver": "550.54"}
    monkeypatch.setattr(fingerprint, "detect_gpu", lambda: gpu)
    fp = fingerprint.fingerprint(project.root, threads=8)
    assert fp["hardware_class"] == "cuda-h100" and fp["gpu"] == gpu


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA A100-SXM4-80GB", "a100"),
        ("NVIDIA GeForce RTX 4090", "nvidia-geforce-rtx-4090"),  # no model code: a stable slug
        ("Tesla T4", "tesla-t4"),
        ("NVIDIA L40S", "l40s"),
        ("Some Odd Accelerator", "some-odd-accelerator"),
    ],
)
def test_gpu_short_name(name, short):
    assert fingerprint.gpu_short_name(name) == short


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ({"avx512f", "avx2", "sse4_2"}, "avx512"),
        ({"avx2", "fma", "sse4_2"}, "avx2"),
        ({"asimd", "fp"}, "neon"),
        ({"sse4_2"}, "sse4"),
        (set(), "baseline"),
    ],
)
def test_isa_level(flags, level):
    assert fingerprint.isa_level(flags) == level


# --- lock files ------------------------------------------------------------------------------------

REQUIREMENTS = """\
# generated by pip-compile
--index-url https://pypi.org/simple
numpy==2.1.3 \\
    --hash=sha256:0123456789abcdef
PyYAML==6.0.2 ; python_version >= "3.9"
requests[socks]==2.32.3  # via -r requirements.in
torch==2.5.1+cu124
scipy>=1.10
-e ./vendor/thing
"""
REQUIREMENTS_PINS = {"numpy": "2.1.3", "pyyaml": "6.0.2", "requests": "2.32.3", "torch": "2.5.1"}

PYLOCK = """\
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"

[[packages]]
name = "numpy"
version = "2.1.3"
wheels = [{ url = "https://files.example/numpy.whl", hashes = { sha256 = "abc" } }]

[[packages]]
name = "typing_extensions"
version = "4.12.2"

[[packages]]
name = "local-thing"
directory = { path = "./vendor/thing" }
"""

UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "numpy"
version = "2.1.3"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.example/numpy.tar.gz", hash = "sha256:abc", size = 1 }

[[package]]
name = "PyYAML"
version = "6.0.2"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "proj"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "numpy" }]
"""

POETRY_LOCK = """\
# This file is automatically @generated by Poetry 1.8.3 and should not be changed by hand.

[[package]]
name = "numpy"
version = "2.1.3"
description = "Fundamental package for array computing in Python"
optional = false
python-versions = ">=3.10"
files = [
    {file = "numpy-2.1.3.tar.gz", hash = "sha256:abc"},
]

[[package]]
name = "ruamel.yaml"
version = "0.18.6"
description = "YAML parser"
optional = false
python-versions = ">=3.7"

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "abc"
"""


@pytest.mark.parametrize(
    ("filename", "text", "pins"),
    [
        ("requirements.lock", REQUIREMENTS, REQUIREMENTS_PINS),
        ("requirements.txt", REQUIREMENTS, REQUIREMENTS_PINS),
        ("pylock.toml", PYLOCK, {"numpy": "2.1.3", "typing-extensions": "4.12.2"}),
        ("uv.lock", UV_LOCK, {"numpy": "2.1.3", "pyyaml": "6.0.2", "proj": "0.1.0"}),
        ("poetry.lock", POETRY_LOCK, {"numpy": "2.1.3", "ruamel-yaml": "0.18.6"}),
    ],
)
def test_each_lock_kind_is_found_and_parsed(tmp_path, filename, text, pins):
    (tmp_path / filename).write_text(text)
    found = lockfile.find_lock(tmp_path, None)
    assert found == tmp_path / filename
    assert lockfile.pinned(found) == pins


def test_lock_candidates_are_tried_in_order_and_a_configured_name_wins(tmp_path):
    assert lockfile.find_lock(tmp_path, None) is None
    (tmp_path / "requirements.txt").write_text("numpy==2.1.3\n")
    assert lockfile.find_lock(tmp_path, None) == tmp_path / "requirements.txt"
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    assert lockfile.find_lock(tmp_path, None) == tmp_path / "uv.lock"
    (tmp_path / "requirements.lock").write_text("numpy==2.1.3\n")
    assert lockfile.find_lock(tmp_path, None) == tmp_path / "requirements.lock"
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "pins.txt").write_text("scipy==1.14.1\n")
    configured = lockfile.find_lock(tmp_path, "env/pins.txt")
    assert configured == tmp_path / "env" / "pins.txt"
    assert lockfile.pinned(configured) == {"scipy": "1.14.1"}
    assert lockfile.find_lock(tmp_path, "env/missing.txt") is None  # configured: no silent fallback


def test_a_broken_toml_lock_falls_back_to_pin_lines(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text("[[package]\nnumpy==1.0\n")
    assert lockfile.pinned(lock) == {"numpy": "1.0"}


def test_installed_names_absent_distributions():
    versions = lockfile.installed(["pyyaml", "surely-not-installed-dist-xyz"])
    assert versions["surely-not-installed-dist-xyz"] == "absent"
    assert versions["pyyaml"][0].isdigit()
