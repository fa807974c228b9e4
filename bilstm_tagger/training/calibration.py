"""Calibrated confidences: measure how far confidences are from the truth, and fit a temperature on dev data.

A confidence is calibrated when, of all predictions made with confidence ``p``, a fraction ``p``
is right. The measure is the expected calibration error (ECE): predictions are put in 10 equal
bins of confidence, and the gaps between each bin's mean confidence and its accuracy are
averaged, weighted by the bins' sizes. The predictions are the model's entities for span tags
(right when the gold data has exactly that entity) and its tokens for plain tags.

Temperature scaling (Guo et al. 2017) divides every CRF score by one number ``T``: ``T > 1``
makes the distribution flatter, ``T < 1`` sharper, and the best path never changes. ``T`` is
chosen to minimise the log loss of the dev set's predictions, by golden-section search over
``log T``, and stored in the model directory (``calibration.json``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bilstm_tagger.base.schemes import detect_scheme, tags_to_spans
from bilstm_tagger.tagging.batches import ProbabilityRequest
from bilstm_tagger.text.corpus import Sentence
from bilstm_tagger.training.events import Calibrated

BINS = 10
SEARCH_RANGE = (0.25, 4.0)  # temperatures searched
SEARCH_STEPS = 14  # golden-section steps: the interval shrinks to 0.618^14 ≈ 0.1% of its log-width


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions whose confidence lies in ``[lower, upper)`` (the last bin includes 1)."""

    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


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


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> float:
    """ECE: the size-weighted mean gap between confidence and accuracy over ``bins`` equal bins (0 if no prediction)."""
    total = len(confidences)
    if total == 0:
        return 0.0
    return sum(b.count / total * abs(b.mean_confidence - b.accuracy) for b in reliability(confidences, correct, bins))


def outcomes(tagger, sentences: Sequence[Sentence], temperature: float | None = None) -> tuple[list[float], list[bool]]:
    """Each prediction's confidence and whether it is right, for labelled ``sentences``.

    Entities for span tags (right: the gold tags hold exactly that span and type), tokens for plain tags.
    ``temperature`` overrides the tagger's own.
    """
    gold_scheme = detect_scheme(s.tags for s in sentences)
    request = ProbabilityRequest(True, 0, tagger.temperature if temperature is None else temperature)
    predicted = tagger.tag_stream((s.tokens for s in sentences), scheme=gold_scheme, request=request)
    confidences: list[float] = []
    correct: list[bool] = []
    for sentence, prediction in zip(sentences, predicted):
        if gold_scheme == "plain":
            confidences += prediction.scores or []
            correct += [p == g for p, g in zip(prediction.tags, sentence.tags)]
            continue
        gold = set(tags_to_spans(sentence.tags))
        confidences += prediction.span_scores or []
        correct += [span in gold for span in prediction.spans]
    return confidences, correct


def fit_temperature(tagger, sentences: Sequence[Sentence], name: str = "dev") -> Calibrated:
    """The temperature that minimises the log loss of the predictions on ``sentences`` (labelled dev data).

    Tags ``sentences`` about 18 times (once per temperature tried). Without a single prediction
    (a model that predicts no entity yet) there is nothing to fit, and the temperature stays 1.
    """
    before = outcomes(tagger, sentences, 1.0)
    if not before[0]:
        return Calibrated(temperature=1.0, ece_before=0.0, ece_after=0.0, predictions=0, data=name)
    evaluations: dict[float, tuple[list[float], list[bool]]] = {1.0: before}

    def loss(log_temperature: float) -> float:
        temperature = math.exp(log_temperature)
        evaluations[temperature] = confidences, correct = outcomes(tagger, sentences, temperature)
        return _log_loss(confidences, correct)

    low, high = (math.log(t) for t in SEARCH_RANGE)
    ratio = (math.sqrt(5) - 1) / 2
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    left_loss, right_loss = loss(left), loss(right)
    for _ in range(SEARCH_STEPS):
        if left_loss <= right_loss:
            high, right, right_loss = right, left, left_loss
            left = high - ratio * (high - low)
            left_loss = loss(left)
        else:
            low, left, left_loss = left, right, right_loss
            right = low + ratio * (high - low)
            right_loss = loss(right)
    best = math.exp(left if left_loss <= right_loss else right)
    return Calibrated(
        temperature=best,
        ece_before=expected_calibration_error(*before),
        ece_after=expected_calibration_error(*evaluations[best]),
        predictions=len(before[0]),
        data=name,
    )


def _log_loss(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    epsilon = 1e-12
    if not confidences:
        return 0.0
    total = sum(
        -math.log(max(p, epsilon)) if ok else -math.log(max(1 - p, epsilon)) for p, ok in zip(confidences, correct)
    )
    return total / len(confidences)


def calibrate_model(model_dir, sentences: Sequence[Sentence], name: str) -> Calibrated:
    """Fit the temperature of the model in ``model_dir`` on labelled ``sentences`` and store it there.

    On torch, which training (its caller) has loaded: the same temperature whether ONNX Runtime is installed or not.
    """
    from bilstm_tagger.tagging.tagger import Tagger

    return _calibrate(Tagger.load(model_dir, engine="torch"), model_dir, sentences, name)


def calibrate_file(model_dir, path, corpus_format: str = "auto", **columns) -> Calibrated:
    """Fit the temperature of the model in ``model_dir`` on a labelled file (``tagger calibrate``) and store it.

    ``columns``: ``word_column``, ``tag_column``, ``encoding_errors``, as :func:`~bilstm_tagger.scoring.evaluation.read_labelled` takes.
    """
    from bilstm_tagger.scoring.evaluation import read_labelled
    from bilstm_tagger.tagging.tagger import Tagger
    from bilstm_tagger.text.corpus import corpus_name

    tagger = Tagger.load(model_dir)
    sentences, _ = read_labelled(tagger, path, corpus_format, **columns)
    return _calibrate(tagger, model_dir, sentences, corpus_name(path))


def _calibrate(tagger, model_dir, sentences: Sequence[Sentence], name: str) -> Calibrated:
    from bilstm_tagger.model import checkpoint

    tagger.temperature = 1.0  # fit from the model as trained, whatever an earlier calibration said
    calibration = fit_temperature(tagger, sentences, name)
    checkpoint.save_calibration(model_dir, asdict(calibration))
    return calibration
