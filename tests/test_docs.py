"""The README and the pages of docs/ against the code: what they show runs, and what they list exists.

- Every ```bash and ```python block of every page runs as written, in page order, with the installed
  ``tagger``, in a directory laid out like the project (``data/``, and ``models/sample``: a copy of the
  run's shared NER model, which conftest trains with the README's own first command). ```text blocks
  are output, or commands that cannot run here (two machines, Slurm), and are not run.
- The few commands not run here are in ``NOT_RUN``, each with the test that runs it instead; the
  commands on the shared corpora (``../shared/data``) are checked to be the accuracy benchmark's.
- Every relative link leads to a file, and every ``#anchor`` to a heading of it.
- The tables and lists that describe code are held to it: the options of ``tagger train``, the
  presets, the files of a model directory, the modules of each room, the regression gate of CI, and
  the Makefile's promises (install first and once, ``make help`` lists every target).

The faults table (docs/faults.md) is held to its tests by ``tests/test_faults.py``, the benchmark
figures by ``tests/test_figures.py``, and the report page's commands by ``tests/test_report.py``.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from bilstm_tagger.model.config import ModelConfig, TrainingConfig, apply_preset

from conftest import DATA, NER_TRAINING_COMMAND, ROOT, project_layout

sys.path.insert(0, str(ROOT / "benchmarks"))
import accuracy  # noqa: E402  (benchmarks/ is not a package)

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
TEST = DATA / "ner" / "test.txt"
SHARED = "../shared/"
# Commands of the pages that the page runs below leave out, and the test that runs them instead.
NOT_RUN = {
    # The set-up: the demo runs below; the suite is what is running.
    "make demo": "test_docs.py::test_make_demo_trains_with_glove_evaluates_and_tags_a_sentence_of_prose",
    "make test": "test_docs.py::test_make_test_and_demo_install_first_and_only_once",
    # The tour's first command trains the model the whole test run shares (conftest.py).
    NER_TRAINING_COMMAND: "conftest.py::ner_training",
    # Training interrupted, then resumed: the test signals the run at its second epoch, as Ctrl-C would.
    "tagger train data/ner/train.txt --dev data/ner/dev.txt --output models/run --max-epochs 20": (
        "test_resilience.py::test_a_signal_saves_a_resumable_state_and_resuming_gives_the_same_model"
    ),
    "tagger train data/ner/train.txt --dev data/ner/dev.txt --resume models/run": (
        "test_resilience.py::test_a_signal_saves_a_resumable_state_and_resuming_gives_the_same_model"
    ),
    # Spark's and Ray's local clusters take seconds to start: the test of a worker killed halfway runs each.
    "tagger tag-dataset models/sample corpus tagged-spark --cluster spark --format jsonl": (
        "test_datasets.py::test_a_worker_killed_halfway_is_retried_and_each_record_is_written_once"
    ),
    "tagger tag-dataset models/sample corpus tagged-ray --cluster ray": (
        "test_datasets.py::test_a_worker_killed_halfway_is_retried_and_each_record_is_written_once"
    ),
}
PORT = "8000"  # the port the pages serve on; a free one replaces it here
MARK = "@@command@@"
BLOCK_TIMEOUT = 600


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of each fenced block of a Markdown text, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def without_code(text: str) -> str:
    """The text with its fenced blocks removed (their lines are neither headings nor links)."""
    return re.sub(r"^```\w*\n.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)


def shell_commands(code: str) -> list[str]:
    """The command lines of a bash block: continuation lines joined, comment lines dropped."""
    lines = code.replace("\\\n", " ").splitlines()
    return [re.sub(r" +", " ", line).strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def bare(command: str) -> str:
    """A command without its trailing comment."""
    return command.split("  #")[0].split(" # ")[0].strip()


def page_commands(path: Path) -> list[str]:
    return [
        bare(c) for language, code in code_blocks(path.read_text()) if language == "bash" for c in shell_commands(code)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment() -> dict:
    """This interpreter's scripts (``tagger``, ``torchrun``) first on the PATH, as after ``make install``."""
    return {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", "COLUMNS": "120"}


def run_bash(commands: list[str], cwd: Path) -> list[str]:
    """Run a bash block's commands as one script (a background server lives through the block); each one's output."""
    port = str(free_port())
    script = ["set -euo pipefail"]
    for index, command in enumerate(commands):  # a mark on a line of its own: curl's answers end without one
        script += [f"printf '\\n{MARK}{index}\\n'", re.sub(rf"\b{PORT}\b", port, command)]
    process = subprocess.Popen(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        start_new_session=True,  # its own process group: whatever it started in the background goes with it
    )
    try:
        stdout, stderr = process.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"a block ran over {BLOCK_TIMEOUT} s:\n{stdout[-2000:]}\n{stderr[-3000:]}")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    outputs = re.split(rf"\n{MARK}\d+\n", stdout)[1:]
    assert process.returncode == 0, f"{commands[max(len(outputs) - 1, 0)]}\n{stderr}"
    return outputs


