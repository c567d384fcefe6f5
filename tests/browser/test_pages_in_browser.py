"""Every page of the built site, opened in Debian's chromium: clean console, figures, panels, math."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from site_map import EMBED_SELECTOR, PAGES, PANEL_SELECTOR, PANEL_STATUS_SELECTOR, POSTS

pytestmark = pytest.mark.browser

SCHEMES = ("light", "dark")
SETTLE_MS = 600
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}

# Loads every <img> on the page eagerly and reports its natural size once decoded.
IMAGES_JS = """
async (selector) => {
  const images = Array.from(document.querySelectorAll(selector));
  for (const image of images) {
    image.loading = "eager";
    try { await image.decode(); } catch (error) { /* reported as a zero size below */ }
  }
  return images.map((image) => ({
    src: (image.currentSrc || image.src).slice(0, 120),
    width: image.naturalWidth,
    height: image.naturalHeight,
  }));
}
"""


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_cleanly_and_is_screenshotted(open_page, artifacts_dir, name, scheme):
    opened = open_page(PAGES[name], color_scheme=scheme)
    page = opened.page
    assert page.locator("article").count() >= 1, f"{name}: no <article> rendered"
    shown_scheme = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    assert shown_scheme == ("slate" if scheme == "dark" else "default"), (
        f"{name}: {scheme} scheme not applied"
    )
    page.wait_for_timeout(SETTLE_MS)  # let Material's tab and header transitions finish
    page.screenshot(path=str(artifacts_dir / f"{name}-{scheme}.png"), full_page=True)
    problems = opened.problems.all()
    assert not problems, f"{name} ({scheme}):\n" + "\n".join(problems)


@pytest.mark.parametrize("slug", list(POSTS))
def test_post_figures_load_with_a_size(open_page, slug):
    _, _, min_figures = POSTS[slug]
    page = open_page(PAGES[slug]).page
    images = page.evaluate(IMAGES_JS, "article img")
    broken = [image for image in images if image["width"] == 0 or image["height"] == 0]
    assert not broken, f"{slug}: images that did not load: {broken}"
    assert len(images) >= min_figures, f"{slug}: expected at least {min_figures} figure(s), found {images}"


@pytest.mark.parametrize("slug", [slug for slug, (_, experiments, _) in POSTS.items() if experiments])
def test_post_shows_outputs_and_a_reproducibility_panel_per_experiment(open_page, slug):
    _, experiments, _ = POSTS[slug]
    page = open_page(PAGES[slug]).page
    for experiment in experiments:
        embed = page.locator(EMBED_SELECTOR.format(name=experiment))
        assert embed.count() == 1, f"{slug}: {experiment!r} is not embedded once (found {embed.count()})"
        panel = page.locator(f"{EMBED_SELECTOR.format(name=experiment)} + {PANEL_SELECTOR}")
        assert panel.count() == 1, f"{slug}: no reproducibility panel right after {experiment!r}"
        status = panel.locator(f"summary {PANEL_STATUS_SELECTOR}")
        assert status.count() >= 1 and status.first.inner_text().strip(), (
            f"{slug}: {experiment!r} panel has no status"
        )
        assert panel.get_attribute("open") is None, f"{slug}: {experiment!r} panel should start collapsed"


def test_every_page_in_the_sitemap_loads_cleanly(open_page, site):
    """Pages not listed in site_map.PAGES too: archive pages, notebook pages the plugin publishes."""
    tree = ET.parse(site.root / "sitemap.xml")
    site_url = "https://akhilpandey95.github.io/notes/"
    paths = [loc.text.removeprefix(site_url) for loc in tree.getroot().iterfind("sm:url/sm:loc", SITEMAP_NS)]
    assert set(PAGES.values()) <= set(paths), f"sitemap lacks pages: {set(PAGES.values()) - set(paths)}"
    failures = []
    for path in paths:
        opened = open_page(path)
        failures += [f"/{path}: {problem}" for problem in opened.problems.all()]
        opened.page.context.close()
    assert not failures, "\n".join(failures)


def test_math_renders_offline(open_page):
    opened = open_page(PAGES["tinker_part2"])
    page = opened.page
    page.wait_for_selector("article .katex", timeout=10_000)
    assert page.locator("article .katex-display").count() >= 1, "display math was not typeset"
    assert page.locator("article .katex").count() >= 3, "inline math was not typeset"
    assert page.locator("article .katex-error").count() == 0, "KaTeX reported a parse error"
    fonts_ready = page.evaluate("document.fonts.ready.then(() => document.fonts.check('16px KaTeX_Main'))")
    assert fonts_ready, "KaTeX's fonts did not load from the site"
    assert not opened.problems.all(), "\n".join(opened.problems.all())


def test_search_finds_part2_by_a_word_from_its_body(open_page):
    from site_map import PART2_SEARCH_WORD

    page = open_page(PAGES["home"]).page
    search = page.locator("input.md-search__input")
    search.click()
    search.press_sequentially(PART2_SEARCH_WORD, delay=30)
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    links = page.eval_on_selector_all(".md-search-result__link", "links => links.map(link => link.href)")
    assert any("/tinker_part2/" in link for link in links), f"search for {PART2_SEARCH_WORD!r} gave {links}"


def test_blog_index_lists_posts_newest_first_with_date_readtime_and_author(open_page):
    page = open_page(PAGES["home"]).page
    posts = page.locator("article.md-post--excerpt")
    assert posts.count() == len(POSTS), f"blog index shows {posts.count()} posts"
    titles = [posts.nth(index).locator("h2").inner_text() for index in range(posts.count())]
    expected = sorted(POSTS, key=lambda slug: POSTS[slug][0], reverse=True)
    hrefs = [posts.nth(index).locator("h2 a").first.get_attribute("href") for index in range(posts.count())]
    assert [href.strip("./").split("/")[0] for href in hrefs] == expected, f"order: {titles}"
    for index in range(posts.count()):
        meta = posts.nth(index).locator(".md-post__meta").inner_text()
        assert "read" in meta, f"no reading time in {meta!r}"
        assert posts.nth(index).locator(".md-post__authors img").count() >= 1, "no author avatar"
