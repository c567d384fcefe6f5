"""What the site is expected to contain: pages, posts, their dates and embedded experiments."""

from __future__ import annotations

# name -> path under the site root
PAGES = {
    "home": "",
    "about": "about/",
    "reproducibility": "reproducibility/",
    "tags": "tags/",
    "archive_2026": "archive/2026/",
    "archive_2025": "archive/2025/",
    "hello_notes": "hello_notes/",
    "deep_research": "deep_research/",
    "tinker": "tinker/",
    "tinker_part2": "tinker_part2/",
}

# slug -> (front-matter date, experiments the post embeds, figures the post itself must show)
POSTS = {
    "hello_notes": ("2025-11-13", (), 0),
    "deep_research": ("2025-11-24", (), 1),
    "tinker": ("2026-01-02", ("greedy_determinism",), 1),
    "tinker_part2": ("2026-03-06", ("synthetic_data", "qdora_sft", "smol_rl"), 1),
}

# What the repronotes plugin renders for `{{ experiment: NAME }}`: the executed outputs in an embed
# element, followed by the collapsible reproducibility panel whose summary carries a status badge.
EMBED_SELECTOR = '.rn-embed[data-experiment="{name}"]'
PANEL_SELECTOR = "details.rn-panel"
PANEL_STATUS_SELECTOR = ".rn-badge"

# A word that occurs in the body of Part 2 and in no other post.
PART2_SEARCH_WORD = "checklist"
