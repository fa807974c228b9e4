"""Shared fixtures: paths of the bundled sample data and a tiny untrained model."""

import json
import os
import subprocess
import sys
import threading
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
