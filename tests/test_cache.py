import json

from repronotes.cache import explain_changes, input_hash, lab_sources
from repronotes.spec import discover


def _hash(project, profile="cpu", hardware="cpu-x-1t"):
    experiments = discover(project.root)
    return input_hash(experiments["toy"], profile, hardware, experiments)


def test_hash_is_stable_and_ignores_markdown(project):
    folder = project.experiment()
    first = _hash(project)
    nb = json.loads((folder / "notebook.ipynb").read_text())
    nb["cells"][0]["source"] = "# A new title, same code"
    (folder / "notebook.ipynb").write_text(json.dumps(nb))
    assert _hash(project).digest == first.digest


def test_each_input_changes_the_hash_and_says_why(project):
    folder = project.experiment()
    base = _hash(project)
    nb = json.loads((folder / "notebook.ipynb").read_text())
    nb["cells"][2]["source"] += "\nx = 1\n"
    (folder / "notebook.ipynb").write_text(json.dumps(nb))
    code = _hash(project)
    assert explain_changes(base.parts, code.parts) == ["notebook changed"]
    project.set_param("toy", "  cpu: {params: {scale: 2.0}, timeout: 60, threads: 1}")
    params = _hash(project)
    assert explain_changes(code.parts, params.parts) == ["parameters changed"]
    (project.root / "requirements.lock").write_text("fixture==2.0\n")
    lock = _hash(project)
    assert explain_changes(params.parts, lock.parts) == ["lock changed"]
    other = _hash(project, hardware="cuda-h100")
    assert explain_changes(lock.parts, other.parts) == ["hardware class cpu-x-1t -> cuda-h100"]
    nb["metadata"]["kernelspec"]["name"] = "julia"
    (folder / "notebook.ipynb").write_text(json.dumps(nb))
    assert explain_changes(lock.parts, _hash(project).parts) == ["notebook changed"]  # kernelspec is hashed


def test_lab_imports_are_followed_transitively(project):
    lab = project.root / "src" / "repronotes" / "lab"
    lab.mkdir(parents=True)
    (lab / "__init__.py").write_text("")
    (lab / "sft.py").write_text("from repronotes.lab.data import load\nfrom .evaluate import f1\n")
    (lab / "data.py").write_text("def load(): ...\n")
    (lab / "evaluate.py").write_text("def f1(): ...\n")
    (lab / "unused.py").write_text("")
    code = "from repronotes.lab import sft\nfrom repronotes import capture\ncapture.metric('count', 1)\n"
    project.experiment(code=code, spec="title: T\nprofiles: {cpu: {}}\nmetrics: {count: {exact: true}}\n")
    nb = json.loads((project.root / "experiments/toy/notebook.ipynb").read_text())
    names = [p.name for p in lab_sources(project.root, nb)]
    assert names == ["__init__.py", "data.py", "evaluate.py", "sft.py"]
    before = _hash(project)
    (lab / "evaluate.py").write_text("def f1(): return 1\n")
    assert explain_changes(before.parts, _hash(project).parts) == ["lab/evaluate.py changed"]
    (lab / "unused.py").write_text("x = 2\n")
    assert explain_changes(before.parts, _hash(project).parts) == ["lab/evaluate.py changed"]


def test_depends_on_globs_and_upstream_records(project):
    spec = "title: T\nprofiles: {cpu: {}}\nmetrics: {count: {exact: true}}\n"
    project.experiment("up", spec=spec)
    (project.root / "data").mkdir()
    (project.root / "data" / "a.csv").write_text("1\n")
    project.experiment("toy", spec=spec + "needs: [up]\ndepends_on: ['data/*.csv']\n")
    before = _hash(project)
    assert before.parts["upstream:up@cpu"] == "no-record"
    (project.root / "data" / "a.csv").write_text("2\n")
    assert explain_changes(before.parts, _hash(project).parts) == ["data/a.csv changed"]
