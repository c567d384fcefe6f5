"""The text generator and its exact posterior: by hand, by summing, and by calibration on 3,000 papers."""

from __future__ import annotations

import math
import random

import pytest

from notes_lab import data, generator
from notes_lab.generator import TextModel
from notes_lab.vocab import LABELS


@pytest.mark.parametrize(
    ("field", "value"),
    [("informativeness", -0.1), ("informativeness", 20.5), ("evidence_sentences", -1), ("evidence_sentences", 13),
     ("noise_rate", 1.0), ("noise_rate", -0.01)],
)  # fmt: skip
def test_text_model_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"TextModel.{field} must be in"):
        TextModel(**{field: value})


def test_text_model_accepts_its_bounds():
    TextModel(informativeness=0.0, evidence_sentences=0, noise_rate=0.0)
    TextModel(informativeness=20.0, evidence_sentences=12, noise_rate=0.99)


@pytest.mark.parametrize("kind", ["title", "evidence"])
@pytest.mark.parametrize("beta", [0.0, 0.7, 2.5])
def test_phrase_probabilities_sum_to_one_and_lean_by_exp_beta(kind, beta):
    pool = generator.TITLE_OPENERS if kind == "title" else generator.EVIDENCE
    table = generator.phrase_probabilities(kind, beta)
    assert set(table) == set(LABELS)
    for cls, probabilities in table.items():
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-12)
        assert set(probabilities) == {phrase for phrases in pool.values() for phrase in phrases}
        other = next(p for lean, phrases in pool.items() if lean != cls for p in phrases)
        for phrase in pool[cls]:
            assert probabilities[phrase] / probabilities[other] == pytest.approx(math.exp(beta), rel=1e-12)


def test_zero_informativeness_is_uniform():
    for kind in ("title", "evidence"):
        for probabilities in generator.phrase_probabilities(kind, 0.0).values():
            assert len(set(probabilities.values())) == 1


@pytest.mark.parametrize("cls", LABELS)
def test_citation_probabilities_sum_to_one(cls):
    total = sum(generator.citation_probability(count, cls) for count in range(generator.MAX_CITATIONS + 1))
    assert total == pytest.approx(1.0, abs=1e-6)
    assert generator.citation_probability(-1, cls) == 0.0


def test_citation_probability_matches_the_draws():
    rng = random.Random(0)
    draws = [
        round(rng.lognormvariate(generator.CITATION_MU["neutral"], generator.CITATION_SIGMA))
        for _ in range(20000)
    ]
    for count in (0, 3, 7, 15):
        p = generator.citation_probability(count, "neutral")
        share = draws.count(count) / len(draws)
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / len(draws))


def test_label_posterior_sums_to_one_and_is_the_prior_without_evidence():
    posterior = generator.label_posterior({"disruptive": 0.3, "consolidating": 0.01, "neutral": 2.0}, 0.2)
    assert sum(posterior.values()) == pytest.approx(1.0)
    assert generator.label_posterior(dict.fromkeys(LABELS, 0.4), 0.1) == pytest.approx(
        dict.fromkeys(LABELS, 1 / 3)
    )
    prior = {"disruptive": 0.5, "consolidating": 0.3, "neutral": 0.2}
    assert generator.label_posterior(dict.fromkeys(LABELS, 7.0), 0.1, prior) == pytest.approx(prior)


def test_label_posterior_by_hand():
    # channel(D) = 2*0.9 + 1*0.05 + 1*0.05 = 1.9; channel(C) = channel(N) = 2*0.05 + 0.9 + 0.05 = 1.05; sum 4.0
    likelihoods = {"disruptive": 2.0, "consolidating": 1.0, "neutral": 1.0}
    posterior = generator.label_posterior(likelihoods, 0.1)
    assert posterior == pytest.approx(
        {"disruptive": 0.475, "consolidating": 0.2625, "neutral": 0.2625}, abs=1e-12
    )
    # with a prior 0.5/0.25/0.25: joint 0.95, 0.2625, 0.2625, total 1.475
    prior = {"disruptive": 0.5, "consolidating": 0.25, "neutral": 0.25}
    posterior = generator.label_posterior(likelihoods, 0.1, prior)
    assert posterior["disruptive"] == pytest.approx(0.95 / 1.475, abs=1e-12)
    # no noise: the posterior is the normalised likelihood
    assert generator.label_posterior(likelihoods, 0.0)["disruptive"] == pytest.approx(0.5, abs=1e-12)


def test_text_likelihoods_multiply_the_phrase_and_citation_probabilities():
    model = TextModel(informativeness=1.5, evidence_sentences=2, noise_rate=0.1)
    opener = generator.TITLE_OPENERS["disruptive"][0]
    evidence = [generator.EVIDENCE["disruptive"][0], generator.EVIDENCE["neutral"][1]]
    likelihoods = generator.text_likelihoods(opener, evidence, 12, model)
    titles = generator.phrase_probabilities("title", 1.5)
    sentences = generator.phrase_probabilities("evidence", 1.5)
    for cls in LABELS:
        expected = titles[cls][opener] * sentences[cls][evidence[0]] * sentences[cls][evidence[1]]
        assert likelihoods[cls] == pytest.approx(
            expected * generator.citation_probability(12, cls), rel=1e-12
        )
    # two disruptive-leaning phrases against one neutral-leaning one
    ratio = likelihoods["disruptive"] / likelihoods["neutral"]
    citations = generator.citation_probability(12, "disruptive") / generator.citation_probability(
        12, "neutral"
    )
    assert ratio == pytest.approx(math.exp(1.5) * citations, rel=1e-9)


