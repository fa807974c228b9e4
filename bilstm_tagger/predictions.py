"""What tagging returns: one :class:`TaggedSentence` per sentence, in the scheme asked for.

Output formats (:mod:`bilstm_tagger.formats`), evaluation and any service read these objects,
so that adding something to a prediction (scores, character offsets) changes this type and its
readers, not every function in between. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .schemes import Span, spans_to_tags, tags_to_spans


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence's tokens, their tags in ``scheme``, and the entities the tags mark.

    Attributes:
        tokens: the words, as given.
        tags: one tag per token, in ``scheme``.
        scheme: a span scheme (``iob1``, ``iob2``, ``iobes``, ``bilou``) or ``plain``.
        spans: the entities (token indices, ``end`` exclusive), in order; empty for plain tags.
        scores: a confidence per token, where one was computed; else ``None``.
        offsets: ``(start, end)`` character offsets of each token in its input text, where known;
            else ``None``.
    """

    tokens: list[str]
    tags: list[str]
    scheme: str
    spans: list[Span] = field(default_factory=list)
    scores: list[float] | None = None
    offsets: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def span_text(self, span: Span) -> str:
        """The tokens of a span, joined by single spaces."""
        return " ".join(self.tokens[span.start : span.end])


def tagged_sentence(tokens: Sequence[str], tags: Sequence[str], source: str, target: str) -> TaggedSentence:
    """A :class:`TaggedSentence` of ``tags`` predicted in scheme ``source``, written in scheme ``target``.

    The spans are read once, and the tags rewritten from them: what ``convert`` would give.

    Raises:
        ValueError: plain tags to a span scheme, or the other way round.
    """
    if (source == "plain") != (target == "plain"):
        raise ValueError(f"cannot convert tags from {source} to {target}")
    if target == "plain":
        return TaggedSentence(list(tokens), list(tags), target)
    spans = tags_to_spans(list(tags))
    written = list(tags) if source == target else spans_to_tags(len(tags), spans, target)
    return TaggedSentence(list(tokens), written, target, spans)
