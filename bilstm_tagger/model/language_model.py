"""A word-level language model trained jointly with the tagger, on its own BiLSTM (Rei 2017).

The forward direction's state at each token predicts the next word, the backward direction's
the previous one: each has seen only the words on its own side, so the task is an honest
language model, and it teaches the encoder about the training text beyond its tags, without
any other data. ``ModelConfig.lm_weight`` scales its loss against the CRF's; tagging never runs
it, so it costs nothing once trained.

It predicts the ``LM_VOCABULARY - 1`` most frequent training words and one class for all the
others: a softmax over the whole vocabulary (20,000 words on CoNLL-2003) would cost many times
the BiLSTM itself (``benchmarks/RESULTS.md`` has the measurement behind the size).
"""

from __future__ import annotations

import torch
from torch import nn

LM_VOCABULARY = 2000  # classes: the 1,999 most frequent training words, and "any other word"


class WordLanguageModel(nn.Module):
    """Two softmax heads over the word classes: next word from the forward states, previous from the backward.

    Args:
        hidden_size: the size of each direction's state.
        num_words: the training vocabulary's size (padding and unknown included).
    """

    def __init__(self, hidden_size: int, num_words: int):
        super().__init__()
        self.num_classes = min(LM_VOCABULARY, num_words)
        self.next_word = nn.Linear(hidden_size, self.num_classes)
        self.previous_word = nn.Linear(hidden_size, self.num_classes)
        # (num_words,) each word id's class; 0 ("any other word") until set_vocabulary. A buffer:
        # the checkpoint keeps it, so a resumed run predicts the same classes.
        self.register_buffer("word_classes", torch.zeros(num_words, dtype=torch.long))

    def set_vocabulary(self, word_counts: torch.Tensor) -> None:
        """Give the ``num_classes - 1`` most frequent words (``(num_words,)`` training counts) their own class.

        Padding, the unknown word and unseen words stay in class 0; ties go to the lower id, so
        the classes depend only on the data.
        """
        counts = word_counts.tolist()
        seen = [word for word in range(2, len(counts)) if counts[word] > 0]
        order = sorted(seen, key=lambda word: (-counts[word], word))
        frequent = torch.tensor(order[: self.num_classes - 1], dtype=torch.long)
        classes = torch.zeros_like(self.word_classes)
        classes[frequent] = torch.arange(1, len(frequent) + 1)
        self.word_classes.copy_(classes)

    def loss(self, states: torch.Tensor, word_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The summed negative log-likelihood of every next and previous word: a scalar.

        Args:
            states: ``(B, T, 2 * hidden_size)`` the encoder's output, forward then backward direction.
            word_ids: ``(B, T)`` the sentences' words (before word dropout).
            mask: ``(B, T)`` bool, true at real tokens.
        """
        hidden = states.size(-1) // 2
        classes = self.word_classes[word_ids.clamp(max=self.word_classes.size(0) - 1)]  # (B, T)
        has_neighbour = mask[:, 1:]  # (B, T - 1): token t + 1 exists; for the backward head, t - 1 does
        forward = states[:, :-1, :hidden][has_neighbour]  # (N, H) states followed by a word
        backward = states[:, 1:, hidden:][has_neighbour]  # (N, H) states preceded by one
        next_loss = nn.functional.cross_entropy(self.next_word(forward), classes[:, 1:][has_neighbour], reduction="sum")
        previous_loss = nn.functional.cross_entropy(
            self.previous_word(backward), classes[:, :-1][has_neighbour], reduction="sum"
        )
        return next_loss + previous_loss