def test_text_class_and_draw_text_follow_the_model():
    rng = random.Random(1)
    assert {generator.text_class(rng, "neutral", 0.0) for _ in range(50)} == {"neutral"}
    flipped = [generator.text_class(rng, "neutral", 0.3) for _ in range(4000)]
    assert abs(flipped.count("neutral") / 4000 - 0.7) < 0.03
    assert flipped.count("disruptive") == pytest.approx(flipped.count("consolidating"), rel=0.15)
    model = TextModel(informativeness=1.0, evidence_sentences=5)
    first = generator.draw_text(random.Random(3), "disruptive", model)
    assert first == generator.draw_text(random.Random(3), "disruptive", model)
    opener, evidence, citations = first
    assert len(evidence) == 5 and 0 <= citations <= generator.MAX_CITATIONS
    assert opener in {o for openers in generator.TITLE_OPENERS.values() for o in openers}


def test_bayes_summary_by_hand():
    rows = [
        {"disruption_label": "disruptive", "bayes_posterior": {"disruptive": 0.6, "consolidating": 0.3, "neutral": 0.1}},
        {"disruption_label": "neutral", "bayes_posterior": {"disruptive": 0.5, "consolidating": 0.1, "neutral": 0.4}},
    ]  # fmt: skip
    summary = generator.bayes_summary(rows)
    assert summary["accuracy"] == 0.5 and summary["n"] == 2
    assert summary["expected_accuracy"] == pytest.approx(0.55)
    assert summary["label_nll"] == pytest.approx(-(math.log(0.6) + math.log(0.4)) / 2)
    renamed = [{"disruption_label": r["disruption_label"], "p": r["bayes_posterior"]} for r in rows]
    assert generator.bayes_summary(renamed, key="p") == summary
    with pytest.raises(ValueError, match="no rows"):
        generator.bayes_summary([])


# --- the posterior is exact: calibrated on fresh papers ---------------------------------------------


EDGES = (1 / 3, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0 + 1e-9)


def calibration_z_scores(rows: list[tuple[dict[str, float], str]]) -> list[float]:
    """Per bin of the largest posterior: (accuracy of the argmax - mean largest posterior) / SE, bins of >= 50 rows."""
    z_scores = []
    for low, high in zip(EDGES, EDGES[1:], strict=False):
        in_bin = [(p, gold) for p, gold in rows if low <= max(p.values()) < high]
        if len(in_bin) < 50:
            continue
        hits = sum(max(p, key=p.__getitem__) == gold for p, gold in in_bin) / len(in_bin)
        mean = sum(max(p.values()) for p, _ in in_bin) / len(in_bin)
        z_scores.append((hits - mean) / math.sqrt(mean * (1 - mean) / len(in_bin)))
    return z_scores


@pytest.fixture(scope="module")
def many_papers():
    return data.generate_papers(data.DataConfig(n_papers=3000, seed=123, informativeness=0.8))


def test_stored_posterior_is_calibrated(many_papers):
    # the label prior of the raw papers is not uniform: the stored posterior assumes a uniform one, so
    # calibration holds within each label's share; re-weight by the empirical prior to check it on all rows
    prior = {
        label: sum(p["disruption_label"] == label for p in many_papers) / len(many_papers) for label in LABELS
    }
    rows = []
    for paper in many_papers:
        joint = {label: paper["bayes_posterior"][label] * prior[label] for label in LABELS}
        total = sum(joint.values())
        rows.append(({label: v / total for label, v in joint.items()}, paper["disruption_label"]))
    z_scores = calibration_z_scores(rows)
    assert len(z_scores) >= 4  # the check covers most of the range
    assert max(abs(z) for z in z_scores) < 4


def test_stored_posterior_is_calibrated_on_a_balanced_sample(many_papers):
    balanced = data.balanced_sample(many_papers, seed=0)
    z_scores = calibration_z_scores([(p["bayes_posterior"], p["disruption_label"]) for p in balanced])
    assert len(z_scores) >= 3 and max(abs(z) for z in z_scores) < 4
    summary = generator.bayes_summary(balanced)
    se = math.sqrt(summary["expected_accuracy"] * (1 - summary["expected_accuracy"]) / summary["n"])
    assert abs(summary["accuracy"] - summary["expected_accuracy"]) < 4 * se


def test_the_calibration_check_rejects_an_overconfident_posterior(many_papers):
    """Squaring and renormalising the posterior (as if noise were ignored) must fail the same check."""
    balanced = data.balanced_sample(many_papers, seed=0)
    rows = []
    for paper in balanced:
        squared = {label: v**2 for label, v in paper["bayes_posterior"].items()}
        total = sum(squared.values())
        rows.append(({label: v / total for label, v in squared.items()}, paper["disruption_label"]))
    assert max(abs(z) for z in calibration_z_scores(rows)) > 4
