import pytest

from repronotes import markers
from repronotes.errors import MarkerError


def test_parses_every_marker_kind():
    text = (
        "{{ experiment: qdora_sft }}\n"
        "F1 is {{ value: qdora_sft@gpu.qdora/macro_f1 | .3f }} and {{ value: smol_rl.reward | .2f | se }}.\n"
        "{{ table: smol_rl.sft_vs_rl | .3f | rows=base,sft }}\n{{ reproducibility_dashboard }}\n"
    )
    found = markers.find(text, "posts/p.md")
    assert [m.kind for m in found] == ["experiment", "value", "value", "table", "reproducibility_dashboard"]
    value = found[1]
    assert (value.experiment, value.profile, value.metric, value.fmt) == (
        "qdora_sft",
        "gpu",
        "qdora/macro_f1",
        ".3f",
    )
    assert found[2].with_se and found[3].options == {"rows": "base,sft"}
    assert markers.experiments_in(text, "posts/p.md") == ["qdora_sft", "smol_rl"]


def test_code_is_left_alone():
    text = "```md\n{{ experiment: shown_in_docs }}\n```\nInline `{{ value: a.b }}` too.\n{{ value: real.m }}"
    assert markers.experiments_in(text, "p.md") == ["real"]
    out = markers.substitute(text, "p.md", lambda m: "X")
    assert "{{ experiment: shown_in_docs }}" in out and "`{{ value: a.b }}`" in out and out.endswith("X")


@pytest.mark.parametrize(
    "text, rule",
    [
        ("{{ value: qdora_sft }}", "needs experiment.metric"),
        ("{{ experiment: a.b }}", "takes an experiment name only"),
        ("{{ experiment: Bad-Name }}", "target must look like"),
        ("{{ value: a.b | not-a-format }}", "not a Python format spec"),
        ("{{ experiment }}", "needs a target"),
    ],
)
def test_bad_markers_name_page_and_rule(text, rule):
    with pytest.raises(MarkerError) as err:
        markers.find(text, "posts/p.md")
    assert str(err.value).startswith("posts/p.md: ") and rule in str(err.value)


def test_integer_format_specs_are_accepted():
    found = markers.find("{{ value: a.count | d }} and {{ value: a.count | ,d }}", "p.md")
    assert [m.fmt for m in found] == ["d", ",d"]
