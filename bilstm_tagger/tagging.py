"""Tagging with a trained model: the :class:`Tagger` API, streaming files, and scoring a labelled corpus.

``tagger(text)`` and :meth:`Tagger.pipe` tag raw text into :class:`~bilstm_tagger.predictions.Document`
objects (entities with character offsets and confidences); :meth:`Tagger.tag` tags tokenised
sentences into :class:`~bilstm_tagger.predictions.TaggedSentence` objects.

:meth:`Tagger.tag_file` streams a file through the tagger (:mod:`bilstm_tagger.streaming`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, BinaryIO, Protocol, TextIO

from . import checkpoint
from .config import TAG_BATCH_SIZE
from .corpus import Sentence, corpus_name, read_corpus, resolve_format
from .decoding import Prediction, ProbabilityRequest, check_batch_size, predict_tags, tag_buffer
from .documents import TextInput, raw_text
from .errors import InputError
from .networks import EmissionNetwork, check_model_config, choose_engine, load_network
from .predictions import Document, TaggedSentence, tagged_sentence
from .schemes import detect_scheme, same_kind, tag_kind
from .vocab import Vocab

if TYPE_CHECKING:  # torch, seqeval and scikit-learn take seconds to import: tagging needs none of them
    from .analysis import ErrorAnalysis
    from .evaluation import EvaluationReport


class Tagger:
    """A trained model, ready to tag raw text or tokenised sentences.

    >>> tagger = Tagger.load("models/sample")                               # doctest: +SKIP
    >>> [(e.start, e.end, e.type, e.text) for e in tagger("Maria Lopez lives in Berlin.").entities]  # doctest: +SKIP
    [(0, 11, 'PER', 'Maria Lopez'), (21, 27, 'LOC', 'Berlin')]
    >>> [sentence] = tagger.tag([["Maria", "Lopez", "lives", "in", "Berlin"]])  # doctest: +SKIP
    >>> sentence.tags, sentence.spans                                        # doctest: +SKIP
    (['I-PER', 'I-PER', 'O', 'O', 'I-LOC'], [Span(start=0, end=2, label='PER'), Span(start=4, end=5, label='LOC')])

    Tags come back in the scheme of the data the model was trained on (``output_scheme``).

    Args:
        network: the network that scores the tags, on torch or ONNX Runtime (:mod:`bilstm_tagger.networks`).
        vocab: its vocabularies.
        tag_scheme: the scheme the model predicts in.
        output_scheme: the scheme tags are returned in.
        corpus_settings: how the training corpus was read (format, word and tag columns).
        temperature: the calibration temperature for probabilities (``calibration.json``).
        name: the model's name in messages and pages (its directory).
        engine_note: why ``engine="auto"`` did not take ONNX Runtime for a model that has a ``model.onnx``.
    """

    def __init__(
        self,
        network: EmissionNetwork,
        vocab: Vocab,
        tag_scheme: str,
        output_scheme: str,
        corpus_settings: dict | None = None,
        temperature: float = 1.0,
        name: str = "",
        engine_note: str | None = None,
    ):
        self.network = network
        self.temperature = temperature
        self.name = name
        self.corpus_settings = corpus_settings or {}
        self.vocab = vocab
        self.tag_scheme = tag_scheme
        self.output_scheme = output_scheme
        self.engine_note = engine_note

    @classmethod
    def load(
        cls, path: str | os.PathLike, device: str = "cpu", engine: str = "auto", threads: int | None = None
    ) -> Tagger:
        """Load a model directory written by ``tagger train``.

        Args:
            path: the model directory.
            device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
            engine: ``auto``, ``torch`` or ``onnx`` (see :mod:`bilstm_tagger.networks`).
            threads: CPU threads for the network (``None`` or 0: one per available core).

        Raises:
            InputError: not a model directory, a corrupted file, or an incompatible version.
        """
        info = checkpoint.load_info(path)
        vocab = Vocab.from_json(info.vocab)
        check_model_config(path, info)
        choice = choose_engine(path, engine, device)
        note = choice.reason
        try:
            network = load_network(path, info, vocab, choice.engine, device, threads)
        except InputError as error:
            if engine != "auto" or choice.engine != "onnx":
                raise
            note = str(error)  # a damaged or outdated model.onnx: torch still has the weights
            network = load_network(path, info, vocab, "torch", device, threads)
        temperature = checkpoint.load_temperature(path)
        return cls(network, vocab, info.tag_scheme, info.data_scheme, info.corpus, temperature, str(path), note)

    @property
    def engine(self) -> str:
        """``torch`` or ``onnx``: what runs the network."""
        return self.network.engine

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

    def request(self, confidence: bool = False, nbest: int = 0) -> ProbabilityRequest:
        """What to compute besides the best tags, with this model's temperature."""
        if nbest < 0:
            raise InputError(f"--nbest must be 0 or more, got {nbest}")
        return ProbabilityRequest(confidence, nbest, self.temperature)

    def __call__(self, text: str, confidence: bool = True, nbest: int = 0) -> Document:
        """Tag one raw text (any number of sentences): a :class:`Document` with offsets and confidences."""
        [document] = self.pipe([text], confidence=confidence, nbest=nbest)
        return document

    def pipe(
        self, texts: Iterable[str], batch_size: int = TAG_BATCH_SIZE, confidence: bool = True, nbest: int = 0
    ) -> Iterator[Document]:
        """Tag raw texts lazily, one :class:`Document` each, in order (``batch_size * 8`` texts read ahead)."""
        return self.tag_inputs((raw_text(text) for text in texts), batch_size, self.request(confidence, nbest))

    def tag_inputs(
        self, inputs: Iterable[TextInput], batch_size: int = TAG_BATCH_SIZE, request: ProbabilityRequest | None = None
    ) -> Iterator[Document]:
        """Tag :class:`~bilstm_tagger.documents.TextInput` records lazily, one :class:`Document` each, in order."""
        check_batch_size(batch_size)
        iterator = iter(inputs)
        while buffer := list(islice(iterator, batch_size * 8)):
            yield from self.documents(buffer, batch_size, request or self.request())

    def tag(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = TAG_BATCH_SIZE,
        confidence: bool = False,
        nbest: int = 0,
    ) -> list[TaggedSentence]:
        """Tag a list of tokenised sentences; one :class:`TaggedSentence` each, in ``output_scheme``.

        ``confidence`` fills ``scores`` and ``span_scores``; ``nbest`` fills ``nbest``.
        """
        return list(self.tag_stream(sentences, batch_size=batch_size, request=self.request(confidence, nbest)))

    def tag_stream(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = TAG_BATCH_SIZE,
        buffer_batches: int = 8,
        scheme: str | None = None,
        request: ProbabilityRequest | None = None,
    ) -> Iterator[TaggedSentence]:
        """Like :meth:`tag`, lazily: reads ``batch_size * buffer_batches`` sentences ahead at most.

        ``scheme`` writes the tags in another span scheme than ``output_scheme`` (a gold file's).
        """
        request = request or self.request()
        predictions = predict_tags(self.network, self.vocab, sentences, batch_size, buffer_batches, request)
        for tokens, prediction in predictions:
            yield self._tagged(tokens, prediction, scheme)

    def tag_file(self, stream: BinaryIO, name: str, output: TextIO, **options) -> int:
        """Tag a stream and write one record per input to ``output``; see :func:`bilstm_tagger.streaming.tag_file`."""
        from .streaming import tag_file

        return tag_file(self, stream, name, output, **options)

    def tag_buffers(self, buffers: Iterable[list[TextInput]], *options) -> Iterator[list[Document]]:
        """Each buffer's :meth:`documents` (``options``: its other arguments), read and tagged one after the other."""
        return (self.documents(buffer, *options) for buffer in buffers)

    def documents(
        self, buffer: list[TextInput], batch_size: int, request: ProbabilityRequest, min_confidence: float = 0.0
    ) -> list[Document]:
        """Tag the sentences of a buffer of texts together, and give each text its :class:`Document`.

        ``min_confidence`` drops the entities whose confidence is below it (their tokens become ``O``).
        """
        sentences = [item.sentence_tokens() for item in buffer]
        flat = [tokens for tokens_list in sentences for tokens in tokens_list]
        predictions = iter(tag_buffer(self.network, self.vocab, flat, batch_size, request))
        documents = []
        for item, tokens_list in zip(buffer, sentences):
            tagged = [
                self._tagged(tokens, next(predictions), offsets=offsets)
                for tokens, offsets in zip(tokens_list, item.sentences)
            ]
            if min_confidence > 0:
                tagged = [sentence.without_spans_below(min_confidence) for sentence in tagged]
            documents.append(Document(item.text, tagged))
        return documents

    def _tagged(
        self,
        tokens: Sequence[str],
        prediction: Prediction,
        scheme: str | None = None,
        offsets: list[tuple[int, int]] | None = None,
    ) -> TaggedSentence:
        return tagged_sentence(
            tokens,
            prediction.tags,
            self.tag_scheme,
            scheme or self.output_scheme,
            offsets=offsets,
            scores=prediction.tag_scores,
            spans=prediction.spans,
            span_scores=prediction.span_scores,
            nbest=prediction.nbest,
        )


