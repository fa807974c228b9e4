"""Never trust input: every line gets its record, whatever it holds, in bounded memory."""

import io
import json
import subprocess
import sys

import pytest

from bilstm_tagger import Tagger
from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import MAX_SEGMENT_TOKENS
from bilstm_tagger.text.corpus import CorpusReading

from conftest import ROOT, assert_a_closed_output_pipe_ends_quietly, record_tags, record_tokens


@pytest.fixture
def model_dir():
    """The small model of tests/fixtures: what is tested is the reading and writing, which any model does; a
    million lines take a third less time than with the run's NER model (conftest.py)."""
    return ROOT / "tests" / "fixtures" / "format1" / "model"


def tag_bytes(model_dir, data: bytes, input_format: str = "tokens", encoding_errors: str = "strict"):
    """The jsonl records of ``data`` tagged as pre-tokenised lines (``input_format`` may say otherwise)."""
    reading = CorpusReading(input_format, encoding_errors=encoding_errors)
    output = io.StringIO()
    written = Tagger.load(model_dir).tag_file(
        io.BytesIO(data), "<test>", output, output_format="jsonl", reading=reading
    )
    records = [json.loads(line) for line in output.getvalue().splitlines()]
    assert written == len(records)
    return records


HOSTILE_LINES = [
    "",
    "   ",
    "\t \t",
    "Anna\tBerg  lives \t in Oslo",
    "control \x01\x02 chars \x1b[31mred\x1b[0m \x7f",
    "emoji 😀 🇩🇪 and non-BMP 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎",
    "a " + "x" * 10_000 + " word",
    "<pad> <unk> -DOCSTART- [ ] { }",
    " ".join(["Oslo"] * 100_000),
]


def test_every_hostile_line_gets_exactly_one_record_in_order(model_dir):
    data = "\r\n".join(HOSTILE_LINES).encode("utf-8")  # CRLF, and no final newline
    records = tag_bytes(model_dir, data)
    assert [record_tokens(record) for record in records] == [line.split() for line in HOSTILE_LINES]
    assert all(len(record_tags(record)) == len(record_tokens(record)) for record in records)
    assert len(record_tags(records[-1])) == 100_000 > MAX_SEGMENT_TOKENS


RAW_HOSTILE_LINES = [
    "word " * 200_000,  # a 1 MB line with no punctuation
    "!?.,;:()[]{}<>\"'`~@#$%^&*-_=+|\\/" * 20,  # only punctuation
    "see https://example.com/a/b?c=1&d=two#frag, or http://x.org.",
    "write to maria.lopez@example.co.uk today",
    "#NLProc #BiLSTM rocks @someone",
    "1,000,000.50 and 3.14 and 1.000.000,50 and 12'345",
    "مرحبا بالعالم. שלום עולם!",
    "cafe\u0301 nai\u0308ve Zalgo: Z\u0336\u0337a\u0338l\u0334g\u0335o",
    "family 👨\u200d👩\u200d👧 and flags 🇩🇪🇫🇷 and 👍🏽 ok",
    "NUL \x00 and \x01\x02\x1b[31mred\x1b[0m \x7f controls",
    "lone\rCR inside",
    "\ufeff\u200b \u2060",
    "zero\u200bwidth\u200cnon\u200djoiner",
]


def test_hostile_raw_text_gets_one_record_per_line_whose_offsets_slice_back(model_dir):
    data = "".join(line + "\n" for line in RAW_HOSTILE_LINES).encode("utf-8")
    records = tag_bytes(model_dir, data, input_format="text", encoding_errors="replace")
    assert len(records) == len(RAW_HOSTILE_LINES)
    for record, line in zip(records, RAW_HOSTILE_LINES):
        assert record["text"] == line
        for sentence in record["sentences"]:
            for token in sentence["tokens"]:
                assert line[token["start"] : token["end"]] == token["text"] and token["text"]
        for entity in record["entities"]:
            assert line[entity["start"] : entity["end"]] == entity["text"]
        starts = [t["start"] for s in record["sentences"] for t in s["tokens"]]
        assert starts == sorted(starts)
    assert len(record_tokens(records[0])) == 200_000


