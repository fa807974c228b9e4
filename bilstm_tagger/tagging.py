"""Tagging with a trained model: the :class:`Tagger` API, streaming, and the output formats.

Sentences are tagged as a stream: they are read a buffer at a time, sorted by length inside the
buffer so that batches carry little padding, tagged batch by batch, and given back in input
order. :meth:`Tagger.tag_file` reads its input in a background thread and tags whatever has
arrived as soon as the reader would have to wait, so a slow pipe gets each answer when its line
is in, while a fast one gets full batches.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import BinaryIO, TextIO

import torch

from . import checkpoint
from .corpus import Sentence, iter_lines, iter_sentences, iter_text_sentences
from .errors import InputError
from .model import BiLstmCrf, ModelConfig, resolve_device
from .schemes import allowed_transitions, convert, tags_to_spans
from .vocab import Encoder

TAG_BATCH_SIZE = 256  # sentences per batch when tagging: measured fastest on 2 cores (benchmarks/README.md)
MAX_SEGMENT_TOKENS = 500  # longer sentences are tagged (and trained on) in pieces of this length
MAX_BATCH_TOKENS = 16_384  # padded tokens per batch when tagging, to bound memory


def predict_tags(
    model: BiLstmCrf,
    encoder: Encoder,
    sentences: Iterable[Sequence[str]],
    device: torch.device | str = "cpu",
    batch_size: int = TAG_BATCH_SIZE,
    buffer_batches: int = 8,
) -> Iterator[list[str]]:
    """Yield the model's tags (in its own tag scheme) for each sentence, in input order.

    ``batch_size * buffer_batches`` sentences are read ahead, sorted by length and tagged in
    batches (see :func:`tag_buffer`); empty sentences get an empty list.
    """
    _check_batch_size(batch_size)
    iterator = iter(sentences)
    while buffer := list(islice(iterator, batch_size * buffer_batches)):
        yield from tag_buffer(model, encoder, buffer, device, batch_size)


def tag_buffer(
    model: BiLstmCrf,
    encoder: Encoder,
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
            batch = encoder.encode(pieces, device=device)
            for (_, index, start), tag_ids in zip(batch_segments, model.decode(batch)):
                segment_tags[index, start] = [encoder.tags.itos[tag_id] for tag_id in tag_ids]
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


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")


class Tagger:
    """A trained model, ready to tag tokenised sentences.

    >>> tagger = Tagger.load("models/sample")                            # doctest: +SKIP
    >>> tagger.tag([["Maria", "Lopez", "lives", "in", "Berlin", "."]])    # doctest: +SKIP
    [['I-PER', 'I-PER', 'O', 'O', 'I-LOC', 'O']]

    Tags come back in the scheme of the data the model was trained on (``output_scheme``).

    Args:
        model: the network.
        encoder: its vocabularies.
        tag_scheme: the scheme the model predicts in.
        output_scheme: the scheme tags are returned in.
        device: where the model runs.
        corpus_settings: how the training corpus was read (format, word and tag columns).
    """

    def __init__(
        self,
        model: BiLstmCrf,
        encoder: Encoder,
        tag_scheme: str,
        output_scheme: str,
        device: torch.device | str = "cpu",
        corpus_settings: dict | None = None,
    ):
        self.model = model.to(device).eval()
        self.corpus_settings = corpus_settings or {}
        self.encoder = encoder
        self.tag_scheme = tag_scheme
        self.output_scheme = output_scheme
        self.device = torch.device(device)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> Tagger:
        """Load a model directory written by ``tagger train``.

        Args:
            path: the model directory.
            device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

        Raises:
            InputError: not a model directory, a corrupted file, or an incompatible version.
        """
        info = checkpoint.load_info(path)
        resolved = resolve_device(device)
        encoder = Encoder.from_json(info.vocab)
        try:
            config = ModelConfig(**info.model)
        except TypeError as error:
            raise InputError(f"bad model configuration: {error}", os.path.join(path, checkpoint.CONFIG_FILE)) from None
        tags = encoder.tags.itos
        model = BiLstmCrf(
            config,
            len(encoder.words),
            len(encoder.chars),
            len(tags),
            allowed_transitions(tags, info.tag_scheme),
            num_extra_words=len(encoder.extra_words),
        )
        state = checkpoint.load_weights(path, device="cpu")
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[0]
            raise InputError(
                f"weights do not match {checkpoint.CONFIG_FILE} ({reason})", os.path.join(path, checkpoint.WEIGHTS_FILE)
            ) from None
        if encoder.extra_words:
            vectors = checkpoint.load_extra_word_vectors(path)
            if tuple(vectors.shape) != tuple(model.extra_word_vectors.shape):
                raise InputError(
                    f"pretrained vectors of shape {tuple(vectors.shape)} do not match vocab.json",
                    os.path.join(path, checkpoint.PRETRAINED_FILE),
                )
            model.extra_word_vectors = vectors.to(torch.float16)
        return cls(model, encoder, info.tag_scheme, info.data_scheme, resolved, info.corpus)

    def column(self, role: str, corpus_format: str, given: str | int | None) -> str | int | None:
        """``given``, or else the ``word``/``tag`` column the model was trained with, if ``corpus_format`` is
        the training data's (``None`` then means the format's default)."""
        if given is not None or self.corpus_settings.get("format") != corpus_format:
            return given
        return self.corpus_settings.get(f"{role}_column")

    @property
    def labels(self) -> list[str]:
        """The tags the model predicts, in its own tag scheme."""
        return list(self.encoder.tags.itos)

    def tag(self, sentences: Iterable[Sequence[str]], batch_size: int = TAG_BATCH_SIZE) -> list[list[str]]:
        """Tag a list of tokenised sentences; one tag list per sentence, in ``output_scheme``."""
        return list(self.tag_stream(sentences, batch_size=batch_size))

    def tag_stream(
        self, sentences: Iterable[Sequence[str]], batch_size: int = TAG_BATCH_SIZE, buffer_batches: int = 8
    ) -> Iterator[list[str]]:
        """Like :meth:`tag`, lazily: reads ``batch_size * buffer_batches`` sentences ahead at most."""
        for tags in predict_tags(self.model, self.encoder, sentences, self.device, batch_size, buffer_batches):
            yield self._to_output_scheme(tags)

    def tag_file(
        self,
        stream: BinaryIO,
        name: str,
        output: TextIO,
        output_format: str = "conll",
        input_format: str = "text",
        word_column: str | int | None = None,
        encoding_errors: str = "strict",
        batch_size: int = TAG_BATCH_SIZE,
    ) -> int:
        """Tag a text, CoNLL or CoNLL-U stream and write one record per sentence to ``output``.

        Text input gives one record per line, an empty one for an empty line. Records are written
        and flushed a buffer at a time, as soon as the input would make us wait. If the input turns
        out malformed, the records of the sentences before the bad line are written first, then
        the :class:`InputError` is raised. Returns the number of records written.
        """
        _check_batch_size(batch_size)
        lines = iter_lines(stream, name, encoding_errors)
        if input_format == "text":
            sentences: Iterator[Sentence] = iter_text_sentences(lines)
        else:
            word_column = self.column("word", input_format, word_column)
            sentences = iter_sentences(lines, name, input_format, word_column=word_column, with_tags=False)
        source = ReadAhead(sentences, capacity=batch_size * 16)
        written = 0
        while buffer := source.take(batch_size * 8):
            tags_list = tag_buffer(self.model, self.encoder, [s.tokens for s in buffer], self.device, batch_size)
            for sentence, tags in zip(buffer, tags_list):
                output.write(
                    format_record(output_format, sentence.tokens, self._to_output_scheme(tags), self.output_scheme)
                )
            output.flush()
            written += len(buffer)
        return written

    def _to_output_scheme(self, tags: list[str]) -> list[str]:
        return convert(tags, self.tag_scheme, self.output_scheme) if tags else tags


class ReadAhead:
    """Runs an iterator in a background thread; :meth:`take` returns whatever has arrived.

    The queue between the two is bounded (``capacity`` items), so memory stays bounded however
    long the input. An exception raised by the iterator reaches the consumer after the items that
    came before it.
    """

    _END = object()

    def __init__(self, iterable: Iterable, capacity: int = 4096):
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._pending_error: BaseException | None = None
        self._finished = False
        threading.Thread(target=self._produce, args=(iter(iterable),), daemon=True).start()

    def _produce(self, iterator: Iterator) -> None:
        try:
            for item in iterator:
                self._queue.put(item)
        except BaseException as error:  # handed over to the consumer's thread
            self._queue.put(_Failure(error))
        else:
            self._queue.put(self._END)

    def take(self, limit: int) -> list:
        """Wait for one item, then return it with the others already there, ``limit`` at most.

        Returns an empty list once the input is exhausted; raises the iterator's exception (after
        the items read before it have been returned).
        """
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            raise error
        if self._finished:
            return []
        items: list = []
        item = self._queue.get()
        while True:
            if item is self._END or isinstance(item, _Failure):
                self._finished = True
                if isinstance(item, _Failure):
                    if not items:
                        raise item.error
                    self._pending_error = item.error
                return items
            items.append(item)
            if len(items) >= limit:
                return items
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


# ---------------------------------------------------------------------------------------------
# Output formats: each returns one whole record, ending with a newline.


def format_record(output_format: str, tokens: Sequence[str], tags: Sequence[str], scheme: str) -> str:
    """One sentence in ``conll``, ``inline`` or ``jsonl`` form (see the README for examples)."""
    if output_format == "conll":
        return "".join(f"{token}\t{tag}\n" for token, tag in zip(tokens, tags)) + "\n"
    if output_format == "inline":
        return format_inline(tokens, tags, scheme) + "\n"
    if output_format == "jsonl":
        return (
            json.dumps(
                {"tokens": list(tokens), "tags": list(tags), "spans": _span_objects(tokens, tags, scheme)},
                ensure_ascii=False,
            )
            + "\n"
        )
    raise ValueError(f"unknown output format {output_format!r}")


def format_inline(tokens: Sequence[str], tags: Sequence[str], scheme: str) -> str:
    """``[PER John Smith] lives in [LOC Paris] .`` for span tags, ``John/NOUN lives/VERB`` for plain ones."""
    if scheme == "plain":
        return " ".join(f"{token}/{tag}" for token, tag in zip(tokens, tags))
    pieces: list[str] = []
    position = 0
    for start, end, label in tags_to_spans(list(tags)):
        pieces.extend(tokens[position:start])
        pieces.append(f"[{label} {' '.join(tokens[start:end])}]")
        position = end
    pieces.extend(tokens[position:])
    return " ".join(pieces)


def _span_objects(tokens: Sequence[str], tags: Sequence[str], scheme: str) -> list[dict]:
    """Entities as ``{"start", "end", "type", "text"}``; ``end`` is exclusive, as in Python slices."""
    if scheme == "plain":
        return []
    return [
        {"start": start, "end": end, "type": label, "text": " ".join(tokens[start:end])}
        for start, end, label in tags_to_spans(list(tags))
    ]