def run_page(path: Path, cwd: Path) -> dict[str, str]:
    """Every bash and python block of a page, in order, as written; the output of each command and python block."""
    outputs = {}
    for language, code in code_blocks(path.read_text()):
        if language == "python":
            result = subprocess.run(
                [sys.executable, "-c", code],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT,
            )
            assert result.returncode == 0, f"{code}\n{result.stderr}"
            outputs[code] = result.stdout
        elif language == "bash":
            commands = [c for c in shell_commands(code) if bare(c) not in NOT_RUN and SHARED not in c]
            if commands:
                outputs.update(zip(map(bare, commands), run_bash(commands, cwd)))
    return outputs


def project_with_model(directory: Path, model: Path) -> Path:
    project = project_layout(directory)
    shutil.copytree(model, project / "models" / "sample")
    return project


@pytest.fixture(scope="module")
def readme_run(trained_ner_model, tmp_path_factory):
    project = project_with_model(tmp_path_factory.mktemp("readme"), trained_ner_model)
    return project, run_page(README, project)


# --- What the pages show runs ---------------------------------------------------------------------


def test_the_readme_runs_as_written(readme_run, ner_training):
    """The tour and the Python API: tag, evaluate, serve and report with the model of the tour's first command."""
    project, outputs = readme_run
    first, second = [command for command in page_commands(README) if command.startswith("tagger ")][:2]
    assert first == NER_TRAINING_COMMAND, "conftest.py trains the run's shared model by the README's command"
    assert ner_training.directory.parts[-2:] == ("models", "sample") and "Done in" in ner_training.stderr
    assert second.startswith(f"tagger train {SHARED}")
    [example] = [
        json.loads(output) for command, output in outputs.items() if command.startswith("echo") and "Merkel" in command
    ]
    assert example["entities"] and all(example["text"][e["start"] : e["end"]] == e["text"] for e in example["entities"])
    inline = next(output for command, output in outputs.items() if command.endswith("--format inline"))
    assert inline.startswith("[PER Maria Lopez]"), inline
    served = next(output for command, output in outputs.items() if "/tag" in command)
    assert json.loads(served)["text"] == "Maria Lopez flew from Madrid to Berlin."
    assert json.loads(next(output for command, output in outputs.items() if "--json" in command))["metric"] == "f1"
    assert (project / "report.html").read_text().count("<html") == 1
    [python] = [output for command, output in outputs.items() if "import" in command]
    assert "0 11 PER Maria Lopez" in python, python
    assert sum(line.startswith(("[(", "[]")) for line in python.splitlines()) == 2, "a list of entities a text"


def runnable(path: Path) -> bool:
    return any(language in ("bash", "python") for language, _ in code_blocks(path.read_text()))


DOC_PAGES = [path for path in PAGES if path != README and runnable(path)]


@pytest.mark.parametrize("path", DOC_PAGES, ids=relative)
def test_each_page_of_the_docs_runs_as_written(path, trained_ner_model, tmp_path):
    project = project_with_model(tmp_path, trained_ner_model)
    outputs = run_page(path, project)
    assert outputs, f"{relative(path)} has nothing to run"
    if path.name == "training.md":
        for name in ("peephole", "gru", "char-lstm", "lm"):
            assert (project / "models" / name / "config.json").exists(), name
    elif path.name == "evaluation.md":
        assert (project / "predictions.txt").read_text().count("\n") == TEST.read_text().count("\n")
    elif path.name == "processes.md":
        assert (project / "models" / "two-processes" / "config.json").exists()
        assert (project / "tagged.conll").stat().st_size > 0
    elif path.name == "datasets.md":
        assert sorted(path.name for path in (project / "tagged").iterdir()) == [
            "_SUCCESS",
            "part-00000.parquet",
            "part-00001.parquet",
        ]
        python = [output for code, output in outputs.items() if "import" in code and "tag_" in code]
        assert len(python) == 3 and all("('Maria Lopez', 'PER')" in output for output in python), python
    elif path.name == "api.md":
        config = json.loads((project / "models" / "python" / "config.json").read_text())
        assert config["training"]["optimizer"] == "sgd" and config["training"]["max_epochs"] == 2


