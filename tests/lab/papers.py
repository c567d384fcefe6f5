"""One hand-written paper record in the original schema, shared by the lab tests."""

PAPER = {
    "openalex_id": "SYNTHW0000001",
    "title": "A new paradigm for graph learning in computer science",
    "abstract": "This Computer Science paper from 2001 studies graph learning. It has been cited 99 times.",
    "publication_year": 2001,
    "cited_by_count": 99,
    "cd_index": 0.2,
    "novelty_score": 0.5,
    "conventionality_score": 0.5,
    "disruption_label": "disruptive",
    "novelty_label": "balanced",
    "primary_field": "Computer Science",
    "concepts": ["graph learning", "networks"],
}
