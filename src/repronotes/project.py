"""A repronotes project: where it is, and its settings (the plugin's options in mkdocs.yml).

The CLI and the plugin read the same options, so they agree on everything that goes into an input
hash. A project is a folder with a `mkdocs.yml` or an experiments folder; anything else is an error
that says what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repronotes import environ, yamlio
from repronotes.errors import ProjectNotFoundError, SpecError
from repronotes.plugin.config import EXECUTORS, MODES, RepronotesConfig

CONFIG_FILE = "mkdocs.yml"


@dataclass(frozen=True)
class Settings:
    root: Path
    experiments_dir: str = "experiments"
    lock_file: str | None = None
    cache_dir: Path | None = None
    mode: str = "auto"
    mode_explicit: bool = False
    executor: str = "local"
    keep_runs: int = 3
    on_failure: str = "fail"
    docs_dir: str = "docs"
    posts_dir: str | None = None

    @property
    def cache(self) -> Path:
        return self.cache_dir or self.root / ".cache" / "repronotes"


def find_root(start: Path, explicit: Path | None = None) -> Path:
    """The project root: --root / REPRONOTES_ROOT, else the nearest folder up from `start` that is one."""
    given = explicit or environ.project_root_override()
    if given is not None:
        if not given.is_dir():
            raise ProjectNotFoundError(str(given), "--root", "no such folder")
        if not _is_project(given):
            raise ProjectNotFoundError(str(given), "--root", _missing_message())
        return given.resolve()
    for folder in [start, *start.parents]:
        if _is_project(folder):
            return folder.resolve()
    raise ProjectNotFoundError(
        start.name or str(start), "<project>", _missing_message() + " (here or in any parent)"
    )


def _is_project(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file() or (folder / "experiments").is_dir()


def _missing_message() -> str:
    return (
        f"not a repronotes project: no {CONFIG_FILE} and no experiments/ folder; "
        "start one with `repronotes init <name>`"
    )


def load_settings(root: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from mkdocs.yml's `repronotes` plugin entry (if any), the environment, and `overrides`."""
    site = yamlio.load_lenient(root / CONFIG_FILE) if (root / CONFIG_FILE).is_file() else None
    site = site if isinstance(site, dict) else {}
    options = {**plugin_options(site), **(overrides or {})}
    return settings_from(root, options, docs_dir=str(site.get("docs_dir") or "docs"))


def plugin_options(site: dict[str, Any]) -> dict[str, Any]:
    """The options of the `repronotes` entry in a parsed mkdocs.yml's `plugins` (list or mapping)."""
    plugins = site.get("plugins") or []
    items = plugins.items() if isinstance(plugins, dict) else [_entry(p) for p in plugins if p is not None]
    for name, options in items:
        if name == "repronotes":
            return dict(options or {}) if isinstance(options, dict) else {}
    return {}


def _entry(plugin: Any) -> tuple[str, Any]:
    if isinstance(plugin, dict) and len(plugin) == 1:
        return next(iter(plugin.items()))
    return (str(plugin), None)


def settings_from(
    root: Path, options: dict[str, Any], docs_dir: str = "docs", serving: bool = False
) -> Settings:
    """Validate plugin options with the plugin's own typed config and resolve the environment overrides."""
    config = RepronotesConfig()
    config.load_dict(options)
    failed, _warnings = config.validate()
    if failed:
        key, error = failed[0]
        raise SpecError(CONFIG_FILE, f"plugins.repronotes.{key}", str(error))
    known = {name for name, _ in RepronotesConfig._schema}
    unknown = [key for key in options if key not in known]  # mkdocs only warns; a typo must not pass
    if unknown:
        raise SpecError(
            CONFIG_FILE,
            f"plugins.repronotes.{unknown[0]}",
            f"unknown option; known: {', '.join(sorted(known))}",
        )
    mode = environ.execute_override() or config.execute or ("off" if serving else "auto")
    if mode not in MODES:
        raise SpecError(f"${environ.EXECUTE}", "value", f"must be one of {', '.join(MODES)}")
    executor = environ.executor_override() or config.executor
    if executor not in EXECUTORS:
        raise SpecError(f"${environ.EXECUTOR}", "value", f"must be one of {', '.join(EXECUTORS)}")
    if config.keep_runs < 1:
        raise SpecError(CONFIG_FILE, "plugins.repronotes.keep_runs", "must be at least 1")
    cache = environ.cache_dir_override() or root / config.cache_dir
    return Settings(
        root=root,
        experiments_dir=config.experiments_dir,
        lock_file=config.lock_file,
        cache_dir=cache,
        mode=mode,
        mode_explicit=bool(environ.execute_override() or config.execute),
        executor=executor,
        keep_runs=config.keep_runs,
        on_failure=config.on_failure,
        docs_dir=docs_dir,
        posts_dir=config.posts_dir,
    )
