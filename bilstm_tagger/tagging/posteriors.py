"""Exact probabilities under the CRF: token marginals, entity probabilities and the n best tag sequences.

pytorch-crf gives the best path and the likelihood, nothing else. A linear-chain CRF defines a
distribution over whole tag sequences, ``p(y | x) = exp(score(y)) / Z``; from the forward and
backward sums of that distribution follow, exactly:

* the marginal probability of each token's tag, ``p(y_t = k)``;
* the probability that the sentence holds exactly a given entity: the sum over all tag paths
  that mark those tokens, and only those, as one entity of that type. With the constraints of
  the scheme the model learnt (``iobes``, ``iob2``) that is the sum over paths that carry the
  entity's own tags on its tokens and, after its last token, no tag that would continue it:
  one product of scores along the entity between a forward and a backward sum, not a product
  or minimum of token probabilities;
* the ``n`` best tag sequences and their probabilities (list Viterbi).

Forbidden transitions count as impossible here (their score is minus infinity, not the
``-10000`` the trained CRF holds), and every score is divided by the model's temperature (see
:mod:`bilstm_tagger.training.calibration`), which changes the probabilities but never the best path.

All in numpy, without torch: the batch part for all sentences at once, then each sentence's results. Shapes: ``T``
tokens, ``K`` tags, ``B`` sentences, ``S`` spans.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bilstm_tagger.model.crf_scores import CrfScores


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
    """The forward-backward pass over a batch, then one :class:`SentencePosterior` per sentence.

    Args:
        crf: the model's CRF scores, whose forbidden transitions become ``-inf``.
        emissions: ``(B, T, K)`` tag scores; ``lengths``: ``B`` sentence lengths.
        temperature: every score is divided by it (1: the model as trained).
    """
    # In float64: probabilities near 1 are the common case, and float32 sums leave them 1e-7 off.
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


def scaled_forward_backward(
    emissions: np.ndarray, mask: np.ndarray, start: np.ndarray, transitions: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The log alphas and betas of :func:`~bilstm_tagger.model.crf.forward_scores` and
    :func:`~bilstm_tagger.model.crf.backward_scores`, computed in probability space with a scale per step.

    Each step is a ``(B, K) @ (K, K)`` product instead of a log-sum-exp over ``(B, K, K)``: several
    times faster, and as exact in float64 (Rabiner's scaling; the scales are summed as logarithms).
    ``(T, B, K)`` emissions, ``(T, B)`` bool mask (first row all true), ``(K,)`` start and end, ``(K, K)``
    transitions, forbidden ones ``-inf`` → ``(T, B, K)`` log alphas and log betas.
    """
    steps = emissions.shape[0]
    shift = emissions.max(axis=2, keepdims=True)  # (T, B, 1): exp of the rest stays in range
    weights = np.exp(emissions - shift)  # (T, B, K)
    step_matrix = np.exp(transitions)  # (K, K), 0 where forbidden
    mask_f = mask[:, :, None]  # (T, B, 1)
    alphas = np.empty_like(emissions)
    betas = np.empty_like(emissions)
    with np.errstate(divide="ignore"):  # log(0) = -inf: a tag no allowed path reaches
        alpha = np.exp(start) * weights[0]
        scale = alpha.sum(axis=1, keepdims=True)
        alpha = alpha / scale
        log_scale = np.log(scale) + shift[0]  # (B, 1): the log of what alpha was divided by, so far
        alphas[0] = np.log(alpha) + log_scale
        for step in range(1, steps):
            following = (alpha @ step_matrix) * weights[step]
            scale = following.sum(axis=1, keepdims=True)
            alpha = np.where(mask_f[step], following / scale, alpha)
            log_scale = np.where(mask_f[step], log_scale + np.log(scale) + shift[step], log_scale)
            alphas[step] = np.log(alpha) + log_scale
        end_weights = np.broadcast_to(np.exp(end), alpha.shape)
        end_total = end_weights.sum(axis=1, keepdims=True)
        beta = end_weights / end_total
        log_scale = np.log(end_total)
        betas[steps - 1] = np.log(beta) + log_scale
        for step in range(steps - 2, -1, -1):
            following = (weights[step + 1] * beta) @ step_matrix.T
            scale = following.sum(axis=1, keepdims=True)
            beta = np.where(mask_f[step + 1], following / scale, end_weights / end_total)
            log_scale = np.where(mask_f[step + 1], log_scale + np.log(scale) + shift[step + 1], np.log(end_total))
            betas[step] = np.log(beta) + log_scale
    return alphas, betas


def merge_nbest(first: list[tuple[list[int], float]], second: list[tuple[list[int], float]], n: int):
    """The ``n`` best concatenations of two independent pieces' n-best lists (a long sentence tagged in pieces)."""
    combined = [(a + b, p * q) for a, p in first for b, q in second]
    combined.sort(key=lambda item: -item[1])
    return combined[:n]


def _logsumexp(values: np.ndarray) -> float:
    top = values.max()
    if top == -np.inf:
        return -np.inf
    return float(top + np.log(np.exp(values - top).sum()))