def test_invalid_utf8_stops_after_the_good_lines_or_is_replaced(model_dir):
    data = b"Anna lives in Oslo\nbad \xff\xfe byte\nlast line\n"
    output = io.StringIO()
    with pytest.raises(InputError, match=r"^<test>:2: invalid UTF-8"):
        Tagger.load(model_dir).tag_file(io.BytesIO(data), "<test>", output, output_format="jsonl")
    assert [record_tokens(json.loads(line)) for line in output.getvalue().splitlines()] == [
        ["Anna", "lives", "in", "Oslo"]
    ]
    records = tag_bytes(model_dir, data, encoding_errors="replace")
    assert [record_tokens(r) for r in records][1] == ["bad", "\ufffd\ufffd", "byte"]
    assert len(records) == 3


def test_binary_input_is_an_input_error(model_dir):
    with pytest.raises(InputError, match="^<test>:1: "):
        tag_bytes(model_dir, bytes(range(256)))


def test_empty_input_gives_no_records(model_dir):
    assert tag_bytes(model_dir, b"") == []


def test_one_million_lines_give_one_million_records_in_bounded_memory(model_dir, tmp_path):
    """Every record checked, in order. ``conll`` rather than ``jsonl``: the stream is the same, and the
    confidences that jsonl adds (tested on their own) would double the time of the run."""
    words = ["Anna", "Berg", "lives", "in", "Oslo", ".", "the", "bank", "said"]
    lines = [" ".join(words[(i * 7 + k) % len(words)] for k in range(i % 4)) for i in range(1_000_000)]
    source = tmp_path / "million.txt"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "tagged.conll"
    # A fresh parent whose only child is the tagger, so that the child's peak memory is its own.
    measure = (
        "import resource, subprocess, sys\n"
        "with open(sys.argv[1], 'wb') as out:\n"
        "    subprocess.run(sys.argv[2:], stdout=out, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    command = [sys.executable, "-m", "bilstm_tagger", "tag", str(model_dir), "--input", str(source), "-f", "conll"]
    command += ["--input-format", "tokens"]
    result = subprocess.run(
        [sys.executable, "-c", measure, str(output), *command], capture_output=True, text=True, check=True, timeout=600
    )
    peak_megabytes = int(result.stdout) / 1024
    assert peak_megabytes < 600, f"peak memory {peak_megabytes:.0f} MB"
    # A record is a line "token TAB tag" per token and a blank line; a line without tokens, a blank line.
    with open(output, encoding="utf-8") as tagged:
        for number, line in enumerate(lines, start=1):
            rows = [next(tagged).rstrip("\n").split("\t") for _ in line.split()]
            assert [row[0] for row in rows] == line.split() and next(tagged) == "\n", f"record {number}"
            assert all(len(row) == 2 and row[1] for row in rows), f"record {number} has a token without a tag"
        assert next(tagged, None) is None, "more records than lines"


def test_a_closed_output_pipe_ends_quietly(model_dir):
    assert_a_closed_output_pipe_ends_quietly(
        [sys.executable, "-m", "bilstm_tagger", "tag", str(model_dir), "-f", "inline"]
    )


def test_evaluate_counts_labels_never_seen_in_training_as_errors(model_dir, tmp_path):
    test_file = tmp_path / "new-labels.txt"
    test_file.write_text("Anna NNP I-NP I-PER\nsang VBD I-VP O\nat IN I-PP O\nWoodstock NNP I-NP I-EVENT\n")
    result = subprocess.run(
        [sys.executable, "-m", "bilstm_tagger", "evaluate", str(model_dir), str(test_file), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["unknown_labels"] == ["EVENT"]
    rows = {row["label"]: row for row in report["per_label"]}
    assert rows["EVENT"]["support"] == 1 and rows["EVENT"]["recall"] == 0.0  # the unseen span is kept, and missed
    assert sum(row["support"] for row in report["per_label"]) == 2  # both gold entities are counted
    per_found = rows["PER"]["recall"] / 100  # 1 if Anna was found, else 0: recall is exactly half of that
    assert report["recall"] == pytest.approx(50.0 * per_found)
