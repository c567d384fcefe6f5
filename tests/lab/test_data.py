import json
from pathlib import Path

import pytest

from notes_lab import data

FIXTURE = Path(__file__).parent / "fixtures" / "real_papers.jsonl"


def small(**overrides):
    return data.generate_papers(data.DataConfig(**{"n_papers": 300, **overrides}))


def test_same_seed_same_hash_and_different_seed_differs():
    assert data.dataset_sha256(small()) == data.dataset_sha256(small())
    assert data.dataset_sha256(small()) != data.dataset_sha256(small(seed=1))


def test_generated_rows_fit_schema_and_labels_verify():
    papers = small()
    assert all(tuple(p) == data.PAPER_FIELDS for p in papers)
    assert all(data.validate_paper(p) is None for p in papers)
    assert data.label_mismatches(papers, data.THRESHOLDS["part2"]) == 0
    assert set(data.label_counts(papers)) == set(data.LABELS)


def test_thresholds_select_labels():
    part1 = small(thresholds="part1")
    assert data.label_mismatches(part1, 0.1) == 0
    assert data.label_counts(part1)["neutral"] > data.label_counts(small())["neutral"]


@pytest.mark.parametrize(
    ("cd", "threshold", "label"),
    [
        (0.1, 0.1, "neutral"),
        (0.1001, 0.1, "disruptive"),
        (-0.1, 0.1, "neutral"),
        (-0.1001, 0.1, "consolidating"),
        (0.001, 0.001, "neutral"),
        (0.0011, 0.001, "disruptive"),
        (-0.0011, 0.001, "consolidating"),
        (0.0, 0.001, "neutral"),
    ],
)
def test_disruption_threshold_edges_are_strict(cd, threshold, label):
    assert data.disruption_label(cd, threshold) == label


def test_novelty_margin_edges_are_strict():
    assert data.novelty_label(0.65, 0.5) == "balanced"  # gap 0.15 is not > 0.15
    assert data.novelty_label(0.66, 0.5) == "novel"
    assert data.novelty_label(0.3, 0.46) == "conventional"


def test_noise_rate_is_realised_and_bayes_accuracy():
    papers = small(n_papers=3000, noise_rate=0.2)
    agree = sum(data.cue_class_of(p) == p["disruption_label"] for p in papers) / len(papers)
    assert abs(agree - 0.8) < 0.03
    assert data.best_achievable_accuracy(0.2) == pytest.approx(0.8)
    assert data.best_achievable_accuracy(0.0) == pytest.approx(1.0)
    skewed = data.best_achievable_accuracy(0.5, {"disruptive": 0.8, "consolidating": 0.1, "neutral": 0.1})
    assert skewed > 0.5  # with a dominant class, predicting it beats following the cue


def test_config_validation_names_field_and_rule():
    with pytest.raises(ValueError, match="thresholds must be one of"):
        data.DataConfig(thresholds="part3")
    with pytest.raises(ValueError, match="noise_rate"):
        data.DataConfig(noise_rate=0.9)
    with pytest.raises(ValueError, match="n_papers"):
        data.DataConfig(n_papers=0)


def test_balanced_sample_downsamples_without_oversampling():
    papers = small()
    sample = data.balanced_sample(papers, seed=3)
    counts = data.label_counts(sample)
    assert len(set(counts.values())) == 1
    assert min(data.label_counts(papers).values()) == next(iter(counts.values()))
    assert len({p["openalex_id"] for p in sample}) == len(sample)
    assert data.balanced_sample(list(reversed(papers)), seed=3) == sample


def test_split_counts_hash_and_order_independence():
    papers = small()
    split = data.split_papers(papers, seed=7)
    assert (len(split.train), len(split.val), len(split.test)) == (240, 30, 30)
    assert split == data.split_papers(list(reversed(papers)), seed=7)
    assert split.ids_sha256 != data.split_papers(papers, seed=8).ids_sha256
    ids = [p["openalex_id"] for part in (split.train, split.val, split.test) for p in part]
    assert sorted(ids) == sorted(p["openalex_id"] for p in papers)


def test_split_rounding_matches_the_original_counts():
    fake = [{"openalex_id": f"W{i}"} for i in range(1001)]
    split = data.split_papers(fake, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (801, 100, 100)


def test_save_and_load_split_round_trip(tmp_path):
    split = data.split_papers(small(), seed=7)
    data.save_split(split, tmp_path / "split")
    assert data.load_split(tmp_path / "split") == split
    meta = json.loads((tmp_path / "split" / "meta.json").read_text())
    assert meta["counts"] == {"train": 240, "val": 30, "test": 30}


def test_load_split_rejects_a_tampered_file(tmp_path):
    split = data.split_papers(small(), seed=7)
    data.save_split(split, tmp_path)
    lines = (tmp_path / "test.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "test.jsonl").write_text("".join(lines[1:]))
    with pytest.raises(data.PaperValidationError, match="ids_sha256"):
        data.load_split(tmp_path)


def test_loader_reads_real_fixture():
    papers = data.load_papers(FIXTURE)
    assert [p["openalex_id"] for p in papers][:2] == ["W2100837269", "W1965542938"]
    assert data.label_counts(papers) == {"consolidating": 2, "disruptive": 1, "neutral": 1}
    assert data.label_mismatches(papers, data.THRESHOLDS["part2"]) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cd_index": 1.5}, ":2: field cd_index: must be a finite number in \\[-1, 1\\]"),
        ({"disruption_label": "novel"}, "field disruption_label: must be one of"),
        ({"publication_year": "2019"}, "field publication_year: must be an integer"),
        ({"cited_by_count": -1}, "field cited_by_count: must be an integer >= 0"),
        ({"concepts": "a, b"}, "field concepts: must be a list of strings"),
        ({"novelty_score": float("nan")}, "field novelty_score"),
    ],
)
def test_loader_names_file_line_field_and_rule(tmp_path, change, message):
    rows = data.load_papers(FIXTURE)
    rows[1] = {**rows[1], **change}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(data.PaperValidationError, match=message) as info:
        data.load_papers(bad)
    assert "bad.jsonl" in str(info.value)


def test_loader_reports_missing_fields_and_bad_json(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"openalex_id": "W1"}\n')
    with pytest.raises(data.PaperValidationError, match="bad.jsonl:1: field title: is required"):
        data.load_papers(bad)
    bad.write_text("{not json\n")
    with pytest.raises(data.PaperValidationError, match="not valid JSON"):
        data.load_papers(bad)


def test_quantiles_match_linear_interpolation():
    assert data.quantiles([3.0, 1.0, 2.0, 4.0], [0.0, 0.5, 1.0, 0.25]) == [1.0, 2.5, 4.0, 1.75]


def test_relabel_counts_lists_every_label():
    papers = [{"cd_index": 0.05}, {"cd_index": 0.0}]
    assert data.relabel_counts(papers, 0.1) == {"consolidating": 0, "disruptive": 0, "neutral": 2}
    assert data.relabel_counts(papers, 0.001) == {"consolidating": 0, "disruptive": 1, "neutral": 1}
