"""Shared fixtures: paths of the bundled sample data, a tiny untrained model, and the trained models that the
whole run shares (each trained once per run: tests read them, and copy them to change them)."""

import gc
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"


def tagger(*args, input=None, check=True):
    """Run ``python -m bilstm_tagger ARGS`` (rich tables 120 columns wide); raise with its output if it fails and ``check``."""
    result = subprocess.run(
        [sys.executable, "-m", "bilstm_tagger", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "120"},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def tagger_in_process(*args, input=None, check=True):
    """``tagger ARGS`` run in this process, through the console script's ``main()``: the exit code, standard output
    and standard error a child process would give, without a second start of Python and torch (a second or more a
    command). For the tests of what a command says and writes; signals, pipes, workers, memory and imports are
    tested in child processes (``tagger``). What a command changes in the process is put back afterwards."""
    import random
    import tempfile
    import traceback
    import warnings

    import numpy
    import torch

    from bilstm_tagger.cli.commands import main
    from bilstm_tagger.text.corpus import _standard_input

    saved_streams, saved_argv = (sys.stdin, sys.stdout, sys.stderr), sys.argv
    saved_threads, saved_environment = torch.get_num_threads(), dict(os.environ)
    saved_random = (random.getstate(), numpy.random.get_state(), torch.get_rng_state())
    saved_signals = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    saved_gc_threshold = gc.get_threshold()
    data = input.encode() if isinstance(input, str) else (input or b"")
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        streams = [Path(scratch) / name for name in ("stdin", "stdout", "stderr")]
        streams[0].write_bytes(data)
        sys.stdin = open(streams[0], encoding="utf-8")
        sys.stdout, sys.stderr = (open(path, "w", encoding="utf-8") for path in streams[1:])
        sys.argv = ["tagger", *map(str, args)]
        os.environ["COLUMNS"] = "120"
        try:
            main()
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except BaseException:  # what Python prints for an uncaught exception, and its exit code
            traceback.print_exc(file=sys.stderr)
            code = 1
        finally:
            for stream in (sys.stdin, sys.stdout, sys.stderr):
                stream.close()
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            sys.argv = saved_argv
            os.environ.clear()
            os.environ.update(saved_environment)
            torch.set_num_threads(saved_threads)
            random.setstate(saved_random[0])
            numpy.random.set_state(saved_random[1])
            torch.set_rng_state(saved_random[2])
            for signum, handler in saved_signals.items():
                signal.signal(signum, handler)
            gc.unfreeze()  # what a command that tags froze for its own run, and its collection threshold
            gc.set_threshold(*saved_gc_threshold)
            _standard_input.cache_clear()  # read once a process: the next command has its own
        stdout, stderr = (path.read_text(encoding="utf-8") for path in streams[1:])
    result = subprocess.CompletedProcess(["tagger", *map(str, args)], code, stdout, stderr)
    if check and code != 0:
        raise AssertionError(f"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}")
    return result


def sigint_as_in_a_terminal():
    """``preexec_fn`` of a child that a test sends Ctrl-C (SIGINT): SIGINT's default action, as a terminal
    starts a program. Whatever this process got instead is inherited: a background job (``make test &``) or a
    CI runner may start the tests with SIGINT ignored, and a Python started so never sees its Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_one_line_error(result, prefix):
    """Exit code 2, no traceback, and one line on standard error that starts with ``prefix``."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]


def assert_the_records_before_a_bad_line_come_first(command):
    """Run ``command`` (a ``tagger tag ... -f jsonl``) on two lines, a line of invalid UTF-8 and one more: it must
    write the records of the first two, then one line on standard error, and exit with code 2."""
    result = subprocess.run(
        command, input=b"Anna lives in Oslo\nTom sings\n\xff\nRome\n", capture_output=True, timeout=120
    )
    tokens = [record_tokens(json.loads(line)) for line in result.stdout.decode().splitlines()]
    assert tokens == [["Anna", "lives", "in", "Oslo"], ["Tom", "sings"]]
    assert result.returncode == 2
    assert result.stderr.decode() == "<stdin>:3: invalid UTF-8 (byte 1 of the line); is this a binary file?\n"


def assert_a_closed_output_pipe_ends_quietly(command):
    """Run ``command`` (a ``tagger tag ... -f inline``) on 50,000 lines of ``Anna lives in Oslo`` and close its
    output after the first record, as ``| head -1`` does: it must stop with exit code 141 and say nothing."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed():
        try:
            process.stdin.write(b"Anna lives in Oslo\n" * 50_000)
            process.stdin.close()
        except BrokenPipeError:
            pass  # the tagger is gone: that is the point

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert b"Oslo" in process.stdout.readline()
        process.stdout.close()
        assert process.wait(timeout=120) == 141
        assert process.stderr.read() == b""
    finally:
        process.kill()
        writer.join()


def record_tokens(record: dict) -> list[str]:
    """The tokens of a ``--format jsonl`` record, all sentences together."""
    return [token["text"] for sentence in record["sentences"] for token in sentence["tokens"]]


def record_tags(record: dict) -> list[str]:
    """The tags of a ``--format jsonl`` record, all sentences together."""
    return [token["tag"] for sentence in record["sentences"] for token in sentence["tokens"]]


def serve_process(*arguments: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``tagger serve ARGUMENTS --port 0`` on 127.0.0.1 and its address, once it says it is serving.

    Lines it writes before that one (warnings) are skipped; its standard error stays open to read on.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "bilstm_tagger", "serve", *arguments, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    said = []
    while "Serving" not in (line := process.stderr.readline()) and line:
        said.append(line)
    if "Serving" not in line:
        process.kill()
        raise AssertionError(f"the server did not start: {''.join(said)}{process.stderr.read()}")
    return process, re.search(r" on (http://\S+?): POST", line).group(1)


def http_post(
    url: str, body: bytes | dict, path: str = "/tag", headers: dict | None = None
) -> tuple[int, object, dict]:
    """POST ``body`` (JSON unless bytes): the status, the JSON answer and the answer's headers."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _http(urllib.request.Request(url + path, data=data, method="POST", headers=headers or {}))


def http_get(url: str, path: str, headers: dict | None = None) -> tuple[int, object, dict]:
    """GET: the status, the answer (JSON, or text when it is not JSON) and its headers."""
    return _http(urllib.request.Request(url + path, headers=headers or {}))


def _http(request: urllib.request.Request) -> tuple[int, object, dict]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), dict(error.headers)
    try:
        return status, json.loads(body), headers
    except ValueError:
        return status, body.decode(), headers


