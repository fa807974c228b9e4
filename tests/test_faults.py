"""The two tables of docs/faults.md, exit codes and faults, row by row, through the installed `tagger` command.

Each test here names its row. ``ROW_TESTS`` at the end names the tests of every row, here or in another file
(SIGKILL, Ctrl-C and SIGTERM during training in test_resilience.py; mis-columned, truncated and binary files,
bad model directories, usage errors and a slow pipe in test_cli.py; labels never seen in training, 1,000,000
lines and a closed output pipe in test_hostile.py; a line of only invisible characters in
test_invisible_lines.py; hostile raw text in test_hostile.py and test_segmentation.py; the torchrun rows in
test_distributed.py; a killed tagging worker in test_workers.py; an outdated or damaged model.onnx in
test_onnx.py; the tagger serve rows in test_serve.py and test_serve_operations.py; model packages in
test_packages.py), and a test holds the page's rows and that list together.
"""

import json
import os
import pickle
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from bilstm_tagger import Tagger
from bilstm_tagger.base.schemes import Span, tags_to_spans

from conftest import DATA, record_tags, record_tokens, sigint_as_in_a_terminal

TRAIN, DEV, TEST = DATA / "ner" / "train.txt", DATA / "ner" / "dev.txt", DATA / "ner" / "test.txt"
QUICK = ["--word-dim", "16", "--hidden-size", "16", "--char-filters", "10", "--max-epochs", "1", "--threads", "1"]
TAGGER_SCRIPT = shutil.which("tagger")


def tagger(*args, input=None, env=None, **options):
    """Run the installed `tagger` console script (as a user does), never raising on its exit code."""
    assert TAGGER_SCRIPT, "the `tagger` script is not installed: run `make install`"
    return subprocess.run(
        [TAGGER_SCRIPT, *map(str, args)],
        input=input,
        capture_output=True,
        text=isinstance(input, str) or input is None,
        timeout=600,
        env={**os.environ, **(env or {})},
        **options,
    )


