import pytest

from repronotes.errors import MarkerError
from repronotes.model import (
    Action,
    Finding,
    FindingKind,
    MetricEntry,
    MetricVerdict,
    Outcome,
    Record,
    Status,
    Verdict,
)
from repronotes.plugin import render


def make_record(metrics: dict[str, MetricEntry]) -> Record:
    return Record(
        file="experiments/smol_rl/records/cpu.json", experiment="smol_rl", profile="cpu", title="smol-RL",
        date="2026-11-26T07:00:00+00:00", git_commit=None, duration_s=1.0, parameters={}, input_hash="h",
        input_parts={}, metrics=metrics, tolerances={}, hardware_class="cpu-amd-avx2-2t", environment={},
        notebook_digest="d", artifacts={}, output_files={}, data={},
    )  # fmt: skip


RECORD = make_record(
    {
        "sft_vs_rl/base/accuracy": MetricEntry(value=0.3333),
        "sft_vs_rl/base/macro_f1": MetricEntry(value=0.2),
        "sft_vs_rl/rl_from_sft/soft/accuracy": MetricEntry(value=0.45, se=0.02, n=3),
        "final/reward": MetricEntry(value=0.71234, se=0.0312, n=3),
        "count": MetricEntry(value=81920.0),
        "label": MetricEntry(value="<b>bold</b>"),
        "loss": MetricEntry(steps=(1,), values=(0.5,)),
    }
)


def test_value_names_profile_and_hardware_and_is_focusable():
    out = render.value_html(RECORD, "final/reward", ".2f", True, "posts/p.md")
    assert ">0.71 ± 0.03</span>" in out and 'data-profile="cpu"' in out and "cpu-amd-avx2-2t" in out
    assert 'tabindex="0"' in out
    with pytest.raises(MarkerError, match="series"):
        render.value_html(RECORD, "loss", None, False, "posts/p.md")


def test_values_are_escaped_and_integer_formats_apply_to_whole_floats():
    assert "&lt;b&gt;bold&lt;/b&gt;" in render.value_html(RECORD, "label", None, False, "posts/p.md")
    assert ">81,920<" in render.value_html(RECORD, "count", ",d", False, "posts/p.md")
    with pytest.raises(MarkerError, match="format 'd' does not apply"):
        render.format_value(0.5, "d", "posts/p.md", "x")


def test_format_value_defaults():
    assert render.format_value(81920, None) == "81,920"
    assert render.format_value(0.123456, None) == "0.1235"
    assert render.format_value(0.25, ".1%") == "25.0%"
    assert render.format_value("abc", ".3f") == "abc"


def test_metric_table_rows_columns_and_source():
    table = render.metric_table_markdown(RECORD, "sft_vs_rl", ".3f", {}, "posts/p.md")
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert lines[0] == "|  | accuracy | macro_f1 |"
    assert lines[2] == "| **base** | 0.333 | 0.200 |" and lines[3] == "| **rl_from_sft/soft** | 0.450 | – |"
    assert "Source: record of smol_rl · profile cpu on cpu-amd-avx2-2t" in table
    chosen = render.metric_table_markdown(
        RECORD, "sft_vs_rl", ".2f", {"rows": "rl_from_sft/soft,base", "cols": "accuracy"}, "posts/p.md"
    )
    assert "| **rl_from_sft/soft** | 0.45 |" in chosen.splitlines()[3]
    with pytest.raises(MarkerError, match="no metrics named nope"):
        render.metric_table_markdown(RECORD, "nope", None, {}, "posts/p.md")


def test_metric_table_columns_may_contain_slashes_and_typos_fail():
    metrics = dict(RECORD.metrics)
    metrics["sft_vs_rl/base/predicted_share/disruptive"] = MetricEntry(value=0.5)
    metrics["sft_vs_rl/rl_from_sft/soft/predicted_share/disruptive"] = MetricEntry(value=0.25)
    record = make_record(metrics)
    options = {"rows": "base,rl_from_sft/soft", "cols": "accuracy,predicted_share/disruptive"}
    lines = render.metric_table_markdown(record, "sft_vs_rl", ".2f", options, "p.md").splitlines()
    assert lines[1] == "|  | accuracy | predicted_share/disruptive |"
    assert lines[3] == "| **base** | 0.33 | 0.50 |" and lines[4] == "| **rl_from_sft/soft** | 0.45 | 0.25 |"
    with pytest.raises(MarkerError, match="no metric for column 'acuracy'"):
        render.metric_table_markdown(record, "sft_vs_rl", None, {"cols": "acuracy,macro_f1"}, "p.md")
    with pytest.raises(MarkerError, match="no metric for row 'rl_from_sft/sof'"):
        render.metric_table_markdown(record, "sft_vs_rl", None, {"rows": "base,rl_from_sft/sof"}, "p.md")


def test_panel_is_collapsible_shows_failures_in_red_and_escapes():
    drifted = Outcome("smol_rl", "cpu", Status.DRIFTED, Action.EXECUTED, hardware="cpu-x")
    drifted.verdicts = [MetricVerdict("final/reward", Verdict.DRIFTED, 0.7, 0.1, "±2·SE", "big")]
    drifted.findings = [Finding("smol_rl", "cpu", FindingKind.DRIFT, "metric final/reward drifted <script>")]
    html = render.panel_html("smol-RL <i>", [drifted], drifted, RECORD, {"cpu": "../notebooks/smol_rl/cpu/"})
    assert html.startswith('<details class="rn-panel failure">') and "<summary>" in html
    assert 'class="rn-v-drifted"' in html and "repronotes run smol_rl --profile cpu" in html
    assert 'href="../notebooks/smol_rl/cpu/"' in html and "drifted" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "smol-RL &lt;i&gt;" in html


def test_panel_says_how_much_was_checked():
    same = Outcome("smol_rl", "cpu", Status.REPRODUCED, Action.EXECUTED, hardware="cpu-amd-avx2-2t",
                   record_hardware="cpu-amd-avx2-2t")  # fmt: skip
    same.verdicts = [MetricVerdict("a", Verdict.IDENTICAL, 1, 1, "exact")]
    assert "bit for bit (1 metrics)" in render.panel_html("t", [same], same, RECORD, {})
    other = Outcome("smol_rl", "cpu", Status.REPRODUCED, Action.EXECUTED, hardware="cpu-intel-avx512-2t",
                    record_hardware="cpu-amd-avx2-2t")  # fmt: skip
    other.verdicts = [
        MetricVerdict("a", Verdict.WITHIN, 1, 1.01, "rel 0.05"),
        MetricVerdict("b", Verdict.INFO, 1, 2, "info"),
    ]
    assert "other hardware: 1 gated, 1 shown only" in render.panel_html("t", [other], other, RECORD, {})


def test_signed_format_keeps_the_sign_off_the_standard_error():
    record = make_record({"delta": MetricEntry(value=-0.036, se=0.014, n=3)})
    assert ">-0.036 ± 0.014</span>" in render.value_html(record, "delta", "+.3f", True, "posts/p.md")


def test_dashboard_rows_are_escaped_html():
    rows = [{"experiment": "x", "title": "T <b>", "profile": "cpu", "status": Status.VERIFIED, "action": Action.VERIFIED_ONLY,
             "hardware": "cpu", "date": "2026-01-01", "verified": "–", "rerun": "repronotes run x --profile cpu"}]  # fmt: skip
    html = render.dashboard_html(rows)
    assert "T &lt;b&gt;" in html and "verified from record" in html and "<table" in html
