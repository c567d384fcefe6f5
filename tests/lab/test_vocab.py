"""The lab's one vocabulary, and a check that no other module keeps a copy of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import notes_lab
from notes_lab import vocab

SOURCE = Path(notes_lab.__file__).parent
VOCABULARIES = {
    "LABELS": set(vocab.LABELS),
    "CONFIDENCES": set(vocab.CONFIDENCES),
    "NOVELTY_LABELS": set(vocab.NOVELTY_LABELS),
}


def test_vocabulary_values():
    assert vocab.LABELS == ("disruptive", "consolidating", "neutral")
    assert vocab.CONFIDENCES == ("low", "medium", "high")
    assert vocab.NOVELTY_LABELS == ("novel", "balanced", "conventional")
    assert tuple(vocab.CONFIDENCE_PROBABILITY) == vocab.CONFIDENCES
    assert list(vocab.CONFIDENCE_PROBABILITY.values()) == sorted(vocab.CONFIDENCE_PROBABILITY.values())
    assert (vocab.LABEL_KEY, vocab.CONFIDENCE_KEY) == ("disruption_label", "confidence")
    assert vocab.INVALID not in vocab.LABELS


def literal_copies(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, vocabulary name) of every tuple/list/set literal made of exactly one vocabulary's strings."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
            values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(values) == len(node.elts):
                found += [(node.lineno, name) for name, words in VOCABULARIES.items() if set(values) == words]
    return found


def test_the_copy_finder_finds_copies():
    tree = ast.parse(
        'A = ("neutral", "disruptive", "consolidating")\nB = ["low", "medium", "high"]\nC = ("low",)'
    )
    assert literal_copies(tree) == [(1, "LABELS"), (2, "CONFIDENCES")]


@pytest.mark.parametrize("module", sorted(p.name for p in SOURCE.glob("*.py") if p.name != "vocab.py"))
def test_no_module_defines_its_own_label_or_confidence_tuple(module):
    tree = ast.parse((SOURCE / module).read_text(encoding="utf-8"))
    assert literal_copies(tree) == [], f"{module} spells out a vocabulary: import it from notes_lab.vocab"