def test_the_pages_with_commands_are_those_expected():
    """A page that gains its first command is run above; this list says which pages are reference only."""
    assert {path.name for path in PAGES if not runnable(path)} == {"checkpoints.md", "faults.md", "layout.md"}


def test_every_command_not_run_here_is_on_a_page_and_runs_in_the_test_named():
    commands = {command for path in PAGES for command in page_commands(path)}
    for command, where in NOT_RUN.items():
        assert command in commands, f"no page shows {command!r} any more: drop it from NOT_RUN"
        file, name = where.split("::")
        assert re.search(rf"^def {name}\(", (ROOT / "tests" / file).read_text(), re.MULTILINE), where


def test_the_commands_on_the_shared_corpora_are_the_accuracy_benchmarks():
    """They take 7 to 17 minutes each: `make bench-accuracy` runs them (benchmarks/accuracy.py)."""
    runs = {(train, dev, tuple(options)): test for _, _, _, train, dev, test, options in accuracy.RUNS.values()}
    trained = {}
    shared = [command for path in PAGES for command in page_commands(path) if SHARED in command]
    assert len(shared) == 3
    for command in shared:
        words = [word.removeprefix(f"{SHARED}data/") for word in command.split()]
        if words[1] == "train":
            options = words[words.index("--output") + 2 :]
            key = (words[2], words[words.index("--dev") + 1], tuple(options))
            assert key in runs, command
            trained[words[words.index("--output") + 1]] = runs[key]
        else:
            assert words[:2] == ["tagger", "evaluate"] and trained[words[2]] == words[3], command


# --- Links ----------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(heading) for heading in re.findall(r"^#+ (.+)$", without_code(path.read_text()), re.MULTILINE)}


@pytest.mark.parametrize("path", [*PAGES, ROOT / "benchmarks" / "README.md"], ids=relative)
def test_every_link_leads_to_a_file_and_heading(path):
    links = re.findall(r"\]\(([^)\s]+)\)", without_code(path.read_text()))
    for link in links:
        if re.match(r"\w+:", link):
            continue  # http, https, mailto
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{link}: no such file"
        if anchor:
            assert anchor in anchors(file), f"{link}: no such heading in {relative(file)}"


def test_the_readme_is_a_guide_that_leads_to_every_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", text))
    assert linked == {relative(path) for path in DOCS.glob("*.md")}


# --- Tables and lists held to the code ------------------------------------------------------------


def table_rows(text: str, after: str) -> list[list[str]]:
    """The cells of each row of the first table after the line ``after``, header and rule left out."""
    lines = text[text.index(after) :].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def train_options() -> set[str]:
    from bilstm_tagger.cli.commands import app

    command = typer.main.get_command(app).commands["train"]
    return {option for parameter in command.params for option in parameter.opts if option.startswith("--")}


def test_the_training_options_table_names_every_option_of_tagger_train():
    rows = table_rows((DOCS / "training.md").read_text(), "## Options")
    named = {option for row in rows for option in re.findall(r"--[a-z][a-z-]*", row[0])}
    assert named == train_options()


def test_the_presets_table_reads_as_the_presets():
    rows = table_rows((DOCS / "training.md").read_text(), "## Presets")
    configs = {"`ner`": apply_preset(TrainingConfig(), "ner"), "`pos`": apply_preset(TrainingConfig(), "pos")}
    configs["default"] = TrainingConfig()
    header = ["`ner`", "`pos`", "default"]
    model_fields = set(ModelConfig.__dataclass_fields__)
    checked = 0
    for options_cell, *values in rows:
        names = [option.removeprefix("--").replace("-", "_") for option in re.findall(r"--[a-z-]+", options_cell)]
        for column, cell in zip(header, values):
            if cell.startswith("("):
                continue  # a note, such as "(plain tags)"
            config = configs[column]
            for name, shown in zip(names, cell.split(", ")):
                if name == "learning_rate":
                    value = config.effective_learning_rate
                else:
                    value = getattr(config.model if name in model_fields else config, name)
                assert shown == (
                    "random" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
                ), f"{column} {name}: the page says {shown}, the code {value}"
                checked += 1
    assert checked >= 25


