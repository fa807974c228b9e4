"""The BiLSTM-CNN-CRF network (Ma & Hovy 2016; Lample et al. 2016), built by :func:`build_model`.

Reading order: a character encoder (a CNN or an LSTM, :mod:`bilstm_tagger.model.encoders`) turns each
word's characters into a vector; :class:`BiLstmCrf` concatenates it with a word embedding, runs
a bidirectional word-level encoder over the sentence (an LSTM, a peephole LSTM or a GRU), or over
a window of its document (:mod:`bilstm_tagger.model.context`), optionally reads the states at the
other mentions of each word (:class:`~bilstm_tagger.model.encoders.MentionAttention`),
projects to one score per tag (the *emissions*) and lets a
:class:`~bilstm_tagger.model.crf.ConstrainedCRF` pick the best tag sequence. With ``lm_weight``, a
:class:`~bilstm_tagger.model.language_model.WordLanguageModel` trains on the same encoder.

Shapes use ``B`` sentences of at most ``T`` tokens, ``U`` distinct words of at most ``L``
characters, and ``K`` tags.
"""

from __future__ import annotations

import torch
from torch import nn

from bilstm_tagger.base.schemes import allowed_transitions
from bilstm_tagger.model.config import ModelConfig
from bilstm_tagger.model.crf import ConstrainedCRF
from bilstm_tagger.model.encoders import CELL_ENCODERS, CHAR_ENCODERS, Dropout, LockedDropout, MentionAttention
from bilstm_tagger.model.language_model import WordLanguageModel
from bilstm_tagger.model.vocab import Batch, Vocab


class BiLstmCrf(nn.Module):
    """Word embedding ⊕ character encoder → dropout → sequence encoder → dropout → linear → CRF.

    Made by :func:`build_model`.

    Args:
        config: the sizes (:class:`ModelConfig`).
        num_words, num_chars, num_tags: vocabulary sizes, padding and unknown ids included.
        allowed_transitions: the CRF's permitted transitions (see :class:`~bilstm_tagger.model.crf.ConstrainedCRF`).
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
        # The attributes' names are those checkpoints store the weights under: char_cnn (the
        # first and default character encoder) or char_lstm, and lstm for any cell.
        char_encoder = CHAR_ENCODERS[config.char_encoder](num_chars, config)
        setattr(self, "char_cnn" if config.char_encoder == "cnn" else "char_lstm", char_encoder)
        self.dropout = LockedDropout(config.dropout) if config.locked_dropout else Dropout(config.dropout)
        self.lstm = CELL_ENCODERS[config.cell](config.word_dim + config.char_filters, config)
        projected = self.lstm.output_size
        if config.mentions:
            self.mentions = MentionAttention(self.lstm.output_size)
            projected *= 2
        self.projection = nn.Linear(projected, num_tags)
        self.crf = ConstrainedCRF(num_tags, allowed_transitions)
        if config.lm_weight > 0:
            self.language_model = WordLanguageModel(config.hidden_size, num_words)
        self._init_embeddings()

    @property
    def char_encoder(self) -> nn.Module:
        """The character encoder: ``(U, L)`` character ids → ``(U, char_filters)``."""
        return self.char_cnn if self.config.char_encoder == "cnn" else self.char_lstm

    def _init_embeddings(self) -> None:
        # Ma & Hovy: uniform in ±sqrt(3 / dim), so that each embedding has unit expected variance.
        for embedding in (self.word_embedding, self.char_encoder.embedding):
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

    def encode(self, batch: Batch) -> torch.Tensor:
        """The sequence encoder's output after dropout: ``(B, T, 2 * hidden_size)``, zeros past the ends."""
        words = self.embed_words(batch.word_ids)  # (B, T, word_dim)
        # One character vector per distinct word, spread to its positions. F.embedding rather than
        # indexing: the backward of indexing adds with atomics on several threads, in an order
        # that changes from run to run, and runs with the same seed would give different models.
        chars = nn.functional.embedding(batch.char_index, self.char_encoder(batch.char_ids))  # (B, T, char_filters)
        features = self.dropout(torch.cat([words, chars], dim=-1))
        return self.dropout(self.lstm.encode(features, batch.lengths))

    def emissions(self, batch: Batch) -> torch.Tensor:
        """Tag scores before the CRF: ``(B, T, K)``; rows past a sentence's end are to be masked."""
        return self._scores(self.encode(batch), batch)

    def _scores(self, encoded: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``(B, T, 2 * hidden_size)`` encoder states → ``(B, T, K)`` emissions, through the mentions' attention if any."""
        if self.config.mentions:
            encoded = torch.cat([encoded, self.mentions(encoded, batch.char_index, batch.mask)], dim=-1)
        return self.projection(encoded)

    def loss(self, batch: Batch, divisor: float | None = None) -> torch.Tensor:
        """Negative log-likelihood of the gold tags: a scalar, the mean over the batch's sentences.

        With a language model, plus ``lm_weight`` times its loss (summed over each sentence's words,
        as the CRF's is over its tags). With ``divisor``, the sum over the batch divided by it
        instead of the mean: a process of a distributed run holds a part of the batch, and
        divides by the whole batch's size over the number of processes, so that the gradients
        they average are those of the whole batch's mean.
        """
        encoded = self.encode(batch)
        emissions = self._scores(encoded, batch)
        if divisor is None:
            loss = -self.crf(emissions, batch.tag_ids, mask=batch.mask, reduction="mean")
        else:
            loss = -self.crf(emissions, batch.tag_ids, mask=batch.mask, reduction="sum") / divisor
        if self.config.lm_weight > 0:
            words = batch.word_ids if batch.true_word_ids is None else batch.true_word_ids
            language_model_loss = self.language_model.loss(encoded, words, batch.mask)
            loss = loss + self.config.lm_weight * language_model_loss / (divisor or batch.word_ids.size(0))
        return loss

    def log_likelihood(self, batch: Batch, tag_ids: torch.Tensor) -> torch.Tensor:
        """Log-probability of each sentence's tag sequence ``(B, T)`` under the model: ``(B,)``."""
        return self.crf(self.emissions(batch), tag_ids, mask=batch.mask, reduction="none")

    def decode(self, batch: Batch) -> list[list[int]]:
        """The best tag id sequence of each sentence (Viterbi), each as long as its sentence."""
        return self.crf.decode(self.emissions(batch), mask=batch.mask)


def build_model(config: ModelConfig, vocab: Vocab, tag_scheme: str) -> BiLstmCrf:
    """The network for a configuration and vocabularies, its CRF constrained by ``tag_scheme``.

    The one place the network is made: training, :meth:`~bilstm_tagger.tagging.tagger.Tagger.load` and
    the tests call it, so that a trained model and a loaded one are always built alike.
    """
    tags = vocab.tags.itos
    return BiLstmCrf(
        config,
        len(vocab.words),
        len(vocab.chars),
        len(tags),
        allowed_transitions(tags, tag_scheme),
        num_extra_words=len(vocab.extra_words),
    )
