"""experiment.yaml -> typed Experiment/Profile; every error names the file, the key and the rule."""

from __future__ import annotations

import nbformat
import pytest

from projectkit import TOY_SPEC
from repronotes.errors import SpecError, UnknownExperimentError, UnknownProfileError
from repronotes.model import Tolerance
from repronotes.spec import discover, load_experiment, topological_order

BASE = "title: T\nprofiles: {cpu: {}}\nmetrics: {count: {exact: true}}\n"


def test_a_valid_spec_loads_typed_objects(project):
    project.experiment()
    exp = load_experiment(project.root, "toy")
    assert exp.title == "Toy experiment" and exp.name == "toy"
    assert exp.notebook == project.root / "experiments" / "toy" / "notebook.ipynb"
    cpu = exp.profiles["cpu"]
    assert (cpu.params, cpu.threads, cpu.timeout, cpu.requires, cpu.optional) == (
        {"scale": 1.0},
        1,
        60,
        (),
        False,
    )
    rules = exp.rules("cpu")
    assert rules.required == ("accuracy", "count", "loss", "speed")
    accuracy = rules.lookup("accuracy")
    assert accuracy is not None and accuracy.same == Tolerance(band=2.0) and accuracy.other is None
    assert rules.lookup("speed").same == Tolerance(min_ratio=0.9)  # type: ignore[union-attr]
    assert exp.parameter_names == frozenset({"scale"}) and exp.kernel == "python3"
    assert (exp.needs, exp.depends_on, exp.outputs) == ((), (), ())
    assert exp.spec_file == "experiments/toy/experiment.yaml"
    assert exp.record_path("cpu") == exp.folder / "records" / "cpu.json"
    assert exp.executed_path("cpu") == exp.folder / "runs" / "cpu.ipynb"


def test_a_profile_with_an_empty_body_takes_the_defaults(project):
    project.experiment(spec="title: T\nprofiles:\n  cpu:\n  quick: {}\nmetrics: {count: {exact: true}}\n")
    exp = load_experiment(project.root, "toy")
    assert set(exp.profiles) == {"cpu", "quick"}
    cpu = exp.profiles["cpu"]
    assert (cpu.params, cpu.timeout, cpu.threads, cpu.requires) == ({}, 600, None, ())


def test_other_hardware_tolerances_and_globs(project):
    spec = (
        "title: T\nprofiles: {cpu: {}, gpu: {requires: cuda}}\nmetrics:\n"
        "  'recall/*': {band: 2}\n  fp16: {abs: 0.1, profiles: [gpu]}\n"
        "  loss: {rel: 1.0e-4, other_hardware: {rel: 0.05}, series: last}\n"
    )
    project.experiment(spec=spec)
    exp = load_experiment(project.root, "toy")
    assert exp.rules("cpu").lookup("recall/neutral").same.band == 2  # type: ignore[union-attr]
    assert exp.rules("cpu").lookup("fp16") is None and exp.rules("gpu").lookup("fp16") is not None
    loss = exp.rules("cpu").lookup("loss")
    assert loss is not None and loss.other == Tolerance(rel=0.05, series="last")
    assert loss.for_hardware(same_hardware=False).rel == 0.05 and loss.for_hardware(True).rel == 1.0e-4
    assert exp.profiles["gpu"].requires == ("cuda",)
    assert exp.rules("cpu").required == ("loss",)  # globs are not required; fp16 is gpu-only


