"""axe-core (shipped inside axe-playwright-python, injected locally) on the home page and on posts."""

from __future__ import annotations

import pytest
from site_map import PAGES

pytestmark = pytest.mark.browser

BLOCKING_IMPACTS = {"serious", "critical"}


def _describe(violation: dict) -> str:
    targets = [" ".join(node["target"]) for node in violation["nodes"][:5]]
    return f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", ["home", "tinker_part2", "deep_research"])
def test_no_serious_or_critical_axe_violations(open_page, name, scheme):
    from axe_playwright_python.sync_playwright import Axe

    page = open_page(PAGES[name], color_scheme=scheme).page
    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    assert not blocking, f"{name} ({scheme}):\n" + "\n".join(_describe(v) for v in blocking)
