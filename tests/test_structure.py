"""How the package is cut: what imports what, where the model is built, how large a class grows.

These are the rules that keep each new capability an addition: configuration without torch,
no import cycle, one model builder, small classes, the CRF dependency pinned to the release
whose private methods :mod:`bilstm_tagger.model.crf` replaces.
"""

import ast
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "bilstm_tagger"
# The rooms of the package, lowest first: a module imports from its own room and the rooms below it.
ROOMS = ["base", "text", "model", "tagging", "scoring", "training", "serving", "datasets", "cli"]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_module_name(path): ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, tree: ast.Module) -> set[str]:
    """The package's modules that a module imports, at any level: inside functions and type-checking blocks too."""
    package = (
        name if name in {"bilstm_tagger", *(f"bilstm_tagger.{room}" for room in ROOMS)} else name.rsplit(".", 1)[0]
    )
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{parent}.{base}" if base else parent
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)  # from bilstm_tagger.model import checkpoint
    return names & set(MODULES)


def room_of(module: str) -> str | None:
    """The room a module lives in, or ``None`` for the package's own files (``__init__``, ``version``...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


GRAPH = {name: imported_modules(name, tree) - {name} for name, tree in MODULES.items()}


def test_every_module_lives_in_a_room():
    outside = {name for name in MODULES if room_of(name) is None}
    assert outside == {"bilstm_tagger", "bilstm_tagger.__main__", "bilstm_tagger.version"}
    assert {room_of(name) for name in MODULES} - {None} == set(ROOMS), "a room without modules"


def test_no_room_imports_from_a_room_above_it():
    upward = [
        f"{name} imports {imported}"
        for name, imports in GRAPH.items()
        if room_of(name)
        for imported in imports
        if room_of(imported) and ROOMS.index(room_of(imported)) > ROOMS.index(room_of(name))
    ]
    assert not upward
    below_every_room = {name for name in MODULES if name.endswith(".version")}
    assert all(
        room_of(i) or i in below_every_room or i.startswith("bilstm_tagger.")
        for imports in GRAPH.values()
        for i in imports
    )
    # the package's own files: __main__ runs the CLI; version imports nothing
    assert GRAPH["bilstm_tagger.version"] == set()


@pytest.mark.parametrize(
    "module",
    [
        "model.config",
        "training.events",
        "scoring.metrics",
        "scoring.analysis",
        "scoring.evaluation",
        "tagging.predictions",
        "tagging.formats",
        "text.documents",
        "tagging.html_page",
        "text.segmentation",
        "base.schemes",
        "scoring.report",
        "scoring.report_html",
        "cli.commands",
        "tagging.tagger",  # and what it imports: batches, engines, crf_scores, posteriors, vocab (the ONNX path)
        "tagging.workers",
        "serving.server",
        "serving.models",
        "model.packages",
        "datasets.jobs",  # and records, sources: what every worker imports (ONNX Runtime's, without torch)
        "datasets.clusters",
    ],
)
def test_modules_that_must_not_import_torch(module):
    code = f"import sys, bilstm_tagger.{module}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_only_the_cli_imports_rich():
    """The library reports through events; drawing them (rich) is the CLI's job."""
    importers = {name for name, tree in MODULES.items() for imported in _third_party(tree) if imported == "rich"}
    assert importers and {room_of(name) for name in importers} == {"cli"}
    everything_but_the_cli = [name for name in MODULES if room_of(name) != "cli" and name != "bilstm_tagger.__main__"]
    code = f"import sys; import {', '.join(everything_but_the_cli)}; assert 'rich' not in sys.modules, 'rich imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_the_package_has_no_import_cycle():
    graph = {name: set(imports) for name, imports in GRAPH.items()}
    # a room's __init__ is imported before any module of the room: it must import none of them
    assert all(not graph[f"bilstm_tagger.{room}"] for room in ROOMS)
    visiting, done = [], set()

    def visit(module):
        if module in done:
            return
        assert module not in visiting, f"import cycle: {' → '.join(visiting[visiting.index(module) :] + [module])}"
        visiting.append(module)
        for imported in sorted(graph[module] - {f"bilstm_tagger.{room}" for room in ROOMS} - {"bilstm_tagger"}):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    importers_of_cli = {name for name, imported in graph.items() if imported & {"bilstm_tagger.cli.commands"}}
    assert importers_of_cli == {"bilstm_tagger.__main__"}, "only `python -m bilstm_tagger` imports the CLI"


