import pytest

from notes_lab import determinism as dt


def run(setting, *repeats, logprobs=None):
    ids = [list(map(list, r)) for r in repeats]
    return dt.ProbeRun(setting, ids, logprobs or [[0.0] * len(row) for row in ids[0]], [1.0])


REF = dt.ProbeSetting(1, "float32", 2, True)


def test_setting_names_and_validation():
    assert REF.name == "fp32.bs1.t2.det"
    assert dt.ProbeSetting(8, "bfloat16", None, False).name == "bf16.bs8.nondet"
    with pytest.raises(ValueError, match="ProbeSetting.dtype"):
        dt.ProbeSetting(1, "int8")
    with pytest.raises(ValueError, match="ProbeSetting.batch_size"):
        dt.ProbeSetting(0)


def test_grids_start_with_the_reference():
    cpu = dt.probe_settings("cpu")
    assert cpu[0] == REF and len(cpu) == 9 and {s.threads for s in cpu} == {1, 2}
    gpu = dt.probe_settings("cuda")
    assert gpu[0] == dt.ProbeSetting(1, "float32", None, False)
    assert {s.dtype for s in gpu} == {"float32", "bfloat16", "float16"}
    assert sum(s.deterministic for s in gpu) == 3


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([1, 2, 3], [1, 2, 3], None), ([1, 2, 3], [1, 5, 3], 1), ([1, 2], [1, 2, 3], 2), ([4], [5], 0)],
)
def test_first_divergence(a, b, expected):
    assert dt.first_divergence(a, b) == expected


def test_identical_share_and_hash():
    r = run(REF, [[1, 2], [3, 4]], [[1, 2], [3, 5]], [[1, 2], [3, 4]])
    assert dt.identical_share(r) == (0.75, 4)
    assert dt.token_hash([[1, 2]]) == dt.token_hash([[1, 2]]) != dt.token_hash([[1, 3]])


def test_summary_changes_divergence_and_logprob_delta():
    ref = run(REF, [[1, 2, 3], [4, 5, 6]], logprobs=[[-0.1, -0.2, -0.3], [-1.0, -1.0, -1.0]])
    batch8 = run(dt.ProbeSetting(8, "float32", 2, True), [[1, 2, 3], [4, 9, 6]],
                 logprobs=[[-0.1, -0.25, -0.3], [-1.5, -7.0, -7.0]])  # fmt: skip
    bf16 = run(dt.ProbeSetting(1, "bfloat16", 2, True), [[1, 2, 3], [4, 5, 6]])
    summary = dt.summarize([ref, batch8, bf16])
    assert summary["changed_across_batch_sizes"] == {"fp32": 0.5, "bf16": 0.0} and summary["n_prompts"] == 2
    assert summary["changed_across_dtypes"] == 0.0
    row = summary["settings"]["fp32.bs8.t2.det"]
    assert row["divergence_positions"] == [1] and row["changed_vs_reference"] == 1
    assert row["max_abs_logprob_delta"] == pytest.approx(0.5)  # positions after the divergence are ignored
    assert summary["settings"]["bf16.bs1.t2.det"]["max_abs_logprob_delta"] == pytest.approx(1.0)


def test_slowdown_ratio():
    fast, slow = run(REF, [[1]]), run(dt.ProbeSetting(1, "float32", 1, True), [[1]])
    slow.seconds = [3.0]
    assert dt.slowdown([fast, slow], slow.setting, fast.setting) == 3.0
