import pytest

from repronotes.pipeline import Outcome
from repronotes.plugin import render
from repronotes.tolerance import Verdict

RECORD = {
    "experiment": "smol_rl",
    "run": {"profile": "cpu", "date": "2026-11-26T07:00:00+00:00"},
    "environment": {"hardware_class": "cpu-amd-avx2-2t"},
    "metrics": {
        "sft_vs_rl/base/accuracy": {"value": 0.3333},
        "sft_vs_rl/base/macro_f1": {"value": 0.2},
        "sft_vs_rl/rl_from_sft/soft/accuracy": {"value": 0.45, "se": 0.02, "n": 3},
        "final/reward": {"value": 0.71234, "se": 0.0312, "n": 3},
        "loss": {"steps": [1], "values": [0.5]},
    },
}


def test_value_names_profile_and_hardware():
    out = render.value_html(RECORD, "final/reward", ".2f", True, "posts/p.md")
    assert ">0.71 ± 0.03</span>" in out and 'data-profile="cpu"' in out and "cpu-amd-avx2-2t" in out
    with pytest.raises(KeyError, match="series"):
        render.value_html(RECORD, "loss", None, False, "posts/p.md")


def test_format_value_defaults():
    assert render.format_value(81920, None) == "81,920"
    assert render.format_value(0.123456, None) == "0.1235"
    assert render.format_value(0.25, ".1%") == "25.0%"
    assert render.format_value("abc", ".3f") == "abc"


def test_metric_table_rows_columns_and_source():
    table = render.metric_table_markdown(RECORD, "sft_vs_rl", ".3f", {})
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert lines[0] == "|  | accuracy | macro_f1 |"
    assert lines[2] == "| **base** | 0.333 | 0.200 |" and lines[3] == "| **rl_from_sft/soft** | 0.450 | – |"
    assert "Source: record of smol_rl · profile cpu on cpu-amd-avx2-2t" in table
    chosen = render.metric_table_markdown(
        RECORD, "sft_vs_rl", ".2f", {"rows": "rl_from_sft/soft,base", "cols": "accuracy"}
    )
    assert "| **rl_from_sft/soft** | 0.45 |" in chosen.splitlines()[3]
    with pytest.raises(KeyError, match="no metrics named nope"):
        render.metric_table_markdown(RECORD, "nope", None, {})


def test_metric_table_columns_may_contain_slashes_and_typos_fail():
    record = {**RECORD, "metrics": {**RECORD["metrics"]}}
    record["metrics"]["sft_vs_rl/base/predicted_share/disruptive"] = {"value": 0.5}
    record["metrics"]["sft_vs_rl/rl_from_sft/soft/predicted_share/disruptive"] = {"value": 0.25}
    options = {"rows": "base,rl_from_sft/soft", "cols": "accuracy,predicted_share/disruptive"}
    lines = render.metric_table_markdown(record, "sft_vs_rl", ".2f", options).splitlines()
    assert lines[1] == "|  | accuracy | predicted_share/disruptive |"
    assert lines[3] == "| **base** | 0.33 | 0.50 |" and lines[4] == "| **rl_from_sft/soft** | 0.45 | 0.25 |"
    with pytest.raises(KeyError, match="no metric for column 'acuracy'"):
        render.metric_table_markdown(record, "sft_vs_rl", None, {"cols": "acuracy,macro_f1"})
    with pytest.raises(KeyError, match="no metric for row 'rl_from_sft/sof'"):
        render.metric_table_markdown(record, "sft_vs_rl", None, {"rows": "base,rl_from_sft/sof"})


def test_panel_is_collapsible_and_shows_failures_in_red():
    drifted = Outcome(
        "smol_rl", "cpu", "drifted", "executed", "repronotes run smol_rl --profile cpu", hardware="cpu-x"
    )
    drifted.verdicts = [Verdict("final/reward", "drifted", 0.7, 0.1, "±2·SE", "big")]
    drifted.findings = ["smol_rl/cpu: metric final/reward drifted"]
    html = render.panel_html("smol-RL", [drifted], drifted, RECORD, {"cpu": "../notebooks/smol_rl/cpu/"})
    assert html.startswith('<details class="rn-panel failure">') and "<summary>" in html
    assert 'class="rn-v-drifted"' in html and "repronotes run smol_rl --profile cpu" in html
    assert 'href="../notebooks/smol_rl/cpu/"' in html and "drifted" in html


def test_signed_format_keeps_the_sign_off_the_standard_error():
    record = {**RECORD, "metrics": {"delta": {"value": -0.036, "se": 0.014, "n": 3}}}
    assert ">-0.036 ± 0.014</span>" in render.value_html(record, "delta", "+.3f", True, "posts/p.md")
