"""The charts of ``tagger report``: matplotlib figures rendered as SVG text to embed in one HTML page.

Every chart is a :class:`~matplotlib.figure.Figure` of its own, drawn on a
:class:`~matplotlib.backends.backend_svg.FigureCanvasSVG`: no pyplot, so no interactive backend and
no global figure state that one chart could leak into the next. Text stays text in the SVG (the
page's fonts draw it, and it can be searched and copied), and the SVG is cut down to what an
inline ``<svg>`` needs: no XML prologue, no namespace URLs, no ids that nothing refers to.

Importing this module imports matplotlib (the ``report`` extra); :mod:`bilstm_tagger.scoring.report`
imports it only when a page is built.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bilstm_tagger.scoring.analysis import GOLD_CLASSES, PREDICTED_CLASSES, ErrorAnalysis
from bilstm_tagger.scoring.calibration_metrics import Reliability
from bilstm_tagger.scoring.metrics import LabelScore, metric_name
from bilstm_tagger.scoring.report_html import class_name

# Colours of the error classes: green for right, warm colours for the partly right, grey and purple
# for the two kinds of absence, so that the stacked bars read without the legend once learnt.
CLASS_COLOURS = {
    "correct": "#4c9a5f",
    "wrong_type": "#e6a23c",
    "wrong_boundaries": "#f2d16b",
    "wrong_both": "#d9644a",
    "missed": "#9a9a9a",
    "spurious": "#8e6bbf",
}
SCORE_COLOURS = {"precision": "#7fa7d9", "recall": "#a8c98a", "f1": "#2f5f98"}
SAVED_COLOUR = "#c0392b"
TEXT_SIZE = 9
# No metadata block: it would carry URLs (Dublin Core, Creative Commons) and the time of drawing.
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def training_curves(epochs: Sequence, metric: str, saved_epoch: int | None) -> str:
    """Train loss, dev score and learning rate per epoch, one panel each, the saved epoch marked.

    ``epochs`` are :class:`~bilstm_tagger.scoring.report.EpochMetrics` (anything with ``epoch``,
    ``train_loss``, ``dev_score`` and ``learning_rate``).
    """
    figure = _figure(9, 6.4)
    loss_axes, score_axes, rate_axes = figure.subplots(3, 1, sharex=True, height_ratios=[1, 1.3, 0.8])
    numbers = [e.epoch for e in epochs]
    panels = (
        (loss_axes, [e.train_loss for e in epochs], "train loss", "#555555"),
        (score_axes, [e.dev_score for e in epochs], f"dev {metric_name(metric)} (%)", "#2f5f98"),
        (rate_axes, [e.learning_rate for e in epochs], "learning rate", "#7a7a7a"),
    )
    for axes, values, label, colour in panels:
        axes.plot(numbers, values, color=colour, marker="o", markersize=3.5, linewidth=1.5)
        axes.set_ylabel(label)
        axes.grid(True, color="#e4e4e4", linewidth=0.6)
        axes.spines[["top", "right"]].set_visible(False)
        if saved_epoch is not None:
            axes.axvline(saved_epoch, color=SAVED_COLOUR, linestyle="--", linewidth=1)
    # 0.0015 rather than 1.5 under a "1e-3" that would sit on the panel above.
    rate_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    rate_axes.set_xlabel("epoch")
    rate_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    rate_axes.set_xlim(numbers[0] - 0.5, numbers[-1] + 0.5)  # no tick at epoch 0, which never ran
    if saved_epoch is not None:
        saved = next(e for e in epochs if e.epoch == saved_epoch)
        label = f"saved: epoch {saved.epoch}, dev {metric_name(metric)} {saved.dev_score:.2f}"
        score_axes.plot([saved.epoch], [saved.dev_score], "*", markersize=14, color=SAVED_COLOUR, label=label)
        # A legend rather than a note by the star: matplotlib places it where it hides no point.
        score_axes.legend(loc="best", frameon=False, labelcolor=SAVED_COLOUR)
    return _svg(figure, "curves")


def label_scores(rows: Sequence[LabelScore], kind: str) -> str:
    """Precision, recall and F1 of each entity type (or tag) as grouped horizontal bars.

    ``kind`` names the rows on the axis: ``entity type`` or ``tag``.
    """
    figure = _figure(9, 0.9 + 0.42 * len(rows))
    axes = figure.subplots()
    height = 0.26
    for offset, name in enumerate(("precision", "recall", "f1")):
        # Rows top to bottom in the given order: the first row gets the highest y.
        positions = [len(rows) - 1 - index + (1 - offset) * height for index in range(len(rows))]
        values = [getattr(row, name) for row in rows]
        bars = axes.barh(positions, values, height=height, color=SCORE_COLOURS[name], label=name.replace("f1", "F1"))
        if name == "f1":
            axes.bar_label(bars, labels=[f"{value:.1f}" for value in values], padding=3, fontsize=TEXT_SIZE - 1)
    axes.set_yticks(range(len(rows)), [f"{row.label} ({row.support:,})" for row in reversed(rows)])
    axes.set_xlim(0, 108)
    axes.set_xlabel("%")
    axes.set_ylabel(f"{kind} (gold count)")
    axes.grid(True, axis="x", color="#e4e4e4", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
    return _svg(figure, "scores")


def error_classes(analysis: ErrorAnalysis) -> str:
    """What became of the spans: one stacked bar per side (gold, predicted) overall, then one per type.

    Gold spans split into correct, wrong type, wrong boundaries, wrong both and missed; predicted
    spans into the same, with spurious instead of missed. Per type, the bar holds the type's gold
    spans and, after them, its spurious predictions.
    """
    rows: list[tuple[str, dict[str, int]]] = [
        ("all gold spans", {name: analysis.gold_counts.get(name, 0) for name in GOLD_CLASSES}),
        ("all predicted spans", {name: analysis.predicted_counts.get(name, 0) for name in PREDICTED_CLASSES}),
    ]
    rows += [(label, counts) for label, counts in analysis.per_type.items()]
    figure = _figure(9, 1.2 + 0.4 * len(rows))
    axes = figure.subplots()
    largest = max([sum(counts.values()) for _, counts in rows] + [1])
    for name, colour in CLASS_COLOURS.items():
        lefts = [sum(counts.get(before, 0) for before in _classes_before(name)) for _, counts in rows]
        widths = [counts.get(name, 0) for _, counts in rows]
        positions = list(range(len(rows) - 1, -1, -1))
        bars = axes.barh(positions, widths, left=lefts, color=colour, label=class_name(name), height=0.62)
        # A count is written inside its segment only where it fits.
        labels = [str(width) if width >= 0.045 * largest else "" for width in widths]
        axes.bar_label(bars, labels=labels, label_type="center", fontsize=TEXT_SIZE - 1)
    axes.set_yticks(range(len(rows) - 1, -1, -1), [label for label, _ in rows])
    axes.axhline(len(rows) - 2.5, color="#bbbbbb", linewidth=0.8)  # the totals above, the types below
    axes.set_xlabel("spans")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=6, frameon=False, fontsize=TEXT_SIZE - 0.5)
    return _svg(figure, "classes")


def _classes_before(name: str) -> list[str]:
    names = list(CLASS_COLOURS)
    return names[: names.index(name)]


def confusion_heat_map(labels: Sequence[str], matrix: Sequence[Sequence[int]], axis_name: str) -> str:
    """The confusion matrix as a heat map: colour is the share of the gold row, numbers are counts.

    The colour scale is a square root, so that the few errors of a good model still show beside
    its diagonal. ``axis_name`` is what the rows and columns are (``type`` or ``tag``).
    """
    size = len(labels)
    side = min(9.0, 1.6 + 0.42 * size)
    figure = _figure(side + 1.2, side)
    axes = figure.subplots()
    shares = [[count / max(sum(row), 1) for count in row] for row in matrix]
    image = axes.imshow(shares, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), aspect="equal")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                colour = "white" if shares[i][j] > 0.45 else "#222222"
                axes.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=_cell_text_size(size))
    axes.set_xticks(range(size), labels, rotation=45 if size > 8 else 0, ha="right" if size > 8 else "center")
    axes.set_yticks(range(size), labels)
    axes.set_xlabel(f"predicted {axis_name}")
    axes.set_ylabel(f"gold {axis_name}")
    axes.tick_params(length=0)
    colour_bar = figure.colorbar(image, ax=axes, shrink=0.7)
    colour_bar.set_label("share of the gold row")
    return _svg(figure, "confusion")


def reliability_diagram(reliability: Reliability) -> str:
    """The reliability diagram: per confidence bin, its accuracy against its mean confidence, and its size.

    Above, one bar per bin as high as the share of its predictions that are right, a red gap up
    to their mean confidence, and the diagonal where the two are equal; below, how many
    predictions each bin holds, the number written on its bar. Empty bins draw nothing.
    """
    units = "entities" if reliability.unit == "entity" else "tokens"
    figure = _figure(7.5, 6)
    accuracy_axes, count_axes = figure.subplots(2, 1, sharex=True, height_ratios=[2.4, 1])
    full = [b for b in reliability.bins if b.count]
    centres = [(b.lower + b.upper) / 2 for b in full]
    widths = [(b.upper - b.lower) * 0.92 for b in full]
    accuracy_axes.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1, label="confidence = accuracy")
    accuracy_axes.bar(
        centres, [b.accuracy for b in full], width=widths, color="#2f5f98", label=f"share of {units} right"
    )
    accuracy_axes.bar(
        centres,
        [b.mean_confidence - b.accuracy for b in full],
        bottom=[b.accuracy for b in full],
        width=widths,
        color="none",
        edgecolor=SAVED_COLOUR,
        hatch="///",
        linewidth=0.8,
        label="gap to the mean confidence",
    )
    accuracy_axes.set_xlim(0, 1)
    accuracy_axes.set_ylim(0, 1.02)
    accuracy_axes.set_ylabel("accuracy")
    accuracy_axes.grid(True, color="#e4e4e4", linewidth=0.6)
    accuracy_axes.set_axisbelow(True)
    accuracy_axes.spines[["top", "right"]].set_visible(False)
    accuracy_axes.legend(loc="upper left", frameon=False)
    bars = count_axes.bar(centres, [b.count for b in full], width=widths, color="#9a9a9a")
    count_axes.bar_label(bars, labels=[f"{b.count:,}" for b in full], padding=2, fontsize=TEXT_SIZE - 1)
    count_axes.set_ylim(0, max([b.count for b in full] + [1]) * 1.25)
    count_axes.set_ylabel(units)
    count_axes.set_xlabel(f"confidence ({len(reliability.bins)} bins)")
    count_axes.set_xticks([b.lower for b in reliability.bins] + [1.0])
    count_axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "reliability")


def _cell_text_size(size: int) -> float:
    return TEXT_SIZE if size <= 10 else TEXT_SIZE - 1.5 if size <= 16 else TEXT_SIZE - 2.5


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasSVG(figure)
    return figure


def _svg(figure: Figure, name: str) -> str:
    """The figure as an inline ``<svg>`` element.

    ``name`` salts matplotlib's ids (markers, clip paths), so that two charts of one page never
    share one, and the same data give the same SVG.
    """
    buffer = io.StringIO()
    # Both settings are read while saving; rc_context restores them afterwards.
    settings = {"svg.fonttype": "none", "svg.hashsalt": f"report-{name}"}
    with matplotlib.rc_context(settings):
        figure.savefig(buffer, format="svg", metadata=NO_METADATA)
    return _inline(buffer.getvalue())


def _inline(svg: str) -> str:
    """Cut a standalone SVG document down to an element for an HTML page.

    The HTML parser puts ``<svg>`` in the SVG namespace without ``xmlns`` (whose values are URLs),
    and SVG 2 reads ``href`` without the XLink prefix. The ``<style>`` matplotlib adds would apply
    to the whole page; the page's own style sheet sets the same stroke joins for its SVGs.
    """
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r'\s+xmlns(?::xlink)?="[^"]*"', "", svg, count=2)
    svg = svg.replace("xlink:href=", "href=")
    svg = re.sub(r"\s*<style[^>]*>.*?</style>", "", svg, count=1, flags=re.DOTALL)
    referenced = set(re.findall(r'href="#([^"]+)"', svg)) | set(re.findall(r"url\(#([^)]+)\)", svg))
    # matplotlib names every group (figure_1, axes_1, ...): the same names in every chart of the page.
    return re.sub(r'\s+id="([^"]+)"', lambda m: m.group(0) if m.group(1) in referenced else "", svg)