@pytest.mark.parametrize(
    "spec, key, rule",
    [
        ("title: [unclosed\n", "line", "not valid YAML"),
        ("- a list\n", "<document>", "must be a mapping"),
        ("profiles: {cpu: {}}\nmetrics: {a: {exact: true}}\n", "title", "is required"),
        ("title: T\nprofiles: {}\nmetrics: {a: {exact: true}}\n", "profiles", "non-empty"),
        ("title: T\nprofiles: {cpu: {}}\n", "metrics", "non-empty"),
        ("title: T\nprofiles: {cpu: {timeout: -3}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.timeout", "positive"),
        ("title: T\nprofiles: {cpu: {threads: 1.5}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.threads", "positive"),
        ("title: T\nprofiles: {cpu: {optional: 1}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.optional", "true or false"),
        ("title: T\nprofiles: {cpu: {requires: tpu}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.requires", "one of"),
        ("title: T\nprofiles: {cpu: {params: {nope: 1}}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.params.nope", "not a parameter"),
        ("title: T\nprofiles: {cpu: {params: {upstream: {}}}}\nmetrics: {a: {exact: true}}\n", "params.upstream", "injected"),
        ("title: T\nprofiles: {cpu: {params: [1]}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.params", "mapping"),
        ("title: T\nprofiles: {cpu: {params: {scale: .nan}}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.params", "plain JSON"),
        ("title: T\nprofiles: {cpu: {params: {scale: 2024-01-02}}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.params", "plain JSON"),
        ("title: T\nprofiles: {cpu: {colour: red}}\nmetrics: {a: {exact: true}}\n", "profiles.cpu.colour", "unknown key"),
        ("title: T\nprofiles: {CPU: {}}\nmetrics: {a: {exact: true}}\n", "profiles.CPU", "profile names match"),
        ("title: T\nprofiles: {cpu: 3}\nmetrics: {a: {exact: true}}\n", "profiles.cpu", "must be a mapping"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true, rel: 1}}\n", "metrics.a", "mixes"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {rel: -1}}\n", "metrics.a.rel", ">= 0"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true, profiles: [gpu]}}\n", "metrics.a.profiles", "declared"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true}}\ncolour: blue\n", "colour", "unknown key"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true}}\nneeds: up\n", "needs", "list of non-empty strings"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true}}\ndepends_on: [/etc/passwd]\n", "depends_on[0]", "relative to the experiment folder"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true}}\ndepends_on: [data/x, '~/x']\n", "depends_on[1]", "relative"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {a: {exact: true}}\noutputs: ['C:/out/*']\n", "outputs[0]", "relative"),
    ],
)  # fmt: skip
def test_a_malformed_spec_names_file_key_and_rule(project, spec, key, rule):
    project.experiment(spec=spec)
    with pytest.raises(SpecError) as err:
        load_experiment(project.root, "toy")
    message = str(err.value)
    assert message.startswith("experiments/toy/experiment.yaml: ")
    assert key in err.value.key and rule in err.value.rule
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    "spec, line, key",
    [
        ("title: T\nprofiles: {cpu: {}}\nmetrics: {count: {exact: true}}\ntitle: U\n", 4, "'title'"),
        ("title: T\nprofiles:\n  cpu: {}\n  gpu: {}\n  cpu: {timeout: 5}\nmetrics: {count: {exact: true}}\n", 5, "'cpu'"),
        ("title: T\nprofiles:\n  cpu: {params: {scale: 1, scale: 2}}\nmetrics: {count: {exact: true}}\n", 3, "'scale'"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics:\n  count: {exact: true}\n  count: {abs: 1}\n", 5, "'count'"),
        ("title: T\nprofiles: {cpu: {}}\nmetrics:\n  count: {abs: 1, abs: 2}\n", 4, "'abs'"),
    ],
)  # fmt: skip
def test_a_duplicate_key_is_an_error_naming_the_line(project, spec, line, key):
    project.experiment(spec=spec)
    with pytest.raises(SpecError) as err:
        load_experiment(project.root, "toy")
    assert err.value.file == "experiments/toy/experiment.yaml"
    assert err.value.key == f"line {line}"
    assert f"duplicate key {key}" in err.value.rule


def test_a_notebook_without_parameters_cell_is_rejected(project):
    folder = project.experiment()
    nb = nbformat.read(str(folder / "notebook.ipynb"), as_version=4)
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, str(folder / "notebook.ipynb"))
    with pytest.raises(
        SpecError, match="experiments/toy/notebook.ipynb: cells: no cell is tagged 'parameters'"
    ):
        load_experiment(project.root, "toy")


