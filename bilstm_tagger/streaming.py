"""``tagger tag``'s loop: read a stream, tag it a buffer at a time, write each record as soon as it is ready.

The input is read in a background thread (:class:`~bilstm_tagger.readahead.ReadAhead`), and
whatever has arrived is tagged as soon as the reader would have to wait, so a slow pipe gets
each answer when its line is in, while a fast one gets full batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, Protocol, TextIO

from .config import TAG_BATCH_SIZE
from .corpus import iter_lines
from .decoding import ProbabilityRequest, check_batch_size
from .documents import INPUT_FORMATS, TextInput, read_inputs
from .errors import InputError
from .formats import OUTPUT_FORMATS, PROBABILITY_FORMATS, open_writer
from .predictions import Document
from .readahead import ReadAhead


class DocumentTagger(Protocol):
    """What this loop needs of a tagger (:class:`~bilstm_tagger.tagging.Tagger` is one)."""

    name: str

    def request(self, confidence: bool = False, nbest: int = 0) -> ProbabilityRequest: ...

    def column(self, role: str, corpus_format: str, given: str | int | None) -> str | int | None: ...

    def documents(
        self, buffer: Sequence[TextInput], batch_size: int, request: ProbabilityRequest, min_confidence: float = 0.0
    ) -> list[Document]: ...


def tag_file(
    tagger: DocumentTagger,
    stream: BinaryIO,
    name: str,
    output: TextIO,
    output_format: str = "conll",
    input_format: str = "text",
    word_column: str | int | None = None,
    encoding_errors: str = "strict",
    batch_size: int = TAG_BATCH_SIZE,
    confidence: bool = False,
    nbest: int = 0,
    min_confidence: float = 0.0,
) -> int:
    """Tag a stream (see :mod:`bilstm_tagger.documents` for the input formats) and write one record per input.

    Raw text and token input give one record per line, an empty one for an empty line;
    CoNLL input one per sentence. Records are written and flushed a buffer at a time, as
    soon as the input would make us wait. If the input turns out malformed, the records
    before the bad line are written first (and an html page is closed), then the
    :class:`InputError` is raised. ``confidence`` adds a confidence column to ``conll``
    (``jsonl`` and ``html`` always carry confidences); ``min_confidence`` drops the entities
    whose confidence is below it. Returns the number of records written.
    """
    check_batch_size(batch_size)
    if output_format not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {output_format!r} (choose {', '.join(OUTPUT_FORMATS)})")
    if input_format not in INPUT_FORMATS:
        raise InputError(f"unknown input format {input_format!r} (choose {', '.join(INPUT_FORMATS)})")
    if not 0.0 <= min_confidence <= 1.0:
        raise InputError(f"--min-confidence must be between 0 and 1, got {min_confidence}")
    if nbest and output_format != "jsonl":
        raise InputError(f"--nbest is written in jsonl only, not {output_format}: add --format jsonl")
    wants_confidence = confidence or min_confidence > 0 or output_format in PROBABILITY_FORMATS
    request = tagger.request(wants_confidence, nbest)
    lines = iter_lines(stream, name, encoding_errors)
    inputs = read_inputs(lines, name, input_format, tagger.column("word", input_format, word_column))
    source = ReadAhead(inputs, capacity=batch_size * 16)
    writer = open_writer(output_format, output, confidence_column=confidence, title=tagger.name)
    written = 0
    writer.begin()
    try:
        while buffer := source.take(batch_size * 8):
            for document in tagger.documents(buffer, batch_size, request, min_confidence):
                writer.write(document)
            output.flush()
            written += len(buffer)
    finally:
        writer.end()
        output.flush()
    return written
