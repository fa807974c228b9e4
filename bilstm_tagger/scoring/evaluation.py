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
from bilstm_tagger.tagging.predictions import TaggedSentence
from bilstm_tagger.text.corpus import Sentence, corpus_name, read_corpus, resolve_format

if TYPE_CHECKING:  # seqeval and scikit-learn take seconds to import: reading the file needs neither
    from bilstm_tagger.scoring.analysis import ErrorAnalysis
    from bilstm_tagger.scoring.metrics import EvaluationReport


class SentenceTagger(Protocol):
    """What scoring a labelled corpus needs of a tagger: :class:`Tagger` tags in this process,
    :class:`~bilstm_tagger.tagging.workers.TaggerPool` across worker processes."""

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
        from bilstm_tagger.scoring.analysis import analyse

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
    from bilstm_tagger.scoring.metrics import evaluate

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