class SentenceTagger(Protocol):
    """What scoring a labelled corpus needs of a tagger: :class:`Tagger` tags in this process,
    :class:`~bilstm_tagger.workers.TaggerPool` across worker processes."""

    @property
    def output_scheme(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    def column(self, role: str, corpus_format: str, given: str | int | None) -> str | int | None: ...

    def tag_stream(
        self, sentences: Iterable[Sequence[str]], batch_size: int = TAG_BATCH_SIZE, *, scheme: str | None = None
    ) -> Iterator[TaggedSentence]: ...


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
        from .analysis import analyse

        tokens, gold = [s.tokens for s in self.sentences], [s.tags for s in self.sentences]
        return analyse(tokens, gold, self.predicted_tags, self.scheme, max_examples)


def evaluate_file(
    tagger: SentenceTagger,
    path: str | os.PathLike,
    corpus_format: str = "auto",
    batch_size: int = TAG_BATCH_SIZE,
    **columns,
) -> Evaluation:
    """Read a labelled corpus (``-``: standard input) and score ``tagger`` on it (see :func:`evaluate_tagger`).

    ``columns``: ``word_column``, ``tag_column`` and ``encoding_errors``, read as :func:`read_labelled` says.
    """
    sentences, resolved = read_labelled(tagger, path, corpus_format, **columns)
    return evaluate_tagger(tagger, sentences, corpus_name(path), batch_size=batch_size, corpus_format=resolved)


def read_labelled(
    tagger: SentenceTagger,
    path: str | os.PathLike,
    corpus_format: str = "auto",
    word_column: str | None = None,
    tag_column: str | None = None,
    encoding_errors: str = "strict",
) -> tuple[list[Sentence], str]:
    """A labelled corpus (``-``: standard input) and its resolved format, read with the columns ``tagger``
    was trained with when the file has the training data's format and no column is given."""
    resolved = resolve_format(path, corpus_format)
    sentences = read_corpus(
        path,
        resolved,
        word_column=tagger.column("word", resolved, word_column),
        tag_column=tagger.column("tag", resolved, tag_column),
        encoding_errors=encoding_errors,
    )
    return sentences, resolved


def evaluate_tagger(
    tagger: SentenceTagger,
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
    from .evaluation import evaluate

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
