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
    import numpy as np
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


def lookup_keys(word: str) -> tuple[str, str, str]:
    """How a pretrained vector is looked up, in order: as written, lowercase, lowercase with digits as 0."""
    lower = word.lower()
    return word, lower, normalise_word(lower)


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
        true_word_ids: ``(B, T)`` the word ids before word dropout replaced some by the unknown
            word (what a language model predicts), or ``None`` when they are ``word_ids``.
    """

    word_ids: torch.Tensor
    char_ids: torch.Tensor
    char_index: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    tag_ids: torch.Tensor | None = None
    true_word_ids: torch.Tensor | None = None


@dataclass
class EncodedBatch:
    """A :class:`Batch` as numpy arrays (int64), for networks that run without torch.

    Attributes:
        word_ids: ``(B, T)``; char_ids: ``(U, L)``; char_index: ``(B, T)``; lengths: ``(B,)``; as in :class:`Batch`.
    """

    word_ids: np.ndarray
    char_ids: np.ndarray
    char_index: np.ndarray
    lengths: np.ndarray

    def to_torch(self, device: torch.device | str = "cpu", tag_ids: torch.Tensor | None = None) -> Batch:
        """The same batch as torch tensors on ``device`` (``lengths`` stay on the CPU), with ``tag_ids`` if given."""
        import torch

        lengths = torch.from_numpy(self.lengths)
        mask = torch.arange(self.word_ids.shape[1])[None, :] < lengths[:, None]
        return Batch(
            word_ids=torch.from_numpy(self.word_ids).to(device),
            char_ids=torch.from_numpy(self.char_ids).to(device),
            char_index=torch.from_numpy(self.char_index).to(device),
            mask=mask.to(device),
            lengths=lengths,
            tag_ids=tag_ids,
        )


class Vocab:
    """The word, character and tag vocabularies of a model, and how sentences become :class:`Batch` tensors."""

    def __init__(self, words: Vocabulary, chars: Vocabulary, tags: Vocabulary, extra_words: list[str] | None = None):
        self.words = words
        self.chars = chars
        self.tags = tags
        # Pretrained words that are not in the training vocabulary: ids len(words) + position.
        self.extra_words = list(extra_words or [])
        self._extra_index: dict[str, int] | None = None  # built on the first look-up that needs it
        self._word_id_cache: dict[str, int] = {}
        self._char_ids_cache: dict[str, list[int]] = {}

    @classmethod
    def build(cls, sentences: Iterable[tuple[Sequence[str], Sequence[str]]]) -> Vocab:
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
        data = {"words": self.words.itos, "chars": self.chars.itos, "tags": self.tags.itos}
        if self.extra_words:
            data["extra_words"] = self.extra_words
        return data

    @classmethod
    def from_json(cls, data: dict) -> Vocab:
        words = Vocabulary(data["words"][2:])
        chars = Vocabulary(data["chars"][2:])
        return cls(words, chars, Vocabulary(data["tags"], specials=False), data.get("extra_words"))

    def word_id(self, word: str) -> int:
        """The word's id (digits as 0), else its lowercase form's; else a pretrained word's (as
        written, lowercase, digits as 0); else the unknown word's (1)."""
        cached = self._word_id_cache.get(word)
        if cached is not None:
            return cached
        normalised = normalise_word(word)
        found = self.words.stoi.get(normalised) or self.words.stoi.get(normalised.lower())  # 0 is padding
        if not found and self.extra_words:
            found = next(filter(None, map(self._extra_ids().get, lookup_keys(word))), None)
        found = found or 1
        if len(self._word_id_cache) < 200_000:  # bound the memory of long tagging streams
            self._word_id_cache[word] = found
        return found

    def _extra_ids(self) -> dict[str, int]:
        """Each pretrained word's id (a word listed twice keeps its first). Built on first use: a model
        with GloVe lists 400,000 of them, and tagging a sentence whose words were all in training needs none."""
        if self._extra_index is None:
            first = len(self.words)
            # Reversed, so that the first of a word listed twice is the one kept.
            self._extra_index = dict(
                zip(reversed(self.extra_words), range(first + len(self.extra_words) - 1, first - 1, -1))
            )
        return self._extra_index

    def encode(
        self,
        sentences: Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]] | None = None,
        device: torch.device | str = "cpu",
    ) -> Batch:
        """Pad a list of non-empty token lists (and their tags) into a :class:`Batch` of torch tensors."""
        import torch

        arrays = self.arrays(sentences)
        tag_ids = None
        if tags is not None:
            tag_stoi = self.tags.stoi
            max_length = arrays.word_ids.shape[1]
            flat_tags = []
            for row in tags:
                flat_tags += [tag_stoi[tag] for tag in row]
                flat_tags += [0] * (max_length - len(row))
            tag_ids = torch.tensor(flat_tags).view(len(sentences), max_length).to(device)
        return arrays.to_torch(device, tag_ids)

    def arrays(self, sentences: Sequence[Sequence[str]]) -> EncodedBatch:
        """Pad a list of non-empty token lists into an :class:`EncodedBatch` of numpy arrays."""
        import numpy as np

        lengths = [len(tokens) for tokens in sentences]
        batch_size, max_length = len(sentences), max(lengths)
        word_id, char_ids_of = self.word_id, self.char_ids
        # Flat Python lists first, then one array each: far cheaper than nested lists or an array per row.
        word_ids: list[int] = []
        char_index: list[int] = []
        distinct: dict[str, int] = {}
        for tokens in sentences:
            padding = [0] * (max_length - len(tokens))
            word_ids += [word_id(token) for token in tokens]
            word_ids += padding
            char_index += [distinct.setdefault(token, len(distinct)) for token in tokens]
            char_index += padding
        char_length = min(MAX_WORD_CHARS, max(map(len, distinct)))
        char_ids: list[int] = []
        for word in distinct:
            ids = char_ids_of(word)
            char_ids += ids
            char_ids += [0] * (char_length - len(ids))
        return EncodedBatch(
            word_ids=np.array(word_ids, dtype=np.int64).reshape(batch_size, max_length),
            char_ids=np.array(char_ids, dtype=np.int64).reshape(len(distinct), char_length),
            char_index=np.array(char_index, dtype=np.int64).reshape(batch_size, max_length),
            lengths=np.array(lengths, dtype=np.int64),
        )

    def char_ids(self, word: str) -> list[int]:
        """The character ids of a word's first ``MAX_WORD_CHARS`` characters (1 for unknown ones)."""
        cached = self._char_ids_cache.get(word)
        if cached is None:
            stoi = self.chars.stoi
            cached = [stoi.get(char, 1) for char in word[:MAX_WORD_CHARS]]
            if len(self._char_ids_cache) < 200_000:  # bounded, like the word id cache
                self._char_ids_cache[word] = cached
        return cached