@pytest.fixture
def tiny_model():
    """An untrained BiLSTM-CRF over a handful of words, in eval mode, with IOBES constraints."""
    import torch

    from bilstm_tagger.model.bilstm_crf import build_model
    from bilstm_tagger.model.config import ModelConfig
    from bilstm_tagger.model.vocab import Vocab

    torch.manual_seed(0)
    sentences = [
        (["Anna", "Berg", "lives", "in", "Oslo", "."], ["B-PER", "E-PER", "O", "O", "S-LOC", "O"]),
        (["Tom", "visited", "New", "York", "City", "yesterday"], ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "O"]),
    ]
    vocab = Vocab.build(sentences)
    model = build_model(ModelConfig(word_dim=8, char_dim=5, char_filters=6, hidden_size=7), vocab, "iobes")
    model.eval()
    with torch.no_grad():  # scores large enough that the tags depend on the input
        for parameter in model.parameters():
            parameter.mul_(3.0)
    return model, vocab


# --- The trained models of the run -----------------------------------------------------------------
# One per kind, trained once per run (a session fixture) and shared read-only by every test file: a test
# that changes a model copies it first (shutil.copytree into tmp_path). The run fails at its end if one
# of them was changed.

# The NER model is the README tour's, trained by its first command as written (test_docs.py holds the
# README to it) in a directory laid out like the project: it tags the README's examples as the README says.
NER_TRAINING_COMMAND = "tagger train data/ner/train.txt --dev data/ner/dev.txt --output models/sample --max-epochs 50"
POS_TRAINING = ["--word-dim", "16", "--hidden-size", "16", "--max-epochs", "3"]  # tags something, in seconds


@dataclass(frozen=True)
class TrainedModel:
    """A model directory and what ``tagger train`` wrote to standard error while training it."""

    directory: Path
    stderr: str


def project_layout(directory: Path) -> Path:
    """``directory`` laid out like the project for the README's commands: ``data/`` (the samples), ``models/``."""
    (directory / "data").symlink_to(DATA)
    (directory / "models").mkdir()
    return directory


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """A README command line, as written, in bash (``pipefail``) with the installed ``tagger`` first on the PATH."""
    environment = {**os.environ, "PATH": f"{os.path.dirname(shutil.which('tagger'))}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )


def _digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _shared(model: TrainedModel):
    """Yield ``model``; then fail if a test changed its files."""
    before = _digests(model.directory)
    yield model
    assert _digests(model.directory) == before, f"a test changed the shared model {model.directory}: copy it first"


@pytest.fixture(scope="session")
def ner_training(tmp_path_factory):
    """The shared NER model (see ``NER_TRAINING_COMMAND``) and what its training said."""
    project = project_layout(tmp_path_factory.mktemp("shared-ner"))
    result = shell(NER_TRAINING_COMMAND, project)
    assert result.returncode == 0, result.stderr
    yield from _shared(TrainedModel(project / "models" / "sample", result.stderr))


@pytest.fixture(scope="session")
def trained_ner_model(ner_training) -> Path:
    """The shared NER model's directory (calibrated, with its model.onnx): read it, or copy it to change it."""
    return ner_training.directory


@pytest.fixture(scope="session")
def pos_training(tmp_path_factory):
    """The shared part-of-speech model: small, trained on data/pos for a few epochs."""
    directory = tmp_path_factory.mktemp("shared-pos") / "upos"
    corpus = (DATA / "pos" / "train.conllu", "--dev", DATA / "pos" / "dev.conllu")
    result = tagger("train", *corpus, "--output", directory, *POS_TRAINING)
    yield from _shared(TrainedModel(directory, result.stderr))


# Document context with attention to mentions (docs/context.md): windows of 40 tokens, so that the
# sample's documents fill several; a few epochs, enough for it to find entities.
CONTEXT_TRAINING = ["--context", "document", "--context-tokens", "40", "--mentions", "--max-epochs", "10"]


@pytest.fixture(scope="session")
def context_training(tmp_path_factory):
    """The shared NER model with document context and mention attention, trained on the sample corpus."""
    directory = tmp_path_factory.mktemp("shared-context") / "context"
    corpus = (DATA / "ner" / "train.txt", "--dev", DATA / "ner" / "dev.txt")
    result = tagger("train", *corpus, "--output", directory, *CONTEXT_TRAINING)
    yield from _shared(TrainedModel(directory, result.stderr))


@pytest.fixture(scope="session")
def trained_pos_model(pos_training) -> Path:
    """The shared part-of-speech model's directory: read it, or copy it to change it."""
    return pos_training.directory
