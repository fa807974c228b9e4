"""How far confidences are from the truth: the reliability table and the expected calibration error.

A confidence is calibrated when, of all predictions made with confidence ``p``, a fraction ``p``
is right. The measure is the expected calibration error (ECE): predictions are put in 10 equal
bins of confidence, and the gaps between each bin's mean confidence and its accuracy are
averaged, weighted by the bins' sizes. The predictions are the model's entities for span tags
(right when the gold data has exactly that entity) and its tokens for plain tags.

Pure arithmetic on predictions already made, no torch: ``tagger report`` draws the table of a
test file (:mod:`bilstm_tagger.scoring.report`), and training fits the temperature that makes it
flat (:mod:`bilstm_tagger.training.calibration`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bilstm_tagger.base.schemes import tags_to_spans
from bilstm_tagger.tagging.predictions import TaggedSentence

BINS = 10


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions whose confidence lies in ``[lower, upper)`` (the last bin includes 1)."""

    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True)
class Reliability:
    """The reliability table of one set of predictions, as ``tagger report`` draws it.

    Attributes:
        unit: what the predictions are: ``entity`` (span tags) or ``token`` (plain tags).
        temperature: the calibration temperature the confidences were computed at.
        bins: the table, :data:`BINS` equal bins of confidence from 0 to 1.
    """

    unit: str
    temperature: float
    bins: list[ReliabilityBin]

    @classmethod
    def of(
        cls, gold: Iterable[Sequence[str]], predicted: Iterable[TaggedSentence], scheme: str, temperature: float
    ) -> Reliability:
        """The table of ``predicted`` (tagged with confidences) against ``gold`` (see :func:`prediction_outcomes`)."""
        confidences, correct = prediction_outcomes(gold, predicted, scheme)
        return cls("token" if scheme == "plain" else "entity", temperature, reliability(confidences, correct))

    @property
    def predictions(self) -> int:
        """How many predictions the table holds: the sum of its bins' counts."""
        return sum(b.count for b in self.bins)

    @property
    def ece(self) -> float:
        """The table's expected calibration error (0 without predictions)."""
        return table_calibration_error(self.bins)


def reliability(confidences: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> list[ReliabilityBin]:
    """The reliability table: per confidence bin, how many predictions, their mean confidence and accuracy."""
    table = []
    for index in range(bins):
        lower, upper = index / bins, (index + 1) / bins
        members = [
            (p, ok) for p, ok in zip(confidences, correct) if lower <= p < upper or (index == bins - 1 and p == upper)
        ]
        count = len(members)
        mean = sum(p for p, _ in members) / count if count else 0.0
        accuracy = sum(ok for _, ok in members) / count if count else 0.0
        table.append(ReliabilityBin(lower, upper, count, mean, accuracy))
    return table


def table_calibration_error(table: Sequence[ReliabilityBin]) -> float:
    """The ECE of a reliability table: its bins' gaps between confidence and accuracy, weighted by size (0 if empty)."""
    total = sum(b.count for b in table)
    if total == 0:
        return 0.0
    return sum(b.count / total * abs(b.mean_confidence - b.accuracy) for b in table)


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> float:
    """ECE: the size-weighted mean gap between confidence and accuracy over ``bins`` equal bins (0 if no prediction)."""
    return table_calibration_error(reliability(confidences, correct, bins))


def prediction_outcomes(
    gold: Iterable[Sequence[str]], predicted: Iterable[TaggedSentence], scheme: str
) -> tuple[list[float], list[bool]]:
    """Each prediction's confidence and whether it is right, sentence by sentence.

    ``gold`` are the gold tag lists in ``scheme``; ``predicted`` were tagged with confidences. For
    span tags the predictions are entities (right: the gold tags hold exactly that span and type);
    for plain tags (``scheme == "plain"``) they are tokens (right: the gold tag).
    """
    confidences: list[float] = []
    correct: list[bool] = []
    for tags, prediction in zip(gold, predicted):
        if scheme == "plain":
            confidences += prediction.scores or []
            correct += [p == g for p, g in zip(prediction.tags, tags)]
            continue
        spans = set(tags_to_spans(list(tags)))
        confidences += prediction.span_scores or []
        correct += [span in spans for span in prediction.spans]
    return confidences, correct