def test_a_missing_notebook_is_named(project):
    folder = project.experiment(spec=TOY_SPEC + "notebook: other.ipynb\n")
    assert (folder / "notebook.ipynb").is_file()
    with pytest.raises(SpecError, match="experiments/toy/other.ipynb: <notebook>: file does not exist"):
        load_experiment(project.root, "toy")


def test_an_experiment_folder_name_must_be_a_plain_name(project):
    project.experiment("Bad-Name", spec=BASE)
    with pytest.raises(SpecError, match="experiments/Bad-Name/experiment.yaml: <folder name>"):
        load_experiment(project.root, "Bad-Name")


def test_unknown_profile_and_experiment(project):
    project.experiment()
    exp = load_experiment(project.root, "toy")
    with pytest.raises(UnknownProfileError, match="profiles.tpu: unknown profile; declared: cpu"):
        exp.profile("tpu")
    with pytest.raises(UnknownExperimentError, match="nope") as err:
        load_experiment(project.root, "nope")
    assert err.value.exit_code == 2


def test_needs_order_cycles_and_unknown_needs(project):
    project.experiment("a", spec=BASE)
    project.experiment("b", spec=BASE + "needs: [a]\n")
    project.experiment("c", spec=BASE + "needs: [b]\n")
    experiments = discover(project.root)
    assert list(experiments) == ["a", "b", "c"]
    assert topological_order(experiments, ["c"]) == ["a", "b", "c"]
    assert topological_order(experiments, ["b", "a"]) == ["a", "b"]
    project.experiment("a", spec=BASE + "needs: [c]\n")
    with pytest.raises(SpecError, match=r"needs: dependency cycle: a -> c -> b -> a"):
        discover(project.root)
    project.experiment("a", spec=BASE + "needs: [a]\n")
    with pytest.raises(SpecError, match=r"experiments/a/experiment.yaml: needs: dependency cycle: a -> a"):
        discover(project.root)
    project.experiment("a", spec=BASE + "needs: [zzz]\n")
    with pytest.raises(SpecError, match="experiments/a/experiment.yaml: needs: unknown experiment 'zzz'"):
        discover(project.root)


def test_needs_must_declare_the_same_profiles(project):
    project.experiment("up", spec=BASE)
    project.experiment(
        "down", spec="title: T\nprofiles: {cpu: {}, gpu: {}}\nmetrics: {count: {exact: true}}\nneeds: [up]\n"
    )
    with pytest.raises(
        SpecError, match=r"experiments/down/experiment.yaml: needs: 'up' lacks profile\(s\) \['gpu'\]"
    ):
        discover(project.root)
    project.experiment(
        "down",
        spec="title: T\nprofiles: {cpu: {}, gpu: {optional: true}}\nmetrics: {count: {exact: true}}\nneeds: [up]\n",
    )
    assert set(discover(project.root)) == {"up", "down"}


@pytest.mark.parametrize(
    "old, new, changes",
    [
        ("title: Toy experiment", "title: Other", False),
        ("timeout: 60", "timeout: 120", False),
        ("count: {exact: true}", "count: {abs: 1}", False),
        ("threads: 1", "threads: 2", True),
        ("title: Toy experiment", "title: Toy experiment\nneeds: [up]", True),
        ("title: Toy experiment", "title: Toy experiment\ndepends_on: [data.csv]", True),
        ("title: Toy experiment", "title: Toy experiment\noutputs: ['*.csv']", True),
        ("threads: 1}", "threads: 1, requires: cuda}", True),
    ],
)
def test_execution_digest_covers_only_what_changes_a_run(project, old, new, changes):
    folder = project.experiment()
    before = load_experiment(project.root, "toy").execution_digest("cpu")
    assert old in TOY_SPEC
    (folder / "experiment.yaml").write_text(TOY_SPEC.replace(old, new))
    after = load_experiment(project.root, "toy").execution_digest("cpu")
    assert (after != before) is changes
