"""Scores of predicted tags against gold tags.

Span tags (NER, chunking) are scored per entity with seqeval in its default mode, which reads
entities as the ``conlleval`` script does, so the micro-averaged F1 is the figure ``conlleval``
prints. Plain tags (part of speech) are scored per token: accuracy, and precision, recall and
F1 per tag. All figures are percentages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from bilstm_tagger.base.schemes import convert, split_tag


def metric_name(metric: str) -> str:
    """How a metric is named to people: ``f1`` → ``F1``, ``accuracy`` as it is."""
    return "F1" if metric == "f1" else metric


@dataclass
class LabelScore:
    """Precision, recall and F1 (percentages) of one entity type or tag; ``support`` is its gold count."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class EvaluationReport:
    """The result of :func:`evaluate`.

    Attributes:
        metric: ``f1`` for span tags, ``accuracy`` for plain tags: the name of ``score``.
        score: the headline figure (micro F1 or token accuracy), a percentage.
        accuracy: token accuracy (also reported for span tags, as conlleval does).
        precision, recall, f1: micro-averaged over entity types, or over tags.
        per_label: one row per entity type or tag, sorted by label.
        sentences, tokens: how much was scored.
        unknown_labels: gold labels the model cannot predict (they count as errors).
    """

    metric: str
    score: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    per_label: list[LabelScore]
    sentences: int
    tokens: int
    unknown_labels: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """The headline figures, rounded to 4 decimals: the ``dev`` entry of a ``metrics.jsonl`` line."""
        if self.metric == "accuracy":
            return {"accuracy": round(self.accuracy, 4)}
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "per_type": {row.label: round(row.f1, 4) for row in self.per_label},
        }


def evaluate(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    scheme: str,
    known_labels: Sequence[str] = (),
) -> EvaluationReport:
    """Score ``predicted`` tag sequences against ``gold`` ones, both in ``scheme``.

    Args:
        gold, predicted: one tag list per sentence, of equal lengths.
        scheme: a span scheme (``iob1``, ``iob2``, ``iobes``, ``bilou``) or ``plain``.
        known_labels: the tags the model can predict (in any scheme); gold tags (for plain tags)
            or entity types (for span tags) outside them are listed in ``unknown_labels``.
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences differ in length")
    tokens = sum(len(tags) for tags in gold)
    correct = sum(
        g == p for gold_tags, predicted_tags in zip(gold, predicted) for g, p in zip(gold_tags, predicted_tags)
    )
    accuracy = 100.0 * correct / tokens if tokens else 0.0
    unknown = _unknown_labels(gold, scheme, known_labels)
    if scheme == "plain":
        return _tag_report(gold, predicted, accuracy, tokens, unknown)
    return _span_report(gold, predicted, scheme, accuracy, tokens, unknown)


def _unknown_labels(gold: Sequence[Sequence[str]], scheme: str, known_labels: Sequence[str]) -> list[str]:
    if not known_labels:
        return []
    if scheme == "plain":
        return sorted({tag for tags in gold for tag in tags} - set(known_labels))
    known_types = {split_tag(label)[1] for label in known_labels}
    return sorted({split_tag(tag)[1] for tags in gold for tag in tags if tag != "O"} - known_types)


def _span_report(gold, predicted, scheme, accuracy, tokens, unknown) -> EvaluationReport:
    from seqeval.metrics import classification_report

    # IOB2 is the scheme that seqeval's default (conlleval) mode reads without ambiguity.
    gold_iob2 = [convert(list(tags), scheme, "iob2") for tags in gold]
    predicted_iob2 = [convert(list(tags), scheme, "iob2") for tags in predicted]
    table = classification_report(gold_iob2, predicted_iob2, output_dict=True, zero_division=0)
    micro = {key: float(value) for key, value in table.pop("micro avg").items()}
    per_label = [
        _label_score(label, row) for label, row in sorted(table.items()) if label not in ("macro avg", "weighted avg")
    ]
    return EvaluationReport(
        metric="f1",
        score=100.0 * micro["f1-score"],
        accuracy=accuracy,
        precision=100.0 * micro["precision"],
        recall=100.0 * micro["recall"],
        f1=100.0 * micro["f1-score"],
        per_label=per_label,
        sentences=len(gold),
        tokens=tokens,
        unknown_labels=unknown,
    )


def _label_score(label: str, row: dict) -> LabelScore:
    return LabelScore(
        label=label,
        precision=100.0 * float(row["precision"]),
        recall=100.0 * float(row["recall"]),
        f1=100.0 * float(row["f1-score"]),
        support=int(row["support"]),
    )


def _tag_report(gold, predicted, accuracy, tokens, unknown) -> EvaluationReport:
    gold_counts: Counter[str] = Counter()
    predicted_counts: Counter[str] = Counter()
    correct_counts: Counter[str] = Counter()
    for gold_tags, predicted_tags in zip(gold, predicted):
        for g, p in zip(gold_tags, predicted_tags):
            gold_counts[g] += 1
            predicted_counts[p] += 1
            if g == p:
                correct_counts[g] += 1
    per_label = []
    for label in sorted(gold_counts | predicted_counts):
        precision = _ratio(correct_counts[label], predicted_counts[label])
        recall = _ratio(correct_counts[label], gold_counts[label])
        per_label.append(LabelScore(label, precision, recall, _f1(precision, recall), gold_counts[label]))
    return EvaluationReport(
        metric="accuracy",
        score=accuracy,
        accuracy=accuracy,
        precision=accuracy,  # micro-averaged precision = recall = F1 = accuracy for one tag per token
        recall=accuracy,
        f1=accuracy,
        per_label=per_label,
        sentences=len(gold),
        tokens=tokens,
        unknown_labels=unknown,
    )


def _ratio(numerator: int, denominator: int) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
