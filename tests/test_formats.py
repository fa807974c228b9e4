"""The jsonl writer: the same records with orjson (the fast extra) and without it, one line each."""

from __future__ import annotations

import json

import pytest

from bilstm_tagger.base.schemes import Span
from bilstm_tagger.tagging import formats
from bilstm_tagger.tagging.predictions import Document, NBestPath, TaggedSentence

TEXT = 'Zoë met \u2028Ann «Lee» in "Oslo"\t\\ 😀'


def document() -> Document:
    tokens = ["Zoë", "met", "Ann", "«Lee»", "Oslo"]
    offsets = [(0, 3), (4, 7), (9, 12), (13, 18), (23, 27)]
    sentence = TaggedSentence(
        tokens,
        ["I-PER", "O", "I-PER", "I-PER", "I-LOC"],
        "iob1",
        [Span(0, 1, "PER"), Span(2, 4, "PER"), Span(4, 5, "LOC")],
        scores=[0.99991, 0.5, 0.123456, 1.0, 0.00001805],
        span_scores=[0.9, 0.4, 0.00001805],
        offsets=offsets,
        nbest=[NBestPath(["I-PER", "O", "I-PER", "I-PER", "I-LOC"], 0.7), NBestPath(["O"] * 5, 1.805e-5)],
    )
    return Document(TEXT, [sentence])


@pytest.mark.parametrize("with_orjson", [True, False])
def test_a_jsonl_record_is_one_compact_line_of_the_record(monkeypatch, with_orjson):
    if not with_orjson:
        monkeypatch.setattr(formats, "orjson", None)
    elif formats.orjson is None:
        pytest.skip("the fast extra (orjson) is not installed")
    line = formats.format_record("jsonl", document())
    assert line.endswith("\n") and len(line.splitlines()) == 1 and "\u2028" not in line  # escaped: \\u2028
    assert ", " not in line and '": ' not in line  # compact
    assert json.loads(line) == formats.jsonl_object(document())
    record = json.loads(line)
    assert [entity["confidence"] for entity in record["entities"]] == [0.9, 0.4, 1.805e-05]
    assert record["sentences"][0]["tokens"][0]["confidence"] == 0.9999  # 4 significant digits
