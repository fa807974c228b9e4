"""Vocabularies (words, characters, tags ↔ ids) and batches of tensors.

A :class:`Batch` holds padded tensors for a list of sentences. Characters are encoded once per
*distinct* word of the batch (``char_ids``), and ``char_index`` says which distinct word each
token is, so that the character CNN runs once per word type instead of once per token.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PAD, UNK = "<pad>", "<unk>"
MAX_WORD_CHARS = 64  # longer words keep their first 64 characters for the character CNN
_DIGITS = re.compile(r"\d")


class Vocabulary:
    """A bidirectional mapping between strings and ids.

    With ``specials`` (the default for words and characters), id 0 is padding and id 1 the
    unknown item; tag vocabularies have no specials.
    """

    def __init__(self, items: Iterable[str], specials: bool = True):
        self.itos: list[str] = [PAD, UNK] if specials else []
        seen = set(self.itos)
        for item in items:
            if item not in seen:
                seen.add(item)
                self.itos.append(item)
        self.stoi: dict[str, int] = {item: index for index, item in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, item: str) -> bool:
        return item in self.stoi


def normalise_word(word: str) -> str:
    """The vocabulary's form of a word: digits as 0, so that "1996" and "2003" share "0000"."""
    return _DIGITS.sub("0", word)


@dataclass
class Batch:
    """Padded tensors for ``B`` sentences of at most ``T`` tokens.

    Attributes:
        word_ids: ``(B, T)`` word ids, 0 at padding.
        char_ids: ``(U, L)`` character ids of the ``U`` distinct words of the batch, 0 at padding.
        char_index: ``(B, T)`` index into ``char_ids`` of each token's word (0 at padding).
        mask: ``(B, T)`` bool, true at real tokens.
        lengths: ``(B,)`` sentence lengths, on the CPU (as ``pack_padded_sequence`` wants).
        tag_ids: ``(B, T)`` gold tag ids (0 at padding), or ``None``.
    """

    word_ids: torch.Tensor
    char_ids: torch.Tensor
    char_index: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    tag_ids: torch.Tensor | None = None


class Encoder:
    """Turns sentences into :class:`Batch` tensors with the word, character and tag vocabularies."""

    def __init__(self, words: Vocabulary, chars: Vocabulary, tags: Vocabulary):
        self.words = words
        self.chars = chars
        self.tags = tags
        self._word_id_cache: dict[str, int] = {}

    @classmethod
    def build(cls, sentences: Iterable[tuple[Sequence[str], Sequence[str]]]) -> Encoder:
        """Vocabularies from training ``(tokens, tags)`` pairs.

        Words are kept with their case, digits as 0 (:func:`normalise_word`); characters as they
        are. Tags are sorted, ``O`` first.
        """
        word_counts: Counter[str] = Counter()
        char_counts: Counter[str] = Counter()
        tag_set: set[str] = set()
        for tokens, tags in sentences:
            word_counts.update(tokens)
            tag_set.update(tags)
        for word, count in word_counts.items():
            for char in word[:MAX_WORD_CHARS]:
                char_counts[char] += count
        words = Vocabulary(sorted({normalise_word(word) for word in word_counts}))
        chars = Vocabulary(sorted(char_counts))
        tags = Vocabulary(sorted(tag_set, key=lambda tag: (tag != "O", tag)), specials=False)
        return cls(words, chars, tags)

    def to_json(self) -> dict:
        return {"words": self.words.itos, "chars": self.chars.itos, "tags": self.tags.itos}

    @classmethod
    def from_json(cls, data: dict) -> Encoder:
        words = Vocabulary(data["words"][2:])
        chars = Vocabulary(data["chars"][2:])
        return cls(words, chars, Vocabulary(data["tags"], specials=False))

    def word_id(self, word: str) -> int:
        """The word's id (digits as 0), else its lowercase form's, else the unknown word's (1)."""
        cached = self._word_id_cache.get(word)
        if cached is not None:
            return cached
        normalised = normalise_word(word)
        found = self.words.stoi.get(normalised) or self.words.stoi.get(normalised.lower()) or 1  # 0 is padding
        if len(self._word_id_cache) < 200_000:  # bound the memory of long tagging streams
            self._word_id_cache[word] = found
        return found

    def encode(
        self,
        sentences: Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]] | None = None,
        device: torch.device | str = "cpu",
    ) -> Batch:
        """Pad a list of non-empty token lists (and their tags) into a :class:`Batch`."""
        import torch

        lengths = [len(tokens) for tokens in sentences]
        batch_size, max_length = len(sentences), max(lengths)
        word_ids = torch.zeros(batch_size, max_length, dtype=torch.long)
        char_index = torch.zeros(batch_size, max_length, dtype=torch.long)
        distinct: dict[str, int] = {}
        for row, tokens in enumerate(sentences):
            length = len(tokens)
            word_ids[row, :length] = torch.tensor([self.word_id(token) for token in tokens])
            char_index[row, :length] = torch.tensor([distinct.setdefault(token, len(distinct)) for token in tokens])
        char_ids = torch.zeros(len(distinct), min(MAX_WORD_CHARS, max(map(len, distinct))), dtype=torch.long)
        char_stoi = self.chars.stoi
        for word, row in distinct.items():
            ids = [char_stoi.get(char, 1) for char in word[:MAX_WORD_CHARS]]
            char_ids[row, : len(ids)] = torch.tensor(ids)
        length_tensor = torch.tensor(lengths)
        mask = torch.arange(max_length)[None, :] < length_tensor[:, None]
        tag_ids = None
        if tags is not None:
            tag_ids = torch.zeros(batch_size, max_length, dtype=torch.long)
            for row, sentence_tags in enumerate(tags):
                tag_ids[row, : len(sentence_tags)] = torch.tensor([self.tags.stoi[tag] for tag in sentence_tags])
            tag_ids = tag_ids.to(device)
        return Batch(
            word_ids=word_ids.to(device),
            char_ids=char_ids.to(device),
            char_index=char_index.to(device),
            mask=mask.to(device),
            lengths=length_tensor,
            tag_ids=tag_ids,
        )
