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

import numpy as np

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.schemes import Span
from bilstm_tagger.model.config import BUFFER_BATCHES, MAX_BATCH_TOKENS, MAX_SEGMENT_TOKENS, TAG_BATCH_SIZE
from bilstm_tagger.model.context import Window, pack_windows
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
    documents: Iterable[int] | None = None,
) -> Iterator[tuple[Sequence[str], Prediction]]:
    """Yield each sentence with the model's :class:`Prediction` for it, in input order.

    ``batch_size * buffer_batches`` sentences are read ahead, sorted by length and tagged in
    batches (see :func:`tag_buffer`); empty sentences get an empty prediction. ``documents``
    gives each sentence's document, for a model with document context.
    """
    check_batch_size(batch_size)
    iterator = iter(sentences)
    keys = iter(documents) if documents is not None else None
    size = batch_size * buffer_batches
    while buffer := list(islice(iterator, size)):
        buffer_keys = list(islice(keys, len(buffer))) if keys is not None else None
        yield from zip(buffer, tag_buffer(network, vocab, tables, buffer, batch_size, request, buffer_keys))


def tag_buffer(
    network: EmissionNetwork,
    vocab: Vocab,
    tables: SpanTables,
    buffer: Sequence[Sequence[str]],
    batch_size: int = TAG_BATCH_SIZE,
    request: ProbabilityRequest = PLAIN,
    documents: Sequence[int] | None = None,
) -> list[Prediction]:
    """Tag sentences in batches of at most ``batch_size`` sequences and ``MAX_BATCH_TOKENS`` padded tokens.

    ``tables`` are the model's tags (:class:`~bilstm_tagger.tagging.spans.SpanTables`). Sequences are
    sorted by length so that batches carry little padding; the result is in input order. Sentences
    longer than ``MAX_SEGMENT_TOKENS`` are tagged in consecutive pieces of that length, whose tags are
    joined: memory stays bounded whatever the input, and an entity that crosses a cut becomes two.
    Each piece's probabilities are its own; the n-best sequences of a long sentence are the best
    combinations of its pieces' n-best sequences.

    A network with document context (``network.context_tokens``) reads consecutive pieces of one
    document (``documents``: each sentence's) as one window (:mod:`bilstm_tagger.model.context`);
    each piece is still decoded alone. Without ``documents`` every sentence is its own document.
    """
    # (sentence, first token, length) of each piece, in input order
    pieces = [
        (index, start, min(MAX_SEGMENT_TOKENS, len(tokens) - start))
        for index, tokens in enumerate(buffer)
        for start in range(0, len(tokens), MAX_SEGMENT_TOKENS)
    ]
    lengths = [length for _, _, length in pieces]
    if network.context_tokens and documents is not None:
        windows = pack_windows(lengths, [documents[index] for index, _, _ in pieces], network.context_tokens)
    else:
        windows = [Window((number,), (0,), length) for number, length in enumerate(lengths)]
    predicted: dict[tuple[int, int], Prediction] = {}
    for batch_windows in _batches(sorted(windows, key=lambda window: (window.length, window.members)), batch_size):
        members = [member for window in batch_windows for member in window.members]
        batch = vocab.arrays(
            [
                [
                    token
                    for index, start, length in map(pieces.__getitem__, window.members)
                    for token in buffer[index][start : start + length]
                ]
                for window in batch_windows
            ]
        )
        emissions = network.emissions(batch)  # (windows, T, K)
        if len(members) == len(batch_windows):  # a piece per window
            predictions = decode_batch(network.crf, emissions, batch.lengths, tables, request)
        else:
            member_emissions, member_lengths = _member_emissions(emissions, batch_windows, lengths)
            predictions = decode_batch(network.crf, member_emissions, member_lengths, tables, request)
        for member, prediction in zip(members, predictions):
            predicted[pieces[member][:2]] = prediction
    return [
        _join([predicted[index, start] for start in range(0, len(tokens), MAX_SEGMENT_TOKENS)], request.nbest)
        for index, tokens in enumerate(buffer)
    ]


def _member_emissions(
    emissions: np.ndarray, windows: Sequence[Window], lengths: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Each window member's rows of its window's ``(W, T, K)`` emissions: ``(M, T', K)`` and ``(M,)`` lengths."""
    rows = [
        (row, start, lengths[member])
        for row, window in enumerate(windows)
        for member, start in zip(window.members, window.starts)
    ]
    member_lengths = np.array([length for _, _, length in rows], dtype=np.int64)
    member_rows = np.repeat(np.arange(len(rows)), member_lengths)
    positions = np.concatenate([np.arange(length) for length in member_lengths.tolist()])
    window_rows = np.repeat(np.array([row for row, _, _ in rows]), member_lengths)
    window_positions = positions + np.repeat(np.array([start for _, start, _ in rows]), member_lengths)
    gathered = np.zeros((len(rows), int(member_lengths.max()), emissions.shape[2]), dtype=emissions.dtype)
    gathered[member_rows, positions] = emissions[window_rows, window_positions]
    return gathered, member_lengths


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


def _batches(windows: list[Window], batch_size: int) -> Iterator[list[Window]]:
    """Cut length-sorted windows into batches of at most ``batch_size`` and ``MAX_BATCH_TOKENS`` padded tokens."""
    batch: list[Window] = []
    for window in windows:
        if batch and (len(batch) == batch_size or (len(batch) + 1) * window.length > MAX_BATCH_TOKENS):
            yield batch
            batch = []
        batch.append(window)
    if batch:
        yield batch


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
