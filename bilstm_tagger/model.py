"""The BiLSTM-CNN-CRF network (Ma & Hovy 2016; Lample et al. 2016), built by :func:`build_model`.

Reading order: :class:`CharCNN` turns each word's characters into a vector; :class:`BiLstmCrf`
concatenates it with a word embedding, runs a word-level sequence encoder over the sentence
(:data:`ENCODERS`: a bidirectional LSTM), projects to one score per tag (the *emissions*) and
lets a :class:`~bilstm_tagger.crf.ConstrainedCRF` pick the best tag sequence.

Shapes use ``B`` sentences of at most ``T`` tokens, ``U`` distinct words of at most ``L``
characters, and ``K`` tags.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import ModelConfig
from .crf import ConstrainedCRF
from .errors import InputError
from .schemes import allowed_transitions
from .vocab import Batch, Vocab


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


class LstmEncoder(nn.LSTM):
    """A bidirectional LSTM over the tokens of each sentence, ``hidden_size`` per direction.

    It is the ``nn.LSTM`` itself (not a wrapper around one), so that its weights keep the names
    checkpoints store them under (``lstm.weight_ih_l0``, ...).

    Args:
        input_size: the size of each token's features.
        config: ``hidden_size``, ``num_layers`` and ``dropout`` (between stacked layers).
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__(
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.output_size = 2 * config.hidden_size

    def encode(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, input_size)`` features and ``(B,)`` lengths (on the CPU) → ``(B, T, output_size)``.

        Rows past a sentence's end are zeros: padding never reaches the real tokens.
        """
        packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
        encoded, _ = self(packed)
        encoded, _ = pad_packed_sequence(encoded, batch_first=True, total_length=features.size(1))
        return encoded


# The word-level sequence encoders, by the name ``ModelConfig.encoder`` gives. An encoder is an
# ``nn.Module`` made from ``(input_size, config)``, with an ``output_size`` and an
# ``encode(features, lengths)`` method shaped as :meth:`LstmEncoder.encode`.
ENCODERS: dict[str, Callable[[int, ModelConfig], nn.Module]] = {"lstm": LstmEncoder}


class BiLstmCrf(nn.Module):
    """Word embedding ⊕ character CNN → dropout → sequence encoder → dropout → linear → CRF.

    Made by :func:`build_model`.

    Args:
        config: the sizes (:class:`ModelConfig`).
        num_words, num_chars, num_tags: vocabulary sizes, padding and unknown ids included.
        allowed_transitions: the CRF's permitted transitions (see :class:`~bilstm_tagger.crf.ConstrainedCRF`).
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
        # The word-level sequence encoder; the attribute's name is the one checkpoints store its weights under.
        self.lstm = ENCODERS[config.encoder](config.word_dim + config.char_filters, config)
        self.projection = nn.Linear(self.lstm.output_size, num_tags)
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
        encoded = self.lstm.encode(features, batch.lengths)  # (B, T, encoder output)
        return self.projection(self.dropout(encoded))

    def loss(self, batch: Batch, divisor: float | None = None) -> torch.Tensor:
        """Negative log-likelihood of the gold tags: a scalar, the mean over the batch's sentences.

        With ``divisor``, their sum divided by it instead: a process of a distributed run holds a
        part of the batch, and divides by the whole batch's size over the number of processes, so
        that the gradients they average are those of the whole batch's mean.
        """
        emissions = self.emissions(batch)
        if divisor is None:
            return -self.crf(emissions, batch.tag_ids, mask=batch.mask, reduction="mean")
        return -self.crf(emissions, batch.tag_ids, mask=batch.mask, reduction="sum") / divisor

    def log_likelihood(self, batch: Batch, tag_ids: torch.Tensor) -> torch.Tensor:
        """Log-probability of each sentence's tag sequence ``(B, T)`` under the model: ``(B,)``."""
        return self.crf(self.emissions(batch), tag_ids, mask=batch.mask, reduction="none")

    def decode(self, batch: Batch) -> list[list[int]]:
        """The best tag id sequence of each sentence (Viterbi), each as long as its sentence."""
        return self.crf.decode(self.emissions(batch), mask=batch.mask)


def build_model(config: ModelConfig, vocab: Vocab, tag_scheme: str) -> BiLstmCrf:
    """The network for a configuration and vocabularies, its CRF constrained by ``tag_scheme``.

    The one place the network is made: training, :meth:`~bilstm_tagger.tagging.Tagger.load` and
    the tests call it, so that a trained model and a loaded one are always built alike.

    Raises:
        InputError: ``config.encoder`` names no known encoder.
    """
    if config.encoder not in ENCODERS:
        raise InputError(f"unknown encoder {config.encoder!r} (choose {', '.join(ENCODERS)})")
    tags = vocab.tags.itos
    return BiLstmCrf(
        config,
        len(vocab.words),
        len(vocab.chars),
        len(tags),
        allowed_transitions(tags, tag_scheme),
        num_extra_words=len(vocab.extra_words),
    )
