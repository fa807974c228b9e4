"""Running a network over many sentences: sorted batches, bounded memory, input order kept.

Sentences are read a buffer at a time, sorted by length inside the buffer so that batches carry
little padding, decoded batch by batch, and given back in input order, as tag lists in the
scheme the model predicts in. Training's dev evaluation and :class:`~bilstm_tagger.tagging.Tagger`
both decode through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import torch

from .config import MAX_BATCH_TOKENS, MAX_SEGMENT_TOKENS, TAG_BATCH_SIZE
from .errors import InputError
from .model import BiLstmCrf
from .vocab import Vocab


def predict_tags(
    model: BiLstmCrf,
    vocab: Vocab,
    sentences: Iterable[Sequence[str]],
    device: torch.device | str = "cpu",
    batch_size: int = TAG_BATCH_SIZE,
    buffer_batches: int = 8,
) -> Iterator[tuple[Sequence[str], list[str]]]:
    """Yield each sentence with the model's tags for it (in its own tag scheme), in input order.

    ``batch_size * buffer_batches`` sentences are read ahead, sorted by length and tagged in
    batches (see :func:`tag_buffer`); empty sentences get an empty list.
    """
    check_batch_size(batch_size)
    iterator = iter(sentences)
    while buffer := list(islice(iterator, batch_size * buffer_batches)):
        yield from zip(buffer, tag_buffer(model, vocab, buffer, device, batch_size))


def tag_buffer(
    model: BiLstmCrf,
    vocab: Vocab,
    buffer: Sequence[Sequence[str]],
    device: torch.device | str = "cpu",
    batch_size: int = TAG_BATCH_SIZE,
) -> list[list[str]]:
    """Tag sentences in batches of at most ``batch_size`` sentences and ``MAX_BATCH_TOKENS`` padded tokens.

    Sentences are sorted by length so that batches carry little padding; the result is in input
    order. Sentences longer than ``MAX_SEGMENT_TOKENS`` are tagged in consecutive pieces of that
    length, whose tags are joined: memory stays bounded whatever the input, and an entity that
    crosses a cut becomes two.
    """
    model.eval()
    # (length, sentence, first token) of each piece, shortest first
    segments = sorted(
        (min(MAX_SEGMENT_TOKENS, len(tokens) - start), index, start)
        for index, tokens in enumerate(buffer)
        for start in range(0, len(tokens), MAX_SEGMENT_TOKENS)
    )
    segment_tags: dict[tuple[int, int], list[str]] = {}
    with torch.inference_mode():
        for batch_segments in _batches(segments, batch_size):
            pieces = [buffer[index][start : start + length] for length, index, start in batch_segments]
            batch = vocab.encode(pieces, device=device)
            for (_, index, start), tag_ids in zip(batch_segments, model.decode(batch)):
                segment_tags[index, start] = [vocab.tags.itos[tag_id] for tag_id in tag_ids]
    return [
        [tag for start in range(0, len(tokens), MAX_SEGMENT_TOKENS) for tag in segment_tags[index, start]]
        for index, tokens in enumerate(buffer)
    ]


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
