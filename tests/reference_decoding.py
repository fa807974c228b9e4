"""The per-sentence decoder that batched decoding replaced, kept as the reference it is tested against.

:class:`SentencePosterior` is the probability code as it was before (commit ec3cb51), one sentence at a
time, in plain loops over a sentence's entities and ranks; :func:`reference_predictions` is the
per-sentence step that followed Viterbi (tags, ``tags_to_spans``, continuations). The tests hold
:mod:`bilstm_tagger.tagging.decoding` equal to it, and both to brute-force enumeration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bilstm_tagger.base.schemes import continuation_tags, tags_to_spans
from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.tagging.decoding import Prediction, ProbabilityRequest
from bilstm_tagger.tagging.posteriors import scaled_forward_backward
from bilstm_tagger.tagging.predictions import NBestPath


class SentencePosterior:
    """The CRF's distribution over one sentence's tag sequences.

    Args:
        emissions: ``(T, K)`` tag scores, already divided by the temperature.
        transitions: ``(K, K)`` transition scores, the same way, forbidden ones ``-inf``.
        start: ``(K,)`` start scores; ``end``: ``(K,)`` end scores.
        alphas, betas: ``(T, K)`` forward and backward log-sums (see :func:`~bilstm_tagger.model.crf.forward_scores`).
        log_z: the log-partition function.
    """

    def __init__(
        self,
        emissions: np.ndarray,
        transitions: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        alphas: np.ndarray,
        betas: np.ndarray,
        log_z: float,
    ):
        self.emissions = emissions
        self.transitions = transitions
        self.start = start
        self.end = end
        self.alphas = alphas
        self.betas = betas
        self.log_z = log_z

    def __len__(self) -> int:
        return self.emissions.shape[0]

    def tag_probabilities(self, path: Sequence[int]) -> np.ndarray:
        """``p(y_t = path[t])`` for each token: ``(T,)``."""
        positions = np.arange(len(path))
        return np.minimum(np.exp(self.alphas[positions, path] + self.betas[positions, path] - self.log_z), 1.0)

    def path_probability(self, path: Sequence[int]) -> float:
        """``p(y = path)``."""
        return float(np.exp(self._path_score(path) - self.log_z))

    def span_probabilities(
        self, path: Sequence[int], spans: Sequence[tuple[int, int]], continuations: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """The probability of each span of ``path`` being exactly an entity: ``(S,)``.

        Args:
            path: ``(T,)`` tag ids; each span's tags are taken from it.
            spans: ``(start, end)`` token indices of entities of ``path``, ``end`` exclusive, each
                starting with a tag that opens an entity whatever precedes it (``B-``, ``S-``).
            continuations: for each span, the tag ids that would continue it if they followed its
                last token (``I-PER`` after ``I-PER`` in ``iob2``; none after ``E-PER`` in ``iobes``).

        The sum over all paths that share the span's tags, have no continuing tag after it, and
        anything anywhere else: ``alpha[start] · (scores along the span) · (sum over what follows)``.
        """
        if not spans:
            return np.zeros(0)
        path = np.asarray(path)
        steps = len(path)
        # increments[t]: score of the step into token t along the path (transition and emission)
        increments = np.zeros(steps)
        increments[1:] = self.transitions[path[:-1], path[1:]] + self.emissions[np.arange(1, steps), path[1:]]
        cumulative = np.cumsum(increments)
        starts = np.array([start for start, _ in spans])
        lasts = np.array([end - 1 for _, end in spans])
        along = self.alphas[starts, path[starts]] + cumulative[lasts] - cumulative[starts]
        tails = self.betas[lasts, path[lasts]]  # everything may follow
        for index, (last, excluded) in enumerate(zip(lasts, continuations)):
            if excluded and last + 1 < steps:
                following = self.transitions[path[last]] + self.emissions[last + 1] + self.betas[last + 1]  # (K,)
                allowed = np.delete(following, list(excluded))
                tails[index] = _logsumexp(allowed)
        return np.minimum(np.exp(along + tails - self.log_z), 1.0)  # rounding may pass 1 by an ulp

    def nbest(self, n: int) -> list[tuple[list[int], float]]:
        """The ``n`` most probable tag paths, best first, with their probabilities (fewer if fewer are possible).

        List Viterbi: each tag at each step keeps its ``n`` best partial paths. Ties are broken
        by tag and rank index, so the order is deterministic.
        """
        steps, num_tags = self.emissions.shape
        scores = np.full((num_tags, n), -np.inf)  # scores[k, r]: the r-th best path ending in tag k
        scores[:, 0] = self.start + self.emissions[0]
        back_tags, back_ranks = [], []
        for step in range(1, steps):
            # candidates[(k_prev, r), k]: extend the r-th best path at k_prev to tag k
            candidates = (scores[:, :, None] + self.transitions[:, None, :]).reshape(num_tags * n, num_tags)
            order = np.argsort(-candidates, axis=0, kind="stable")[:n]  # (n, K)
            scores = np.take_along_axis(candidates, order, axis=0).T + self.emissions[step][:, None]  # (K, n)
            back_tags.append((order // n).T)
            back_ranks.append((order % n).T)
        final = (scores + self.end[:, None]).reshape(-1)
        best = np.argsort(-final, kind="stable")[:n]
        paths = []
        for flat in best:
            if final[flat] == -np.inf:
                break
            tag, rank = divmod(int(flat), n)
            path = [tag]
            for tags, ranks in zip(reversed(back_tags), reversed(back_ranks)):
                tag, rank = int(tags[tag, rank]), int(ranks[tag, rank])
                path.append(tag)
            paths.append((path[::-1], float(np.exp(final[flat] - self.log_z))))
        return paths

    def _path_score(self, path: Sequence[int]) -> float:
        path = np.asarray(path)
        score = self.start[path[0]] + self.emissions[np.arange(len(path)), path].sum() + self.end[path[-1]]
        return float(score + self.transitions[path[:-1], path[1:]].sum())


def sentence_posteriors(
    crf: CrfScores, emissions: np.ndarray, lengths: Sequence[int], temperature: float = 1.0
) -> list[SentencePosterior]:
    """The forward-backward pass over a batch, then one :class:`SentencePosterior` per sentence."""
    scaled = emissions.astype(np.float64) / temperature
    transitions = np.where(crf.forbidden_transitions, -np.inf, crf.transitions.astype(np.float64)) / temperature
    start = np.where(crf.forbidden_starts, -np.inf, crf.start.astype(np.float64)) / temperature
    end = np.where(crf.forbidden_ends, -np.inf, crf.end.astype(np.float64)) / temperature
    lengths = list(lengths)
    mask = np.arange(scaled.shape[1])[:, None] < np.asarray(lengths)[None, :]  # (T, B)
    alphas, betas = scaled_forward_backward(scaled.transpose(1, 0, 2), mask, start, transitions, end)  # (T, B, K)
    log_z = [_logsumexp(row) for row in alphas[-1] + end]
    return [
        SentencePosterior(
            scaled[index, :length], transitions, start, end, alphas[:length, index], betas[:length, index], log_z[index]
        )
        for index, length in enumerate(lengths)
    ]


def reference_predictions(
    crf: CrfScores,
    emissions: np.ndarray,
    lengths: Sequence[int],
    labels: list[str],
    scheme: str,
    request: ProbabilityRequest,
) -> list[Prediction]:
    """Each sentence's prediction the way the per-sentence decoder made it."""
    paths = [row[:length].tolist() for row, length in zip(crf.viterbi(emissions, lengths), lengths)]
    posteriors = sentence_posteriors(crf, emissions, lengths, request.temperature) if request.needs_posteriors else None
    predictions = []
    for index, path in enumerate(paths):
        tags = [labels[tag_id] for tag_id in path]
        spans = tags_to_spans(tags) if scheme != "plain" else []
        tag_scores = span_scores = nbest = None
        if posteriors is not None:
            posterior = posteriors[index]
            if request.confidence:
                tag_scores = posterior.tag_probabilities(path).tolist()
                continuations = [continuation_tags(labels, tags[span.end - 1]) for span in spans]
                span_scores = posterior.span_probabilities(
                    path, [(s.start, s.end) for s in spans], continuations
                ).tolist()
            if request.nbest:
                nbest = [NBestPath([labels[k] for k in ids], p) for ids, p in posterior.nbest(request.nbest)]
        predictions.append(Prediction(tags, spans, tag_scores, span_scores, nbest))
    return predictions


def _logsumexp(values: np.ndarray) -> float:
    top = values.max()
    if top == -np.inf:
        return -np.inf
    return float(top + np.log(np.exp(values - top).sum()))