def one_line(result, code):
    """The stderr line of a failed run, after checking the exit code and that it is one line, no traceback."""
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert result.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def files_of(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture
def model_dir(trained_ner_model):
    """The run's NER model (conftest.py): read it only; ``model_copy`` is the one to change."""
    return trained_ner_model


@pytest.fixture
def model_copy(model_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    return copy


# --- Faults and bad input -------------------------------------------------------------------------


def test_disk_full_while_saving_replaces_nothing_and_exits_1(model_copy):
    """Row: disk full while saving. A file-size limit makes every write past 100 kB fail as a full disk would."""
    before = files_of(model_copy)

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    result = tagger(
        "train", TRAIN, "--dev", DEV, "--output", model_copy, "--overwrite", *QUICK, preexec_fn=limit_file_size
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    *progress, line = result.stderr.strip().splitlines()  # what training said before the first save, then the error
    assert [text.split()[0] for text in progress] == ["Training", "Entity"]
    assert line.startswith(f"error: cannot write {model_copy / 'resume.pt'}: File too large")
    assert line.endswith("the previous checkpoint there is unchanged")
    after = files_of(model_copy)
    for name in ("config.json", "vocab.json", "model.pt"):
        assert after[name] == before[name], f"{name} was changed"
    assert not [name for name in after if name.endswith(".tmp")], "temporary files were left behind"
    tagged = tagger("tag", model_copy, input="Anna Berg lives in Oslo .\n")
    assert tagged.returncode == 0 and len(tagged.stdout.split("\n\n")[0].splitlines()) == 6


def test_too_little_free_disk_is_refused_before_training(tmp_path):
    """Row: too little free disk. The CLI's own main(), in a process whose disk looks all but full."""
    output = tmp_path / "model"
    code = (
        "import shutil, sys\n"
        "shutil.disk_usage = lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)\n"
        "from bilstm_tagger.cli import commands as cli\n"
        f"sys.argv = ['tagger', 'train', {str(TRAIN)!r}, '--dev', {str(DEV)!r}, '--output', {str(output)!r}]\n"
        "cli.main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert one_line(result, 2).startswith(f"{output}: not enough disk space: 0.0 MB free, checkpoints need about")
    assert not (output / "model.pt").exists() and not (output / "config.json").exists()


def test_an_unwritable_or_invalid_output_is_refused_before_training(tmp_path):
    """Row: unwritable or invalid --output. As root no directory is unwritable by its mode bits, so the
    unwritable case is a directory that cannot be made (its parent is a file); invalid is a file."""
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me\n")
    line = one_line(tagger("train", TRAIN, "--dev", DEV, "--output", a_file / "model", *QUICK), 2)
    assert line == f"{a_file / 'model'}: cannot write the model here: Not a directory"
    line = one_line(tagger("train", TRAIN, "--dev", DEV, "--output", a_file, *QUICK), 2)
    assert line == f"{a_file}: exists and is not a directory"
    assert a_file.read_text() == "keep me\n"
    if os.geteuid() != 0:  # a directory without write permission, where the mode bits apply
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        line = one_line(tagger("train", TRAIN, "--dev", DEV, "--output", locked, *QUICK), 2)
        assert line == f"{locked}: cannot write the model here: Permission denied"


def test_an_unfinished_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    """Row: --output holds an unfinished run (a model already there: test_cli.py)."""
    output = tmp_path / "run"
    output.mkdir()
    (output / "resume.pt").write_bytes(b"the state of a run that was stopped")
    line = one_line(tagger("train", TRAIN, "--dev", DEV, "--output", output, *QUICK), 2)
    assert line == f"{output}: holds an unfinished run; pass --resume to continue it or --overwrite to start again"
    assert (output / "resume.pt").read_bytes() == b"the state of a run that was stopped"
    result = tagger("train", TRAIN, "--dev", DEV, "--output", output, "--overwrite", *QUICK)
    assert result.returncode == 0, result.stderr
    assert not (output / "resume.pt").exists() and (output / "config.json").exists()


def test_overwrite_replaces_a_model_and_its_metrics(model_copy):
    """Row: --output already holds a model (refused unless --overwrite): here --overwrite, which replaces it."""
    before = files_of(model_copy)
    result = tagger("train", TRAIN, "--dev", DEV, "--output", model_copy, "--overwrite", *QUICK)
    assert result.returncode == 0, result.stderr
    after = files_of(model_copy)
    assert after["model.pt"] != before["model.pt"]
    assert len(after["metrics.jsonl"].decode().splitlines()) == 1  # the new run's epoch only
    assert json.loads(after["config.json"])["training"]["max_epochs"] == 1


def test_a_checkpoint_holding_pickled_code_is_refused_and_nothing_runs(model_copy, tmp_path):
    """Row: a checkpoint from a stranger (pickled code)."""
    marker = tmp_path / "code-ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (model_copy / "model.pt").write_bytes(pickle.dumps({"weights": Exploit()}))
    line = one_line(tagger("tag", model_copy, input="Anna\n"), 2)
    assert line.startswith(f"{model_copy / 'model.pt'}: refused to load: not plain tensors")
    assert not marker.exists()


def test_a_checkpoint_of_another_format_version_is_one_line(model_copy):
    """Row: other format version (truncated files and wrong directories: test_cli.py)."""
    config = json.loads((model_copy / "config.json").read_text())
    config["format_version"] = 99
    (model_copy / "config.json").write_text(json.dumps(config))
    line = one_line(tagger("evaluate", model_copy, TEST), 2)
    assert line.startswith(f"{model_copy / 'config.json'}: checkpoint format 99 (written by bilstm-tagger")


def test_an_empty_file_is_an_error_for_train_and_evaluate_and_no_output_for_tag(model_dir, tmp_path):
    """Row: empty file."""
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    message = f"{empty}:1: no sentences found (the file is empty or has only blank lines)"
    assert one_line(tagger("train", empty, "--dev", DEV, "--output", tmp_path / "m"), 2) == message
    assert one_line(tagger("evaluate", model_dir, empty), 2) == message
    result = tagger("tag", model_dir, "--input", empty)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not (tmp_path / "m").exists()


def test_crlf_a_byte_order_mark_mixed_separators_and_no_final_newline_read_normally(model_dir, tmp_path):
    """Row: CRLF, no final newline, tabs mixed with spaces, byte-order mark."""
    lines = TEST.read_text().splitlines()
    mixed = [line.replace(" ", "\t", 1) if i % 2 else line for i, line in enumerate(lines)]
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(mixed).encode())
    plain, awkward = (json.loads(tagger("evaluate", model_dir, path, "--json").stdout) for path in (TEST, odd))
    del plain["test_file"], awkward["test_file"]
    assert awkward == plain and plain["sentences"] > 100


@pytest.mark.parametrize(
    "data, message",
    [
        (b"Anna lives\nin \xff Oslo\n", "2: invalid UTF-8 (byte 4 of the line); is this a binary file?"),
        (b"Anna lives\nin\x00Oslo\n", "2: NUL byte: this looks like a binary file, not a text corpus"),
    ],
)
def test_invalid_utf8_and_nul_bytes_are_one_line_after_the_lines_before(model_dir, tmp_path, data, message):
    """Row: invalid UTF-8, binary data, NUL bytes; `--encoding-errors replace` reads on."""
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    result = tagger("tag", model_dir, "--input", path, "--format", "jsonl")
    assert one_line(result, 2) == f"{path}:{message}"
    assert [record_tokens(json.loads(line)) for line in result.stdout.splitlines()] == [["Anna", "lives"]]
    if b"\xff" in data:
        replaced = tagger("tag", model_dir, "--input", path, "--format", "jsonl", "--encoding-errors", "replace")
        assert [record_tokens(json.loads(line)) for line in replaced.stdout.splitlines()][1] == ["in", "\ufffd", "Oslo"]


def test_a_100000_token_line_is_tagged_in_500_token_pieces_in_bounded_memory(model_dir, tmp_path):
    """Row: a single 100,000-token line: one record of 100,000 tags, as if each 500-token piece were a line."""
    words = TEST.read_text().split()[::4]  # words of the sample, so that the tags vary
    tokens = [words[i % len(words)] for i in range(100_000)]
    long_line = tmp_path / "long.txt"
    long_line.write_text(" ".join(tokens) + "\n")
    pieces = tmp_path / "pieces.txt"
    pieces.write_text("".join(" ".join(tokens[i : i + 500]) + "\n" for i in range(0, 100_000, 500)))
    measure = (
        "import resource, subprocess, sys\n"
        "with open(sys.argv[1], 'wb') as out:\n"
        "    subprocess.run(sys.argv[2:], stdout=out, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    output = tmp_path / "long.jsonl"
    command = [
        TAGGER_SCRIPT,
        "tag",
        str(model_dir),
        "--input",
        str(long_line),
        "-f",
        "jsonl",
        "--input-format",
        "tokens",
    ]
    peak_kb = subprocess.run(
        [sys.executable, "-c", measure, str(output), *command], capture_output=True, text=True, check=True
    ).stdout
    assert int(peak_kb) / 1024 < 600, f"peak memory {int(peak_kb) / 1024:.0f} MB"
    [record] = [json.loads(line) for line in output.read_text().splitlines()]
    assert record_tokens(record) == tokens and len(record_tags(record)) == 100_000
    options = ["--input", pieces, "-f", "jsonl", "--input-format", "tokens"]
    pieces_records = [json.loads(line) for line in tagger("tag", model_dir, *options).stdout.splitlines()]
    assert len(pieces_records) == 200
    # The same entities, each piece's shifted to where the piece starts (tags can differ at a cut only in how
    # IOB1 writes two adjacent entities of one type, so the spans are what to compare).
    shifted = [
        Span(span.start + 500 * index, span.end + 500 * index, span.label)
        for index, piece in enumerate(pieces_records)
        for span in tags_to_spans(record_tags(piece))
    ]
    spans = tags_to_spans(record_tags(record))
    assert spans == shifted
    assert len(spans) > 1000, "entities should be found, or the comparison means little"
    assert len(record["entities"]) == len(spans)


def test_a_10000_character_word_is_read_to_its_64th_character_and_written_back_whole(model_dir):
    """Row: a 10,000-character word. Its character vector is that of its first 64 characters."""
    long_word = "Nordbankenberg" * 715  # 10,010 characters, unknown as a word
    line = f"Anna met {long_word} in Oslo ."
    record = json.loads(tagger("tag", model_dir, "--format", "jsonl", input=line + "\n").stdout)
    assert record_tokens(record)[2] == long_word and len(record_tags(record)) == 6
    cut = json.loads(
        tagger("tag", model_dir, "--format", "jsonl", input=line.replace(long_word, long_word[:64]) + "\n").stdout
    )
    assert record_tags(cut) == record_tags(record)
    # Exactly, below the tags: the emissions are those of the sentence with the word cut to 64 characters,
    # while a change within the first 64 characters changes them.
    loaded = Tagger.load(model_dir, engine="torch")

    def emissions(word):
        with torch.inference_mode():
            return loaded.model.network.model.emissions(
                loaded.model.vocab.encode([line.replace(long_word, word).split()])
            )

    assert torch.equal(emissions(long_word), emissions(long_word[:64]))
    assert not torch.equal(emissions(long_word), emissions("Zyx" + long_word[3:]))


def test_control_characters_and_emoji_are_tokens_like_any_other(model_dir):
    """Row: control characters, emoji, other non-BMP characters."""
    lines = [
        "control \x01\x02 chars \x1b[31mred\x1b[0m \x7f",
        "emoji 😀 🇩🇪 and non-BMP 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎",
        "tab\tseparated\u2003em-space",
    ]
    result = tagger("tag", model_dir, "-f", "jsonl", "--input-format", "tokens", input="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record_tokens(r) for r in records] == [line.split() for line in lines]
    assert all(len(record_tags(r)) == len(record_tokens(r)) for r in records)


# --- Exit codes -----------------------------------------------------------------------------------

FAILING_MAIN = (
    "import sys\n"
    "from bilstm_tagger.cli import commands as cli\n"
    "from bilstm_tagger.tagging import tagger\n"
    "def broken(*args, **kwargs):\n"
    "    raise RuntimeError('simulated failure')\n"
    "tagger.LoadedModel.load = broken\n"
    "sys.argv = ['tagger', 'tag', sys.argv[1]]\n"
    "cli.main()\n"
)


def test_an_unexpected_error_is_one_line_and_exit_1_and_debug_shows_the_traceback(model_dir):
    """Exit code 1: anything else, one line; BILSTM_TAGGER_DEBUG=1 shows the traceback."""
    command = [sys.executable, "-c", FAILING_MAIN, str(model_dir)]
    environment = {key: value for key, value in os.environ.items() if key != "BILSTM_TAGGER_DEBUG"}
    result = subprocess.run(command, input="Anna\n", capture_output=True, text=True, env=environment, timeout=120)
    assert one_line(result, 1) == "error: RuntimeError: simulated failure (BILSTM_TAGGER_DEBUG=1 shows the traceback)"
    debug = subprocess.run(
        command, input="Anna\n", capture_output=True, text=True, env={**environment, "BILSTM_TAGGER_DEBUG": "1"}
    )
    assert debug.returncode == 1
    assert debug.stderr.startswith("Traceback") and debug.stderr.strip().endswith("RuntimeError: simulated failure")


def test_ctrl_c_while_tagging_exits_130(model_dir):
    """Exit code 130 for `tag`: interrupted while waiting for more input."""
    process = subprocess.Popen(
        [TAGGER_SCRIPT, "tag", str(model_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=sigint_as_in_a_terminal,  # as a terminal starts it, whatever SIGINT's disposition here
    )
    try:
        process.stdin.write(b"Anna lives in Oslo .\n")
        process.stdin.flush()
        assert process.stdout.readline().startswith(b"Anna\t")  # loaded and running
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        assert process.stderr.read().decode().strip() == "interrupted"
    finally:
        process.kill()


def test_ctrl_c_while_evaluating_exits_130(model_dir, tmp_path):
    """Exit code 130 for `evaluate`: interrupted while reading a test file that is still being written."""
    fifo = tmp_path / "test.fifo"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [TAGGER_SCRIPT, "evaluate", str(model_dir), str(fifo), "--format", "conll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=sigint_as_in_a_terminal,
    )
    opened = threading.Event()
    writer_box = []

    def open_writer():
        writer_box.append(open(fifo, "w"))  # blocks until evaluate opens the file to read it
        opened.set()

    threading.Thread(target=open_writer, daemon=True).start()
    try:
        assert opened.wait(timeout=120), "evaluate never opened its test file"
        writer_box[0].write("Anna NNP I-NP I-PER\nlives VBZ I-VP O\n")
        writer_box[0].flush()
        time.sleep(0.5)  # evaluate is now blocked reading the rest
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        assert process.stderr.read().decode().strip() == "interrupted"
    finally:
        process.kill()
        try:
            writer_box[0].close()
        except (IndexError, BrokenPipeError):
            pass


def test_a_vocabulary_or_model_configuration_that_is_incomplete_is_one_line(model_copy):
    """Row: truncated or corrupted checkpoint, for the JSON files (model.pt: test_cli.py)."""
    config = json.loads((model_copy / "config.json").read_text())
    config["model"]["hidden_size"] = 0
    (model_copy / "config.json").write_text(json.dumps(config))
    line = one_line(tagger("tag", model_copy, input="Anna\n"), 2)
    assert line == f"{model_copy / 'config.json'}: bad model configuration: hidden-size must be at least 1, got 0"
    (model_copy / "vocab.json").write_text(json.dumps({"words": ["<pad>", "<unk>"]}))
    line = one_line(tagger("tag", model_copy, input="Anna\n"), 2)
    assert line == f"{model_copy / 'vocab.json'}: incomplete vocabulary: no chars, tags"


def test_both_corpora_from_standard_input_is_one_line(tmp_path):
    result = tagger("train", "-", "--dev", "-", "--output", tmp_path / "m", input="")
    assert one_line(result, 2) == "the training and dev data cannot both be standard input (-)"


def test_a_report_that_cannot_be_written_is_one_line_and_leaves_no_temporary_file(model_dir, tmp_path):
    target = tmp_path / "page.html"
    target.mkdir()
    line = one_line(tagger("report", model_dir, "--output", target), 2)
    assert line == f"{target}: cannot write the report: Is a directory"
    assert [path.name for path in tmp_path.iterdir()] == ["page.html"]


# --- The page and its tests -----------------------------------------------------------------------

FAULTS_PAGE = DATA.parent / "docs" / "faults.md"
# Each row of the page's two tables (its first cell, as written) and the tests that check it: FILE::TEST.
ROW_TESTS = {
    "0": ["test_faults.py::test_control_characters_and_emoji_are_tokens_like_any_other"],
    "1": [
        "test_faults.py::test_an_unexpected_error_is_one_line_and_exit_1_and_debug_shows_the_traceback",
        "test_faults.py::test_disk_full_while_saving_replaces_nothing_and_exits_1",
        "test_cli.py::test_evaluate_min_score_is_a_gate",
        "test_distributed.py::test_a_worker_killed_with_sigkill_ends_the_run_with_one_line_and_the_checkpoint_loads",
    ],
    "2": [
        "test_cli.py::test_usage_errors_are_one_line_with_exit_code_2",
        "test_cli.py::test_bad_files_end_with_one_line_errors_in_every_command",
    ],
    "130, 143": [
        "test_resilience.py::test_a_signal_saves_a_resumable_state_and_resuming_gives_the_same_model",
        "test_faults.py::test_ctrl_c_while_tagging_exits_130",
    ],
    "141": ["test_hostile.py::test_a_closed_output_pipe_ends_quietly"],
    "training killed at any moment (`kill -9`, power loss)": [
        "test_resilience.py::test_sigkill_at_random_moments_always_leaves_a_loadable_checkpoint"
    ],
    "Ctrl-C or SIGTERM during training": [
        "test_resilience.py::test_a_signal_saves_a_resumable_state_and_resuming_gives_the_same_model"
    ],
    "disk full while saving": ["test_faults.py::test_disk_full_while_saving_replaces_nothing_and_exits_1"],
    "too little free disk, unwritable or invalid `--output`": [
        "test_faults.py::test_too_little_free_disk_is_refused_before_training",
        "test_faults.py::test_an_unwritable_or_invalid_output_is_refused_before_training",
    ],
    "`--output` already holds a model, or an unfinished run": [
        "test_cli.py::test_training_refuses_to_overwrite_a_model_unless_asked",
        "test_faults.py::test_an_unfinished_run_is_refused_unless_resumed_or_overwritten",
        "test_faults.py::test_overwrite_replaces_a_model_and_its_metrics",
    ],
    "a checkpoint from a stranger (pickled code)": [
        "test_faults.py::test_a_checkpoint_holding_pickled_code_is_refused_and_nothing_runs"
    ],
    "truncated or corrupted checkpoint, wrong directory, other format version": [
        "test_cli.py::test_bad_model_directories_are_one_line_errors",
        "test_faults.py::test_a_checkpoint_of_another_format_version_is_one_line",
        "test_faults.py::test_a_vocabulary_or_model_configuration_that_is_incomplete_is_one_line",
    ],
    "empty file": ["test_faults.py::test_an_empty_file_is_an_error_for_train_and_evaluate_and_no_output_for_tag"],
    "CRLF, no final newline, tabs mixed with spaces, byte-order mark": [
        "test_faults.py::test_crlf_a_byte_order_mark_mixed_separators_and_no_final_newline_read_normally"
    ],
    "a line of only invisible characters (a stray U+FEFF, U+200B)": [
        "test_invisible_lines.py::test_train_reads_on_with_one_warning_for_each_file",
        "test_invisible_lines.py::test_evaluate_and_tag_conll_read_on_with_one_warning",
    ],
    "line with another number of columns, missing tag": [
        "test_cli.py::test_bad_files_end_with_one_line_errors_in_every_command"
    ],
    "invalid UTF-8, binary data, NUL bytes": [
        "test_faults.py::test_invalid_utf8_and_nul_bytes_are_one_line_after_the_lines_before",
        "test_hostile.py::test_binary_input_is_an_input_error",
    ],
    "raw text that is hostile: a 1 MB line without punctuation, only punctuation, URLs, e-mail addresses, hashtags, "
    "numbers with separators, right-to-left scripts, combining marks, zero-width joiners, emoji sequences, NUL and "
    "other control characters, a lone CR": [
        "test_hostile.py::test_hostile_raw_text_gets_one_record_per_line_whose_offsets_slice_back",
        "test_segmentation.py::test_a_megabyte_line_without_sentence_end_is_one_sentence",
    ],
    "a single 100,000-token line": [
        "test_faults.py::test_a_100000_token_line_is_tagged_in_500_token_pieces_in_bounded_memory"
    ],
    "a 10,000-character word": [
        "test_faults.py::test_a_10000_character_word_is_read_to_its_64th_character_and_written_back_whole"
    ],
    "control characters, emoji, other non-BMP characters": [
        "test_faults.py::test_control_characters_and_emoji_are_tokens_like_any_other"
    ],
    "labels never seen in training (`evaluate`)": [
        "test_hostile.py::test_evaluate_counts_labels_never_seen_in_training_as_errors"
    ],
    "1,000,000 input lines": ["test_hostile.py::test_one_million_lines_give_one_million_records_in_bounded_memory"],
    "`tagger tag ... \\| head`": ["test_hostile.py::test_a_closed_output_pipe_ends_quietly"],
    "Ctrl-C while `tag` waits for input or `evaluate` reads": [
        "test_faults.py::test_ctrl_c_while_tagging_exits_130",
        "test_faults.py::test_ctrl_c_while_evaluating_exits_130",
    ],
    "a program that writes one line and waits for the answer": [
        "test_cli.py::test_tag_answers_each_line_of_a_slow_pipe_before_the_next_arrives"
    ],
    "under torchrun: a training process killed, a machine lost": [
        "test_distributed.py::test_a_worker_killed_with_sigkill_ends_the_run_with_one_line_and_the_checkpoint_loads"
    ],
    "under torchrun: Ctrl-C or SIGTERM to torchrun": [
        "test_distributed.py::test_sigterm_to_torchrun_leaves_a_state_that_resumes_bit_exactly_under_as_many_processes"
    ],
    "`--resume` under another number of processes": [
        "test_distributed.py::test_sigterm_to_torchrun_leaves_a_state_that_resumes_bit_exactly_under_as_many_processes"
    ],
    "a node that cannot reach the rendezvous": [
        "test_distributed.py::test_a_node_that_cannot_reach_the_rendezvous_fails_within_its_timeout"
    ],
    "`--workers N`: a worker killed": ["test_workers.py::test_a_killed_worker_is_one_line_and_exit_1"],
    "`model.onnx` outdated (the weights, vocabulary or settings changed since it was written) or damaged": [
        "test_onnx.py::test_a_model_onnx_of_other_weights_is_not_used"
    ],
    "`tagger serve`: a body over `--max-body`, not UTF-8 JSON or nested too deeply, fields of the wrong type": [
        "test_serve.py::test_bad_requests_get_a_4xx_and_a_reason"
    ],
    "`tagger serve`: a client that never finishes its request": [
        "test_serve.py::test_a_slow_client_times_out_and_others_are_served_meanwhile"
    ],
    "`tagger serve`: SIGTERM or Ctrl-C": ["test_serve.py::test_sigterm_finishes_the_requests_in_flight"],
    "`tagger serve`: a request without the API key, with a wrong one, or with one of another length": [
        "test_serve_operations.py::test_every_route_but_health_answers_401_without_the_key",
        "test_serve_operations.py::test_the_key_is_compared_whole_and_never_shown",
        "test_serve_operations.py::test_the_access_log_has_a_line_per_request_and_never_the_key",
    ],
    "`tagger serve`: a model that fails to load when reloaded (SIGHUP, `POST /admin/reload`)": [
        "test_serve_operations.py::test_a_reload_switches_models_without_dropping_or_mixing_a_request"
    ],
    "`tagger serve`: a model that fails its first load": [
        "test_serve_operations.py::test_a_model_that_fails_to_load_stops_the_server_with_one_line"
    ],
    "`tagger tag-dataset`: a worker process that dies during a split (killed, out of memory)": [
        "test_datasets.py::test_a_worker_killed_halfway_is_retried_and_each_record_is_written_once"
    ],
    "`tagger tag-dataset`: a split that fails on every try": [
        "test_datasets.py::test_a_split_that_fails_on_every_try_fails_the_job_and_keeps_the_output_as_it_was"
    ],
    "`tagger tag-dataset`: Ctrl-C": ["test_datasets.py::test_ctrl_c_stops_the_job_with_one_line_and_no_output"],
    "`tagger tag-dataset`: a record that cannot be tagged (invalid UTF-8, a NUL byte, a null, a JSON line without the text field)": [
        "test_datasets.py::test_records_that_cannot_be_tagged_are_counted_and_kept_with_their_reason",
        "test_datasets.py::test_records_that_cannot_be_read_keep_their_place_with_the_reason",
    ],
    "`tagger tag-dataset`: an output directory that is not empty, no input file, a model that does not load": [
        "test_datasets.py::test_bad_input_and_a_full_output_are_refused_in_one_line_before_the_cluster_starts"
    ],
    "a model name that is neither a directory nor an installed model package": [
        "test_packages.py::test_an_installed_package_tags_by_name_as_its_directory_does"
    ],
    "a model package whose checkpoint format this version cannot read": [
        "test_packages.py::test_a_package_of_another_checkpoint_format_is_refused_in_one_line"
    ],
}


def page_rows() -> list[str]:
    """The first cell of every row of the page's tables, header and rule lines left out."""
    rows = []
    for line in FAULTS_PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append(re.split(r"(?<!\\)\|", line)[1].strip())
    return [row for row in rows if row not in ("code", "fault or input")]


def test_every_row_of_the_faults_page_has_its_tests():
    rows = page_rows()
    assert len(rows) == len(set(rows)) == len(ROW_TESTS), "a row added to or dropped from docs/faults.md"
    assert set(rows) == set(ROW_TESTS)
    tests = DATA.parent / "tests"
    for row, names in ROW_TESTS.items():
        for name in names:
            file, function = name.split("::")
            source = (tests / file).read_text(encoding="utf-8")
            assert re.search(rf"^(async )?def {function}\(", source, re.MULTILINE), f"{row}: no test {name}"
