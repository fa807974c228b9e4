"""A model scored on a labelled corpus: read the file, tag its sentences, score them.

:func:`evaluate_file` is what ``tagger evaluate`` and ``tagger report`` run; the tagger is a
:class:`~bilstm_tagger.tagging.tagger.Tagger` in this process or a
:class:`~bilstm_tagger.tagging.workers.TaggerPool` across worker processes. The scores themselves
are :mod:`bilstm_tagger.scoring.metrics`'.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.schemes import detect_scheme, same_kind, tag_kind
from bilstm_tagger.model.config import TAG_BATCH_SIZE
from bilstm_tagger.model.context import document_keys
from bilstm_tagger.tagging.predictions import TaggedSentence
from bilstm_tagger.tagging.tagger import Tagger
from bilstm_tagger.text.corpus import CorpusReading, Sentence, corpus_name, read_corpus

if TYPE_CHECKING:  # seqeval and scikit-learn take seconds to import: reading the file needs neither
    from bilstm_tagger.scoring.analysis import ErrorAnalysis
    from bilstm_tagger.scoring.metrics import EvaluationReport
    from bilstm_tagger.tagging.decoding import ProbabilityRequest


class SentenceTagger(Protocol):
    """What scoring a labelled corpus needs of a tagger: a :class:`~bilstm_tagger.tagging.tagger.LoadedModel`
    tags in this process, a :class:`~bilstm_tagger.tagging.workers.TaggerPool` across worker processes."""

    @property
    def output_scheme(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def reading(self) -> CorpusReading: ...

    def tag_sentences(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = TAG_BATCH_SIZE,
        *,
        scheme: str | None = None,
        request: ProbabilityRequest | None = None,
        documents: Iterable[int] | None = None,
    ) -> Iterator[TaggedSentence]: ...


@dataclass(frozen=True)
class Evaluation:
    """A model scored on labelled sentences: the report, the sentences and the predictions.

    ``predicted`` are in ``scheme``, the gold tags' own; ``corpus_format`` is the format the file
    was read as (``conll`` or ``conllu``).
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
        from bilstm_tagger.scoring.analysis import analyse

        tokens, gold = [s.tokens for s in self.sentences], [s.tags for s in self.sentences]
        return analyse(tokens, gold, self.predicted_tags, self.scheme, max_examples)


def evaluate_file(
    tagger: SentenceTagger | Tagger,
    path: str | os.PathLike,
    reading: CorpusReading = CorpusReading(),
    batch_size: int = TAG_BATCH_SIZE,
    request: ProbabilityRequest | None = None,
) -> Evaluation:
    """Read a labelled corpus (``-``: standard input) as :func:`read_labelled` does, and score ``tagger`` on it
    (see :func:`evaluate_tagger`): the public :class:`~bilstm_tagger.tagging.tagger.Tagger`, its loaded model,
    or a :class:`~bilstm_tagger.tagging.workers.TaggerPool`."""
    if isinstance(tagger, Tagger):
        tagger = tagger.model
    sentences, resolved = read_labelled(tagger, path, reading)
    return evaluate_tagger(
        tagger, sentences, corpus_name(path), batch_size=batch_size, corpus_format=resolved, request=request
    )


def read_labelled(
    tagger: SentenceTagger, path: str | os.PathLike, reading: CorpusReading = CorpusReading()
) -> tuple[list[Sentence], str]:
    """A labelled corpus (``-``: standard input) and its resolved format, read with the columns ``tagger``
    was trained with where the file has the training data's format and ``reading`` gives none."""
    reading = reading.resolved(path).with_columns_of(tagger.reading)
    return read_corpus(path, reading), reading.format


def evaluate_tagger(
    tagger: SentenceTagger,
    sentences: list[Sentence],
    name: str | os.PathLike,
    batch_size: int = TAG_BATCH_SIZE,
    corpus_format: str = "conll",
    request: ProbabilityRequest | None = None,
) -> Evaluation:
    """Tag labelled ``sentences`` and score the result.

    Predictions are written in the gold tags' own scheme, which is the one they are scored and
    returned in (for ``--output-predictions``). ``name`` names the data in messages. ``request``
    asks for confidences too (``tagger report``'s reliability diagram); they never change the tags.

    Raises:
        InputError: span tags in the data for a model of plain tags, or the other way round.
    """
    from bilstm_tagger.scoring.metrics import evaluate

    gold = [s.tags for s in sentences]
    gold_scheme = detect_scheme(gold)
    if not same_kind(gold_scheme, tagger.output_scheme):
        raise InputError(
            f"the model predicts {tag_kind(tagger.output_scheme)} but this file has {tag_kind(gold_scheme)}; "
            "wrong --tag-column?",
            name,
        )
    tokens = (s.tokens for s in sentences)
    documents = document_keys([s.starts_document for s in sentences])
    predicted = list(
        tagger.tag_sentences(tokens, batch_size=batch_size, scheme=gold_scheme, request=request, documents=documents)
    )
    report = evaluate(gold, [p.tags for p in predicted], gold_scheme, known_labels=tagger.labels)
    return Evaluation(report, sentences, predicted, gold_scheme, corpus_format)