def _third_party(tree: ast.Module) -> set[str]:
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    return imported


def test_the_network_is_constructed_in_one_place():
    calls = [
        (name, node.lineno)
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "BiLstmCrf"
    ]
    assert len(calls) == 1 and calls[0][0] == "bilstm_tagger.model.bilstm_crf", calls
    builder = next(
        node
        for node in ast.walk(MODULES["bilstm_tagger.model.bilstm_crf"])
        if isinstance(node, ast.FunctionDef) and node.name == "build_model"
    )
    assert builder.lineno <= calls[0][1] <= builder.end_lineno


def test_no_class_is_over_200_lines():
    long_classes = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 200
    ]
    assert not long_classes


def test_pytorch_crf_is_the_release_whose_private_methods_we_replace():
    from torchcrf import CRF

    from bilstm_tagger.model.crf import ConstrainedCRF

    assert version("pytorch-crf") == "0.7.2"
    pinned = [line for line in Path(ROOT / "pyproject.toml").read_text().splitlines() if "pytorch-crf" in line]
    assert pinned == [
        '    "pytorch-crf==0.7.2",  # exactly: bilstm_tagger/model/crf.py replaces three of its private methods'
    ]
    for method in ("_compute_score", "_compute_normalizer", "_viterbi_decode"):
        assert method in vars(CRF) and method in vars(ConstrainedCRF)


def test_every_package_the_code_imports_is_declared():
    from importlib.metadata import packages_distributions

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    declared = {_requirement_name(requirement) for requirement in requirements}
    imported = set().union(*(_third_party(tree) for tree in MODULES.values()))
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "bilstm_tagger"}
    distributions = packages_distributions()
    missing = {
        name: distributions.get(name)
        for name in third_party
        if not declared & {_canonical(d) for d in distributions.get(name, [name])}
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert {"torch", "torchcrf", "numpy", "typer", "rich", "seqeval"} <= third_party


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirement_name(requirement: str) -> str:
    for separator in "=<>[ ;~!":
        requirement = requirement.split(separator)[0]
    return _canonical(requirement)


def test_training_and_tagging_from_python_import_no_rich(tmp_path):
    """The library reports through events and returns values: it never draws on a terminal."""
    code = f"""
import sys
from bilstm_tagger import Tagger
from bilstm_tagger.model.config import ModelConfig, TrainingConfig
from bilstm_tagger.scoring.evaluation import evaluate_file
from bilstm_tagger.training.run import train_files
config = TrainingConfig(model=ModelConfig(word_dim=8, char_dim=4, char_filters=6, hidden_size=8), max_epochs=1)
train_files({str(ROOT / "data/ner/train.txt")!r}, {str(ROOT / "data/ner/dev.txt")!r}, {str(tmp_path / "m")!r}, config)
tagger = Tagger.load({str(tmp_path / "m")!r})
assert tagger("Anna Berg lives in Oslo.").text == "Anna Berg lives in Oslo."
evaluate_file(tagger, {str(ROOT / "data/ner/test.txt")!r})
assert "rich" not in sys.modules, "rich imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


def test_the_public_tagger_has_one_way_per_kind_of_input():
    """Raw text (``tagger(text)``, ``pipe``), pre-tokenised sentences (``tag``), files (``tag_file``)."""
    from bilstm_tagger import Tagger

    public = {name for name, value in vars(Tagger).items() if not name.startswith("_")}
    methods = {name for name in public if not isinstance(vars(Tagger)[name], property)}
    assert methods == {"load", "pipe", "tag", "tag_file"} and "__call__" in vars(Tagger)
    assert public - methods == {"engine", "labels", "output_scheme", "language", "context"}, (
        "the rest is the loaded model's (tagger.model)"
    )


def test_the_package_hands_on_its_entry_points_without_importing_them():
    import bilstm_tagger

    for name in bilstm_tagger.__all__:
        assert getattr(bilstm_tagger, name) is not None, name
    code = "import sys, bilstm_tagger; assert not [m for m in sys.modules if m.startswith('bilstm_tagger.') and m != 'bilstm_tagger.version']"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
