"""Tagging with a trained model: the public :class:`Tagger`, and the :class:`LoadedModel` behind it.

:class:`Tagger` is the Python API, one way per kind of input: ``tagger(text)`` and
:meth:`Tagger.pipe` tag raw text into :class:`~bilstm_tagger.tagging.predictions.Document` objects
(entities with character offsets and confidences); :meth:`Tagger.tag` tags pre-tokenised
sentences into :class:`~bilstm_tagger.tagging.predictions.TaggedSentence` objects;
:meth:`Tagger.tag_file` streams a file through the tagger (:mod:`bilstm_tagger.tagging.streaming`).

:class:`LoadedModel` tags *buffers*: the unit that the streaming loop, the worker processes
(:mod:`bilstm_tagger.tagging.workers`), the server and the scoring of a labelled file share.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import BinaryIO, TextIO

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model import checkpoint, packages
from bilstm_tagger.model.config import BUFFER_BATCHES, TAG_BATCH_SIZE
from bilstm_tagger.model.context import document_keys
from bilstm_tagger.model.trained import check_model_config
from bilstm_tagger.model.vocab import Vocab
from bilstm_tagger.tagging.batches import check_batch_size, predict_tags, tag_buffer
from bilstm_tagger.tagging.decoding import Prediction, ProbabilityRequest
from bilstm_tagger.tagging.engines import EmissionNetwork, choose_engine, load_network
from bilstm_tagger.tagging.predictions import Document, TaggedSentence, tagged_sentence
from bilstm_tagger.tagging.spans import SpanTables
from bilstm_tagger.text.corpus import CorpusReading
from bilstm_tagger.text.documents import TextInput, raw_text
from bilstm_tagger.text.languages import check_language


class Tagger:
    """A trained model, ready to tag raw text, pre-tokenised sentences or files.

    >>> tagger = Tagger.load("models/sample")                               # doctest: +SKIP
    >>> [(e.start, e.end, e.type, e.text) for e in tagger("Maria Lopez lives in Berlin.").entities]  # doctest: +SKIP
    [(0, 11, 'PER', 'Maria Lopez'), (21, 27, 'LOC', 'Berlin')]
    >>> [sentence] = tagger.tag([["Maria", "Lopez", "lives", "in", "Berlin"]])  # doctest: +SKIP
    >>> sentence.tags, sentence.spans                                        # doctest: +SKIP
    (['I-PER', 'I-PER', 'O', 'O', 'I-LOC'], [Span(start=0, end=2, label='PER'), Span(start=4, end=5, label='LOC')])

    Tags come back in the scheme of the data the model was trained on (:attr:`output_scheme`).

    Args:
        model: the loaded model (:meth:`load` makes one from a model directory).
    """

    def __init__(self, model: LoadedModel):
        self.model = model

    @classmethod
    def load(
        cls, path: str | os.PathLike, device: str = "cpu", engine: str = "auto", threads: int | None = None
    ) -> Tagger:
        """Load a model directory written by ``tagger train``, or an installed model package by name.

        Args:
            path: the model directory, or the name of a package ``tagger package`` built and pip installed.
            device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
            engine: ``auto``, ``torch`` or ``onnx`` (see :mod:`bilstm_tagger.tagging.engines`).
            threads: CPU threads for the network (``None`` or 0: one per available core).

        Raises:
            InputError: not a model directory, a corrupted file, or an incompatible version.
        """
        return cls(LoadedModel.load(path, device, engine, threads))

    @property
    def engine(self) -> str:
        """``torch`` or ``onnx``: what runs the network."""
        return self.model.engine

    @property
    def labels(self) -> list[str]:
        """The tags the model predicts, in its own tag scheme."""
        return self.model.labels

    @property
    def output_scheme(self) -> str:
        """The scheme tags are returned in: the training data's."""
        return self.model.output_scheme

    @property
    def context(self) -> str:
        """``sentence``, or ``document``: the model reads the sentences of a document together
        (each text of :meth:`pipe`, the sentences of :meth:`tag` with ``document=True``)."""
        return "document" if self.model.network.context_tokens else "sentence"

    @property
    def language(self) -> str:
        """The language the model was trained in (``tagger train --language``): raw text is split by its rules."""
        return self.model.reading.text_language

    def __call__(self, text: str, confidence: bool = True, nbest: int = 0, language: str | None = None) -> Document:
        """Tag one raw text (any number of sentences): a :class:`Document` with offsets and confidences."""
        [document] = self.pipe([text], confidence=confidence, nbest=nbest, language=language)
        return document

    def pipe(
        self,
        texts: Iterable[str],
        batch_size: int = TAG_BATCH_SIZE,
        confidence: bool = True,
        nbest: int = 0,
        min_confidence: float = 0.0,
        language: str | None = None,
    ) -> Iterator[Document]:
        """Tag raw texts lazily, one :class:`Document` each, in order; each text is a document of its own.

        ``batch_size * BUFFER_BATCHES`` texts are read ahead and tagged together.
        ``min_confidence`` drops the entities whose confidence is below it (their tokens become ``O``).
        ``language`` splits the texts by the rules of another language than the model's (:attr:`language`).

        Raises:
            InputError: a language whose rules are not shipped.
        """
        check_batch_size(batch_size)
        request = self.model.request(confidence, nbest)
        language = check_language(language) if language is not None else self.language
        inputs = (raw_text(text, language) for text in texts)
        buffers = iter(lambda: list(islice(inputs, batch_size * BUFFER_BATCHES)), [])
        documents = self.model.tag_buffers(buffers, batch_size, request, min_confidence)
        return (document for buffer in documents for document in buffer)

    def tag(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = TAG_BATCH_SIZE,
        confidence: bool = False,
        nbest: int = 0,
        document: bool = False,
    ) -> list[TaggedSentence]:
        """Tag pre-tokenised sentences; one :class:`TaggedSentence` each, in :attr:`output_scheme`.

        ``confidence`` fills ``scores`` and ``span_scores``; ``nbest`` fills ``nbest``. ``document``:
        the sentences are one document, in order, which a model with document context reads
        together (:attr:`context`); otherwise each sentence is read alone.
        """
        request = self.model.request(confidence, nbest)
        sentences = list(sentences)
        documents = [1] * len(sentences) if document else None
        return list(self.model.tag_sentences(sentences, batch_size, request=request, documents=documents))

    def tag_file(self, stream: BinaryIO, name: str, output: TextIO, **options) -> int:
        """Tag a stream and write one record per input to ``output``; the options are those of
        :func:`bilstm_tagger.tagging.streaming.tag_file`. Returns the number of records written."""
        from bilstm_tagger.tagging.streaming import tag_file

        return tag_file(self.model, stream, name, output, **options)


