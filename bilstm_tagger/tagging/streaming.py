"""``tagger tag``'s loop: read a stream, tag it a buffer at a time, write each record as soon as it is ready.

The input is read in a background thread (:class:`~bilstm_tagger.text.readahead.ReadAhead`) and tagged
a buffer at a time: full buffers from a file; from a pipe or a terminal, whatever has arrived once
the input pauses (:data:`INTERACTIVE_PATIENCE`), so that a slow pipe gets each answer when its line
is in, while a fast one gets full batches. The tagging of each buffer
is the tagger's (``tag_buffers``): a :class:`~bilstm_tagger.tagging.tagger.LoadedModel` in this process, or across worker processes
(:class:`~bilstm_tagger.tagging.workers.TaggerPool`), which tag the next buffers while this loop writes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol, TextIO

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import BUFFER_BATCHES, READ_AHEAD_BATCHES, TAG_BATCH_SIZE
from bilstm_tagger.tagging.batches import check_batch_size
from bilstm_tagger.tagging.decoding import ProbabilityRequest
from bilstm_tagger.tagging.formats import OUTPUT_FORMATS, PROBABILITY_FORMATS, open_writer
from bilstm_tagger.tagging.predictions import Document
from bilstm_tagger.text.corpus import CorpusReading, iter_lines
from bilstm_tagger.text.documents import INPUT_FORMATS, TextInput, read_inputs
from bilstm_tagger.text.readahead import ReadAhead

# How long a buffer waits for more of an interactive input before it is tagged as it is. A file is
# tagged in full buffers, and a pipe that keeps up (``cat file |``) gives full buffers too: the
# last float32 bits of a sentence's confidences depend on the sentences batched with it, so the
# same input is then tagged the same on every run and with any number of ``--workers``.
INTERACTIVE_PATIENCE = 0.1
FILE_CHUNK = 64  # records the reader thread hands over at a time from a file (one at a time from a pipe)


class DocumentTagger(Protocol):
    """What this loop needs of a tagger: :class:`~bilstm_tagger.tagging.tagger.LoadedModel` tags in this
    process, :class:`~bilstm_tagger.tagging.workers.TaggerPool` across worker processes."""

    name: str
    reading: CorpusReading  # how the model's training data was read: its columns

    def request(self, confidence: bool = False, nbest: int = 0) -> ProbabilityRequest: ...

    def tag_buffers(
        self,
        buffers: Iterable[list[TextInput]],
        batch_size: int,
        request: ProbabilityRequest,
        min_confidence: float = 0.0,
    ) -> Iterator[list[Document]]:
        """Each buffer's documents, in order; the next buffer may be read before a buffer's documents are taken."""
        ...


def tag_file(
    tagger: DocumentTagger,
    stream: BinaryIO,
    name: str,
    output: TextIO,
    output_format: str = "conll",
    reading: CorpusReading = CorpusReading("text"),
    batch_size: int = TAG_BATCH_SIZE,
    confidence: bool = False,
    nbest: int = 0,
    min_confidence: float = 0.0,
) -> int:
    """Tag a stream and write one record per input.

    ``reading`` says how the input is read: its format (``text``, ``tokens``, ``conll`` or ``conllu``:
    see :mod:`bilstm_tagger.text.documents`), CoNLL's word column (the model's own by default) and
    what to do with invalid UTF-8.

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
    if reading.format not in INPUT_FORMATS:
        raise InputError(f"unknown input format {reading.format!r} (choose {', '.join(INPUT_FORMATS)})")
    if not 0.0 <= min_confidence <= 1.0:
        raise InputError(f"--min-confidence must be between 0 and 1, got {min_confidence}")
    if nbest and output_format != "jsonl":
        raise InputError(f"--nbest is written in jsonl only, not {output_format}: add --format jsonl")
    wants_confidence = confidence or min_confidence > 0 or output_format in PROBABILITY_FORMATS
    request = tagger.request(wants_confidence, nbest)
    lines = iter_lines(stream, name, reading.encoding_errors)
    inputs = read_inputs(lines, name, reading.with_columns_of(tagger.reading))
    patience = INTERACTIVE_PATIENCE if _interactive(stream) else None
    chunk = 1 if patience else FILE_CHUNK
    source = ReadAhead(inputs, capacity=batch_size * READ_AHEAD_BATCHES, chunk=chunk)
    writer = open_writer(output_format, output, confidence_column=confidence, title=tagger.name)
    written = 0
    writer.begin()
    try:
        buffers = _buffers(source, batch_size * BUFFER_BATCHES, patience)
        for documents in tagger.tag_buffers(buffers, batch_size, request, min_confidence):
            for document in documents:
                writer.write(document)
            output.flush()
            written += len(documents)
    finally:
        source.close()
        writer.end()
        output.flush()
    return written


def _buffers(source: ReadAhead, size: int, patience: float | None) -> Iterator[list[TextInput]]:
    """Buffers of ``size`` records, shorter where the input paused for ``patience`` seconds, or at its end."""
    while buffer := source.take(size, patience):
        yield buffer


def _interactive(stream: BinaryIO) -> bool:
    """Whether the input may come a line at a time (a pipe, a terminal, a socket) rather than from a file."""
    try:
        return not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # an in-memory stream: all of it is there
        return False