def test_the_checkpoint_page_lists_the_files_of_a_model_directory(trained_ner_model):
    [(_, listing)] = [
        block for block in code_blocks((DOCS / "checkpoints.md").read_text()) if "models/sample/" in block[1]
    ]
    listed = set(re.findall(r"^  (\S+\.\w+)\s", listing, re.MULTILINE))
    present = {path.name for path in trained_ner_model.iterdir()}
    assert present <= listed
    # with --embeddings; while training; with tagger export --quantize int8
    assert listed - present == {"pretrained.npy", "resume.pt", "model.int8.onnx"}


def test_the_layout_page_lists_every_module_in_its_room_and_the_rooms_in_order():
    from test_structure import ROOMS

    text = (DOCS / "layout.md").read_text()
    assert [row[0] for row in table_rows(text, "| room |")] == [f"`{room}/`" for room in ROOMS]
    [(_, tree)] = [block for block in code_blocks(text) if block[1].startswith("bilstm_tagger/")]
    listed, room = set(), ""
    for line in tree.splitlines()[1:]:
        name = line.split()[0]
        if line.startswith("  ") and not line.startswith("    "):
            room = name if name.endswith("/") else ""
            if not room:
                listed.add(name)
        else:
            listed.add(room + name)
    package = ROOT / "bilstm_tagger"
    modules = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if not (path.name == "__init__.py" and path.parent != package)
    }
    assert listed == modules


def test_the_regression_gate_the_docs_name_is_the_one_ci_applies():
    gate = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "MIN_SCORE=" in line)
    minimum = gate.split("MIN_SCORE=")[1].split()[0]
    assert f"make evaluate MODEL=... TEST=... MIN_SCORE={minimum}`" in (DOCS / "training.md").read_text()


# --- The Makefile: the README's two first commands ------------------------------------------------


def make(*arguments: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", *arguments, f"PYTHON={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        **options,
    )


def test_make_demo_trains_with_glove_evaluates_and_tags_a_sentence_of_prose(tmp_path):
    """`make demo`, the README's first command, as its recipe stands (the environment is installed: INSTALLED=),
    with 3 epochs in place of 50: the recipe is under test here, not the model. CI runs the whole demo after the
    suite and checks that it finds Maria Lopez (.ci/run)."""
    model = tmp_path / "demo"
    result = make("-s", "demo", f"DEMO_MODEL={model}", "INSTALLED=", "TRAIN_ARGS=--max-epochs 3")
    assert result.returncode == 0, result.stderr
    assert "Embeddings glove-6b-50d (400,000 × 50)" in result.stderr
    assert (model / "pretrained.npy").exists()
    assert "Entity F1" in result.stdout
    lines = result.stdout.splitlines()
    inline = next(index for index, line in enumerate(lines) if "chief executive of" in line)
    assert lines[inline].endswith(" said in Berlin on Monday that profits rose 5%.")
    rows = [line.split("\t") for line in lines[inline + 1 :] if line]
    assert all(len(row) == 2 for row in rows)
    expected = "Maria Lopez , chief executive of Nordwind Bank , said in Berlin on Monday that profits rose 5 % ."
    assert [token for token, _ in rows] == expected.split(), "the sentence is raw text, split into tokens"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make demo" in ci and "[PER Maria Lopez]" in ci, "CI runs the whole demo and checks what it tags"


def test_make_test_and_demo_install_first_and_only_once(tmp_path):
    stamp = tmp_path / "installed"
    for target in ("test", "demo", "install"):
        planned = make("-n", target, f"INSTALLED={stamp}").stdout
        assert "pip install" in planned and "torch==" in planned, planned  # torch pinned, first
        assert planned.index("torch==") < planned.index("pip install -e"), planned
    stamp.touch()  # newer than pyproject.toml: installed
    for targets in (["test"], ["demo"], ["install", "test"]):
        planned = make("-n", *targets, f"INSTALLED={stamp}").stdout
        assert "pip install" not in planned, planned
    os.utime(stamp, (0, 0))  # older than pyproject.toml: installed again
    assert "pip install" in make("-n", "test", f"INSTALLED={stamp}").stdout
    assert ".make/" in (ROOT / ".gitignore").read_text().splitlines()
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make install") < ci.index("make test")


def test_make_help_lists_every_target():
    phony = re.search(r"^\.PHONY: (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[1].split()
    shown = {line.split()[1] for line in make("help").stdout.splitlines() if line.startswith("make ")}
    assert set(phony) - {"help"} <= shown
