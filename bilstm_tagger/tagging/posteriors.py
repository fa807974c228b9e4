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

All in numpy, without torch, and for all sentences of a batch at once. Shapes: ``T`` tokens,
``K`` tags, ``B`` sentences, ``S`` spans.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.tagging.spans import BatchSpans


class BatchPosterior:
    """The CRF's distribution over the tag sequences of each sentence of a batch.

    Args:
        emissions: ``(B, T, K)`` tag scores, already divided by the temperature.
        transitions: ``(K, K)`` transition scores, the same way, forbidden ones ``-inf``.
        start: ``(K,)`` start scores; ``end``: ``(K,)`` end scores.
        lengths: ``(B,)`` sentence lengths; what lies past a sentence's end is ignored.
        alphas, betas: ``(T, B, K)`` forward and backward log-sums (see :func:`~bilstm_tagger.model.crf.forward_scores`).
        log_z: ``(B,)`` the log-partition functions.
    """

    def __init__(
        self,
        emissions: np.ndarray,
        transitions: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        lengths: np.ndarray,
        alphas: np.ndarray,
        betas: np.ndarray,
        log_z: np.ndarray,
    ):
        self.emissions = emissions
        self.transitions = transitions
        self.start = start
        self.end = end
        self.lengths = lengths
        self.alphas = alphas
        self.betas = betas
        self.log_z = log_z

    def tag_probabilities(self, paths: np.ndarray) -> np.ndarray:
        """``p(y_t = paths[b, t])`` for each token of ``(B, T)`` paths: ``(B, T)`` (meaningless past a sentence's end)."""
        time_major = paths.T[:, :, None]  # (T, B, 1)
        alphas = np.take_along_axis(self.alphas, time_major, axis=2)[:, :, 0]
        betas = np.take_along_axis(self.betas, time_major, axis=2)[:, :, 0]
        with np.errstate(invalid="ignore", over="ignore"):  # padding may hold anything
            return np.minimum(np.exp(alphas + betas - self.log_z), 1.0).T

    def span_probabilities(self, paths: np.ndarray, spans: BatchSpans, continues: np.ndarray) -> np.ndarray:
        """The probability of each entity of ``(B, T)`` paths being exactly that entity: ``(S,)``.

        Args:
            paths: ``(B, T)`` tag ids; each entity's tags are taken from them.
            spans: the entities of ``paths`` (:func:`~bilstm_tagger.tagging.spans.find_spans`), each
                starting with a tag that opens an entity whatever precedes it (``B-``, ``S-``).
            continues: ``(K, K)`` bool, tag ``j`` after tag ``i`` would continue ``i``'s entity
                (``I-PER`` after ``I-PER`` in ``iob2``; nothing after ``E-PER`` in ``iobes``).

        The sum over all paths that share the entity's tags, have no continuing tag after it, and
        anything anywhere else: ``alpha[start] · (scores along the entity) · (sum over what follows)``.
        """
        if len(spans.start) == 0:
            return np.zeros(0)
        # increments[b, t]: score of the step into token t along the path (transition and emission)
        increments = np.zeros(paths.shape)
        emitted = np.take_along_axis(self.emissions, paths[:, :, None], axis=2)[:, :, 0]  # (B, T)
        increments[:, 1:] = self.transitions[paths[:, :-1], paths[:, 1:]] + emitted[:, 1:]
        cumulative = np.cumsum(increments, axis=1)
        sentence, first, last = spans.sentence, spans.start, spans.last
        first_tags, last_tags = paths[sentence, first], paths[sentence, last]
        along = self.alphas[first, sentence, first_tags] + cumulative[sentence, last] - cumulative[sentence, first]
        tails = self.betas[last, sentence, last_tags]  # everything may follow
        # Where a tag could continue the entity, the sum over what follows leaves those tags out.
        limited = np.nonzero(continues[last_tags].any(axis=1) & (last + 1 < self.lengths[sentence]))[0]
        if len(limited):
            rows, after = sentence[limited], last[limited] + 1
            following = (
                self.transitions[last_tags[limited]] + self.emissions[rows, after] + self.betas[after, rows]
            )  # (S', K)
            tails[limited] = _logsumexp(np.where(continues[last_tags[limited]], -np.inf, following))
        return np.minimum(np.exp(along + tails - self.log_z[sentence]), 1.0)  # rounding may pass 1 by an ulp

    def nbest(self, n: int) -> list[list[tuple[np.ndarray, float]]]:
        """Each sentence's ``n`` most probable tag paths, best first, with their probabilities (fewer if
        fewer are possible): ``B`` lists of ``(path of its length, probability)``.

        List Viterbi over the batch: each tag at each step keeps its ``n`` best partial paths. Ties
        are broken by tag and rank index, so the order is deterministic.
        """
        batch_size, steps, num_tags = self.emissions.shape
        scores = np.full((batch_size, num_tags, n), -np.inf)  # scores[b, k, r]: the r-th best path ending in tag k
        scores[:, :, 0] = self.start + self.emissions[:, 0]
        # Past a sentence's end its paths stay as they are: a back pointer to the same tag and rank.
        same_tag = np.broadcast_to(np.arange(num_tags)[None, :, None], scores.shape)
        same_rank = np.broadcast_to(np.arange(n)[None, None, :], scores.shape)
        back_tags, back_ranks = [], []
        for step in range(1, steps):
            # candidates[b, (k_prev, r), k]: extend the r-th best path at k_prev to tag k
            candidates = (scores[:, :, :, None] + self.transitions[None, :, None, :]).reshape(
                batch_size, num_tags * n, num_tags
            )
            order = np.argsort(-candidates, axis=1, kind="stable")[:, :n]  # (B, n, K)
            extended = np.take_along_axis(candidates, order, axis=1).transpose(0, 2, 1)  # (B, K, n)
            active = (step < self.lengths)[:, None, None]
            scores = np.where(active, extended + self.emissions[:, step, :, None], scores)
            back_tags.append(np.where(active, (order // n).transpose(0, 2, 1), same_tag))
            back_ranks.append(np.where(active, (order % n).transpose(0, 2, 1), same_rank))
        final = (scores + self.end[None, :, None]).reshape(batch_size, num_tags * n)
        best = np.argsort(-final, axis=1, kind="stable")[:, :n]  # (B, n)
        rows = np.arange(batch_size)[:, None]
        tags, ranks = best // n, best % n
        paths = np.empty((batch_size, best.shape[1], steps), dtype=np.intp)
        for step in range(steps - 1, 0, -1):
            paths[:, :, step] = tags
            tags, ranks = back_tags[step - 1][rows, tags, ranks], back_ranks[step - 1][rows, tags, ranks]
        paths[:, :, 0] = tags
        probabilities = np.exp(np.take_along_axis(final, best, axis=1) - self.log_z[:, None])  # (B, n)
        found = np.take_along_axis(final, best, axis=1) > -np.inf
        return [
            [(paths[row, rank, :length], float(probabilities[row, rank])) for rank in np.nonzero(found[row])[0]]
            for row, length in enumerate(self.lengths.tolist())
        ]


def batch_posterior(
    crf: CrfScores, emissions: np.ndarray, lengths: Sequence[int] | np.ndarray, temperature: float = 1.0
) -> BatchPosterior:
    """The forward-backward pass over a batch.

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
    lengths = np.asarray(lengths)
    mask = np.arange(scaled.shape[1])[:, None] < lengths[None, :]  # (T, B)
    alphas, betas = scaled_forward_backward(scaled.transpose(1, 0, 2), mask, start, transitions, end)  # (T, B, K)
    log_z = _logsumexp(alphas[-1] + end)  # alphas[-1]: each sentence's last alphas, carried over its padding
    return BatchPosterior(scaled, transitions, start, end, lengths, alphas, betas, log_z)


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
    # The scaled sums and the log of what they were divided by, step by step; their logs at the end, at once.
    alphas = np.empty_like(emissions)
    betas = np.empty_like(emissions)
    alpha_scales = np.empty_like(shift)
    beta_scales = np.empty_like(shift)
    with np.errstate(divide="ignore"):  # log(0) = -inf: a tag no allowed path reaches
        alpha = np.exp(start) * weights[0]
        scale = alpha.sum(axis=1, keepdims=True)
        alpha = alpha / scale
        log_scale = np.log(scale) + shift[0]  # (B, 1): the log of what alpha was divided by, so far
        alphas[0], alpha_scales[0] = alpha, log_scale
        everyone = mask.all(axis=1)  # (T,): steps where no sentence has ended (most, in a batch sorted by length)
        for step in range(1, steps):
            following = (alpha @ step_matrix) * weights[step]
            scale = following.sum(axis=1, keepdims=True)
            if everyone[step]:
                alpha, log_scale = following / scale, log_scale + np.log(scale) + shift[step]
            else:
                alpha = np.where(mask_f[step], following / scale, alpha)
                log_scale = np.where(mask_f[step], log_scale + np.log(scale) + shift[step], log_scale)
            alphas[step], alpha_scales[step] = alpha, log_scale
        end_weights = np.broadcast_to(np.exp(end), alpha.shape)
        end_total = end_weights.sum(axis=1, keepdims=True)
        last_beta, last_log_scale = end_weights / end_total, np.log(end_total)  # at each sentence's last token
        beta, log_scale = last_beta, last_log_scale
        betas[steps - 1], beta_scales[steps - 1] = beta, log_scale
        incoming = step_matrix.T
        for step in range(steps - 2, -1, -1):
            following = (weights[step + 1] * beta) @ incoming
            scale = following.sum(axis=1, keepdims=True)
            if everyone[step + 1]:
                beta, log_scale = following / scale, log_scale + np.log(scale) + shift[step + 1]
            else:
                beta = np.where(mask_f[step + 1], following / scale, last_beta)
                log_scale = np.where(mask_f[step + 1], log_scale + np.log(scale) + shift[step + 1], last_log_scale)
            betas[step], beta_scales[step] = beta, log_scale
        np.log(alphas, out=alphas)
        np.log(betas, out=betas)
    alphas += alpha_scales
    betas += beta_scales
    return alphas, betas


def merge_nbest(first: list[tuple[list[int], float]], second: list[tuple[list[int], float]], n: int):
    """The ``n`` best concatenations of two independent pieces' n-best lists (a long sentence tagged in pieces)."""
    combined = [(a + b, p * q) for a, p in first for b, q in second]
    combined.sort(key=lambda item: -item[1])
    return combined[:n]


def _logsumexp(values: np.ndarray) -> np.ndarray:
    """``log(sum(exp(values)))`` over the last axis: ``(..., K)`` → ``(...)``; ``-inf`` where all are ``-inf``."""
    top = values.max(axis=-1)
    safe_top = np.where(top == -np.inf, 0.0, top)
    with np.errstate(divide="ignore"):
        return np.where(top == -np.inf, -np.inf, safe_top + np.log(np.exp(values - safe_top[..., None]).sum(axis=-1)))
