"""The typed values of model.py: ordering, flags and small derived properties."""

from __future__ import annotations

import pytest

from repronotes.model import (
    Action,
    FindingKind,
    MetricEntry,
    MetricRule,
    MetricRules,
    MetricVerdict,
    Outcome,
    Status,
    Tolerance,
    TolerancePair,
    Verdict,
)

T_GLOB_A = TolerancePair(Tolerance(rel=1e-3))
T_GLOB_B = TolerancePair(Tolerance(abs=1.0))
T_EXACT = TolerancePair(Tolerance(exact=True))


def test_status_is_ordered_from_best_to_worst():
    assert list(Status) == sorted(Status)
    assert [s.name for s in Status] == [
        "REPRODUCED",
        "VERIFIED",
        "NOT_RECORDED",
        "STALE",
        "DRIFTED",
        "SPEC_ERROR",
        "ERROR",
        "MISSING",
        "BROKEN",
    ]


@pytest.mark.parametrize(
    "statuses, expected",
    [
        ((), Status.VERIFIED),
        ((Status.REPRODUCED,), Status.REPRODUCED),
        ((Status.REPRODUCED, Status.STALE, Status.VERIFIED), Status.STALE),
        ((Status.DRIFTED, Status.BROKEN, Status.ERROR), Status.BROKEN),
        ((Status.MISSING, Status.ERROR), Status.MISSING),
        ((Status.SPEC_ERROR, Status.DRIFTED), Status.SPEC_ERROR),
        ((Status.SPEC_ERROR, Status.ERROR), Status.ERROR),
    ],
)
def test_worst_picks_the_headline(statuses, expected):
    assert Status.worst(*statuses) is expected


@pytest.mark.parametrize("status", list(Status))
def test_failed_from_stale_on(status):
    assert status.failed is (status >= Status.STALE)
    assert status.failed is (status not in (Status.REPRODUCED, Status.VERIFIED, Status.NOT_RECORDED))


def test_labels_are_lowercase_with_dashes():
    assert Status.NOT_RECORDED.label == "not-recorded"
    assert Status.SPEC_ERROR.label == "spec-error"
    assert Status.REPRODUCED.label == "reproduced"
    assert FindingKind.SELF_CONSISTENCY.label == "self-consistency"
    assert Action.VERIFIED_ONLY.value == "verified-only"


@pytest.mark.parametrize(
    "kind, status",
    [
        (FindingKind.DRIFT, Status.DRIFTED),
        (FindingKind.MISSING_METRIC, Status.DRIFTED),
        (FindingKind.STALE, Status.STALE),
        (FindingKind.TOLERANCE_CHANGED, Status.STALE),
        (FindingKind.EXECUTION, Status.ERROR),
        (FindingKind.SPEC, Status.SPEC_ERROR),
        (FindingKind.MISSING_RECORD, Status.MISSING),
        (FindingKind.INTEGRITY, Status.BROKEN),
        (FindingKind.SELF_CONSISTENCY, Status.BROKEN),
        (FindingKind.UNDECLARED_PROFILE, Status.BROKEN),
    ],
)
def test_finding_kind_maps_to_status(kind, status):
    assert kind.status is status


@pytest.mark.parametrize(
    "verdict, failed, gated",
    [
        (Verdict.IDENTICAL, False, True),
        (Verdict.WITHIN, False, True),
        (Verdict.INFO, False, False),
        (Verdict.NEW, False, False),
        (Verdict.DRIFTED, True, False),
        (Verdict.INVALID, True, False),
        (Verdict.MISSING, True, False),
        (Verdict.UNEXPECTED, True, False),
    ],
)
def test_verdict_failed_and_gated(verdict, failed, gated):
    assert (verdict.failed, verdict.gated) == (failed, gated)


def test_lookup_prefers_an_exact_name_over_an_earlier_glob():
    rules = MetricRules((MetricRule("acc*", T_GLOB_A), MetricRule("accuracy", T_EXACT)))
    assert rules.lookup("accuracy") is T_EXACT
    assert rules.lookup("acc_top5") is T_GLOB_A


def test_lookup_takes_globs_in_file_order_and_none_without_match():
    rules = MetricRules((MetricRule("eval/*", T_GLOB_A), MetricRule("eval/loss*", T_GLOB_B)))
    assert rules.lookup("eval/loss_final") is T_GLOB_A
    assert rules.lookup("train/loss") is None
    assert rules.lookup("EVAL/loss") is None  # case-sensitive


def test_required_lists_literal_names_only():
    rules = MetricRules(
        (
            MetricRule("accuracy", T_EXACT),
            MetricRule("eval/*", T_GLOB_A),
            MetricRule("seed?", T_GLOB_A),
            MetricRule("[ab]", T_GLOB_A),
            MetricRule("count", T_EXACT),
        )
    )
    assert rules.required == ("accuracy", "count")


def test_rule_profiles_and_hardware_pair():
    rule = MetricRule("m", T_EXACT, profiles=("gpu",))
    assert rule.applies_to("gpu") and not rule.applies_to("cpu")
    assert MetricRule("m", T_EXACT).applies_to("anything")
    pair = TolerancePair(Tolerance(rel=1e-6), Tolerance(rel=0.05))
    assert pair.for_hardware(True).rel == 1e-6 and pair.for_hardware(False).rel == 0.05
    assert T_EXACT.for_hardware(False) is T_EXACT.same


@pytest.mark.parametrize(
    "entry, expected",
    [
        (MetricEntry(value=0.5), {"value": 0.5}),
        (MetricEntry(), {"value": None}),
        (
            MetricEntry(value=0.2, n=3, se=0.05, se_method="seeds", per_seed=(0.1, 0.2, 0.3)),
            {"value": 0.2, "n": 3, "se": 0.05, "se_method": "seeds", "per_seed": [0.1, 0.2, 0.3]},
        ),
        (MetricEntry(steps=(1, 2), values=(0.5, 0.25)), {"steps": [1, 2], "values": [0.5, 0.25]}),
    ],
)
def test_metric_entry_as_dict(entry, expected):
    assert entry.as_dict() == expected
    assert entry.is_series is ("steps" in expected)


def _outcome(*verdicts: Verdict) -> Outcome:
    out = Outcome("x", "cpu", Status.REPRODUCED, Action.EXECUTED)
    out.verdicts = [MetricVerdict(f"m{i}", v, 1, 1, "exact") for i, v in enumerate(verdicts)]
    return out


@pytest.mark.parametrize(
    "verdicts, gated, shown_only, bit_for_bit",
    [
        ((), 0, 0, False),
        ((Verdict.IDENTICAL, Verdict.IDENTICAL), 2, 0, True),
        ((Verdict.IDENTICAL, Verdict.WITHIN, Verdict.INFO), 2, 1, False),
        ((Verdict.IDENTICAL, Verdict.INFO), 1, 1, False),
        ((Verdict.DRIFTED, Verdict.NEW), 0, 0, False),
    ],
)
def test_outcome_counts(verdicts, gated, shown_only, bit_for_bit):
    out = _outcome(*verdicts)
    assert (out.gated, out.shown_only, out.bit_for_bit) == (gated, shown_only, bit_for_bit)


def test_outcome_failed_follows_status():
    out = _outcome()
    assert not out.failed
    out.status = Status.STALE
    assert out.failed
