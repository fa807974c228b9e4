"""What a model gets wrong: span error classes, a confusion matrix, and the most frequent errors.

Span tags: every gold span and every predicted span falls in exactly one class.

* ``correct``: a span on the other side with the same boundaries and type;
* ``wrong_type``: else, one with the same boundaries and another type;
* ``wrong_boundaries``: else, an overlapping one of the same type;
* ``wrong_both``: else, an overlapping one (other boundaries, other type);
* ``missed`` (gold spans) / ``spurious`` (predicted spans): nothing overlaps it.

So the gold-side counts sum to the number of gold spans and the predicted-side counts to the
number of predicted spans. The confusion matrix counts each gold span once, against its best
match among the overlapping predictions (in the order of the classes above, then by overlap),
or against ``O`` when it is missed; each spurious prediction is counted once in the ``O`` row.

Plain tags (part of speech) get the tag confusion matrix and the most confused pairs. No torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bilstm_tagger.base.schemes import Span, tags_to_spans

SPAN_CLASSES: tuple[str, ...] = ("correct", "wrong_type", "wrong_boundaries", "wrong_both", "missed", "spurious")
GOLD_CLASSES: tuple[str, ...] = SPAN_CLASSES[:5]
PREDICTED_CLASSES: tuple[str, ...] = (*SPAN_CLASSES[:4], "spurious")
OUTSIDE = "O"


@dataclass(frozen=True)
class ErrorExample:
    """One kind of error, how often it occurs, and one sentence where it does.

    Attributes:
        kind: an error class of :data:`SPAN_CLASSES` (not ``correct``), or ``tag`` for plain tags.
        count: how often the same error (kind, gold text and type, predicted text and type) occurs.
        tokens: the sentence of its first occurrence.
        gold, predicted: all gold and predicted spans of that sentence (for plain tags, one span per token).
        gold_span, predicted_span: the spans of this error (``None`` for a spurious or a missed span).
    """

    kind: str
    count: int
    tokens: list[str]
    gold: list[Span]
    predicted: list[Span]
    gold_span: Span | None
    predicted_span: Span | None

    def to_json(self) -> dict:
        def span(value: Span | None) -> dict | None:
            if value is None:
                return None
            text = " ".join(self.tokens[value.start : value.end])
            return {"start": value.start, "end": value.end, "type": value.label, "text": text}

        return {
            "kind": self.kind,
            "count": self.count,
            "tokens": self.tokens,
            "gold": span(self.gold_span),
            "predicted": span(self.predicted_span),
        }


@dataclass
class ErrorAnalysis:
    """The result of :func:`analyse`.

    Attributes:
        metric: ``f1`` for span tags, ``accuracy`` for plain tags.
        gold_counts: class → number of gold spans (:data:`GOLD_CLASSES`); empty for plain tags.
        predicted_counts: class → number of predicted spans (:data:`PREDICTED_CLASSES`); empty for plain tags.
        per_type: entity type → class → count, every class of :data:`SPAN_CLASSES`: the gold spans
            of the type in the first five (they sum to its support), its spurious predictions in
            ``spurious``.
        labels: the rows and columns of ``confusion`` (entity types then ``O``, or tags).
        confusion: ``confusion[i][j]``: gold ``labels[i]`` against predicted ``labels[j]``.
        confused_pairs: ``(gold, predicted, count)`` off the diagonal, most frequent first.
        examples: the most frequent errors first.
    """

    metric: str
    gold_counts: dict[str, int]
    predicted_counts: dict[str, int]
    per_type: dict[str, dict[str, int]]
    labels: list[str]
    confusion: list[list[int]]
    confused_pairs: list[tuple[str, str, int]]
    examples: list[ErrorExample] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "metric": self.metric,
            "gold_counts": self.gold_counts,
            "predicted_counts": self.predicted_counts,
            "per_type": self.per_type,
            "labels": self.labels,
            "confusion": self.confusion,
            "confused_pairs": [{"gold": g, "predicted": p, "count": n} for g, p, n in self.confused_pairs],
            "examples": [example.to_json() for example in self.examples],
        }


def analyse(
    tokens: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    scheme: str,
    max_examples: int = 10,
) -> ErrorAnalysis:
    """Classify the errors of ``predicted`` tags against ``gold`` ones, both in ``scheme``.

    Args:
        tokens: the sentences' words, for the examples.
        gold, predicted: one tag list per sentence, of the sentences' lengths.
        scheme: a span scheme, or ``plain`` for tags without spans.
        max_examples: how many of the most frequent errors to keep.
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences differ in length")
    if scheme == "plain":
        return _analyse_tags(tokens, gold, predicted, max_examples)
    return _analyse_spans(tokens, gold, predicted, max_examples)


