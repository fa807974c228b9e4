"""What tagging returns: :class:`TaggedSentence` per sentence, :class:`Document` per input text.

Output formats (:mod:`bilstm_tagger.tagging.formats`, :mod:`bilstm_tagger.tagging.html_page`), evaluation and any
service read these objects, so that adding something to a prediction changes these types and
their readers, not every function in between. No torch here.

Offsets are Python string indices (code points) into the document's ``text``, ``end`` exclusive:
``document.text[token.start:token.end] == token.text`` always holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bilstm_tagger.base.schemes import Span, spans_to_tags, tags_to_spans


@dataclass(frozen=True)
class NBestPath:
    """One of a sentence's best tag sequences (in the scheme the sentence is written in) and its probability."""

    tags: list[str]
    probability: float


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence's tokens, their tags in ``scheme``, and the entities the tags mark.

    Attributes:
        tokens: the words, as given.
        tags: one tag per token, in ``scheme``.
        scheme: a span scheme (``iob1``, ``iob2``, ``iobes``, ``bilou``) or ``plain``.
        spans: the entities (token indices, ``end`` exclusive), in order; empty for plain tags.
        scores: each token's confidence (the CRF's marginal probability of its tag), where
            computed; else ``None``.
        span_scores: each span's confidence (the CRF's probability that the sentence holds
            exactly this entity), in the order of ``spans``, where computed; else ``None``.
        offsets: ``(start, end)`` of each token in its document's text, where known; else ``None``.
        nbest: the best tag sequences with their probabilities, best first, where asked for.
    """

    tokens: list[str]
    tags: list[str]
    scheme: str
    spans: list[Span] = field(default_factory=list)
    scores: list[float] | None = None
    span_scores: list[float] | None = None
    offsets: list[tuple[int, int]] | None = None
    nbest: list[NBestPath] | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def span_text(self, span: Span) -> str:
        """The tokens of a span, joined by single spaces."""
        return " ".join(self.tokens[span.start : span.end])

    @property
    def start(self) -> int:
        """Offset of the first token (0 without offsets or tokens)."""
        return self.offsets[0][0] if self.offsets else 0

    @property
    def end(self) -> int:
        """Offset just past the last token (0 without offsets or tokens)."""
        return self.offsets[-1][1] if self.offsets else 0

    def without_spans_below(self, threshold: float) -> TaggedSentence:
        """This sentence without the entities whose confidence is below ``threshold``; their tokens become ``O``.

        Token confidences are kept (they are the marginals of the tags the model chose).
        """
        if self.span_scores is None or all(score >= threshold for score in self.span_scores):
            return self
        kept = [(span, score) for span, score in zip(self.spans, self.span_scores) if score >= threshold]
        spans = [span for span, _ in kept]
        return replace(
            self,
            tags=spans_to_tags(len(self.tokens), spans, self.scheme),
            spans=spans,
            span_scores=[score for _, score in kept],
        )


@dataclass(frozen=True)
class Token:
    """A token of a :class:`Document`: its text, offsets, tag and confidence (``None`` if not computed)."""

    text: str
    start: int
    end: int
    tag: str
    confidence: float | None = None


@dataclass(frozen=True)
class Entity:
    """An entity of a :class:`Document`: offsets of its first and past its last character, its type,
    its text (``document.text[start:end]``) and confidence (``None`` if not computed)."""

    start: int
    end: int
    type: str
    text: str
    confidence: float | None = None


@dataclass(frozen=True)
class Document:
    """One input text (a line of raw text, or a sentence of tokens joined by spaces) and its sentences.

    Every sentence carries ``offsets`` into ``text``. A text with no token has no sentence.
    """

    text: str
    sentences: list[TaggedSentence]

    @property
    def tokens(self) -> list[Token]:
        """All tokens of all sentences, in order."""
        return [
            Token(self.text[start:end], start, end, tag, None if sentence.scores is None else sentence.scores[index])
            for sentence in self.sentences
            for index, (tag, (start, end)) in enumerate(zip(sentence.tags, sentence.offsets or []))
        ]

    @property
    def entities(self) -> list[Entity]:
        """All entities of all sentences, in order, with character offsets."""
        entities = []
        for sentence in self.sentences:
            assert sentence.offsets is not None, "a document's sentences carry offsets"
            for index, span in enumerate(sentence.spans):
                start, end = sentence.offsets[span.start][0], sentence.offsets[span.end - 1][1]
                confidence = None if sentence.span_scores is None else sentence.span_scores[index]
                entities.append(Entity(start, end, span.label, self.text[start:end], confidence))
        return entities


def tagged_sentence(
    tokens: Sequence[str],
    tags: Sequence[str],
    source: str,
    target: str,
    spans: list[Span] | None = None,
    **predictions,
) -> TaggedSentence:
    """A :class:`TaggedSentence` of ``tags`` predicted in scheme ``source``, written in scheme ``target``.

    The spans are read once (or given: ``spans``, those of ``tags``), and the tags rewritten from
    them: what ``convert`` would give.
    ``predictions`` are the other fields of :class:`TaggedSentence` (``scores``, ``span_scores``,
    ``offsets``, ``nbest``), already in the order of the spans read from ``tags``; the n-best tag
    sequences are rewritten in ``target`` too.

    Raises:
        ValueError: plain tags to a span scheme, or the other way round.
    """
    if (source == "plain") != (target == "plain"):
        raise ValueError(f"cannot convert tags from {source} to {target}")
    nbest = predictions.pop("nbest", None)
    if nbest is not None and source != target:
        nbest = [NBestPath(_rewrite(path.tags, target), path.probability) for path in nbest]
    if target == "plain":
        return TaggedSentence(list(tokens), list(tags), target, nbest=nbest, **predictions)
    spans = tags_to_spans(list(tags)) if spans is None else spans
    written = list(tags) if source == target else spans_to_tags(len(tags), spans, target)
    return TaggedSentence(list(tokens), written, target, spans, nbest=nbest, **predictions)


def _rewrite(tags: list[str], target: str) -> list[str]:
    return spans_to_tags(len(tags), tags_to_spans(tags), target)
