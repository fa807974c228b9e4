"""The BiLSTM-CNN-CRF model (Ma & Hovy 2016; Lample et al. 2016).

Reading order: :class:`CharCNN` turns each word's characters into a vector; :class:`BiLstmCrf`
concatenates it with a word embedding, runs a bidirectional LSTM, projects to one score per tag
(the *emissions*) and lets a :class:`ConstrainedCRF` pick the best tag sequence.

Shapes use ``B`` sentences of at most ``T`` tokens, ``U`` distinct words of at most ``L``
characters, and ``K`` tags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchcrf import CRF

from .vocab import Batch

FORBIDDEN_SCORE = -10_000.0  # exp(-1e4) underflows to 0: a forbidden transition is never taken


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) → a torch device.

    Raises:
        InputError: CUDA asked for but not available.
    """
    from .errors import InputError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r} (choose cpu, cuda, cuda:N or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for, but CUDA is not available to this torch ({torch.__version__})")
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"unsupported device {name!r} (choose cpu, cuda, cuda:N or auto)")
    return device


def set_threads(threads: int | None) -> int:
    """Use ``threads`` CPU threads for torch's operators (default: the cores this process may use).

    One inter-op thread: this model has no independent operators to run side by side, and extra
    threads would only compete for the same cores. Returns the number of threads set.
    """
    import os

    if threads is None or threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set: inter-op threads can only be set before the first parallel operator
    return threads


