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

    Autograd through torchcrf's forward recursion records ~10 small operations per time step and
    replays them backwards; here the backward pass is one recursion (the betas) and then the
    gradients as marginal probabilities, computed for all time steps at once:
    d log Z / d emission[t, k] = p(y_t = k) and d log Z / d transition[i, j] = Σ_t p(y_t-1 = i, y_t = j).
    """

    @staticmethod
    def forward(ctx, emissions, mask, start, transitions, end):
        # emissions (T, B, K); mask (T, B) bool, mask[0] all true; start, end (K,); transitions (K, K)
        alphas = forward_scores(emissions, mask, start, transitions)
        log_z = torch.logsumexp(alphas[-1] + end, dim=1)  # (B,)
        ctx.save_for_backward(emissions, mask, transitions, end, alphas, log_z)
        return log_z

    @staticmethod
    def backward(ctx, grad_log_z):
        emissions, mask, transitions, end, alphas, log_z = ctx.saved_tensors
        betas = backward_scores(emissions, mask, transitions, end)
        weight = mask.to(emissions.dtype) * grad_log_z  # (T, B): zero past each sentence's end
        unary = torch.exp(alphas + betas - log_z[:, None]) * weight.unsqueeze(2)  # (T, B, K)
        pairwise = torch.exp(
            alphas[:-1].unsqueeze(3)
            + transitions
            + (emissions[1:] + betas[1:]).unsqueeze(2)
            - log_z[None, :, None, None]
        )  # (T - 1, B, K, K)
        grad_transitions = (pairwise * weight[1:, :, None, None]).sum(dim=(0, 1))
        grad_start = unary[0].sum(0)
        grad_end = (torch.exp(alphas[-1] + end - log_z[:, None]) * grad_log_z[:, None]).sum(0)
        return unary, None, grad_start, grad_transitions, grad_end


def forward_scores(
    emissions: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, transitions: torch.Tensor
) -> torch.Tensor:
    """The forward recursion: ``alphas[t, b, k]``, the log-sum of the scores of all paths that reach tag ``k`` at ``t``.

    ``(T, B, K)`` emissions, a ``(T, B)`` bool mask whose first row is all true, ``(K,)`` start
    and ``(K, K)`` transition scores → ``(T, B, K)``. Past a sentence's end the last alphas are
    repeated, so ``alphas[-1]`` holds each sentence's final ones.
    """
    alphas = torch.empty_like(emissions)
    alpha = start + emissions[0]
    alphas[0] = alpha
    step_matrix, shift = _exp_transitions(transitions)
    for step in range(1, emissions.size(0)):
        top = alpha.max(dim=1, keepdim=True).values  # (B, 1): exp of the rest stays in range
        following = torch.log(torch.exp(alpha - top) @ step_matrix) + (top + shift) + emissions[step]
        alpha = torch.where(mask[step].unsqueeze(1), following, alpha)  # kept as is past the end
        alphas[step] = alpha
    return alphas


def backward_scores(
    emissions: torch.Tensor, mask: torch.Tensor, transitions: torch.Tensor, end: torch.Tensor
) -> torch.Tensor:
    """The backward recursion: ``betas[t, b, k]``, the log-sum of the scores of all continuations from tag ``k`` at ``t``.

    The scores of the continuation count the transitions, the later emissions and the end score,
    not the emission at ``t``. ``(T, B, K)`` emissions, ``(T, B)`` bool mask, ``(K, K)``
    transitions, ``(K,)`` end scores → ``(T, B, K)``; at and past a sentence's last token,
    ``betas`` are the end scores.
    """
    steps, batch_size, num_tags = emissions.shape
    betas = torch.empty_like(emissions)
    beta = end.expand(batch_size, num_tags)
    betas[steps - 1] = beta
    step_matrix, shift = _exp_transitions(transitions)
    incoming = step_matrix.t()
    for step in range(steps - 2, -1, -1):
        later = emissions[step + 1] + beta  # (B, K)
        top = later.max(dim=1, keepdim=True).values
        following = torch.log(torch.exp(later - top) @ incoming) + (top + shift)
        beta = torch.where(mask[step + 1].unsqueeze(1), following, beta)  # end scores until the last token
        betas[step] = beta
    return betas


def _exp_transitions(transitions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K, K)`` transition scores → their exponentials over that of the largest, and the largest.

    Each step of the recursions is then a ``(B, K) @ (K, K)`` product in probability space,
    shifted by the largest score of the step, instead of a log-sum-exp over ``(B, K, K)``: the
    CRF's share of a training step halves, and the log-sums agree to float32's precision
    (a path ``exp(-87)`` times less likely than the best counts as impossible, as in float32 anyway).
    """
    shift = transitions.max()
    return torch.exp(transitions - shift), shift