class LoadedModel:
    """A model directory loaded for tagging: its network on an engine, vocabularies, tag schemes,
    calibration temperature, and how its training data was read.

    It tags a buffer of inputs at a time (:meth:`documents`, :meth:`tag_sentences`); so does
    :class:`~bilstm_tagger.tagging.workers.TaggerPool` across processes, for the same callers.

    Args:
        network: the network that scores the tags, on torch or ONNX Runtime (:mod:`bilstm_tagger.tagging.engines`).
        vocab: its vocabularies.
        tag_scheme: the scheme the model predicts in.
        output_scheme: the scheme tags are returned in.
        reading: how the training corpus was read (its format and columns).
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
        reading: CorpusReading = CorpusReading(),
        temperature: float = 1.0,
        name: str = "",
        engine_note: str | None = None,
    ):
        self.network = network
        self.vocab = vocab
        self.tag_scheme = tag_scheme
        self.output_scheme = output_scheme
        self.reading = reading
        self.temperature = temperature
        self.name = name
        self.engine_note = engine_note
        self.tables = SpanTables.from_labels(vocab.tags.itos, tag_scheme)

    @classmethod
    def load(
        cls, path: str | os.PathLike, device: str = "cpu", engine: str = "auto", threads: int | None = None
    ) -> LoadedModel:
        """Load a model directory or package, as :meth:`Tagger.load` says."""
        name, path = str(path), packages.locate(path)
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
        reading = CorpusReading.from_json(info.corpus)
        return cls(network, vocab, info.tag_scheme, info.data_scheme, reading, temperature, name, note)

    @property
    def engine(self) -> str:
        """``torch`` or ``onnx``: what runs the network."""
        return self.network.engine

    @property
    def labels(self) -> list[str]:
        """The tags the model predicts, in its own tag scheme."""
        return list(self.vocab.tags.itos)

    def request(self, confidence: bool = False, nbest: int = 0) -> ProbabilityRequest:
        """What to compute besides the best tags, with this model's temperature."""
        if nbest < 0:
            raise InputError(f"--nbest must be 0 or more, got {nbest}")
        return ProbabilityRequest(confidence, nbest, self.temperature)

    def tag_buffers(
        self,
        buffers: Iterable[list[TextInput]],
        batch_size: int,
        request: ProbabilityRequest,
        min_confidence: float = 0.0,
    ) -> Iterator[list[Document]]:
        """Each buffer's :meth:`documents`, read and tagged one after the other."""
        return (self.documents(buffer, batch_size, request, min_confidence) for buffer in buffers)

    def documents(
        self, buffer: list[TextInput], batch_size: int, request: ProbabilityRequest, min_confidence: float = 0.0
    ) -> list[Document]:
        """Tag the sentences of a buffer of texts together, and give each text its :class:`Document`.

        ``min_confidence`` drops the entities whose confidence is below it (their tokens become ``O``).
        """
        sentences = [item.sentence_tokens() for item in buffer]
        flat = [tokens for item in buffer for tokens in item.network_tokens()]
        # A record's first sentence starts a document where the record does; the others continue it.
        starts = [item.starts_document and number == 0 for item in buffer for number in range(len(item.sentences))]
        keys = document_keys(starts)
        predictions = iter(tag_buffer(self.network, self.vocab, self.tables, flat, batch_size, request, keys))
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

    def tag_sentences(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = TAG_BATCH_SIZE,
        buffer_batches: int = BUFFER_BATCHES,
        scheme: str | None = None,
        request: ProbabilityRequest | None = None,
        documents: Iterable[int] | None = None,
    ) -> Iterator[TaggedSentence]:
        """Tag pre-tokenised sentences lazily, reading ``batch_size * buffer_batches`` of them ahead at most.

        ``scheme`` writes the tags in another span scheme than ``output_scheme`` (a gold file's).
        ``documents`` gives each sentence's document (:func:`~bilstm_tagger.model.context.document_keys`),
        for a model with document context; without it each sentence is read alone.
        """
        request = request or self.request()
        predictions = predict_tags(
            self.network, self.vocab, self.tables, sentences, batch_size, buffer_batches, request, documents
        )
        for tokens, prediction in predictions:
            yield self._tagged(tokens, prediction, scheme)

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
