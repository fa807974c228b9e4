"""Tagging with a trained model: the :class:`Tagger` API, streaming files, and scoring a labelled corpus.

:meth:`Tagger.tag_file` reads its input in a background thread (:class:`~bilstm_tagger.readahead.ReadAhead`)
and tags whatever has arrived as soon as the reader would have to wait, so a slow pipe gets each
answer when its line is in, while a fast one gets full batches. Every result is a
:class:`~bilstm_tagger.predictions.TaggedSentence`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TextIO

import torch

from . import checkpoint
from .analysis import ErrorAnalysis, analyse
from .config import TAG_BATCH_SIZE, ModelConfig
from .corpus import (
    CORPUS_FORMATS,
    Sentence,
    corpus_name,
    iter_lines,
    iter_sentences,
    iter_text_sentences,
    read_corpus,
    resolve_format,
)
from .decoding import check_batch_size, predict_tags, tag_buffer
from .errors import InputError
from .evaluation import EvaluationReport, evaluate
from .formats import OUTPUT_FORMATS, format_record
from .model import BiLstmCrf, build_model
from .predictions import TaggedSentence, tagged_sentence
from .readahead import ReadAhead
from .runtime import resolve_device
from .schemes import detect_scheme, same_kind, tag_kind
from .vocab import Vocab


class Tagger:
    """A trained model, ready to tag tokenised sentences.

    >>> tagger = Tagger.load("models/sample")                               # doctest: +SKIP
    >>> [sentence] = tagger.tag([["Maria", "Lopez", "lives", "in", "Berlin"]])  # doctest: +SKIP
    >>> sentence.tags, sentence.spans                                        # doctest: +SKIP
    (['I-PER', 'I-PER', 'O', 'O', 'I-LOC'], [Span(start=0, end=2, label='PER'), Span(start=4, end=5, label='LOC')])

    Tags come back in the scheme of the data the model was trained on (``output_scheme``).

    Args:
        model: the network.
        vocab: its vocabularies.
        tag_scheme: the scheme the model predicts in.
        output_scheme: the scheme tags are returned in.
        device: where the model runs.
        corpus_settings: how the training corpus was read (format, word and tag columns).
    """

    def __init__(
        self,
        model: BiLstmCrf,
        vocab: Vocab,
        tag_scheme: str,
        output_scheme: str,
        device: torch.device | str = "cpu",
        corpus_settings: dict | None = None,
    ):
        self.model = model.to(device).eval()
        self.corpus_settings = corpus_settings or {}
        self.vocab = vocab
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
        vocab = Vocab.from_json(info.vocab)
        try:
            model = build_model(ModelConfig(**info.model), vocab, info.tag_scheme)
        except (TypeError, InputError) as error:
            message = error.message if isinstance(error, InputError) else str(error)
            raise InputError(
                f"bad model configuration: {message}", os.path.join(path, checkpoint.CONFIG_FILE)
            ) from None
        state = checkpoint.load_weights(path, device="cpu")
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[0]
            raise InputError(
                f"weights do not match {checkpoint.CONFIG_FILE} ({reason})", os.path.join(path, checkpoint.WEIGHTS_FILE)
            ) from None
        if vocab.extra_words:
            vectors = checkpoint.load_extra_word_vectors(path)
            if tuple(vectors.shape) != tuple(model.extra_word_vectors.shape):
                raise InputError(
                    f"pretrained vectors of shape {tuple(vectors.shape)} do not match vocab.json",
                    os.path.join(path, checkpoint.PRETRAINED_FILE),
                )
            model.extra_word_vectors = vectors.to(torch.float16)
        return cls(model, vocab, info.tag_scheme, info.data_scheme, resolved, info.corpus)

    def column(self, role: str, corpus_format: str, given: str | int | None) -> str | int | None:
        """``given``, or else the ``word``/``tag`` column the model was trained with, if ``corpus_format`` is
        the training data's (``None`` then means the format's default)."""
        if given is not None or self.corpus_settings.get("format") != corpus_format:
            return given
        return self.corpus_settings.get(f"{role}_column")

    @property
    def labels(self) -> list[str]:
        """The tags the model predicts, in its own tag scheme."""
        return list(self.vocab.tags.itos)

    def tag(self, sentences: Iterable[Sequence[str]], batch_size: int = TAG_BATCH_SIZE) -> list[TaggedSentence]:
        """Tag a list of tokenised sentences; one :class:`TaggedSentence` each, in ``output_scheme``."""
        return list(self.tag_stream(sentences, batch_size=batch_size))

    def tag_stream(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = TAG_BATCH_SIZE,
        buffer_batches: int = 8,
        scheme: str | None = None,
    ) -> Iterator[TaggedSentence]:
        """Like :meth:`tag`, lazily: reads ``batch_size * buffer_batches`` sentences ahead at most.

        ``scheme`` writes the tags in another span scheme than ``output_scheme`` (a gold file's).
        """
        scheme = scheme or self.output_scheme
        for tokens, tags in predict_tags(self.model, self.vocab, sentences, self.device, batch_size, buffer_batches):
            yield tagged_sentence(tokens, tags, self.tag_scheme, scheme)

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
        check_batch_size(batch_size)
        if output_format not in OUTPUT_FORMATS:
            raise InputError(f"unknown output format {output_format!r} (choose {', '.join(OUTPUT_FORMATS)})")
        if input_format not in ("text", *CORPUS_FORMATS):
            raise InputError(f"unknown input format {input_format!r} (choose text, {', '.join(CORPUS_FORMATS)})")
        lines = iter_lines(stream, name, encoding_errors)
        if input_format == "text":
            sentences: Iterator[Sentence] = iter_text_sentences(lines)
        else:
            word_column = self.column("word", input_format, word_column)
            sentences = iter_sentences(lines, name, input_format, word_column=word_column, with_tags=False)
        source = ReadAhead(sentences, capacity=batch_size * 16)
        written = 0
        while buffer := source.take(batch_size * 8):
            tags_list = tag_buffer(self.model, self.vocab, [s.tokens for s in buffer], self.device, batch_size)
            for sentence, tags in zip(buffer, tags_list):
                tagged = tagged_sentence(sentence.tokens, tags, self.tag_scheme, self.output_scheme)
                output.write(format_record(output_format, tagged))
            output.flush()
            written += len(buffer)
        return written


@dataclass(frozen=True)
class Evaluation:
    """A model scored on labelled sentences: the report, the sentences and the predictions.

    ``predicted`` are in ``scheme``, the gold tags' own; ``corpus_format`` is the format the file
    was read as.
    """

    report: EvaluationReport
    sentences: list[Sentence]
    predicted: list[TaggedSentence]
    scheme: str
    corpus_format: str = "conll"

    @property
    def predicted_tags(self) -> list[list[str]]:
        return [sentence.tags for sentence in self.predicted]

    def analyse(self, max_examples: int = 10) -> ErrorAnalysis:
        """The errors of the predictions: classes, confusion matrix, most frequent examples."""
        tokens, gold = [s.tokens for s in self.sentences], [s.tags for s in self.sentences]
        return analyse(tokens, gold, self.predicted_tags, self.scheme, max_examples)


def evaluate_file(
    tagger: Tagger,
    path: str | os.PathLike,
    corpus_format: str = "auto",
    word_column: str | None = None,
    tag_column: str | None = None,
    encoding_errors: str = "strict",
    batch_size: int = TAG_BATCH_SIZE,
) -> Evaluation:
    """Read a labelled corpus (``-``: standard input) and score ``tagger`` on it (see :func:`evaluate_tagger`).

    The word and tag columns default to the ones the model was trained with, when the file has
    the training data's format.
    """
    resolved = resolve_format(path, corpus_format)
    sentences = read_corpus(
        path,
        resolved,
        word_column=tagger.column("word", resolved, word_column),
        tag_column=tagger.column("tag", resolved, tag_column),
        encoding_errors=encoding_errors,
    )
    return evaluate_tagger(tagger, sentences, corpus_name(path), batch_size=batch_size, corpus_format=resolved)


def evaluate_tagger(
    tagger: Tagger,
    sentences: list[Sentence],
    name: str | os.PathLike,
    batch_size: int = TAG_BATCH_SIZE,
    corpus_format: str = "conll",
) -> Evaluation:
    """Tag labelled ``sentences`` and score the result.

    Predictions are written in the gold tags' own scheme, which is the one they are scored and
    returned in (for ``--output-predictions``). ``name`` names the data in messages.

    Raises:
        InputError: span tags in the data for a model of plain tags, or the other way round.
    """
    gold = [s.tags for s in sentences]
    gold_scheme = detect_scheme(gold)
    if not same_kind(gold_scheme, tagger.output_scheme):
        raise InputError(
            f"the model predicts {tag_kind(tagger.output_scheme)} but this file has {tag_kind(gold_scheme)}; "
            "wrong --tag-column?",
            name,
        )
    predicted = list(tagger.tag_stream((s.tokens for s in sentences), batch_size=batch_size, scheme=gold_scheme))
    report = evaluate(gold, [p.tags for p in predicted], gold_scheme, known_labels=tagger.labels)
    return Evaluation(report, sentences, predicted, gold_scheme, corpus_format)
