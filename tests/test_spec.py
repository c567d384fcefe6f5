import pytest

from repronotes.errors import SpecError, UnknownExperimentError, UnknownProfileError
from repronotes.spec import discover, load_experiment, topological_order


def test_valid_spec_loads_typed_objects(project):
    project.experiment()
    exp = load_experiment(project.root, "toy")
    assert exp.title == "Toy experiment"
    assert exp.profiles["cpu"].params == {"scale": 1.0} and exp.profiles["cpu"].threads == 1
    assert exp.metric_spec("accuracy", "cpu").tolerance.band == 2.0
    assert exp.parameter_names == frozenset({"scale"})


@pytest.mark.parametrize(
    "spec, key, rule",
    [
        ("title: [unclosed\n", "line", "not valid YAML"),
        ("- a list\n", "<document>", "must be a mapping"),
        ("profiles: {cpu: {}}\nmetrics: {a: {exact: true}}\n", "title", "is required"),
        ("title: T\nprofiles: {}\nmetrics: {a: {exact: true}}\n", "profiles", "non-empty"),
        (
            "title: T\nprofiles: {cpu: {timeout: -3}}\nmetrics: {a: {exact: true}}\n",
            "profiles.cpu.timeout",
            "positive",
        ),
        (
            "title: T\nprofiles: {cpu: {requires: tpu}}\nmetrics: {a: {exact: true}}\n",
            "profiles.cpu.requires",
            "one of",
        ),
        (
            "title: T\nprofiles: {cpu: {params: {nope: 1}}}\nmetrics: {a: {exact: true}}\n",
            "profiles.cpu.params.nope",
            "not a parameter",
        ),
        (
            "title: T\nprofiles: {cpu: {params: {upstream: {}}}}\nmetrics: {a: {exact: true}}\n",
            "params.upstream",
            "injected",
        ),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true, rel: 1}}\n", "metrics.a", "mixes"),
        (
            "title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true, profiles: [gpu]}}\n",
            "metrics.a.profiles",
            "declared",
        ),
        (
            "title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true}}\ncolour: blue\n",
            "colour",
            "unknown key",
        ),
    ],
)
def test_malformed_spec_names_file_key_and_rule(project, spec, key, rule):
    project.experiment(spec=spec)
    with pytest.raises(SpecError) as err:
        load_experiment(project.root, "toy")
    message = str(err.value)
    assert message.startswith("experiments/toy/experiment.yaml: ")
    assert key in message and rule in message


def test_notebook_without_parameters_cell_is_rejected(project):
    folder = project.experiment()
    import nbformat

    nb = nbformat.read(str(folder / "notebook.ipynb"), as_version=4)
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, str(folder / "notebook.ipynb"))
    with pytest.raises(
        SpecError, match="experiments/toy/notebook.ipynb: cells: no cell is tagged 'parameters'"
    ):
        load_experiment(project.root, "toy")


def test_unknown_profile_and_experiment(project):
    project.experiment()
    exp = load_experiment(project.root, "toy")
    with pytest.raises(UnknownProfileError, match="profiles.tpu: unknown profile; declared: cpu"):
        exp.profile("tpu")
    with pytest.raises(UnknownExperimentError, match="nope"):
        load_experiment(project.root, "nope")


def test_needs_order_and_cycles(project):
    base = "title: T\nprofiles: {cpu: {}}\nmetrics: {count: {exact: true}}\n"
    project.experiment("a", spec=base)
    project.experiment("b", spec=base + "needs: [a]\n")
    experiments = discover(project.root)
    assert topological_order(experiments, ["b"]) == ["a", "b"]
    project.experiment("a", spec=base + "needs: [b]\n")
    with pytest.raises(SpecError, match="dependency cycle"):
        discover(project.root)
    project.experiment("a", spec=base + "needs: [zzz]\n")
    with pytest.raises(SpecError, match="needs: unknown experiment 'zzz'"):
        discover(project.root)


def test_metric_globs_and_profile_restriction(project):
    spec = "title: T\nprofiles: {cpu: {}, gpu: {requires: cuda}}\nmetrics:\n  'recall/*': {band: 2}\n  fp16: {abs: 0.1, profiles: [gpu]}\n"
    project.experiment(spec=spec)
    exp = load_experiment(project.root, "toy")
    assert exp.metric_spec("recall/neutral", "cpu").tolerance.band == 2
    assert exp.metric_spec("fp16", "cpu") is None and exp.metric_spec("fp16", "gpu") is not None
    assert exp.profiles["gpu"].requires == ("cuda",)
