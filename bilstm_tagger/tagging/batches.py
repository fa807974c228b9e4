"""Running a network over many sentences: sorted batches, bounded memory, input order kept.

Sentences are read a buffer at a time, sorted by length inside the buffer so that batches carry
little padding, decoded batch by batch, and given back in input order, as tag lists in the
scheme the model predicts in, with their probabilities when asked (:class:`~bilstm_tagger.tagging.decoding.ProbabilityRequest`).
The network that scores the tags runs on torch or ONNX Runtime (:mod:`bilstm_tagger.tagging.engines`);
the rest is numpy, the same for both, and on whole batches (:mod:`bilstm_tagger.tagging.decoding`).
Training's dev evaluation and :class:`~bilstm_tagger.tagging.tagger.Tagger` both decode through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import reduce
from itertools import islice

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.schemes import Span
from bilstm_tagger.model.config import BUFFER_BATCHES, MAX_BATCH_TOKENS, MAX_SEGMENT_TOKENS, TAG_BATCH_SIZE
from bilstm_tagger.model.vocab import Vocab
from bilstm_tagger.tagging.decoding import PLAIN, Prediction, ProbabilityRequest, decode_batch
from bilstm_tagger.tagging.engines import EmissionNetwork
from bilstm_tagger.tagging.posteriors import merge_nbest
from bilstm_tagger.tagging.predictions import NBestPath
from bilstm_tagger.tagging.spans import SpanTables


def predict_tags(
    network: EmissionNetwork,
    vocab: Vocab,
    tables: SpanTables,
    sentences: Iterable[Sequence[str]],
    batch_size: int = TAG_BATCH_SIZE,
    buffer_batches: int = BUFFER_BATCHES,
    request: ProbabilityRequest = PLAIN,
) -> Iterator[tuple[Sequence[str], Prediction]]:
    """Yield each sentence with the model's :class:`Prediction` for it, in input order.

    ``batch_size * buffer_batches`` sentences are read ahead, sorted by length and tagged in
    batches (see :func:`tag_buffer`); empty sentences get an empty prediction.
    """
    check_batch_size(batch_size)
    iterator = iter(sentences)
    while buffer := list(islice(iterator, batch_size * buffer_batches)):
        yield from zip(buffer, tag_buffer(network, vocab, tables, buffer, batch_size, request))


def tag_buffer(
    network: EmissionNetwork,
    vocab: Vocab,
    tables: SpanTables,
    buffer: Sequence[Sequence[str]],
    batch_size: int = TAG_BATCH_SIZE,
    request: ProbabilityRequest = PLAIN,
) -> list[Prediction]:
    """Tag sentences in batches of at most ``batch_size`` sentences and ``MAX_BATCH_TOKENS`` padded tokens.

    ``tables`` are the model's tags (:class:`~bilstm_tagger.tagging.spans.SpanTables`). Sentences are
    sorted by length so that batches carry little padding; the result is in input order. Sentences
    longer than ``MAX_SEGMENT_TOKENS`` are tagged in consecutive pieces of that length, whose tags are
    joined: memory stays bounded whatever the input, and an entity that crosses a cut becomes two.
    Each piece's probabilities are its own; the n-best sequences of a long sentence are the best
    combinations of its pieces' n-best sequences.
    """
    # (length, sentence, first token) of each piece, shortest first
    segments = sorted(
        (min(MAX_SEGMENT_TOKENS, len(tokens) - start), index, start)
        for index, tokens in enumerate(buffer)
        for start in range(0, len(tokens), MAX_SEGMENT_TOKENS)
    )
    pieces: dict[tuple[int, int], Prediction] = {}
    for batch_segments in _batches(segments, batch_size):
        batch = vocab.arrays([buffer[index][start : start + length] for length, index, start in batch_segments])
        emissions = network.emissions(batch)  # (B, T, K)
        predictions = decode_batch(network.crf, emissions, batch.lengths, tables, request)
        for (_, index, start), prediction in zip(batch_segments, predictions):
            pieces[index, start] = prediction
    return [
        _join([pieces[index, start] for start in range(0, len(tokens), MAX_SEGMENT_TOKENS)], request.nbest)
        for index, tokens in enumerate(buffer)
    ]


def _join(pieces: list[Prediction], nbest: int) -> Prediction:
    """One prediction from those of a sentence's consecutive pieces (an empty one for an empty sentence)."""
    if len(pieces) <= 1:
        return pieces[0] if pieces else Prediction([], [])

    def joined(field: str) -> list | None:
        values = [getattr(piece, field) for piece in pieces]
        return None if values[0] is None else [item for value in values for item in value]

    spans = [
        Span(span.start + offset, span.end + offset, span.label)
        for offset, piece in zip(range(0, MAX_SEGMENT_TOKENS * len(pieces), MAX_SEGMENT_TOKENS), pieces)
        for span in piece.spans
    ]
    paths = None
    if pieces[0].nbest is not None:
        lists = [[(path.tags, path.probability) for path in piece.nbest or []] for piece in pieces]
        paths = [NBestPath(tags, p) for tags, p in reduce(lambda a, b: merge_nbest(a, b, nbest), lists)]
    return Prediction(joined("tags") or [], spans, joined("tag_scores"), joined("span_scores"), paths)


def _batches(segments: list[tuple[int, int, int]], batch_size: int) -> Iterator[list[tuple[int, int, int]]]:
    """Cut length-sorted segments into batches of at most ``batch_size`` and ``MAX_BATCH_TOKENS`` padded tokens."""
    batch: list[tuple[int, int, int]] = []
    for segment in segments:
        if batch and (len(batch) == batch_size or (len(batch) + 1) * segment[0] > MAX_BATCH_TOKENS):
            yield batch
            batch = []
        batch.append(segment)
    if batch:
        yield batch


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
