"""Calibrated confidences: fit a temperature on dev data, and store it with the model.

How far confidences are from the truth, the expected calibration error (ECE) of a reliability
table, is measured by :mod:`bilstm_tagger.scoring.calibration_metrics`: entities for span tags,
tokens for plain tags.

Temperature scaling (Guo et al. 2017) divides every CRF score by one number ``T``: ``T > 1``
makes the distribution flatter, ``T < 1`` sharper, and the best path never changes. ``T`` is
chosen to minimise the log loss of the dev set's predictions, by golden-section search over
``log T``, and stored in the model directory (``calibration.json``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from bilstm_tagger.base.schemes import detect_scheme
from bilstm_tagger.model.context import document_keys
from bilstm_tagger.scoring.calibration_metrics import expected_calibration_error, prediction_outcomes
from bilstm_tagger.tagging.decoding import ProbabilityRequest
from bilstm_tagger.text.corpus import CorpusReading, Sentence
from bilstm_tagger.training.events import Calibrated

if TYPE_CHECKING:
    from bilstm_tagger.tagging.tagger import LoadedModel

SEARCH_RANGE = (0.25, 4.0)  # temperatures searched
SEARCH_STEPS = 14  # golden-section steps: the interval shrinks to 0.618^14 ≈ 0.1% of its log-width


def outcomes(
    model: LoadedModel, sentences: Sequence[Sentence], temperature: float | None = None
) -> tuple[list[float], list[bool]]:
    """Each prediction's confidence and whether it is right, for labelled ``sentences``.

    Entities for span tags (right: the gold tags hold exactly that span and type), tokens for plain tags.
    ``temperature`` overrides the model's own.
    """
    gold_scheme = detect_scheme(s.tags for s in sentences)
    request = ProbabilityRequest(True, 0, model.temperature if temperature is None else temperature)
    documents = document_keys([s.starts_document for s in sentences])
    predicted = model.tag_sentences(
        (s.tokens for s in sentences), scheme=gold_scheme, request=request, documents=documents
    )
    return prediction_outcomes((s.tags for s in sentences), predicted, gold_scheme)


def fit_temperature(model: LoadedModel, sentences: Sequence[Sentence], name: str = "dev") -> Calibrated:
    """The temperature that minimises the log loss of the predictions on ``sentences`` (labelled dev data).

    Tags ``sentences`` about 18 times (once per temperature tried). Without a single prediction
    (a model that predicts no entity yet) there is nothing to fit, and the temperature stays 1.
    """
    before = outcomes(model, sentences, 1.0)
    if not before[0]:
        return Calibrated(temperature=1.0, ece_before=0.0, ece_after=0.0, predictions=0, data=name)
    evaluations: dict[float, tuple[list[float], list[bool]]] = {1.0: before}

    def loss(log_temperature: float) -> float:
        temperature = math.exp(log_temperature)
        evaluations[temperature] = confidences, correct = outcomes(model, sentences, temperature)
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
    from bilstm_tagger.tagging.tagger import LoadedModel

    return _calibrate(LoadedModel.load(model_dir, engine="torch"), model_dir, sentences, name)


def calibrate_file(model_dir, path, reading: CorpusReading = CorpusReading()) -> Calibrated:
    """Fit the temperature of the model in ``model_dir`` on a labelled file (``tagger calibrate``) and store it.

    The file is read as :func:`~bilstm_tagger.scoring.evaluation.read_labelled` reads it.
    """
    from bilstm_tagger.scoring.evaluation import read_labelled
    from bilstm_tagger.tagging.tagger import LoadedModel
    from bilstm_tagger.text.corpus import corpus_name

    model = LoadedModel.load(model_dir)
    sentences, _ = read_labelled(model, path, reading)
    return _calibrate(model, model_dir, sentences, corpus_name(path))


def _calibrate(model: LoadedModel, model_dir, sentences: Sequence[Sentence], name: str) -> Calibrated:
    from bilstm_tagger.model import checkpoint

    model.temperature = 1.0  # fit from the model as trained, whatever an earlier calibration said
    calibration = fit_temperature(model, sentences, name)
    checkpoint.save_calibration(model_dir, asdict(calibration))
    return calibration
