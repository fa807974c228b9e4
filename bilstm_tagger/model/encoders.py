"""The members of the LSTM family that :class:`~bilstm_tagger.model.bilstm_crf.BiLstmCrf` is built from.

Word-level sequence encoders, by the cell name ``ModelConfig.cell`` gives (:data:`CELL_ENCODERS`):

- ``lstm``: torch's ``nn.LSTM`` (Hochreiter & Schmidhuber 1997, with a forget gate);
- ``peephole``: :class:`PeepholeLstm`, the LSTM of Gers & Schmidhuber (2000), whose gates also look
  at the cell state; torch has no such cell;
- ``gru``: torch's ``nn.GRU`` (Cho et al. 2014), the family's counter-example.

Each is bidirectional, takes ``(B, T, input_size)`` features with ``(B,)`` lengths and gives
``(B, T, 2 * hidden_size)``, forward then backward direction, zeros past each sentence's end;
a sentence's states never depend on the padding of its batch.

Character encoders, by ``ModelConfig.char_encoder`` (:data:`CHAR_ENCODERS`): :class:`CharCNN`
(Ma & Hovy 2016) and :class:`CharLstm` (Lample et al. 2016), each ``(U, L)`` character ids of
``U`` distinct words → ``(U, char_filters)``.

:class:`LockedDropout` is the variational dropout of Gal & Ghahramani (2016): one mask per
sentence, the same at every position. :class:`MentionAttention` lets each token read the
encoder's states at the other occurrences of its word (``ModelConfig.mentions``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bilstm_tagger.model.config import ModelConfig


class _TorchRecurrentEncoding:
    """``encode`` for torch's own recurrent layers (``nn.LSTM``, ``nn.GRU``), mixed into them.

    On the GPU, packed sequences, which cuDNN runs in one call. On the CPU, torch runs a packed
    sequence step by step in Python-free but unfused code whose backward pass zeroes a copy of
    the whole input at every step; there each direction of each layer runs instead as one fused
    (oneDNN) call over the padded batch, the backward direction over each sentence reversed within
    its own length, as :class:`PeepholeLstm` does. The packed path took a third of an epoch of the
    ``ner`` preset's loop (docs/training.md, "Training speed"), and each sentence's states are the
    same either way: padding only ever comes after a direction's real tokens.
    """

    def encode(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, input_size)`` features and ``(B,)`` lengths (on the CPU) → ``(B, T, 2 * hidden_size)``.

        Rows past a sentence's end are zeros: padding never reaches the real tokens.
        """
        if features.is_cuda:
            packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
            encoded, _ = self(packed)
            encoded, _ = pad_packed_sequence(encoded, batch_first=True, total_length=features.size(1))
            return encoded
        reverse, within = _reversal(lengths, features.size(1), features.device)
        layer_input = features
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0:
                layer_input = dropout(layer_input, self.dropout)
            forward = self._direction(layer_input, layer, "")
            backward = _reorder(self._direction(_reorder(layer_input, reverse), layer, "_reverse"), reverse)
            layer_input = torch.cat([forward, backward], dim=2) * within[:, :, None]
        return layer_input

    def _direction(self, inputs: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """One direction of one layer over ``(B, T, in)`` padded inputs, from zero states: ``(B, T, H)``."""
        weights = [
            getattr(self, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        start = inputs.new_zeros(1, inputs.size(0), self.hidden_size)
        # torch.lstm and torch.gru are the functions nn.LSTM and nn.GRU call: (input, states,
        # weights, has_biases, num_layers, dropout, train, bidirectional, batch_first).
        if self.mode == "LSTM":
            return torch.lstm(inputs, (start, start), weights, True, 1, 0.0, self.training, False, True)[0]
        return torch.gru(inputs, start, weights, True, 1, 0.0, self.training, False, True)[0]


def _reversal(lengths: torch.Tensor, steps: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B,)`` lengths → ``reverse`` ``(B, T)``, the positions of each sentence reversed within its
    length (padding in place: a permutation of each row, so its gradient adds nothing twice), and
    ``within`` ``(B, T)`` bool, the positions before each sentence's end."""
    positions = torch.arange(steps)[None, :]
    within = positions < lengths[:, None]
    reverse = torch.where(within, lengths[:, None] - 1 - positions, positions)
    return reverse.to(device), within.to(device)


def _reorder(inputs: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``(B, T, D)`` rows taken in ``(B, T)`` ``order`` along each sentence."""
    return inputs.gather(1, order[:, :, None].expand(-1, -1, inputs.size(2)))


def _torch_rnn_options(config: ModelConfig) -> dict:
    return {
        "num_layers": config.num_layers,
        "bidirectional": True,
        "batch_first": True,
        "dropout": config.dropout if config.num_layers > 1 else 0.0,
    }


class LstmEncoder(_TorchRecurrentEncoding, nn.LSTM):
    """``nn.LSTM`` itself (not a wrapper), so that checkpoints name its weights ``lstm.weight_ih_l0``, ...

    Args:
        input_size: the size of each token's features.
        config: ``hidden_size`` (per direction), ``num_layers`` and ``dropout`` (between stacked layers).
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__(input_size, config.hidden_size, **_torch_rnn_options(config))
        self.output_size = 2 * config.hidden_size


class GruEncoder(_TorchRecurrentEncoding, nn.GRU):
    """``nn.GRU``, shaped and named as :class:`LstmEncoder`."""

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__(input_size, config.hidden_size, **_torch_rnn_options(config))
        self.output_size = 2 * config.hidden_size


class PeepholeLstm(nn.Module):
    """A bidirectional LSTM with peephole connections (Gers & Schmidhuber 2000).

    For each direction, with ``x`` the input, ``h`` and ``c`` the previous output and cell state,
    and ``⊙`` the element-wise product::

        i = σ(W_i x + U_i h + b_i + p_i ⊙ c)        input gate, looks at c(t-1)
        f = σ(W_f x + U_f h + b_f + p_f ⊙ c)        forget gate, looks at c(t-1)
        g = tanh(W_g x + U_g h + b_g)
        c' = f ⊙ c + i ⊙ g
        o = σ(W_o x + U_o h + b_o + p_o ⊙ c')       output gate, looks at c(t)
        h' = o ⊙ tanh(c')

    The weights are named and laid out as ``nn.LSTM``'s (``weight_ih_l0``, ``weight_hh_l0_reverse``,
    gates in the order i, f, g, o, two biases), plus ``peephole_l0`` ``(3 * hidden_size,)``, the
    diagonal peephole weights ``p_i, p_f, p_o``: with those at zero, it is ``nn.LSTM``.

    Speed: the inputs' share of every gate is one matrix product for all steps and both
    directions; each step is then one batched product for both directions and eight element-wise
    operations (:func:`_peephole_directions`). TorchScript made the loop no faster on the CPU
    (measured), and is deprecated.

    Args:
        input_size: the size of each token's features.
        config: ``hidden_size`` (per direction), ``num_layers`` and ``dropout`` (between stacked layers).
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__()
        self.hidden_size = hidden = config.hidden_size
        self.num_layers = config.num_layers
        self.output_size = 2 * hidden
        self.between_layers = Dropout(config.dropout if config.num_layers > 1 else 0.0)
        for layer in range(config.num_layers):
            layer_input = input_size if layer == 0 else 2 * hidden
            for suffix in ("", "_reverse"):
                name = f"l{layer}{suffix}"
                self.register_parameter(f"weight_ih_{name}", nn.Parameter(torch.empty(4 * hidden, layer_input)))
                self.register_parameter(f"weight_hh_{name}", nn.Parameter(torch.empty(4 * hidden, hidden)))
                self.register_parameter(f"bias_ih_{name}", nn.Parameter(torch.empty(4 * hidden)))
                self.register_parameter(f"bias_hh_{name}", nn.Parameter(torch.empty(4 * hidden)))
                self.register_parameter(f"peephole_{name}", nn.Parameter(torch.empty(3 * hidden)))
        # As nn.LSTM: every weight uniform in ±1/sqrt(hidden_size).
        bound = 1.0 / math.sqrt(hidden)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def layer_weights(self, layer: int) -> dict[str, torch.Tensor]:
        """One layer's weights, both directions stacked: ``weight_ih`` ``(2, 4H, in)``, ``weight_hh``
        ``(2, 4H, H)``, ``bias`` ``(2, 4H)`` (the two biases added) and ``peephole`` ``(2, 3H)``."""

        def both(name: str) -> torch.Tensor:
            return torch.stack([getattr(self, f"{name}_l{layer}"), getattr(self, f"{name}_l{layer}_reverse")])

        return {
            "weight_ih": both("weight_ih"),
            "weight_hh": both("weight_hh"),
            "bias": both("bias_ih") + both("bias_hh"),
            "peephole": both("peephole"),
        }

    def encode(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T, input_size)`` features and ``(B,)`` lengths → ``(B, T, 2 * hidden_size)``, zeros past the ends.

        The backward direction runs forward over each sentence reversed within its own length,
        so that both directions start at a real token and padding comes after every real one.
        """
        reverse, within = _reversal(lengths, features.size(1), features.device)
        hidden = self.hidden_size
        layer_input = features
        for layer in range(self.num_layers):
            if layer > 0:
                layer_input = self.between_layers(layer_input)
            weights = self.layer_weights(layer)
            both = torch.stack([layer_input, _reorder(layer_input, reverse)])  # (2, B, T, in)
            # The inputs' share of the gates, every step at once: (2, B, T, 4H).
            from_inputs = (
                torch.matmul(both, weights["weight_ih"].transpose(1, 2)[:, None]) + weights["bias"][:, None, None, :]
            )
            peephole = weights["peephole"][:, None, :]  # (2, 1, 3H)
            outputs = _peephole_directions(
                from_inputs.permute(2, 0, 1, 3).contiguous(),  # (T, 2, B, 4H): one step's slice is contiguous
                weights["weight_hh"].transpose(1, 2).contiguous(),
                peephole[..., : 2 * hidden].contiguous(),
                peephole[..., 2 * hidden :].contiguous(),
            )  # (T, 2, B, H)
            forward = outputs[:, 0].transpose(0, 1)  # (B, T, H)
            backward = _reorder(outputs[:, 1].transpose(0, 1), reverse)
            layer_input = torch.cat([forward, backward], dim=2).masked_fill(~within[:, :, None], 0.0)
        return layer_input


def _peephole_directions(
    from_inputs: torch.Tensor,
    weight_hh: torch.Tensor,
    peephole_input_forget: torch.Tensor,
    peephole_output: torch.Tensor,
) -> torch.Tensor:
    """Both directions of one peephole LSTM layer, step by step.

    Args:
        from_inputs: ``(T, 2, B, 4H)`` the inputs' share of the gates, biases included.
        weight_hh: ``(2, H, 4H)`` each direction's recurrent weights, transposed.
        peephole_input_forget: ``(2, 1, 2H)``; peephole_output: ``(2, 1, H)``.

    Returns:
        ``(T, 2, B, H)`` the outputs ``h`` of every step.
    """
    steps, batch_size = from_inputs.shape[0], from_inputs.shape[2]
    hidden = weight_hh.shape[1]
    h = from_inputs.new_zeros(2, batch_size, hidden)
    c = from_inputs.new_zeros(2, batch_size, hidden)
    outputs: list[torch.Tensor] = []
    for step in range(steps):
        gates = from_inputs[step] + torch.bmm(h, weight_hh)  # (2, B, 4H)
        input_forget = torch.sigmoid(gates[:, :, : 2 * hidden] + c.repeat(1, 1, 2) * peephole_input_forget)
        candidate = torch.tanh(gates[:, :, 2 * hidden : 3 * hidden])
        c = input_forget[:, :, hidden:] * c + input_forget[:, :, :hidden] * candidate
        output_gate = torch.sigmoid(gates[:, :, 3 * hidden :] + c * peephole_output)
        h = output_gate * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs)


# Word-level encoders by cell name: an ``nn.Module`` made from ``(input_size, config)`` with an
# ``output_size`` and an ``encode(features, lengths)`` method shaped as :meth:`PeepholeLstm.encode`.
CELL_ENCODERS: dict[str, Callable[[int, ModelConfig], nn.Module]] = {
    "lstm": LstmEncoder,
    "peephole": PeepholeLstm,
    "gru": GruEncoder,
}


class CharCNN(nn.Module):
    """Character embeddings → 1-d convolution → max over the characters of each word (Ma & Hovy).

    Padding positions are excluded from the max, so a word's vector does not depend on how long
    the other words of its batch are.
    """

    def __init__(self, num_chars: int, config: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, config.char_dim, padding_idx=0)
        self.dropout = Dropout(config.dropout)
        window = config.char_window
        self.conv = nn.Conv1d(config.char_dim, config.char_filters, kernel_size=window, padding=window // 2)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """``(U, L)`` character ids (0 = padding) → ``(U, filters)`` word vectors."""
        embedded = self.dropout(self.embedding(char_ids))  # (U, L, char_dim)
        features = self.conv(embedded.transpose(1, 2))  # (U, filters, L)
        padding = (char_ids == 0).unsqueeze(1)  # (U, 1, L)
        return features.masked_fill(padding, float("-inf")).max(dim=2).values


class CharLstm(nn.Module):
    """Character embeddings → a bidirectional LSTM over each word's characters (Lample et al.).

    A word's vector is the forward direction's last output and the backward direction's first,
    ``char_filters / 2`` each; padding characters are packed away.
    """

    def __init__(self, num_chars: int, config: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, config.char_dim, padding_idx=0)
        self.dropout = Dropout(config.dropout)
        self.lstm = nn.LSTM(config.char_dim, config.char_filters // 2, bidirectional=True, batch_first=True)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """``(U, L)`` character ids (0 = padding, after a word's characters) → ``(U, char_filters)``."""
        lengths = (char_ids != 0).sum(dim=1).clamp(min=1).cpu()
        embedded = self.dropout(self.embedding(char_ids))  # (U, L, char_dim)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, (last, _) = self.lstm(packed)  # (2, U, char_filters / 2): each direction's final output
        return last.transpose(0, 1).reshape(char_ids.size(0), -1)


# Character encoders by name: made from ``(num_chars, config)``, ``(U, L)`` ids → ``(U, char_filters)``.
CHAR_ENCODERS: dict[str, Callable[[int, ModelConfig], nn.Module]] = {"cnn": CharCNN, "lstm": CharLstm}


def dropout(features: torch.Tensor, p: float) -> torch.Tensor:
    """Training-time dropout of any shape, its mask drawn by comparing uniform numbers with ``p``.

    Torch's own (``bernoulli_``) took twice as long on the CPU, a tenth of an epoch of the ``ner``
    preset. The same distribution, other draws.
    """
    if p == 0.0:
        return features
    return features * ((torch.rand_like(features) >= p) * (1.0 / (1.0 - p)))


class Dropout(nn.Dropout):
    """``nn.Dropout`` through :func:`dropout`."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return dropout(features, self.p) if self.training else features


class LockedDropout(nn.Module):
    """Dropout with one mask per sentence and feature, shared by all its positions (Gal & Ghahramani 2016).

    Reimers & Gurevych (2017) found this variational dropout the best setting for BiLSTM-CRF
    taggers; ordinary dropout draws a new mask at every position.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` → ``(B, T, D)``; unchanged in evaluation mode."""
        if not self.training or self.p == 0.0:
            return features
        keep = features.new_empty(features.size(0), 1, features.size(2)).bernoulli_(1.0 - self.p)
        return features * keep / (1.0 - self.p)


class MentionAttention(nn.Module):
    """Attention from each token to the other occurrences of the same word in its sequence.

    In a window of a document (:mod:`bilstm_tagger.model.context`), a name's other mentions are
    often less ambiguous than the one at hand ("Schumacher" after "Michael Schumacher"); the
    encoder's states there, weighted by a bilinear score against this token's state, are added to
    what the projection reads. A token whose word occurs nowhere else in its sequence reads zeros.

    Args:
        size: the encoder's output size ``D``.
    """

    def __init__(self, size: int):
        super().__init__()
        self.query = nn.Linear(size, size, bias=False)
        self.scale = 1.0 / math.sqrt(size)

    def forward(self, encoded: torch.Tensor, word_index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` states, ``(B, T)`` word identities (equal for equal words) and ``(B, T)`` mask → ``(B, T, D)``."""
        positions = torch.arange(encoded.size(1), device=encoded.device)
        other = positions[:, None] != positions[None, :]  # (T, T)
        same = (word_index[:, :, None] == word_index[:, None, :]) & mask[:, None, :] & other[None]  # (B, T, T)
        scores = torch.matmul(self.query(encoded), encoded.transpose(1, 2)) * self.scale  # (B, T, T)
        # A large negative score rather than -inf, and the weights zeroed where no mention is:
        # a token without one then reads zeros, never the NaN that softmax of -inf everywhere gives.
        weights = torch.softmax(scores.masked_fill(~same, -1e4), dim=-1) * same
        return torch.matmul(weights, encoded)
