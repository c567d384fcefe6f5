"""The 12-field paper schema: validation rules, and loader errors naming file, line, field and rule."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from notes_lab.paper_schema import PAPER_FIELDS, PaperValidationError, load_papers, validate_paper

from .papers import PAPER

FIXTURE = Path(__file__).parent / "fixtures" / "real_papers.jsonl"


def test_the_hand_written_paper_is_valid():
    assert tuple(PAPER) == PAPER_FIELDS
    assert validate_paper(PAPER) is None
    assert validate_paper({**PAPER, "extra": 1}) is None  # extra fields (text_class, ...) are allowed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"openalex_id": " "}, "field openalex_id: must be a non-empty string"),
        ({"title": None}, "field title: must be a non-empty string"),
        ({"abstract": 3}, "field abstract: must be a string"),
        (
            {"publication_year": 1599},
            r"field publication_year: must be an integer in \[1600, 2100\], got 1599",
        ),
        ({"publication_year": True}, "field publication_year: must be an integer"),
        ({"cited_by_count": -1}, "field cited_by_count: must be an integer >= 0, got -1"),
        ({"cited_by_count": 2.0}, "field cited_by_count"),
        ({"cd_index": 1.5}, r"field cd_index: must be a finite number in \[-1, 1\], got 1.5"),
        ({"cd_index": float("inf")}, "field cd_index"),
        ({"novelty_score": float("nan")}, "field novelty_score"),
        ({"conventionality_score": -0.1}, "field conventionality_score"),
        ({"disruption_label": "novel"}, "field disruption_label: must be one of"),
        ({"novelty_label": "neutral"}, "field novelty_label: must be one of"),
        ({"primary_field": None}, "field primary_field: must be a string"),
        ({"concepts": "a, b"}, "field concepts: must be a list of strings"),
        ({"concepts": ["a", 1]}, "field concepts: must be a list of strings"),
    ],
)
def test_each_rule_names_its_field(change, message):
    problem = validate_paper({**PAPER, **change})
    assert problem is not None and re.search(message, problem), problem


def test_rows_that_are_not_objects_or_miss_fields():
    assert validate_paper([PAPER]) == "row: must be a JSON object"
    missing = {k: v for k, v in PAPER.items() if k not in ("title", "concepts")}
    assert validate_paper(missing) == "field title: is required (missing: title, concepts)"


def test_loader_reads_the_real_fixture():
    papers = load_papers(FIXTURE)
    assert [p["openalex_id"] for p in papers][:2] == ["W2100837269", "W1965542938"]
    assert len(papers) == 4 and all(validate_paper(p) is None for p in papers)


def test_loader_skips_blank_lines(tmp_path):
    source = tmp_path / "papers.jsonl"
    source.write_text(json.dumps(PAPER) + "\n\n  \n" + json.dumps({**PAPER, "openalex_id": "W2"}) + "\n")
    assert [p["openalex_id"] for p in load_papers(source)] == ["SYNTHW0000001", "W2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cd_index": 1.5}, r"bad.jsonl:2: field cd_index: must be a finite number in \[-1, 1\]"),
        ({"disruption_label": "novel"}, "bad.jsonl:2: field disruption_label: must be one of"),
        ({"publication_year": "2019"}, "bad.jsonl:2: field publication_year: must be an integer"),
        ({"cited_by_count": -1}, "bad.jsonl:2: field cited_by_count: must be an integer >= 0"),
        ({"concepts": "a, b"}, "bad.jsonl:2: field concepts: must be a list of strings"),
        ({"novelty_score": float("nan")}, "bad.jsonl:2: field novelty_score"),
    ],
)
def test_loader_names_file_line_field_and_rule(tmp_path, change, message):
    rows = load_papers(FIXTURE)
    rows[1] = {**rows[1], **change}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PaperValidationError, match=message):
        load_papers(bad)


def test_loader_reports_missing_fields_and_bad_json(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"openalex_id": "W1"}\n')
    with pytest.raises(PaperValidationError, match="bad.jsonl:1: field title: is required"):
        load_papers(bad)
    bad.write_text(json.dumps(PAPER) + "\n{not json\n")
    with pytest.raises(PaperValidationError, match="bad.jsonl:2: not valid JSON"):
        load_papers(bad)
    assert issubclass(PaperValidationError, ValueError)
