"""The CRF layer: pytorch-crf's linear-chain CRF, with a tag scheme's forbidden transitions.

:class:`ConstrainedCRF` extends ``torchcrf.CRF`` and replaces three of its private steps (the
gold path's score, the log-partition function, Viterbi decoding) with whole-tensor versions.
Private methods can change in any release, so pytorch-crf is pinned to the release whose
methods these are (0.7.2, ``pyproject.toml``), and the tests compare every computation with
torchcrf's own and with brute-force enumeration of all tag sequences.

Shapes use ``T`` time steps, ``B`` sentences and ``K`` tags; torchcrf's private methods take
the time-major layout ``(T, B, ...)``.
"""

from __future__ import annotations

import torch
from torchcrf import CRF

FORBIDDEN_SCORE = -10_000.0  # exp(-1e4) underflows to 0: a forbidden transition is never taken


class ConstrainedCRF(CRF):
    """``torchcrf.CRF`` whose forbidden transitions (``O`` → ``I-PER`` in BIO) are never taken.

    Constraints are data, as in AllenNLP: ``allowed`` lists the permitted ``(from, to)`` tag
    index pairs, with ``num_tags`` standing for the sentence start and ``num_tags + 1`` for its
    end (see :func:`bilstm_tagger.base.schemes.allowed_transitions`). Before every likelihood or
    decoding, the scores of forbidden transitions are set to ``-10000``; gold paths never use
    them, so their gradient is zero and the optimiser cannot move them.

    Args:
        num_tags: ``K``.
        allowed: permitted transitions, or ``None`` for no constraint.
    """

    def __init__(self, num_tags: int, allowed: list[tuple[int, int]] | None = None):
        super().__init__(num_tags, batch_first=True)
        permitted = torch.zeros(num_tags + 2, num_tags + 2, dtype=torch.bool)
        if allowed is None:
            permitted[:] = True
        else:
            for source, target in allowed:
                permitted[source, target] = True
        self.register_buffer("forbidden_transitions", ~permitted[:num_tags, :num_tags], persistent=False)
        self.register_buffer("forbidden_starts", ~permitted[num_tags, :num_tags], persistent=False)
        self.register_buffer("forbidden_ends", ~permitted[:num_tags, num_tags + 1], persistent=False)
        self.apply_constraints()

    @torch.no_grad()
    def apply_constraints(self) -> None:
        self.transitions.masked_fill_(self.forbidden_transitions, FORBIDDEN_SCORE)
        self.start_transitions.masked_fill_(self.forbidden_starts, FORBIDDEN_SCORE)
        self.end_transitions.masked_fill_(self.forbidden_ends, FORBIDDEN_SCORE)

    def forward(self, emissions, tags, mask=None, reduction="sum"):
        """Log-likelihood of ``(B, T)`` tags given ``(B, T, K)`` emissions and a ``(B, T)`` mask (batch first).

        ``reduction``: ``none`` gives ``(B,)``, ``sum`` and ``mean`` a scalar (see ``torchcrf.CRF.forward``).
        """
        self.apply_constraints()
        return super().forward(emissions, tags, mask=mask, reduction=reduction)

    def decode(self, emissions, mask=None):
        """The best tag sequence of each sentence: ``(B, T, K)`` emissions and a ``(B, T)`` mask → ``B`` lists."""
        self.apply_constraints()
        return super().decode(emissions, mask=mask)

    # Faster versions of three of torchcrf's steps; same results (tests compare them with torchcrf's
    # own and with brute force). torchcrf loops over time steps in Python for the gold path's score
    # and over sentences and time steps for the Viterbi backtrace; these use whole-tensor operations.
    # The log-partition keeps torchcrf's forward recursion but gets a hand-written backward pass.

    def _compute_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Score of the gold paths: ``(T, B, K)`` emissions, ``(T, B)`` tags and mask → ``(B,)``."""
        mask = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (T, B)
        transitions = self.transitions[tags[:-1], tags[1:]]  # (T - 1, B)
        last = tags.gather(0, (mask.sum(0).long() - 1).unsqueeze(0)).squeeze(0)  # (B,)
        return (
            self.start_transitions[tags[0]]
            + emitted[0]
            + (emitted[1:] * mask[1:]).sum(0)
            + (transitions * mask[1:]).sum(0)
            + self.end_transitions[last]
        )

    def _compute_normalizer(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log-partition ``log Z`` of each sentence: ``(T, B, K)`` emissions, ``(T, B)`` mask → ``(B,)``."""
        return _LogPartition.apply(
            emissions, mask.bool(), self.start_transitions, self.transitions, self.end_transitions
        )

    def _viterbi_decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Best paths for ``(T, B, K)`` emissions and a ``(T, B)`` mask, one list per sentence."""
        steps, batch_size = mask.shape
        mask = mask.bool()
        score = self.start_transitions + emissions[0]  # (B, K): best score of a path ending in each tag
        history = []
        for step in range(1, steps):
            best, previous = (score.unsqueeze(2) + self.transitions + emissions[step].unsqueeze(1)).max(dim=1)
            score = torch.where(mask[step].unsqueeze(1), best, score)
            history.append(previous)  # (B, K): best previous tag for each tag at this step
        last_positions = mask.sum(0) - 1  # (B,)
        best_last = (score + self.end_transitions).max(dim=1).indices  # (B,)
        # Walk back from the end: a sentence joins the walk at its own last position.
        path = torch.empty(steps, batch_size, dtype=torch.long, device=emissions.device)
        current = best_last
        for step in range(steps - 1, -1, -1):
            current = torch.where(last_positions == step, best_last, current)
            path[step] = current
            if step > 0:
                current = history[step - 1].gather(1, current.unsqueeze(1)).squeeze(1)
        lengths = (last_positions + 1).tolist()
        return [row[:length] for row, length in zip(path.t().tolist(), lengths)]


class _LogPartition(torch.autograd.Function):
    """The CRF's log-partition function with a hand-written gradient (the forward-backward algorithm).

    Both recursions run in probability space with a scale per step (Rabiner's scaling): each step
    is a ``(B, K) @ (K, K)`` product, and the alphas and betas kept are each step's distribution
    over tags, summing to 1, with the log of what they were divided by summed on the side. The
    gradients are the marginal probabilities, computed from those distributions for all time steps
    at once: d log Z / d emission[t, k] = p(y_t = k) and d log Z / d transition[i, j] =
    Σ_t p(y_t-1 = i, y_t = j), the latter as one ``(K, T·B) @ (T·B, K)`` product. The large
    log-sums of whole paths never enter the gradient, so the float32 gradients are as exact as
    a step's sums allow: the emissions' 200 times closer to the float64 ones than those of
    log-sum-exps over ``(B, K, K)`` (see the tests), which is what lets two training processes
    follow one.
    """

    @staticmethod
    def forward(ctx, emissions, mask, start, transitions, end):
        # emissions (T, B, K); mask (T, B) bool, mask[0] all true; start, end (K,); transitions (K, K)
        alphas, log_scale = scaled_forward(emissions, mask, start, transitions)
        log_z = torch.logsumexp(torch.log(alphas[-1]) + end, dim=1) + log_scale  # (B,)
        ctx.save_for_backward(emissions, mask, transitions, end, alphas)
        return log_z

    @staticmethod
    def backward(ctx, grad_log_z):
        emissions, mask, transitions, end, alphas = ctx.saved_tensors
        step_matrix, _ = _exp_transitions(transitions)
        betas, arrivals = scaled_backward(emissions, mask, step_matrix, end)
        weight = mask.to(emissions.dtype) * grad_log_z  # (T, B): zero past each sentence's end
        unary = _normalized(alphas * betas) * weight.unsqueeze(2)  # (T, B, K): p(y_t = k), weighted
        # p(y_t-1 = i, y_t = j) = alphas[t-1, i] · step_matrix[i, j] · arrivals[t, j] / (their sum over i, j)
        pair_totals = ((alphas[:-1] @ step_matrix) * arrivals[1:]).sum(dim=2, keepdim=True)  # (T - 1, B, 1)
        leaving = alphas[:-1] * (weight[1:].unsqueeze(2) / _at_least_tiny(pair_totals))
        num_tags = emissions.size(2)
        grad_transitions = step_matrix * (leaving.reshape(-1, num_tags).t() @ arrivals[1:].reshape(-1, num_tags))
        grad_start = unary[0].sum(0)
        grad_end = (_normalized(alphas[-1] * torch.exp(end - end.max())) * grad_log_z[:, None]).sum(0)
        return unary, None, grad_start, grad_transitions, grad_end


def scaled_forward(
    emissions: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, transitions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward recursion, scaled: each step's distribution over tags, and the log of its scale.

    ``(T, B, K)`` emissions, a ``(T, B)`` bool mask whose first row is all true, ``(K,)`` start and
    ``(K, K)`` transition scores → ``(T, B, K)`` alphas and ``(B,)`` log scales. ``alphas[t, b]``
    is proportional to the sums of the scores of all paths that reach each tag at ``t`` (with the
    emission at ``t``) and sums to 1; past a sentence's end it is repeated, so ``alphas[-1]``
    holds each sentence's last one, and ``log(alphas[-1]) + log_scale`` are its log-sums.
    """
    alphas = torch.empty_like(emissions)
    step_matrix, shift = _exp_transitions(transitions)
    alpha, log_scale = _rescaled(start + emissions[0])
    alphas[0] = alpha
    for step in range(1, emissions.size(0)):
        # log(0) = -inf where no allowed path arrives; the max of each row is finite and shifts the rest.
        following, following_log_scale = _rescaled(torch.log(alpha @ step_matrix) + emissions[step])
        keep = mask[step]
        alpha = torch.where(keep.unsqueeze(1), following, alpha)  # kept as is past the end
        log_scale = torch.where(keep, log_scale + following_log_scale + shift, log_scale)
        alphas[step] = alpha
    return alphas, log_scale


def scaled_backward(
    emissions: torch.Tensor, mask: torch.Tensor, step_matrix: torch.Tensor, end: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The backward recursion, scaled: betas, and the arrivals the pairwise marginals need.

    ``(T, B, K)`` emissions, ``(T, B)`` bool mask, the ``(K, K)`` step matrix of
    :func:`_exp_transitions` (its shift cancels: no scale is kept), ``(K,)`` end scores →
    two ``(T, B, K)`` tensors, each row summing to 1 (their scales are not needed). ``betas[t, b]``
    is proportional to the sums of the scores of all continuations from each tag at ``t`` (the
    transitions, the later emissions and the end score, not the emission at ``t``); at and past a
    sentence's last token it is the distribution of the end scores. ``arrivals[t, b]``, for
    ``t ≥ 1``, is proportional to ``exp(emission[t]) · betas[t]``: a path arriving at each tag at ``t``
    and going on from there (row 0 is not used).
    """
    steps, batch_size, num_tags = emissions.shape
    betas = torch.empty_like(emissions)
    arrivals = torch.empty_like(emissions)
    incoming = step_matrix.t()
    at_the_end = torch.softmax(end, dim=0).expand(batch_size, num_tags)
    beta = at_the_end
    betas[steps - 1] = beta
    for step in range(steps - 1, 0, -1):
        arrival, _ = _rescaled(emissions[step] + torch.log(beta))
        arrivals[step] = arrival
        following = _normalized(arrival @ incoming)
        beta = torch.where(mask[step].unsqueeze(1), following, at_the_end)  # end scores until the last token
        betas[step - 1] = beta
    arrivals[0] = 0.0
    return betas, arrivals


def _rescaled(log_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, K)`` log-values → their exponentials as a distribution over ``K`` and the ``(B,)`` log of their sum."""
    top = log_values.max(dim=1, keepdim=True).values
    values = torch.exp(log_values - top)
    total = values.sum(dim=1, keepdim=True)  # at least 1: the top one is exp(0)
    return values / total, (top + torch.log(total)).squeeze(1)


def _normalized(values: torch.Tensor) -> torch.Tensor:
    """Non-negative ``(..., K)`` values divided by their sum over ``K`` (all zero stays all zero, never NaN)."""
    return values / _at_least_tiny(values.sum(dim=-1, keepdim=True))


def _at_least_tiny(values: torch.Tensor) -> torch.Tensor:
    # A sum that underflowed to 0 (two distributions whose supports differ by more than float32's range)
    # gives zero marginals, not NaN; such a position then contributes no gradient.
    return values.clamp_min(torch.finfo(values.dtype).tiny)


def _exp_transitions(transitions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K, K)`` transition scores → their exponentials over that of the largest, and the largest.

    Forbidden transitions (``-10000``) become 0; a transition more than ~87 below the largest
    would too in float32, which no trained model comes near.
    """
    shift = transitions.max()
    return torch.exp(transitions - shift), shift
