"""``tagger report``: one self-contained HTML page about a model: how it trained, and what it gets wrong.

The page holds the training curves of ``metrics.jsonl`` and, given a labelled test file, the
scores per entity type (or tag), the error classes, the confusion matrix, the most frequent
errors in their sentences (:mod:`bilstm_tagger.scoring.analysis`) and the reliability diagram of
the confidences of the test file's predictions (:mod:`bilstm_tagger.scoring.calibration_metrics`),
beside the temperature of ``calibration.json``. Charts are SVG drawn by matplotlib
(:mod:`bilstm_tagger.scoring.report_charts`, the optional ``report`` extra) and written into the page, so
that it opens from a file with no network: no scripts, no external style sheets, fonts or images.

:func:`render_report` builds the page from values; :func:`write_report` reads a model directory
(and tags the test file) to get them, and writes the page atomically. The HTML itself, and the
escaping of every piece of text that comes from a file, is in :mod:`bilstm_tagger.scoring.report_html`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.files import atomic_write
from bilstm_tagger.model import checkpoint
from bilstm_tagger.model.config import TAG_BATCH_SIZE
from bilstm_tagger.scoring import report_html
from bilstm_tagger.scoring.analysis import ErrorAnalysis
from bilstm_tagger.scoring.calibration_metrics import Reliability
from bilstm_tagger.scoring.metrics import EvaluationReport
from bilstm_tagger.text.corpus import CorpusReading

MISSING_MATPLOTLIB = "matplotlib is not installed: pip install 'bilstm-tagger[report]' (or make install)"
CHART_LIMIT = 20  # rows of the per-tag chart and of the tag confusion matrix: the most frequent tags
METRICS_KEYS = ("epoch", "train_loss", "learning_rate", "dev_score", "best")


@dataclass(frozen=True)
class EpochMetrics:
    """The figures of one training epoch that the page draws (one line of ``metrics.jsonl``).

    ``dev_score`` is the dev F1 or accuracy, a percentage; ``best`` marks an epoch whose model was
    saved as the best so far.
    """

    epoch: int
    train_loss: float
    learning_rate: float
    dev_score: float
    best: bool


@dataclass(frozen=True)
class ReportContent:
    """Everything a report page shows.

    Attributes:
        model_name: how the page names the model (its directory).
        model_summary: one sentence on the model: tags, sizes, how it was trained.
        metric: ``f1`` (span tags) or ``accuracy`` (plain tags).
        epochs: the training record, one entry per epoch.
        created: when the report was made.
        test_name: the test file, if one was scored.
        evaluation, analysis: its scores and its error analysis.
        reliability: the confidences of its predictions binned against their accuracy.
        calibration: what ``calibration.json`` holds (the temperature, and how it was fitted), if the model has one.
    """

    model_name: str
    model_summary: str
    metric: str
    epochs: list[EpochMetrics]
    created: datetime
    test_name: str | None = None
    evaluation: EvaluationReport | None = None
    analysis: ErrorAnalysis | None = None
    reliability: Reliability | None = None
    calibration: dict | None = None

    @property
    def saved_epoch(self) -> EpochMetrics | None:
        """The epoch whose model is in the directory: the last one marked best."""
        return next((epoch for epoch in reversed(self.epochs) if epoch.best), None)


def chart_module() -> ModuleType:
    """:mod:`bilstm_tagger.scoring.report_charts`, or an :class:`InputError` saying how to install matplotlib."""
    try:
        from bilstm_tagger.scoring import report_charts
    except ImportError as error:
        if (error.name or "").split(".")[0] != "matplotlib":
            raise
        raise InputError(MISSING_MATPLOTLIB) from None
    return report_charts


def read_metrics(model_dir: str | os.PathLike) -> list[EpochMetrics]:
    """The epochs of ``MODEL_DIR/metrics.jsonl``, in the order they were written.

    Raises:
        InputError: no such file, a line that is not a training record, or no epoch at all.
    """
    path = Path(model_dir) / checkpoint.METRICS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError("missing file: no training record (was this model trained by tagger train?)", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read: {error}", path) from None
    epochs = [_epoch_metrics(line, path, number) for number, line in enumerate(lines, 1) if line.strip()]
    if not epochs:
        raise InputError("no epoch recorded: training stopped before its first epoch ended", path)
    return epochs


def _epoch_metrics(line: str, path: Path, number: int) -> EpochMetrics:
    try:
        record = json.loads(line)
        values = {key: record[key] for key in METRICS_KEYS}
        return EpochMetrics(
            epoch=int(values["epoch"]),
            train_loss=float(values["train_loss"]),
            learning_rate=float(values["learning_rate"]),
            dev_score=float(values["dev_score"]),
            best=bool(values["best"]),
        )
    except json.JSONDecodeError as error:
        raise InputError(f"invalid JSON ({error.msg})", path, number) from None
    except (KeyError, TypeError, ValueError) as error:
        missing = f"no {error}" if isinstance(error, KeyError) else str(error)
        raise InputError(f"not a training record ({missing})", path, number) from None


def render_report(content: ReportContent) -> str:
    """The HTML page of ``content``: a complete document, charts inline.

    Raises:
        InputError: matplotlib is not installed.
    """
    charts = chart_module()
    saved = content.saved_epoch
    saved_figures = None if saved is None else (saved.epoch, saved.dev_score)
    curves = charts.training_curves(content.epochs, content.metric, saved.epoch if saved else None)
    sections = [
        report_html.header(
            content.model_name, content.model_summary, content.test_name, content.evaluation, content.created
        ),
        report_html.training(len(content.epochs), content.metric, saved_figures, curves),
    ]
    if content.evaluation is not None:
        sections.append(_scores_section(charts, content.evaluation))
    if content.analysis is not None:
        sections += _analysis_sections(charts, content.analysis)
    reliability = content.reliability
    diagram = charts.reliability_diagram(reliability) if reliability is not None and reliability.predictions else ""
    tested = content.evaluation is not None or reliability is not None
    sections.append(report_html.confidence(tested, reliability, content.calibration, diagram))
    return report_html.page(f"Report: {content.model_name}", sections)


def _scores_section(charts: ModuleType, evaluation: EvaluationReport) -> str:
    rows = evaluation.per_label
    kind = "tag" if evaluation.metric == "accuracy" else "entity type"
    shown = sorted(rows, key=lambda row: -row.support)[:CHART_LIMIT] if len(rows) > CHART_LIMIT else rows
    chart = charts.label_scores(shown, kind) if shown else ""
    return report_html.scores(evaluation, chart, len(rows) - len(shown))


def _analysis_sections(charts: ModuleType, analysis: ErrorAnalysis) -> list[str]:
    sections = []
    if analysis.metric == "f1" and analysis.per_type:
        sections.append(report_html.error_classes(charts.error_classes(analysis)))
    labels, matrix = most_frequent_labels(analysis.labels, analysis.confusion, CHART_LIMIT)
    axis_name = "type" if analysis.metric == "f1" else "tag"
    heat_map = charts.confusion_heat_map(labels, matrix, axis_name) if labels else ""
    sections.append(report_html.confusion(analysis, heat_map, len(analysis.labels) - len(labels)))
    sections.append(report_html.examples(analysis.examples, has_errors(analysis)))
    return sections


def has_errors(analysis: ErrorAnalysis) -> bool:
    """Whether any span (or tag) of either side is other than correct."""
    if analysis.metric == "accuracy":
        return bool(analysis.confused_pairs)
    return any(
        count
        for counts in (analysis.gold_counts, analysis.predicted_counts)
        for name, count in counts.items()
        if name != "correct"
    )


def most_frequent_labels(labels: list[str], matrix: list[list[int]], limit: int) -> tuple[list[str], list[list[int]]]:
    """The confusion matrix cut to its ``limit`` most frequent gold labels, most frequent first.

    A matrix that fits is returned as it is (span types keep their order, ``O`` last).
    """
    if len(labels) <= limit:
        return labels, matrix
    order = sorted(range(len(labels)), key=lambda i: (-sum(matrix[i]), labels[i]))[:limit]
    return [labels[i] for i in order], [[matrix[i][j] for j in order] for i in order]


def model_summary(info: checkpoint.CheckpointInfo) -> str:
    """One sentence on a model: its tags, its size, and how it was trained."""
    model, training = info.model, info.training
    tags = len(info.vocab.get("tags", []))
    if info.tag_scheme == "plain":
        scheme = "plain tags (scored by accuracy)"
    else:
        scheme = f"span tags in {info.data_scheme}, learnt in {info.tag_scheme} (scored by entity F1)"
    layers = model.get("num_layers", 1)
    embeddings = training.get("embeddings") or "random"
    encoder = {"lstm": "BiLSTM", "peephole": "peephole BiLSTM", "gru": "BiGRU"}.get(model.get("cell", "lstm"), "?")
    chars = {"cnn": "CNN", "lstm": "BiLSTM"}.get(model.get("char_encoder", "cnn"), "?")
    extras = "".join(
        [
            "; locked dropout" if model.get("locked_dropout") else "",
            f"; a joint language model (weight {model['lm_weight']:g})" if model.get("lm_weight") else "",
        ]
    )
    return (
        f"{tags} tags: {scheme}; a {encoder} of {model.get('hidden_size', '?')} per direction, "
        f"{layers} layer{'s' if layers != 1 else ''}, a character {chars}, word embeddings of "
        f"{model.get('word_dim', '?')} dimensions ({embeddings}){extras}; optimiser {training.get('optimizer', '?')}; "
        f"written by bilstm-tagger {info.package_version}."
    )


def write_report(
    model_dir: str | os.PathLike,
    output: str | os.PathLike,
    test_file: str | os.PathLike | None = None,
    *,
    reading: CorpusReading = CorpusReading(),
    batch_size: int = TAG_BATCH_SIZE,
    device: str = "cpu",
    max_examples: int = 10,
    created: datetime | None = None,
) -> ReportContent:
    """Read ``model_dir`` (and tag and score ``test_file``), then write the report page to ``output``.

    ``test_file`` is read as ``reading`` says (see :func:`~bilstm_tagger.scoring.evaluation.read_labelled`). The page replaces
    ``output`` atomically; its directory is created if needed. Returns what the page shows.

    Raises:
        InputError: matplotlib missing, not a model directory, no ``metrics.jsonl``, or a bad test file.
    """
    chart_module()  # before minutes of tagging, not after them
    info = checkpoint.load_info(model_dir)
    epochs = read_metrics(model_dir)
    calibration = checkpoint.load_calibration(model_dir)
    evaluation = analysis = reliability = None
    if test_file is not None:
        from bilstm_tagger.scoring.evaluation import evaluate_file
        from bilstm_tagger.tagging.tagger import LoadedModel  # torch, needed only to tag a test file

        model = LoadedModel.load(model_dir, device=device)
        # With confidences, at the model's temperature: they never change the tags, and give the reliability diagram.
        request = model.request(confidence=True)
        scored = evaluate_file(model, test_file, reading, batch_size=batch_size, request=request)
        evaluation, analysis = scored.report, scored.analyse(max_examples)
        gold = (sentence.tags for sentence in scored.sentences)
        reliability = Reliability.of(gold, scored.predicted, scored.scheme, model.temperature)
    content = ReportContent(
        model_name=str(model_dir),
        model_summary=model_summary(info),
        metric="accuracy" if info.tag_scheme == "plain" else "f1",
        epochs=epochs,
        created=created or datetime.now().astimezone(),
        test_name=None if test_file is None else str(test_file),
        evaluation=evaluation,
        analysis=analysis,
        reliability=reliability,
        calibration=calibration,
    )
    page = render_report(content)
    try:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(output, page.encode("utf-8"))
    except OSError as error:
        raise InputError(f"cannot write the report: {error.strerror}", output) from None
    return content