@dataclass
class ModelConfig:
    """The model's sizes, chosen by the user; stored in the checkpoint's ``config.json``.

    The vocabulary sizes are not here: they come from the training data. The defaults are the
    sizes of NCRF++'s CoNLL-2003 model (Yang & Zhang 2018): as accurate as Ma & Hovy's 200 per
    direction in our measurements, and 1.4 times as fast (see ``benchmarks/RESULTS.md``).
    """

    word_dim: int = 50
    char_dim: int = 30
    char_filters: int = 50
    char_window: int = 3
    hidden_size: int = 100
    num_layers: int = 1
    dropout: float = 0.5

    def __post_init__(self) -> None:
        from .errors import InputError

        for name in ("word_dim", "char_dim", "char_filters", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.char_window < 1 or self.char_window % 2 == 0:
            raise InputError(f"char-window must be an odd number, got {self.char_window}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_json(self) -> dict:
        return asdict(self)


class CharCNN(nn.Module):
    """Character embeddings → 1-d convolution → max over the characters of each word.

    Padding positions are excluded from the max, so a word's vector does not depend on how long
    the other words of its batch are.
    """

    def __init__(self, num_chars: int, char_dim: int, filters: int, window: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv1d(char_dim, filters, kernel_size=window, padding=window // 2)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """``(U, L)`` character ids (0 = padding) → ``(U, filters)`` word vectors."""
        embedded = self.dropout(self.embedding(char_ids))  # (U, L, char_dim)
        features = self.conv(embedded.transpose(1, 2))  # (U, filters, L)
        padding = (char_ids == 0).unsqueeze(1)  # (U, 1, L)
        return features.masked_fill(padding, float("-inf")).max(dim=2).values


class ConstrainedCRF(CRF):
    """``torchcrf.CRF`` whose forbidden transitions (``O`` → ``I-PER`` in BIO) are never taken.

    Constraints are data, as in AllenNLP: ``allowed`` lists the permitted ``(from, to)`` tag
    index pairs, with ``num_tags`` standing for the sentence start and ``num_tags + 1`` for its
    end (see :func:`bilstm_tagger.schemes.allowed_transitions`). Before every likelihood or
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

    def forward(self, emissions, tags, mask=None, reduction="sum"):  # noqa: D102 (see CRF.forward)
        self.apply_constraints()
        return super().forward(emissions, tags, mask=mask, reduction=reduction)

    def decode(self, emissions, mask=None):  # noqa: D102 (see CRF.decode)
        self.apply_constraints()
        return super().decode(emissions, mask=mask)

    # Faster versions of two of torchcrf's steps; same results (tests compare them with torchcrf's
    # own and with brute force). torchcrf loops over time steps in Python for the gold path's score
    # and over sentences and time steps for the Viterbi backtrace; these use whole-tensor operations.

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
        alphas = torch.empty_like(emissions)  # alphas[t, b, k]: log-sum of paths to tag k at t
        alpha = start + emissions[0]
        alphas[0] = alpha
        for step in range(1, emissions.size(0)):
            following = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[step]
            alpha = torch.where(mask[step].unsqueeze(1), following, alpha)  # kept as is past the end
            alphas[step] = alpha
        log_z = torch.logsumexp(alpha + end, dim=1)  # (B,)
        ctx.save_for_backward(emissions, mask, transitions, end, alphas, log_z)
        return log_z

    @staticmethod
    def backward(ctx, grad_log_z):
        emissions, mask, transitions, end, alphas, log_z = ctx.saved_tensors
        steps, batch_size, num_tags = emissions.shape
        betas = torch.empty_like(emissions)  # betas[t, b, k]: log-sum of continuations from tag k at t
        beta = end.expand(batch_size, num_tags)
        betas[steps - 1] = beta
        for step in range(steps - 2, -1, -1):
            following = torch.logsumexp(transitions + (emissions[step + 1] + beta).unsqueeze(1), dim=2)
            beta = torch.where(mask[step + 1].unsqueeze(1), following, beta)  # end scores until the last token
            betas[step] = beta
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


class BiLstmCrf(nn.Module):
    """Word embedding ⊕ character CNN → dropout → BiLSTM → dropout → linear → CRF.

    Args:
        config: the sizes (:class:`ModelConfig`).
        num_words, num_chars, num_tags: vocabulary sizes, padding and unknown ids included.
        allowed_transitions: the CRF's permitted transitions (see :class:`ConstrainedCRF`).
        num_extra_words: pretrained words that never occur in the training data. Their vectors
            (``extra_word_vectors``, ``(num_extra_words, word_dim)``, float16) are not trained and
            are saved apart from the weights; word ids from ``num_words`` on select them.
    """

    def __init__(
        self,
        config: ModelConfig,
        num_words: int,
        num_chars: int,
        num_tags: int,
        allowed_transitions: list[tuple[int, int]] | None = None,
        num_extra_words: int = 0,
    ):
        super().__init__()
        self.config = config
        self.word_embedding = nn.Embedding(num_words, config.word_dim, padding_idx=0)
        self.register_buffer(
            "extra_word_vectors", torch.zeros(num_extra_words, config.word_dim, dtype=torch.float16), persistent=False
        )
        self.char_cnn = CharCNN(num_chars, config.char_dim, config.char_filters, config.char_window, config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            config.word_dim + config.char_filters,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.projection = nn.Linear(2 * config.hidden_size, num_tags)
        self.crf = ConstrainedCRF(num_tags, allowed_transitions)
        self._init_embeddings()

    def _init_embeddings(self) -> None:
        # Ma & Hovy: uniform in ±sqrt(3 / dim), so that each embedding has unit expected variance.
        for embedding in (self.word_embedding, self.char_cnn.embedding):
            bound = (3.0 / embedding.embedding_dim) ** 0.5
            nn.init.uniform_(embedding.weight, -bound, bound)
            with torch.no_grad():
                embedding.weight[0].zero_()

    def embed_words(self, word_ids: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` word ids → ``(B, T, word_dim)``: trained embeddings, or frozen pretrained vectors."""
        trained_words = self.word_embedding.num_embeddings
        if self.extra_word_vectors.size(0) == 0:
            return self.word_embedding(word_ids)
        is_extra = word_ids >= trained_words
        trained = self.word_embedding(word_ids.masked_fill(is_extra, 1))
        extra = self.extra_word_vectors[(word_ids - trained_words).clamp(min=0)].to(trained.dtype)
        return torch.where(is_extra.unsqueeze(-1), extra, trained)

    def emissions(self, batch: Batch) -> torch.Tensor:
        """Tag scores before the CRF: ``(B, T, K)``; rows past a sentence's end are to be masked."""
        words = self.embed_words(batch.word_ids)  # (B, T, word_dim)
        # One CNN vector per distinct word, spread to its positions. F.embedding rather than
        # indexing: the backward of indexing adds with atomics on several threads, in an order
        # that changes from run to run, and runs with the same seed would give different models.
        chars = nn.functional.embedding(batch.char_index, self.char_cnn(batch.char_ids))  # (B, T, char_filters)
        features = self.dropout(torch.cat([words, chars], dim=-1))
        packed = pack_padded_sequence(features, batch.lengths, batch_first=True, enforce_sorted=False)
        encoded, _ = self.lstm(packed)
        encoded, _ = pad_packed_sequence(encoded, batch_first=True, total_length=batch.word_ids.size(1))
        return self.projection(self.dropout(encoded))

    def loss(self, batch: Batch) -> torch.Tensor:
        """Mean negative log-likelihood of the gold tags over the batch's sentences: a scalar."""
        return -self.crf(self.emissions(batch), batch.tag_ids, mask=batch.mask, reduction="mean")

    def log_likelihood(self, batch: Batch, tag_ids: torch.Tensor) -> torch.Tensor:
        """Log-probability of each sentence's tag sequence ``(B, T)`` under the model: ``(B,)``."""
        return self.crf(self.emissions(batch), tag_ids, mask=batch.mask, reduction="none")

    def decode(self, batch: Batch) -> list[list[int]]:
        """The best tag id sequence of each sentence (Viterbi), each as long as its sentence."""
        return self.crf.decode(self.emissions(batch), mask=batch.mask)
