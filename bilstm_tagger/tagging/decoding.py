"""From a batch's emissions to each sentence's :class:`Prediction`, on the batch's arrays.

After the network, everything that tagging computes runs on ``(B, T)`` arrays for all sentences
of a batch at once: the best paths (Viterbi, :class:`~bilstm_tagger.model.crf_scores.CrfScores`),
the entities of those paths (:func:`~bilstm_tagger.tagging.spans.find_spans`), the token
and entity probabilities and the n best paths (:class:`~bilstm_tagger.tagging.posteriors.BatchPosterior`).
Python then touches each sentence once, to hand out its slices (:func:`decode_batch`).

Shapes: ``B`` sentences of at most ``T`` tokens, ``K`` tags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bilstm_tagger.base.schemes import Span
from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.tagging.posteriors import batch_posterior
from bilstm_tagger.tagging.predictions import NBestPath
from bilstm_tagger.tagging.spans import SpanTables, find_spans


@dataclass(frozen=True)
class ProbabilityRequest:
    """What to compute besides the best tags.

    Attributes:
        confidence: each token's and each entity's probability (:mod:`bilstm_tagger.tagging.posteriors`).
        nbest: how many of the best tag sequences to give, with their probabilities (0: none).
        temperature: the model's calibration temperature; every CRF score is divided by it.
    """

    confidence: bool = False
    nbest: int = 0
    temperature: float = 1.0

    @property
    def needs_posteriors(self) -> bool:
        return self.confidence or self.nbest > 0


PLAIN = ProbabilityRequest()


@dataclass(frozen=True)
class Prediction:
    """One sentence's best tags in the model's scheme and, where asked, their probabilities.

    ``spans`` are the entities of ``tags`` (empty for plain tags); ``span_scores`` follow them;
    ``nbest`` paths are in the model's scheme.
    """

    tags: list[str]
    spans: list[Span]
    tag_scores: list[float] | None = None
    span_scores: list[float] | None = None
    nbest: list[NBestPath] | None = None


def decode_batch(
    crf: CrfScores, emissions: np.ndarray, lengths: np.ndarray, tables: SpanTables, request: ProbabilityRequest
) -> list[Prediction]:
    """Each sentence's :class:`Prediction` from a batch's ``(B, T, K)`` emissions and ``(B,)`` lengths."""
    lengths = np.asarray(lengths)
    paths = crf.viterbi(emissions, lengths)  # (B, T)
    spans = find_spans(paths, lengths, tables)
    # Entities by sentence: those of sentence b are spans_of[bounds[b]:bounds[b + 1]].
    bounds = np.searchsorted(spans.sentence, np.arange(len(lengths) + 1)).tolist()
    spans_of = list(map(Span, spans.start.tolist(), spans.end.tolist(), tables.types[spans.type_id].tolist()))
    tag_rows = tables.labels[paths].tolist()
    token_rows = span_scores = nbest = None
    if request.needs_posteriors:
        posterior = batch_posterior(crf, emissions, lengths, request.temperature)
        if request.confidence:
            token_rows = posterior.tag_probabilities(paths).tolist()
            span_scores = posterior.span_probabilities(paths, spans, tables.continues).tolist()
        if request.nbest:
            nbest = [
                [NBestPath(tables.labels[path].tolist(), probability) for path, probability in sentence]
                for sentence in posterior.nbest(request.nbest)
            ]
    predictions = []
    for row, (tags, length) in enumerate(zip(tag_rows, lengths.tolist())):
        low, high = bounds[row], bounds[row + 1]
        predictions.append(
            Prediction(
                tags[:length],
                spans_of[low:high],
                None if token_rows is None else token_rows[row][:length],
                None if span_scores is None else span_scores[low:high],
                None if nbest is None else nbest[row],
            )
        )
    return predictions