def classify(span: Span, others: Sequence[Span]) -> tuple[str, Span | None]:
    """The class of ``span`` against the spans of the other side, and the one it matches best.

    ``("unmatched", None)`` when nothing overlaps it: the caller calls that missed (a gold span) or
    spurious (a predicted one).
    """
    overlapping = [other for other in others if other.start < span.end and span.start < other.end]
    if not overlapping:
        return "unmatched", None

    def rank(other: Span) -> tuple[int, int]:
        same_bounds = (other.start, other.end) == (span.start, span.end)
        same_type = other.label == span.label
        order = 0 if same_bounds and same_type else 1 if same_bounds else 2 if same_type else 3
        overlap = min(span.end, other.end) - max(span.start, other.start)
        return order, -overlap

    best = min(overlapping, key=rank)
    return ("correct", "wrong_type", "wrong_boundaries", "wrong_both")[rank(best)[0]], best


def _analyse_spans(tokens, gold, predicted, max_examples) -> ErrorAnalysis:
    gold_counts = Counter({name: 0 for name in GOLD_CLASSES})
    predicted_counts = Counter({name: 0 for name in PREDICTED_CLASSES})
    per_type: dict[str, Counter] = {}
    cells: Counter[tuple[str, str]] = Counter()
    errors: Counter[tuple] = Counter()
    first_seen: dict[tuple, ErrorExample] = {}
    for words, gold_tags, predicted_tags in zip(tokens, gold, predicted):
        gold_spans, predicted_spans = tags_to_spans(list(gold_tags)), tags_to_spans(list(predicted_tags))
        for span in (*gold_spans, *predicted_spans):
            per_type.setdefault(span.label, Counter())
        for span in gold_spans:
            kind, match = classify(span, predicted_spans)
            kind = "missed" if kind == "unmatched" else kind
            gold_counts[kind] += 1
            per_type[span.label][kind] += 1
            cells[span.label, match.label if match else OUTSIDE] += 1
            if kind != "correct":
                _note(errors, first_seen, kind, words, gold_spans, predicted_spans, span, match)
        for span in predicted_spans:
            kind, match = classify(span, gold_spans)
            kind = "spurious" if kind == "unmatched" else kind
            predicted_counts[kind] += 1
            if kind == "spurious":
                per_type[span.label]["spurious"] += 1
                cells[OUTSIDE, span.label] += 1
                _note(errors, first_seen, kind, words, gold_spans, predicted_spans, None, span)
    types = sorted(per_type)
    labels = [*types, OUTSIDE]
    return ErrorAnalysis(
        metric="f1",
        gold_counts=dict(gold_counts),
        predicted_counts=dict(predicted_counts),
        per_type={label: {name: per_type[label][name] for name in SPAN_CLASSES} for label in types},
        labels=labels,
        confusion=[[cells[row, column] for column in labels] for row in labels],
        confused_pairs=_confused_pairs(cells),
        examples=_most_frequent(errors, first_seen, max_examples),
    )


def _analyse_tags(tokens, gold, predicted, max_examples) -> ErrorAnalysis:
    cells: Counter[tuple[str, str]] = Counter()
    errors: Counter[tuple] = Counter()
    first_seen: dict[tuple, ErrorExample] = {}
    for words, gold_tags, predicted_tags in zip(tokens, gold, predicted):
        gold_spans = [Span(i, i + 1, tag) for i, tag in enumerate(gold_tags)]
        predicted_spans = [Span(i, i + 1, tag) for i, tag in enumerate(predicted_tags)]
        for gold_span, predicted_span in zip(gold_spans, predicted_spans):
            cells[gold_span.label, predicted_span.label] += 1
            if gold_span.label != predicted_span.label:
                _note(errors, first_seen, "tag", words, gold_spans, predicted_spans, gold_span, predicted_span)
    labels = sorted({label for pair in cells for label in pair})
    return ErrorAnalysis(
        metric="accuracy",
        gold_counts={},
        predicted_counts={},
        per_type={},
        labels=labels,
        confusion=[[cells[row, column] for column in labels] for row in labels],
        confused_pairs=_confused_pairs(cells),
        examples=_most_frequent(errors, first_seen, max_examples),
    )


def _note(errors, first_seen, kind, words, gold_spans, predicted_spans, gold_span, predicted_span) -> None:
    """Count an error under its key (kind, gold text and type, predicted text and type); keep its first sentence."""

    def describe(span: Span | None) -> tuple[str, str] | None:
        return None if span is None else (" ".join(words[span.start : span.end]), span.label)

    key = (kind, describe(gold_span), describe(predicted_span))
    errors[key] += 1
    if key not in first_seen:
        first_seen[key] = ErrorExample(
            kind, 0, list(words), list(gold_spans), list(predicted_spans), gold_span, predicted_span
        )


def _most_frequent(errors: Counter, first_seen: dict, limit: int) -> list[ErrorExample]:
    # Most frequent first; ties in the order the errors were first met, so that the result is stable.
    order = {key: position for position, key in enumerate(first_seen)}
    keys = sorted(errors, key=lambda key: (-errors[key], order[key]))[:limit]
    return [replace(first_seen[key], count=errors[key]) for key in keys]


def _confused_pairs(cells: Counter) -> list[tuple[str, str, int]]:
    pairs = [(gold, predicted, count) for (gold, predicted), count in cells.items() if gold != predicted and count]
    return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))
