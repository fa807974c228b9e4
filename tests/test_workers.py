"""Tagging across worker processes (``--workers N``): the output of one process, in order, and the same faults.

The library's tests share one pool of 2 workers of the small model in tests/fixtures (every worker
start costs a fork of the server that imported torch, and a model load); the command's run as
subprocesses, as users run it. Confidences are compared to the last bit: a sentence's floats depend
on the other sentences of its batch and on torch's thread count, so the one-process reference runs
on one thread, as each worker does, and on the same batches (batch size 1, or the same buffers).
"""

import io
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from bilstm_tagger.base.errors import InputError, WorkerError
from bilstm_tagger.scoring.evaluation import evaluate_file
from bilstm_tagger.tagging.streaming import tag_file
from bilstm_tagger.tagging.tagger import LoadedModel
from bilstm_tagger.tagging.workers import BUFFERS_PER_WORKER, TaggerPool, open_tagger
from bilstm_tagger.text.corpus import CorpusReading, read_corpus
from bilstm_tagger.text.documents import pretokenized, raw_text

from conftest import (
    DATA,
    ROOT,
    assert_a_closed_output_pipe_ends_quietly,
    assert_one_line_error,
    assert_the_records_before_a_bad_line_come_first,
    record_tokens,
    sigint_as_in_a_terminal,
    tagger,
)

MODEL = ROOT / "tests" / "fixtures" / "format1" / "model"
TEST = DATA / "ner" / "test.txt"
RAW_TEXT = (
    "Maria Lopez flew from Madrid to Berlin. She met Angela Merkel's staff (in Germany). Then she left!\n"
    "\n"
    "   \n"
    "Anna Berg visited Oslo and Reykjavik. The Kyrgyzstan office of Nordbank closed.\n"
    "Tom lives in New York City\n"
) * 3
TOKENS = "Anna Berg visited Oslo and Reykjavik .\n\nThe Kyrgyzstan office of Nordbank closed .\n" * 3
CONLL = "\n\n".join([block for block in TEST.read_text().split("\n\n") if "DOCSTART" not in block][:40]) + "\n"
CONLLU = (DATA / "pos" / "dev.conllu").read_text()[:6000].rsplit("\n\n", 1)[0] + "\n"
INPUTS = {"text": RAW_TEXT, "tokens": TOKENS, "conll": CONLL, "conllu": CONLLU}
RECORDS = {"text": 15, "tokens": 9, "conll": 40, "conllu": CONLLU.count("\n\n") + 1}  # a line, or a sentence, each
OUTPUTS = [
    ("conll", {}),
    ("conll", {"confidence": True}),
    ("inline", {"min_confidence": 0.4}),
    ("jsonl", {"nbest": 3}),
    ("html", {}),
]


