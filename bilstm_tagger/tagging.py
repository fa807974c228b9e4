"""Tagging with a trained model: the :class:`Tagger` API and the output formats.

Sentences are tagged as a stream: they are read a buffer at a time, sorted by length inside the
buffer so that batches carry little padding, tagged batch by batch, and given back in input
order, so output for early sentences appears while later input is still being read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import torch

from . import checkpoint
from .model import BiLstmCrf, ModelConfig, resolve_device
from .schemes import allowed_transitions, convert, tags_to_spans
from .vocab import Encoder

OUTPUT_FORMATS: tuple[str, ...] = ("conll", "inline", "jsonl")


def predict_tags(
    model: BiLstmCrf,
    encoder: Encoder,
    sentences: Iterable[Sequence[str]],
    device: torch.device | str = "cpu",
    batch_size: int = 128,
    buffer_batches: int = 8,
) -> Iterator[list[str]]:
    """Yield the model's tags (in its own tag scheme) for each sentence, in input order.

    ``batch_size * buffer_batches`` sentences are read ahead, sorted by length and tagged in
    batches of ``batch_size``; empty sentences get an empty list.
    """
    model.eval()
    iterator = iter(sentences)
    while buffer := list(islice(iterator, batch_size * buffer_batches)):
        results: list[list[str]] = [[] for _ in buffer]
        order = sorted((i for i, tokens in enumerate(buffer) if tokens), key=lambda i: len(buffer[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                indices = order[start : start + batch_size]
                batch = encoder.encode([buffer[i] for i in indices], device=device)
                for index, tag_ids in zip(indices, model.decode(batch)):
                    results[index] = [encoder.tags.itos[tag_id] for tag_id in tag_ids]
        yield from results


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
        from .errors import InputError

        info = checkpoint.load_info(path)
        resolved = resolve_device(device)
        encoder = Encoder.from_json(info.vocab)
        try:
            config = ModelConfig(**info.model)
        except TypeError as error:
            raise InputError(f"bad model configuration: {error}", os.path.join(path, checkpoint.CONFIG_FILE)) from None
        tags = encoder.tags.itos
        model = BiLstmCrf(
            config, len(encoder.words), len(encoder.chars), len(tags), allowed_transitions(tags, info.tag_scheme)
        )
        state = checkpoint.load_weights(path, device="cpu")
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[0]
            raise InputError(
                f"weights do not match {checkpoint.CONFIG_FILE} ({reason})", os.path.join(path, checkpoint.WEIGHTS_FILE)
            ) from None
        return cls(model, encoder, info.tag_scheme, info.data_scheme, resolved, info.corpus)

    @property
    def labels(self) -> list[str]:
        """The tags the model predicts, in its own tag scheme."""
        return list(self.encoder.tags.itos)

    def tag(self, sentences: Iterable[Sequence[str]], batch_size: int = 128) -> list[list[str]]:
        """Tag a list of tokenised sentences; one tag list per sentence, in ``output_scheme``."""
        return list(self.tag_stream(sentences, batch_size=batch_size))

    def tag_stream(
        self, sentences: Iterable[Sequence[str]], batch_size: int = 128, buffer_batches: int = 8
    ) -> Iterator[list[str]]:
        """Like :meth:`tag`, lazily: reads ``batch_size * buffer_batches`` sentences ahead at most."""
        for tags in predict_tags(self.model, self.encoder, sentences, self.device, batch_size, buffer_batches):
            yield convert(tags, self.tag_scheme, self.output_scheme) if tags else tags


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
