"""Typed options of the `repronotes` MkDocs plugin, grouped by prefix."""

from __future__ import annotations

from mkdocs.config import config_options as c
from mkdocs.config.base import Config


class RepronotesConfig(Config):
    enabled = c.Type(bool, default=True)

    # execution: names users know from myst-nb
    execute = c.Choice(("auto", "force", "off"), default="auto")
    """auto: rerun what is stale or uncached; force: rerun everything runnable; off: verify records only.
    The environment variable REPRONOTES_EXECUTE overrides it (CI and browser tests use `off`)."""
    allow_errors = c.Type(bool, default=False)
    """When true, failures become warnings (the page shows the failing status) instead of failing the build."""

    # where things are, relative to the folder of mkdocs.yml
    posts_dir = c.Type(str, default="posts")
    """Markdown posts outside docs_dir, mounted into the build (list this plugin before `blog`)."""
    posts_url_dir = c.Type(str, default="posts")
    """Where the mounted posts appear inside docs_dir (the blog plugin's post_dir)."""

    # rendering
    display_profiles = c.ListOfItems(c.Type(str), default=["gpu", "cpu"])
    """Preference order for the profile whose record a post shows by default."""
    notebook_pages = c.Type(bool, default=True)
    """Publish every recorded executed notebook as its own page."""
    notebook_pages_dir = c.Type(str, default="notebooks")
