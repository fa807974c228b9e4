"""Document context: which sentences the encoder reads together (``ModelConfig.context``).

A model trained with ``context="sentence"`` reads each sentence alone, as NCRF++, flair and spaCy
do. With ``context="document"`` its BiLSTM runs over *windows*: consecutive sentences of one
document, joined while they fit in ``context_tokens`` tokens (a sentence longer than that is a
window of its own). Every sentence of a window is scored, each by its own CRF pass, so that
confidences and n-best lists stay per sentence; the window only widens what the encoder sees.
Training reads the same windows, each one a sequence for the CRF.

Windows are cut greedily in document order, so a sentence's context is what its window holds
besides it (less than ``context_tokens / 2`` tokens on each side on average: the windows are not
all full), and memory and time per token stay those of a ``context_tokens``-token sequence
however long the document is.

Where documents end: CoNLL ``-DOCSTART-`` lines, CoNLL-U ``# newdoc`` comments, blank lines in raw
text and token input, one text of the Python API or of a request (see docs/context.md).
No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Consecutive sentences of one document, read by the encoder as one sequence.

    Attributes:
        members: the indices of its sentences, in order.
        starts: each member's first position in the window.
        length: the window's tokens, all members together.
    """

    members: tuple[int, ...]
    starts: tuple[int, ...]
    length: int


def pack_windows(lengths: Sequence[int], documents: Sequence[int], max_tokens: int) -> list[Window]:
    """Cut sentences into windows, in order: a window holds consecutive sentences of one document
    while their tokens add up to at most ``max_tokens``.

    Args:
        lengths: each sentence's tokens (at least 1).
        documents: each sentence's document, a key that changes where a document starts.
        max_tokens: the most tokens a window holds, unless one sentence alone has more.

    >>> [w.members for w in pack_windows([3, 4, 2, 5], [0, 0, 0, 1], 8)]
    [(0, 1), (2,), (3,)]
    """
    windows: list[Window] = []
    members: list[int] = []
    starts: list[int] = []
    length = 0
    for index, (size, document) in enumerate(zip(lengths, documents)):
        if members and (documents[members[-1]] != document or length + size > max_tokens):
            windows.append(Window(tuple(members), tuple(starts), length))
            members, starts, length = [], [], 0
        members.append(index)
        starts.append(length)
        length += size
    if members:
        windows.append(Window(tuple(members), tuple(starts), length))
    return windows


def document_keys(starts_document: Sequence[bool]) -> list[int]:
    """Each sentence's document number, from whether it starts a document (the first always does).

    >>> document_keys([True, False, True, False])
    [1, 1, 2, 2]
    """
    keys, key = [], 0
    for starts in starts_document:
        key += bool(starts) or not keys
        keys.append(key)
    return keys