@pytest.fixture(scope="module")
def single():
    """The model in this process, on one thread as each worker is (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield LoadedModel.load(MODEL)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pool():
    with TaggerPool(MODEL, workers=2) as pool:
        yield pool


def tagged(tagger, text, input_format="text", **options):
    output = io.StringIO()
    tag_file(tagger, io.BytesIO(text.encode()), "input", output, reading=CorpusReading(input_format), **options)
    return output.getvalue()


@pytest.mark.parametrize("input_format", list(INPUTS))
def test_every_input_and_output_format_is_byte_identical_to_one_process(single, pool, input_format):
    for output_format, options in OUTPUTS:
        options = dict(options, input_format=input_format, output_format=output_format, batch_size=1)
        expected = tagged(single, INPUTS[input_format], **options)
        assert tagged(pool, INPUTS[input_format], **options) == expected, (output_format, options)
        assert expected.strip(), "something was tagged"
    records = tagged(pool, INPUTS[input_format], input_format=input_format, output_format="jsonl").splitlines()
    assert len(records) == RECORDS[input_format]


def test_many_buffers_out_at_once_come_back_in_order_with_the_same_floats(single, pool):
    sentences = itertools.cycle([pretokenized(sentence.tokens) for sentence in read_corpus(TEST)])
    sizes = [1, 7, 30, 2, 64, 5, 11, 3, 40, 9]  # buffers of uneven sizes, so that workers finish out of order
    buffers = [list(itertools.islice(sentences, size)) for size in sizes * 3]
    request = single.request(confidence=True, nbest=2)
    expected = list(single.tag_buffers(buffers, 4, request, 0.3))
    assert list(pool.tag_buffers(iter(buffers), 4, request, 0.3)) == expected
    assert [len(documents) for documents in expected] == sizes * 3


def test_evaluation_across_workers_scores_and_predicts_as_one_process(single, pool):
    expected, got = evaluate_file(single, TEST, batch_size=8), evaluate_file(pool, TEST, batch_size=8)
    assert got.predicted == expected.predicted and len(got.predicted) == len(read_corpus(TEST))
    assert got.report.to_json() == expected.report.to_json()
    assert got.analyse().to_json() == expected.analyse().to_json()


def test_input_is_read_ahead_in_bounded_memory_and_each_result_comes_while_more_input_is_awaited(single, pool):
    buffer = [raw_text("Anna Berg lives in Oslo.")]
    request = single.request()
    more_input, pulled = threading.Event(), []

    def buffers():  # an endless input that stops after its first record until told
        while True:
            pulled.append(len(pulled))
            yield buffer
            assert more_input.wait(timeout=60)

    results = pool.tag_buffers(buffers(), 8, request)
    try:
        assert next(results) == single.documents(buffer, 8, request)  # while the input waits
        more_input.set()
        for _ in range(5):
            next(results)
        bound = 6 + BUFFERS_PER_WORKER * pool.workers  # results taken + buffers out
        deadline = time.monotonic() + 30
        while len(pulled) < bound and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert len(pulled) == bound, "reads ahead as far as its buffers allow, and no further"
    finally:
        more_input.set()
        results.close()
    # The next run takes the results the abandoned one left out before its own.
    assert list(pool.tag_buffers([buffer], 8, request)) == [single.documents(buffer, 8, request)]


def test_a_bad_line_in_the_input_comes_after_the_records_before_it(single, pool):
    text = "Anna NNP O\nBerg NNP O\n\nTom NNP O\n\nOslo NNP\n\nRome NNP O\n"
    for each in (single, pool):
        output = io.StringIO()
        with pytest.raises(InputError) as caught:
            tag_file(each, io.BytesIO(text.encode()), "in.txt", output, reading=CorpusReading("conll"), batch_size=1)
        assert str(caught.value) == "in.txt:6: expected 3 columns as on line 1, found 2"
        assert [line.split("\t")[0] for line in output.getvalue().split()[::2]] == ["Anna", "Berg", "Tom"]


def test_a_worker_that_dies_is_one_clear_error_and_stops_the_pool():
    with TaggerPool(MODEL, workers=1) as lonely:
        [pid] = lonely.pids
        os.kill(pid, signal.SIGKILL)
        message = rf"^tagging worker 1 of 1 \(pid {pid}\) was killed by SIGKILL \(out of memory\?\)$"
        with pytest.raises(WorkerError, match=message):
            list(lonely.tag_sentences([["Anna", "Berg"]] * 3))
        with pytest.raises(RuntimeError, match="the tagger pool stopped: tagging worker 1 of 1"):
            list(lonely.tag_sentences([["Anna"]]))


def test_workers_must_be_one_or_more():
    with pytest.raises(InputError, match="--workers must be at least 1, got 0"):
        with open_tagger(MODEL, workers=0):
            pass
    result = tagger("tag", MODEL, "--workers", "0", input="Anna\n", check=False)
    assert_one_line_error(result, "tagger tag: Invalid value for '--workers'")


# --- the command, as users run it ------------------------------------------------------------------


def test_the_command_writes_the_records_before_a_bad_line_then_one_line():
    command = [sys.executable, "-m", "bilstm_tagger", "tag", str(MODEL), "--workers", "2", "-f", "jsonl"]
    assert_the_records_before_a_bad_line_come_first(command)


def test_evaluate_prints_the_same_with_two_workers(tmp_path):
    outputs = []
    for workers in ("1", "2"):
        predictions = tmp_path / f"predictions-{workers}.txt"
        result = tagger("evaluate", MODEL, TEST, "--errors", "--output-predictions", predictions, "--workers", workers)
        outputs.append((result.stdout, predictions.read_text()))
    assert outputs[0] == outputs[1]
    assert "micro avg" in outputs[0][0] and "Errors by type" in outputs[0][0]


def test_the_command_writes_the_same_jsonl_with_two_workers_as_one_process_on_all_its_threads(tmp_path):
    """As users compare it: the default threads (all cores in one process, 1 per worker), floats included."""
    path = tmp_path / "input.txt"
    path.write_text(RAW_TEXT * 20)
    outputs = [
        tagger("tag", MODEL, "--input", path, "-f", "jsonl", "--nbest", "3", "--workers", workers).stdout
        for workers in ("1", "2")
    ]
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == RAW_TEXT.count("\n") * 20


def test_a_closed_output_pipe_ends_quietly():
    command = [sys.executable, "-m", "bilstm_tagger", "tag", str(MODEL), "--workers", "2", "-f", "inline"]
    assert_a_closed_output_pipe_ends_quietly(command)


@pytest.fixture
def interactive():
    """``tagger tag --workers 2 -f jsonl`` reading a pipe that stays open, in a process group of its own (as
    a terminal's foreground job), and a function that asks it a line and returns the answer."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bilstm_tagger", "tag", str(MODEL), "--workers", "2", "-f", "jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=sigint_as_in_a_terminal,  # as a terminal starts it, whatever SIGINT's disposition here
    )

    def ask(line):
        process.stdin.write(line + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, f"no answer to {line!r} while standard input was still open"
        return process.stdout.readline()

    yield process, ask
    process.kill()
    process.wait()


def test_ctrl_c_exits_130_with_one_line_and_leaves_no_process(interactive):
    process, ask = interactive
    for line in ["Anna Berg lives in Oslo.", "", "Tom works for Nordbank. He sings."]:
        assert record_tokens(json.loads(ask(line))) == line.replace(".", " .").split()
    helpers = descendants(process.pid)
    assert len(helpers) >= 3, "a fork server and two workers"
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group, workers too
    assert process.wait(timeout=60) == 130
    assert process.stderr.read() == "interrupted\n"  # no traceback, from this process or any worker
    assert_all_gone(helpers)


def test_a_ctrl_c_that_reaches_the_fork_server_while_it_starts_changes_nothing():
    """A terminal's Ctrl-C reaches every process of the group: the fork server must ignore it from its start,
    also while it imports torch (this process's own Ctrl-C is the other tests')."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bilstm_tagger", "tag", str(MODEL), "--workers", "2", "-f", "inline"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=sigint_as_in_a_terminal,  # so that the server's own ignoring of SIGINT is what is tested
    )
    try:
        deadline = time.monotonic() + 60
        while not (servers := [pid for pid in descendants(process.pid) if "forkserver" in command_of(pid)]):
            assert process.poll() is None and time.monotonic() < deadline, "no fork server started"
            time.sleep(0.005)
        time.sleep(0.3)  # past Python's start-up: the server is importing torch (a second)
        os.kill(servers[0], signal.SIGINT)
        output, errors = process.communicate(b"Anna lives in Oslo\n", timeout=60)
        assert (process.returncode, errors) == (0, b"")
        assert output.startswith(b"Anna lives in ")
    finally:
        process.kill()
        process.wait()


def test_a_killed_worker_is_one_line_and_exit_1(interactive):
    process, ask = interactive
    assert record_tokens(json.loads(ask("Anna Berg lives in Oslo."))) == ["Anna", "Berg", "lives", "in", "Oslo", "."]
    workers = [pid for pid in descendants(process.pid) if parent_of(pid) != process.pid]  # the fork server's
    assert len(workers) == 2
    helpers = descendants(process.pid)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    process.stdin.write("Tom sings.\n")
    process.stdin.close()
    assert process.wait(timeout=60) == 1
    [line] = process.stderr.read().splitlines()
    assert line.startswith("error: tagging worker ") and line.endswith("was killed by SIGKILL (out of memory?)")
    assert_all_gone(helpers)


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def command_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def descendants(pid):
    """The processes below ``pid``, children and theirs, running now."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (parent := parent_of(int(entry))) is not None:
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def assert_all_gone(pids, timeout=20):
    """Every process of ``pids`` ends (a zombie counts as ended) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if running(pid)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not alive, f"processes left running: {alive}"


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
