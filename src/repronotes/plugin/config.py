"""Typed options of the `repronotes` MkDocs plugin, grouped by prefix.

The CLI reads the same options from mkdocs.yml (repronotes.project), so `repronotes verify` and
`mkdocs build` always agree on the lock file, the experiments folder and the cache.
"""

from __future__ import annotations

from mkdocs.config import config_options as c
from mkdocs.config.base import Config

MODES = ("auto", "force", "off")
EXECUTORS = ("local",)


class RepronotesConfig(Config):
    enabled = c.Type(bool, default=True)
    """false: the plugin does nothing (markers stay as written)."""

    # execution: names users know from myst-nb
    execute = c.Optional(c.Choice(MODES))
    """auto: rerun what is stale or uncached; force: rerun everything runnable; off: verify records only.
    Default auto for `mkdocs build`, off for `mkdocs serve`. REPRONOTES_EXECUTE overrides it."""
    on_failure = c.Choice(("fail", "warn"), default="fail")
    """fail: drift, stale, missing or broken records fail the build; warn: they are logged as warnings
    (and `--strict` still fails) while the page shows the failing status."""
    allow_errors = c.Deprecated(message="renamed: use `on_failure: warn` instead of `allow_errors: true`")
    executor = c.Choice(EXECUTORS, default="local")
    """Where notebooks run (REPRONOTES_EXECUTOR overrides it). `local`: this machine, one run after another."""

    # the project, relative to the folder of mkdocs.yml
    experiments_dir = c.Type(str, default="experiments")
    """Where experiment folders live (<experiments_dir>/<name>/experiment.yaml)."""
    lock_file = c.Optional(c.Type(str))
    """The lock file whose hash (and whose packages' installed versions) go into every input hash.
    Default: the first of requirements.lock, pylock.toml, uv.lock, poetry.lock, requirements.txt."""
    cache_dir = c.Type(str, default=".cache/repronotes")
    """Local runs, rendered HTML and drift reports (git-ignored; REPRONOTES_CACHE_DIR overrides it)."""
    keep_runs = c.Type(int, default=3)
    """Cached runs kept per experiment and profile (keyed by input hash), so switching back is free."""

    # posts outside docs_dir (opt-in)
    posts_dir = c.Optional(c.Type(str))
    """A folder of Markdown posts outside docs_dir to mount into the build (e.g. `posts`). Off by default."""
    posts_url_dir = c.Type(str, default="posts")
    """Where the mounted posts appear inside docs_dir (the blog plugin's post_dir)."""

    # rendering
    display_profiles = c.ListOfItems(c.Type(str), default=["gpu", "cpu"])
    """Preference order for the profile whose record a page shows when a marker names none."""
    notebook_pages = c.Type(bool, default=True)
    """Publish every recorded executed notebook as its own page."""
    notebook_pages_dir = c.Type(str, default="notebooks")
    """Where those pages go inside the site."""
