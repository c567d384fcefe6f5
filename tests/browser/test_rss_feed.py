"""The RSS feed, fetched from the served site and parsed with feedparser, lists every post with its date."""

from __future__ import annotations

import datetime as dt
import urllib.request

import pytest
from site_map import POSTS

pytestmark = pytest.mark.browser

FEED = "feed_rss_created.xml"


@pytest.fixture(scope="module")
def feed(site):
    import feedparser

    with urllib.request.urlopen(site.url(FEED), timeout=10) as response:
        assert response.status == 200
        body = response.read()
    parsed = feedparser.parse(body)
    assert not parsed.bozo, f"{FEED} is not well-formed: {parsed.get('bozo_exception')}"
    return parsed


def _slug(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def test_feed_lists_the_four_posts_with_their_dates(feed):
    entries = {_slug(entry.link): entry for entry in feed.entries}
    assert set(POSTS) <= set(entries), f"feed entries: {sorted(entries)}"
    for slug, (date, _, _) in POSTS.items():
        published = entries[slug].get("published_parsed")
        assert published is not None, f"{slug}: no publication date in the feed"
        assert dt.date(*published[:3]).isoformat() == date, f"{slug}: feed date {published[:3]}"
        assert entries[slug].title, f"{slug}: no title"


def test_feed_links_use_the_stable_slug_urls(feed):
    links = sorted(entry.link for entry in feed.entries)
    for slug in POSTS:
        assert f"https://akhilpandey95.github.io/notes/{slug}/" in links, f"{slug}: {links}"
