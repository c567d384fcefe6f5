"""Synthetic papers: config validation, determinism, labels, sampling, splits, tuning and files."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

import pytest

from notes_lab import data, generator
from notes_lab.paper_schema import PAPER_FIELDS, PaperValidationError, validate_paper
from notes_lab.vocab import LABELS

SMALL = data.DataConfig(n_papers=300, seed=5)


@pytest.fixture(scope="module")
def papers():
    return data.generate_papers(SMALL)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_papers": 2}, "DataConfig.n_papers must be an int >= 3, got 2"),
        ({"n_papers": 10.0}, "DataConfig.n_papers must be an int"),
        ({"seed": "1"}, "DataConfig.seed must be an int"),
        ({"thresholds": "part3"}, r"DataConfig.thresholds must be one of \['part1', 'part2'\], got 'part3'"),
        ({"novelty_margin": 1.0}, r"DataConfig.novelty_margin must be in \[0, 1\)"),
        ({"split_ratios": (0.5, 0.5, 0.5)}, "DataConfig.split_ratios must be three shares summing to 1"),
        ({"split_ratios": (0.5, 0.5)}, "DataConfig.split_ratios must be three shares"),
        ({"noise_rate": 1.0}, "TextModel.noise_rate must be in"),
        ({"informativeness": -1.0}, "TextModel.informativeness must be in"),
        ({"evidence_sentences": 13}, "TextModel.evidence_sentences must be in"),
    ],
)
def test_config_validation_names_field_and_rule(change, message):
    with pytest.raises(ValueError, match=message):
        data.DataConfig(**change)


def test_config_properties():
    cfg = data.DataConfig(thresholds="part1", informativeness=2.0, evidence_sentences=3, noise_rate=0.2)
    assert cfg.threshold == 0.1
    assert cfg.text_model == generator.TextModel(2.0, 3, 0.2)


def test_same_config_same_papers_and_another_seed_differs(papers):
    assert data.generate_papers(SMALL) == papers
    assert data.dataset_sha256(data.generate_papers(SMALL)) == data.dataset_sha256(papers)
    other = data.generate_papers(replace(SMALL, seed=6))
    assert other != papers and data.dataset_sha256(other) != data.dataset_sha256(papers)
    assert [p["openalex_id"] for p in papers[:2]] == ["SYNTHW0000001", "SYNTHW0000002"]


def test_rows_fit_the_schema_and_carry_the_posterior(papers):
    for paper in papers:
        assert tuple(paper)[: len(PAPER_FIELDS)] == PAPER_FIELDS
        assert tuple(paper)[len(PAPER_FIELDS) :] == ("text_class", "bayes_posterior")
        assert validate_paper(paper) is None
        assert paper["text_class"] in LABELS
        assert set(paper["bayes_posterior"]) == set(LABELS)
        assert sum(paper["bayes_posterior"].values()) == pytest.approx(1.0, abs=1e-9)
    assert set(data.label_counts(papers)) == set(LABELS)


def test_labels_derive_from_cd_index(papers):
    assert data.label_mismatches(papers, data.THRESHOLDS["part2"]) == 0
    flipped = [
        {
            **papers[0],
            "disruption_label": "neutral" if papers[0]["disruption_label"] != "neutral" else "disruptive",
        }
    ]
    assert data.label_mismatches(flipped, data.THRESHOLDS["part2"]) == 1
    part1 = data.generate_papers(replace(SMALL, thresholds="part1"))
    assert data.label_mismatches(part1, 0.1) == 0
    assert data.label_counts(part1)["neutral"] > data.label_counts(papers)["neutral"]


def test_noise_rate_is_realised():
    noisy = data.generate_papers(data.DataConfig(n_papers=3000, noise_rate=0.2))
    agree = sum(p["text_class"] == p["disruption_label"] for p in noisy) / len(noisy)
    assert abs(agree - 0.8) < 4 * math.sqrt(0.16 / 3000)


def test_zero_informativeness_leaves_only_the_citation_evidence():
    flat = data.generate_papers(data.DataConfig(n_papers=200, informativeness=0.0))
    for paper in flat[:20]:
        likelihoods = {c: generator.citation_probability(paper["cited_by_count"], c) for c in LABELS}
        expected = generator.label_posterior(likelihoods, 0.1)
        assert paper["bayes_posterior"] == pytest.approx(expected, abs=1e-11)


@pytest.mark.parametrize(
    ("cd", "threshold", "label"),
    [(0.1, 0.1, "neutral"), (0.1001, 0.1, "disruptive"), (-0.1, 0.1, "neutral"), (-0.1001, 0.1, "consolidating"),
     (0.001, 0.001, "neutral"), (0.0011, 0.001, "disruptive"), (-0.0011, 0.001, "consolidating"), (0.0, 0.001, "neutral")],
)  # fmt: skip
def test_disruption_threshold_edges_are_strict(cd, threshold, label):
    assert data.disruption_label(cd, threshold) == label


def test_novelty_margin_edges_are_strict():
    assert data.novelty_label(0.65, 0.5) == "balanced"  # gap 0.15 is not > 0.15
    assert data.novelty_label(0.66, 0.5) == "novel"
    assert data.novelty_label(0.3, 0.46) == "conventional"
    assert data.novelty_label(0.6, 0.5, margin=0.05) == "novel"


def test_balanced_sample_downsamples_without_oversampling(papers):
    sample = data.balanced_sample(papers, seed=3)
    counts = data.label_counts(sample)
    assert set(counts) == set(LABELS) and len(set(counts.values())) == 1
    assert min(data.label_counts(papers).values()) == next(iter(counts.values()))
    assert len({p["openalex_id"] for p in sample}) == len(sample)
    assert data.balanced_sample(list(reversed(papers)), seed=3) == sample
    assert data.balanced_sample(papers, seed=4) != sample
    assert data.balanced_sample([], seed=0) == []


def test_split_ratios_hash_and_order_independence(papers):
    split = data.split_papers(papers, seed=7)
    assert (len(split.train), len(split.val), len(split.test)) == (150, 60, 90)
    assert split == data.split_papers(list(reversed(papers)), seed=7)
    assert split.ids_sha256 != data.split_papers(papers, seed=8).ids_sha256
    ids = [p["openalex_id"] for part in (split.train, split.val, split.test) for p in part]
    assert sorted(ids) == sorted(p["openalex_id"] for p in papers)
    by_hand = {name: [p["openalex_id"] for p in getattr(split, name)] for name in ("train", "val", "test")}
    assert split.ids_sha256 == hashlib.sha256(json.dumps(by_hand, separators=(",", ":")).encode()).hexdigest()


def test_split_rounding_matches_the_original_counts():
    fake = [{"openalex_id": f"W{i}"} for i in range(1001)]
    split = data.split_papers(fake, seed=0, ratios=(0.8, 0.1, 0.1))
    assert (len(split.train), len(split.val), len(split.test)) == (801, 100, 100)
    split = data.split_papers(fake, seed=0)  # (0.5, 0.2, 0.3): val round(200.2), test round(300.3)
    assert (len(split.train), len(split.val), len(split.test)) == (501, 200, 300)


def test_split_rejects_bad_ratios_and_duplicate_ids():
    fake = [{"openalex_id": f"W{i}"} for i in range(10)]
    with pytest.raises(ValueError, match="ratios must be three non-negative shares"):
        data.split_papers(fake, seed=0, ratios=(1.2, -0.1, -0.1))
    with pytest.raises(ValueError, match="openalex_id must be unique"):
        data.split_papers(fake + fake[:1], seed=0)


def test_build_is_generate_balance_split():
    papers, balanced, split = data.build(SMALL)
    assert papers == data.generate_papers(SMALL)
    assert balanced == data.balanced_sample(papers, SMALL.seed)
    assert split == data.split_papers(balanced, SMALL.seed, SMALL.split_ratios)


def test_tune_informativeness_picks_the_closest_grid_value():
    cfg = data.DataConfig(n_papers=240, seed=2)
    grid = (0.0, 1.0, 3.0)
    chosen, scores = data.tune_informativeness(cfg, grid, target=0.6)
    assert list(scores) == list(grid)
    for beta in grid:  # each score is the expected Bayes accuracy on the val split built with that beta
        val = data.build(replace(cfg, informativeness=beta))[2].val
        assert scores[beta] == generator.bayes_summary(val)["expected_accuracy"]
    assert scores[0.0] < scores[1.0] < scores[3.0]  # more informative text, higher ceiling
    assert chosen == min(grid, key=lambda beta: abs(scores[beta] - 0.6))
    assert data.tune_informativeness(cfg, grid, target=scores[3.0])[0] == 3.0
    assert data.tune_informativeness(cfg, grid, target=0.0)[0] == 0.0
    with pytest.raises(ValueError, match="empty grid"):
        data.tune_informativeness(cfg, (), target=0.6)


def test_save_and_load_split_round_trip(tmp_path, papers):
    split = data.split_papers(papers, seed=7)
    data.save_split(split, tmp_path / "split")
    assert data.load_split(tmp_path / "split") == split
    meta = json.loads((tmp_path / "split" / "meta.json").read_text())
    assert meta["counts"] == {"train": 150, "val": 60, "test": 90}
    assert meta["ids_sha256"] == split.ids_sha256
    assert meta["dataset_sha256"]["test"] == data.dataset_sha256(split.test)


def test_load_split_rejects_a_dropped_row(tmp_path, papers):
    data.save_split(data.split_papers(papers, seed=7), tmp_path)
    lines = (tmp_path / "test.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "test.jsonl").write_text("".join(lines[1:]))
    with pytest.raises(PaperValidationError, match="meta.json: ids_sha256"):
        data.load_split(tmp_path)


def test_load_split_rejects_tampered_meta(tmp_path, papers):
    data.save_split(data.split_papers(papers, seed=7), tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["ids_sha256"] = "0" * 64
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PaperValidationError, match=r"meta.json: ids_sha256 0{64} != files"):
        data.load_split(tmp_path)


def test_dataset_hash_depends_on_order_and_content(papers):
    assert data.dataset_sha256(papers[:2]) != data.dataset_sha256(papers[1::-1])
    assert data.dataset_sha256(papers[:2]) != data.dataset_sha256([papers[0], {**papers[1], "cd_index": 0.5}])


def test_quantiles_match_linear_interpolation():
    values = [3.0, 1.0, 2.0, 4.0]
    # sorted 1, 2, 3, 4; position p * 3: 0 -> 1, 1.5 -> 2.5, 3 -> 4, 0.75 -> 1.75, 2.7 -> 3.7
    assert data.quantiles(values, [0.0, 0.5, 1.0, 0.25, 0.9]) == pytest.approx([1.0, 2.5, 4.0, 1.75, 3.7])
    assert data.quantiles([5.0], [0.0, 0.5, 1.0]) == [5.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="no values"):
        data.quantiles([], [0.5])


def test_relabel_counts_lists_every_label():
    rows = [{"cd_index": 0.05}, {"cd_index": 0.0}]
    assert data.relabel_counts(rows, 0.1) == {"consolidating": 0, "disruptive": 0, "neutral": 2}
    assert data.relabel_counts(rows, 0.001) == {"consolidating": 0, "disruptive": 1, "neutral": 1}
