"""Output formats of ``tagger tag``: each writes a :class:`~bilstm_tagger.tagging.predictions.Document` as one record.

* ``conll``: token TAB tag (TAB confidence, with ``--confidence``) per line, a blank line after
  each sentence; an input line without tokens gives one blank line.
* ``inline``: the input text as it came, each entity bracketed as ``[LOC Berlin]`` (``word/TAG``
  after each token for plain tags), white space kept.
* ``jsonl``: one JSON object per record, ``{"text", "sentences": [{"start", "end", "tokens":
  [{"text", "start", "end", "tag", "confidence"}], "nbest"?}], "entities": [{"start", "end",
  "type", "text", "confidence"}]}``; offsets index ``text``.
* ``html``: one self-contained page for the whole input (:mod:`bilstm_tagger.tagging.html_page`).

Writers share one shape (``begin``, ``write`` a document, ``end``), so the tagging loop does not
care which it has. No torch here.
"""

from __future__ import annotations

import json
from typing import Protocol, TextIO

try:  # the `fast` extra (make install includes it): 6 times as fast as json.dumps on tagging's records
    import orjson
except ImportError:  # json writes the same text but for small numbers: 1.805e-05, not 0.00001805
    orjson = None

from bilstm_tagger.tagging.predictions import Document

OUTPUT_FORMATS: tuple[str, ...] = ("conll", "inline", "jsonl", "html")
PROBABILITY_FORMATS: frozenset[str] = frozenset({"jsonl", "html"})  # formats that always carry confidences
# Characters that JSON leaves as they are but that many line readers (Python's str.splitlines,
# JavaScript before ES2019) take for line breaks: escaped, so that a jsonl record is one line for all.
_LINE_BREAKS_ESCAPED = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}


class RecordWriter(Protocol):
    def begin(self) -> None: ...

    def write(self, document: Document) -> None: ...

    def end(self) -> None: ...


class LineWriter:
    """Writes each document as one record of ``conll``, ``inline`` or ``jsonl`` text."""

    def __init__(self, output: TextIO, output_format: str, confidence_column: bool = False):
        if output_format not in ("conll", "inline", "jsonl"):
            raise ValueError(f"unknown output format {output_format!r}")
        self.output = output
        self.output_format = output_format
        self.confidence_column = confidence_column

    def begin(self) -> None:
        pass

    def write(self, document: Document) -> None:
        self.output.write(format_record(self.output_format, document, self.confidence_column))

    def end(self) -> None:
        pass


def open_writer(output_format: str, output: TextIO, confidence_column: bool = False, title: str = "") -> RecordWriter:
    """The writer of ``output_format`` over ``output``; ``title`` names the html page (the model)."""
    if output_format == "html":
        from bilstm_tagger.tagging.html_page import HtmlPageWriter

        return HtmlPageWriter(output, model=title or None)
    return LineWriter(output, output_format, confidence_column)


def format_record(output_format: str, document: Document, confidence_column: bool = False) -> str:
    """One document in ``conll``, ``inline`` or ``jsonl`` form, ending with a newline."""
    if output_format == "conll":
        return format_conll(document, confidence_column)
    if output_format == "inline":
        return format_inline(document) + "\n"
    if output_format == "jsonl":
        return jsonl_line(jsonl_object(document))
    raise ValueError(f"unknown output format {output_format!r}")


def format_conll(document: Document, confidence_column: bool = False) -> str:
    """``token TAB tag [TAB confidence]`` lines, a blank line after each sentence (one for no sentence)."""
    if not document.sentences:
        return "\n"
    lines = []
    for sentence in document.sentences:
        if confidence_column and sentence.scores is not None:
            scores = [f"{score:.4g}" for score in sentence.scores]
            lines += map("\t".join, zip(sentence.tokens, sentence.tags, scores))
        else:
            lines += map("\t".join, zip(sentence.tokens, sentence.tags))
        lines.append("")
    return "\n".join(lines) + "\n"


def format_inline(document: Document) -> str:
    """The text with ``[PER John Smith]`` around each entity, or ``word/TAG`` for plain tags; white space kept.

    Line breaks inside the text (a lone CR, U+2028) are written as they are.
    """
    text = document.text
    plain = any(sentence.scheme == "plain" for sentence in document.sentences)
    pieces: list[str] = []
    position = 0
    if plain:
        for token in document.tokens:
            pieces += [text[position : token.end], "/", token.tag]
            position = token.end
    else:
        for entity in document.entities:
            pieces += [text[position : entity.start], "[", entity.type, " ", entity.text, "]"]
            position = entity.end
    pieces.append(text[position:])
    return "".join(pieces)


def jsonl_object(document: Document) -> dict:
    """The ``jsonl`` record of a document (see the module's docstring); probabilities to 4 significant digits."""
    sentences = []
    for sentence in document.sentences:
        scores = sentence.scores or [None] * len(sentence)
        tokens = [
            {"text": token, "start": start, "end": end, "tag": tag, "confidence": _significant(score)}
            for token, (start, end), tag, score in zip(sentence.tokens, sentence.offsets or [], sentence.tags, scores)
        ]
        record: dict = {"start": sentence.start, "end": sentence.end, "tokens": tokens}
        if sentence.nbest is not None:
            record["nbest"] = [
                {"tags": path.tags, "probability": _significant(path.probability)} for path in sentence.nbest
            ]
        sentences.append(record)
    entities = [
        {"start": e.start, "end": e.end, "type": e.type, "text": e.text, "confidence": _significant(e.confidence)}
        for e in document.entities
    ]
    return {"text": document.text, "sentences": sentences, "entities": entities}


def jsonl_line(data: dict) -> str:
    """One JSON lines record: compact JSON on one line (line breaks JSON allows escaped), then a newline."""
    return json_text(data).translate(_LINE_BREAKS_ESCAPED) + "\n"


def json_text(data) -> str:
    """Compact JSON (no spaces), UTF-8 characters as they are: by orjson where installed, else by json."""
    if orjson is not None:
        return orjson.dumps(data).decode("utf-8")
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _significant(probability: float | None) -> float | None:
    """A probability to 4 significant digits, as the conll column writes it.

    The float32 digits beyond those say nothing, and they depend on the sentences a sentence
    was batched with and on torch's threads: rounded, the records of a file tagged in one
    process or across workers (``--workers``) read the same.
    """
    return None if probability is None else float(f"{probability:.4g}")
