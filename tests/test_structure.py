"""How the package is cut: what imports what, where the model is built, how large a class grows.

These are the rules that keep each new capability an addition: configuration without torch,
no import cycle, one model builder, small classes, the CRF dependency pinned to the release
whose private methods :mod:`bilstm_tagger.crf` replaces.
"""

import ast
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "bilstm_tagger"
MODULES = {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.glob("*.py"))}


def imported_modules(tree: ast.Module) -> set[str]:
    """The package's modules that a module imports, at any level: inside functions and type-checking blocks too."""
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            names.add(node.module.split(".")[0])
        else:
            names.update(alias.name for alias in node.names)  # from . import checkpoint
    return names & set(MODULES)


@pytest.mark.parametrize(
    "module",
    [
        "config",
        "events",
        "evaluation",
        "analysis",
        "predictions",
        "formats",
        "documents",
        "html_view",
        "segmentation",
        "schemes",
        "report",
        "report_html",
        "cli",
        "tagging",  # and what it imports: decoding, networks, crf_scores, posteriors, vocab (the ONNX path)
        "workers",
        "serve",
    ],
)
def test_modules_that_must_not_import_torch(module):
    code = f"import sys, bilstm_tagger.{module}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_the_package_has_no_import_cycle():
    graph = {name: imported_modules(tree) - {name} for name, tree in MODULES.items()}
    graph["__init__"] -= {"tagging"}  # the lazy `Tagger` attribute of the package itself
    visiting, done = [], set()

    def visit(module):
        if module in done:
            return
        assert module not in visiting, f"import cycle: {' → '.join(visiting[visiting.index(module) :] + [module])}"
        visiting.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    importers_of_cli = {name for name, imported in graph.items() if "cli" in imported}
    assert importers_of_cli == {"__main__"}, "only `python -m bilstm_tagger` imports the CLI"


def test_the_network_is_constructed_in_one_place():
    calls = [
        (name, node.lineno)
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "BiLstmCrf"
    ]
    assert len(calls) == 1 and calls[0][0] == "model", calls
    builder = next(
        node for node in ast.walk(MODULES["model"]) if isinstance(node, ast.FunctionDef) and node.name == "build_model"
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

    from bilstm_tagger.crf import ConstrainedCRF

    assert version("pytorch-crf") == "0.7.2"
    pinned = [line for line in Path(ROOT / "pyproject.toml").read_text().splitlines() if "pytorch-crf" in line]
    assert pinned == [
        '    "pytorch-crf==0.7.2",  # exactly: bilstm_tagger/crf.py replaces three of its private methods'
    ]
    for method in ("_compute_score", "_compute_normalizer", "_viterbi_decode"):
        assert method in vars(CRF) and method in vars(ConstrainedCRF)


def test_every_package_the_code_imports_is_declared():
    from importlib.metadata import packages_distributions

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    declared = {_requirement_name(requirement) for requirement in requirements}
    imported = set()
    for tree in MODULES.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
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
