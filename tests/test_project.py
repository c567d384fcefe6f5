"""The project: finding its root, and its settings (the plugin's options in mkdocs.yml plus the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repronotes.errors import ProjectNotFoundError, SpecError
from repronotes.project import find_root, load_settings, settings_from


def site(tmp_path: Path, plugins: str, extra: str = "") -> Path:
    root = tmp_path / "site"
    root.mkdir(exist_ok=True)
    (root / "mkdocs.yml").write_text(f"site_name: Notes\ndocs_dir: notes\n{extra}plugins:\n{plugins}")
    return root


# --- find_root ------------------------------------------------------------------------------------


def test_an_explicit_folder_that_does_not_exist(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ProjectNotFoundError) as err:
        find_root(tmp_path, missing)
    assert err.value.exit_code == 2
    assert str(missing) in str(err.value) and "no such folder" in str(err.value)


def test_an_explicit_folder_that_is_not_a_project(tmp_path):
    with pytest.raises(ProjectNotFoundError) as err:
        find_root(tmp_path, tmp_path)
    message = str(err.value)
    assert "mkdocs.yml" in message and "experiments/" in message and "repronotes init" in message


def test_no_project_here_or_above(tmp_path):
    start = tmp_path / "a" / "b"
    start.mkdir(parents=True)
    with pytest.raises(ProjectNotFoundError, match=r"repronotes init.*here or in any parent"):
        find_root(start)


def test_the_root_is_found_from_a_subfolder(project):
    folder = project.experiment()
    assert (
        find_root(folder / "records" if (folder / "records").is_dir() else folder) == project.root.resolve()
    )
    assert find_root(project.root / "notes") == project.root.resolve()


def test_an_experiments_folder_alone_makes_a_project(tmp_path):
    (tmp_path / "experiments" / "toy").mkdir(parents=True)
    assert find_root(tmp_path / "experiments" / "toy") == tmp_path.resolve()


def test_repronotes_root_overrides_the_search(project, tmp_path, monkeypatch):
    monkeypatch.setenv("REPRONOTES_ROOT", str(project.root))
    assert find_root(tmp_path) == project.root.resolve()


# --- load_settings --------------------------------------------------------------------------------


def test_defaults_without_a_repronotes_entry(tmp_path):
    root = site(tmp_path, "  - search\n")
    settings = load_settings(root)
    assert (settings.mode, settings.mode_explicit, settings.keep_runs) == ("auto", False, 3)
    assert settings.cache == root / ".cache" / "repronotes"
    assert settings.docs_dir == "notes" and settings.experiments_dir == "experiments"


def test_plugin_options_in_list_form(tmp_path):
    root = site(
        tmp_path,
        "  - search\n  - repronotes:\n      execute: 'off'\n      keep_runs: 5\n      lock_file: uv.lock\n",
    )
    settings = load_settings(root)
    assert (settings.mode, settings.mode_explicit, settings.keep_runs) == ("off", True, 5)
    assert settings.lock_file == "uv.lock"


def test_plugin_options_in_mapping_form(tmp_path):
    root = site(tmp_path, "  search: {}\n  repronotes:\n    keep_runs: 7\n    experiments_dir: exps\n")
    settings = load_settings(root)
    assert settings.keep_runs == 7 and settings.experiments_dir == "exps"


def test_a_bare_plugin_entry_takes_the_defaults(tmp_path):
    root = site(tmp_path, "  - search\n  - repronotes\n")
    settings = load_settings(root)
    assert (settings.mode, settings.keep_runs, settings.cache_dir) == ("auto", 3, root / ".cache/repronotes")


def test_mkdocs_tags_are_tolerated(tmp_path):
    plugins = (
        "  - tags:\n      tags_slugify: !!python/name:material.plugins.tags.tag_name_casefold\n"
        "  - repronotes: {keep_runs: 4}\n"
    )
    extra = "site_url: !ENV [SITE_URL_FOR_TEST, 'https://example.org/']\n"
    extra += "markdown_extensions:\n  - pymdownx.emoji:\n      emoji_index: !!python/name:material.extensions.emoji.twemoji\n"
    root = site(tmp_path, plugins, extra)
    assert load_settings(root).keep_runs == 4


@pytest.mark.parametrize("value, expected", [(None, 6), ("9", 9)])
def test_an_env_tag_in_a_plugin_option_resolves_like_mkdocs(tmp_path, monkeypatch, value, expected):
    if value is not None:
        monkeypatch.setenv("NOTES_KEEP_RUNS", value)
    root = site(tmp_path, "  - repronotes:\n      keep_runs: !ENV [NOTES_KEEP_RUNS, 6]\n")
    assert load_settings(root).keep_runs == expected


@pytest.mark.parametrize(
    "options, key",
    [
        ("{execute: sometimes}", "plugins.repronotes.execute"),
        ('{keep_runs: "x"}', "plugins.repronotes.keep_runs"),
        ("{keep_runs: 0}", "plugins.repronotes.keep_runs"),
        ("{on_failure: ignore}", "plugins.repronotes.on_failure"),
        ("{exceute: 'off'}", "plugins.repronotes.exceute"),
    ],
)
def test_an_invalid_option_names_mkdocs_yml_and_the_key(tmp_path, options, key):
    root = site(tmp_path, f"  - repronotes: {options}\n")
    with pytest.raises(SpecError) as err:
        load_settings(root)
    assert err.value.file == "mkdocs.yml" and err.value.key == key
    assert str(err.value).startswith(f"mkdocs.yml: {key}: ")
    assert err.value.exit_code == 2


def test_environment_overrides(tmp_path, monkeypatch):
    root = site(tmp_path, "  - repronotes: {execute: auto, cache_dir: .mycache}\n")
    assert load_settings(root).cache == root / ".mycache"
    monkeypatch.setenv("REPRONOTES_EXECUTE", "force")
    monkeypatch.setenv("REPRONOTES_CACHE_DIR", str(tmp_path / "elsewhere"))
    settings = load_settings(root)
    assert settings.mode == "force" and settings.cache == tmp_path / "elsewhere"


def test_an_invalid_environment_override_names_the_variable(tmp_path, monkeypatch):
    root = site(tmp_path, "  - repronotes\n")
    monkeypatch.setenv("REPRONOTES_EXECUTE", "sometimes")
    with pytest.raises(SpecError, match=r"\$REPRONOTES_EXECUTE: value: must be one of auto, force, off"):
        load_settings(root)


def test_overrides_win_over_the_file(tmp_path):
    root = site(tmp_path, "  - repronotes: {execute: auto}\n")
    assert load_settings(root, {"execute": "off"}).mode == "off"


def test_serving_defaults_execution_to_off_unless_set(tmp_path, monkeypatch):
    root = tmp_path
    assert settings_from(root, {}, serving=True).mode == "off"
    assert settings_from(root, {}, serving=False).mode == "auto"
    assert settings_from(root, {"execute": "auto"}, serving=True).mode == "auto"
    monkeypatch.setenv("REPRONOTES_EXECUTE", "force")
    settings = settings_from(root, {}, serving=True)
    assert settings.mode == "force" and settings.mode_explicit
