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
MAX_SEEN_WORDS = 200_000  # words whose ids a vocabulary keeps while tagging (36 MB of ids at most)
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
        self._seen: _SeenWords | None = None  # made on the first batch

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

        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        batch_size, max_length = len(sentences), int(lengths.max())
        tokens = [token for sentence in sentences for token in sentence]
        # Per token, only C loops (a dict of the distinct words, one lookup each); per distinct word,
        # one lookup of its row among the words seen before, whose ids are kept as arrays.
        distinct = list(dict.fromkeys(tokens))  # in order of first occurrence
        position = {word: index for index, word in enumerate(distinct)}
        char_index = np.fromiter(map(position.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        if self._seen is None:
            self._seen = _SeenWords(self)
        rows = self._seen.rows(distinct)
        real = np.arange(max_length)[None, :] < lengths[:, None]  # (B, T), row-major as ``tokens``
        padded_word_ids = np.zeros((batch_size, max_length), dtype=np.int64)
        padded_word_ids[real] = self._seen.word_ids[rows][char_index]
        padded_char_index = np.zeros((batch_size, max_length), dtype=np.int64)
        padded_char_index[real] = char_index
        char_length = min(MAX_WORD_CHARS, max(map(len, distinct)))
        return EncodedBatch(
            word_ids=padded_word_ids,
            char_ids=self._seen.char_ids[rows, :char_length].astype(np.int64),
            char_index=padded_char_index,
            lengths=lengths,
        )

    def char_ids(self, word: str) -> list[int]:
        """The character ids of a word's first ``MAX_WORD_CHARS`` characters (1 for unknown ones)."""
        stoi = self.chars.stoi
        return [stoi.get(char, 1) for char in word[:MAX_WORD_CHARS]]


class _SeenWords:
    """The words a :class:`Vocab` has encoded, each once: its word id and its character ids (0-padded to
    ``MAX_WORD_CHARS``), as rows of two arrays, so that a batch's ids are two array look-ups.

    At most :data:`MAX_SEEN_WORDS` rows: memory stays bounded on a stream of ever new words (the
    table starts again when full, before a batch, so that a batch's rows stay valid).
    """

    def __init__(self, vocab: Vocab):
        import numpy as np

        self.vocab = vocab
        self.row_of: dict[str, int] = {}
        self.word_ids = np.zeros(1024, dtype=np.int64)
        # int16 where the characters allow it: half the memory of a full table
        char_type = np.int16 if len(vocab.chars) <= np.iinfo(np.int16).max else np.int32
        self.char_ids = np.zeros((1024, MAX_WORD_CHARS), dtype=char_type)

    def rows(self, words: list[str]):
        """``(len(words),)`` each word's row, adding those not seen yet."""
        import numpy as np

        rows = list(map(self.row_of.get, words))
        if None in rows:
            if len(self.row_of) + len(words) > MAX_SEEN_WORDS:
                self.row_of.clear()
                rows = [None] * len(words)
            for index, (word, row) in enumerate(zip(words, rows)):
                if row is None:
                    rows[index] = self._add(word)
        return np.array(rows, dtype=np.intp)

    def _add(self, word: str) -> int:
        import numpy as np

        row = len(self.row_of)
        if row == len(self.word_ids):  # twice the room
            self.word_ids = np.concatenate([self.word_ids, np.zeros_like(self.word_ids)])
            self.char_ids = np.concatenate([self.char_ids, np.zeros_like(self.char_ids)])
        ids = self.vocab.char_ids(word)
        self.word_ids[row] = self.vocab.word_id(word)
        self.char_ids[row, : len(ids)] = ids
        self.char_ids[row, len(ids) :] = 0  # a row is used again once the table has started again
        self.row_of[word] = row
        return row
