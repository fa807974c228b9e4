"""The HTML of the report page (:mod:`bilstm_tagger.scoring.report`): one function per section, no matplotlib.

Every piece of text that comes from a file (model and file names, tokens, tags) goes through
:func:`html.escape`, so a sentence holding ``<script>`` shows as text and never runs. Charts
arrive as finished ``<svg>`` elements from :mod:`bilstm_tagger.scoring.report_charts`. The style sheet
is in the page: it must open from a file with no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from bilstm_tagger.base.schemes import Span
from bilstm_tagger.scoring.metrics import metric_name

if TYPE_CHECKING:
    from bilstm_tagger.scoring.analysis import ErrorAnalysis, ErrorExample
    from bilstm_tagger.scoring.calibration_metrics import Reliability
    from bilstm_tagger.scoring.metrics import EvaluationReport

PAIRS_SHOWN = 15
CLASS_MEANINGS = {
    "correct": "a prediction with the same boundaries and type",
    "wrong_type": "the same boundaries, another type",
    "wrong_boundaries": "an overlapping prediction of the same type, other boundaries",
    "wrong_both": "an overlapping prediction, other boundaries and another type",
    "missed": "a gold span that no prediction overlaps",
    "spurious": "a predicted span that overlaps no gold span",
}
STYLE = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #222; line-height: 1.45;
       max-width: 940px; margin: 1.2em auto 3em; padding: 0 1em; font-size: 15px; }
h1 { font-size: 1.5em; margin-bottom: 0.3em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: 0.15em; margin-top: 1.6em; }
dl.about { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; margin: 0; }
dl.about dt { color: #666; }
dl.about dd { margin: 0; }
code { font-size: 0.95em; }
figure { margin: 0.8em 0; }
figure svg { max-width: 100%; height: auto; }
svg * { stroke-linejoin: round; stroke-linecap: butt; }
figcaption, .note { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #e6e6e6; text-align: right; }
th:first-child, td:first-child { text-align: left; }
dl.classes { display: grid; grid-template-columns: max-content 1fr; gap: 0.1em 1.2em; }
dl.classes dt { font-weight: bold; }
dl.classes dd { margin: 0; }
table.pairs td:nth-child(2), table.pairs th:nth-child(2) { text-align: left; }
.example { margin: 0.9em 0; padding: 0.5em 0.7em; border-left: 3px solid #ccc; background: #fafafa; }
.example .what { margin: 0 0 0.3em; }
.example .line { margin: 0.15em 0; display: flex; align-items: baseline; }
.side { flex: none; width: 5.5em; color: #666; font-size: 0.85em; }
mark { padding: 0.05em 0.2em; border-radius: 3px; color: inherit; }
mark.gold { background: #dcefdc; border: 1px solid #4c9a5f; }
mark.predicted { background: #fde9c8; border: 1px dashed #b7791f; }
mark.focus { outline: 2px solid #c0392b; outline-offset: 1px; font-weight: bold; }
mark .type { font-size: 0.72em; color: #555; margin-left: 0.25em; font-weight: normal; }
"""


def class_name(name: str) -> str:
    """``wrong_type`` → ``wrong type``, ``tag`` → ``wrong tag``: the words the page uses for an error class."""
    return "wrong tag" if name == "tag" else name.replace("_", " ")


def page(title: str, sections: Sequence[str]) -> str:
    """A whole HTML document: ``title`` and the sections, in order."""
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def header(
    model_name: str, model_summary: str, test_name: str | None, evaluation: EvaluationReport | None, created: datetime
) -> str:
    """The title, and which model and test file (``evaluation``: its scores) the page describes, and when."""
    test = f"<code>{escape(test_name)}</code>" if test_name else "none"
    if evaluation is not None:
        test += f" ({evaluation.sentences:,} sentences, {evaluation.tokens:,} tokens)"
    return (
        f"<h1>Report: <code>{escape(model_name)}</code></h1>\n"
        '<dl class="about">\n'
        f"<dt>Model</dt><dd><code>{escape(model_name)}</code>: {escape(model_summary)}</dd>\n"
        f"<dt>Test file</dt><dd>{test}</dd>\n"
        f"<dt>Written</dt><dd>{created.strftime('%Y-%m-%d %H:%M %Z').strip()}</dd>\n"
        "</dl>"
    )


def training(epochs: int, metric: str, saved: tuple[int, float] | None, curves: str) -> str:
    """The training curves of ``epochs`` epochs, and which one's model, of what dev score, is the one ``saved``."""
    metric = metric_name(metric)
    if saved is None:
        which = "No epoch is marked best in the record."
    else:
        which = (
            f"The model in the directory is the one of epoch {saved[0]} (dev {metric} {saved[1]:.2f}), "
            "the last epoch marked best; the dashed line and the star mark it."
        )
    return (
        "<h2>Training</h2>\n"
        f"<p>{epochs} epoch{'s' if epochs != 1 else ''} in <code>metrics.jsonl</code>. {which}</p>\n"
        f'<figure class="chart" id="curves">{curves}'
        f"<figcaption>Train loss, dev {metric} and learning rate per epoch.</figcaption></figure>"
    )


def scores(evaluation: EvaluationReport, chart: str, hidden: int) -> str:
    """The headline scores on the test file, a chart and a table of the figures per type or tag."""
    plain = evaluation.metric == "accuracy"
    kind = "tag" if plain else "entity type"
    if plain:
        headline = f"Token accuracy <b>{evaluation.accuracy:.2f}</b>."
    else:
        headline = (
            f"Entity F1 <b>{evaluation.f1:.2f}</b> (precision {evaluation.precision:.2f}, recall "
            f"{evaluation.recall:.2f}); token accuracy {evaluation.accuracy:.2f}."
        )
    if evaluation.unknown_labels:
        unknown = ", ".join(escape(label) for label in evaluation.unknown_labels)
        headline += f" Gold labels this model cannot predict (counted as errors): {unknown}."
    caption = f"Precision, recall and F1 (%) per {kind}, with its number in the gold data."
    if hidden:
        caption += f" The {hidden} least frequent {kind}s are left out of the chart; the table has them all."
    rows = "\n".join(
        f'<tr data-label="{escape(row.label)}"><td>{escape(row.label)}</td><td>{row.precision:.2f}</td>'
        f"<td>{row.recall:.2f}</td><td>{row.f1:.2f}</td><td>{row.support:,}</td></tr>"
        for row in evaluation.per_label
    )
    figure = f'<figure class="chart" id="scores">{chart}<figcaption>{caption}</figcaption></figure>' if chart else ""
    return (
        f"<h2>Scores per {kind}</h2>\n<p>{headline}</p>\n{figure}\n"
        f'<table class="scores"><thead><tr><th>{kind}</th><th>precision</th><th>recall</th><th>F1</th>'
        f"<th>gold count</th></tr></thead>\n<tbody>\n{rows}\n</tbody></table>"
    )


def error_classes(chart: str) -> str:
    """The error classes of span tags: the chart, and what each class means."""
    meanings = "\n".join(f"<dt>{class_name(name)}</dt><dd>{meaning}</dd>" for name, meaning in CLASS_MEANINGS.items())
    return (
        "<h2>Error classes</h2>\n"
        "<p>Every gold span and every predicted span falls in one class, the first that applies:</p>\n"
        f'<dl class="classes">\n{meanings}\n</dl>\n'
        f'<figure class="chart" id="classes">{chart}<figcaption>The spans of the test file by class: gold spans '
        "and predicted spans overall, then each type's gold spans followed by its spurious predictions."
        "</figcaption></figure>"
    )


def confusion(analysis: ErrorAnalysis, heat_map: str, hidden: int) -> str:
    """The confusion matrix as a heat map, and the pairs most often confused."""
    plain = analysis.metric == "accuracy"
    if plain:
        intro = "Each token counts once: its gold tag (row) against the predicted one (column)."
    else:
        intro = (
            "Each gold span counts once, against the type of its best-matching prediction, or against "
            "<code>O</code> when it is missed; each spurious prediction counts once in the <code>O</code> row."
        )
    if hidden:
        intro += f" The heat map shows the {len(analysis.labels) - hidden} most frequent tags; {hidden} rarer ones are left out."
    pairs = "\n".join(
        f"<tr><td>{escape(gold)}</td><td>{escape(predicted)}</td><td>{count:,}</td></tr>"
        for gold, predicted, count in analysis.confused_pairs[:PAIRS_SHOWN]
    )
    table = (
        f'<table class="pairs"><thead><tr><th>gold</th><th>predicted</th><th>count</th></tr></thead>\n'
        f"<tbody>\n{pairs}\n</tbody></table>"
        if pairs
        else "<p>Nothing was confused.</p>"
    )
    figure = (
        f'<figure class="chart" id="confusion">{heat_map}<figcaption>Colour: the share of the gold row '
        "(on a square-root scale, so that small errors show); numbers: counts.</figcaption></figure>"
        if heat_map
        else ""
    )
    return f"<h2>Confusion matrix</h2>\n<p>{intro}</p>\n{figure}\n<h3>Most confused pairs</h3>\n{table}"


def examples(errors: Sequence[ErrorExample], any_error: bool) -> str:
    """The most frequent errors, each in one sentence where it occurs, gold and predicted spans marked.

    ``any_error``: whether the test file had any, for when none is shown (``--examples 0``).
    """
    if not any_error:
        return "<h2>Most frequent errors</h2>\n<p>No errors on the test file.</p>"
    if not errors:
        return ""
    if errors[0].kind == "tag":
        legend = (
            '<p class="note">The word in error is marked with its <mark class="gold focus">gold tag</mark> and its '
            '<mark class="predicted focus">predicted tag</mark>. The count is how often the same error (same word, '
            "same tags) occurs in the test file.</p>"
        )
    else:
        legend = (
            '<p class="note">Gold spans are <mark class="gold">green, solid</mark>, predicted ones '
            '<mark class="predicted">orange, dashed</mark>; the spans of the error itself are '
            '<mark class="gold focus">outlined in red</mark>. The count is how often the same error '
            "(same words, same types) occurs in the test file.</p>"
        )
    items = "\n".join(_example(error) for error in errors)
    return f"<h2>Most frequent errors</h2>\n{legend}\n{items}"


def _example(error: ErrorExample) -> str:
    # For plain tags every token is a one-token span: mark only the token in error.
    plain = error.kind == "tag"
    gold = [error.gold_span] if plain else error.gold
    predicted = [error.predicted_span] if plain else error.predicted
    return (
        f'<div class="example {escape(error.kind)}">\n'
        f'<p class="what"><b>{escape(class_name(error.kind))}</b> × {error.count:,}: {_describe(error)}</p>\n'
        f'<p class="line"><span class="side">gold</span>'
        f"<span>{_marked(error.tokens, gold, 'gold', error.gold_span)}</span></p>\n"
        f'<p class="line"><span class="side">predicted</span>'
        f"<span>{_marked(error.tokens, predicted, 'predicted', error.predicted_span)}</span></p>\n</div>"
    )


def _describe(error: ErrorExample) -> str:
    def span(value: Span) -> str:
        words = escape(" ".join(error.tokens[value.start : value.end]))
        return f"<code>{escape(value.label)}</code> “{words}”"

    gold, predicted = error.gold_span, error.predicted_span
    if gold is None and predicted is not None:
        return f"predicted {span(predicted)} where the gold data has no span"
    if predicted is None and gold is not None:
        return f"gold {span(gold)} not found"
    if gold is not None and predicted is not None:
        return f"gold {span(gold)} → predicted {span(predicted)}"
    return ""


def _marked(tokens: Sequence[str], spans: Sequence[Span | None], side: str, focus: Span | None) -> str:
    """The sentence with ``spans`` (of one side, not overlapping) marked, ``focus`` outlined."""
    starts = {span.start: span for span in spans if span is not None}
    pieces, position = [], 0
    while position < len(tokens):
        span = starts.get(position)
        if span is None or span.end <= position:
            pieces.append(escape(tokens[position]))
            position += 1
            continue
        words = escape(" ".join(tokens[span.start : span.end]))
        classes = f"{side} focus" if span == focus else side
        pieces.append(
            f'<mark class="{classes}" title="{side} {escape(span.label)}">{words}'
            f'<span class="type">{escape(span.label)}</span></mark>'
        )
        position = span.end
    return " ".join(pieces)


def confidence(tested: bool, reliability: Reliability | None, calibration: dict | None, diagram: str) -> str:
    """The calibration of the model's confidences: ``calibration.json``, and the reliability diagram of the test file.

    ``tested``: whether a test file was scored; ``reliability``: the table of its predictions;
    ``calibration``: what ``calibration.json`` holds, ``None`` without one; ``diagram``: the chart.
    """
    needs_test = (
        "a reliability diagram, scores per type, error classes and the confusion matrix need a test file (--test FILE)"
    )
    if not tested and calibration is None:
        return (
            f'<h2>Confidence</h2>\n<p class="note">No calibration data (no <code>calibration.json</code>) and no '
            f"test file: {needs_test}.</p>"
        )
    paragraphs = [f"<p>{_calibration_sentence(calibration)}</p>"]
    if not tested:
        paragraphs.append(f'<p class="note">No test file: {needs_test}.</p>')
    elif reliability is None or not reliability.predictions:
        unit = "entity" if reliability is None else reliability.unit
        paragraphs.append(
            f'<p class="note">The model predicted no {unit} on the test file: no reliability diagram.</p>'
        )
    else:
        paragraphs.append(_reliability(reliability, diagram))
    return "<h2>Confidence</h2>\n" + "\n".join(paragraphs)


def _calibration_sentence(calibration: dict | None) -> str:
    if calibration is None:
        return (
            "No <code>calibration.json</code>: confidences are the CRF's own probabilities (temperature 1); "
            "<code>tagger calibrate MODEL_DIR DEV_FILE</code> fits a temperature that calibrates them."
        )
    sentence = (
        f"Confidences are calibrated by the temperature <b>{calibration['temperature']:.3f}</b> of "
        "<code>calibration.json</code>"
    )
    figures = [calibration.get(key) for key in ("ece_before", "ece_after", "predictions")]
    if all(isinstance(figure, (int, float)) and not isinstance(figure, bool) for figure in figures):
        before, after, predictions = figures
        data = calibration.get("data")
        where = f" on <code>{escape(str(data))}</code>" if data else ""
        sentence += (
            f", fitted{where}, where it took the expected calibration error of its {int(predictions):,} "
            f"predictions from {before:.4f} to {after:.4f}"
        )
    return sentence + "."


def _reliability(reliability: Reliability, diagram: str) -> str:
    unit, count = reliability.unit, reliability.predictions
    units = "entities" if unit == "entity" else "tokens"
    if unit == "entity":
        what = "entity confidence: the probability that the sentence holds exactly that entity"
    else:
        what = "token confidence: the probability of the tag"
    headline = (
        f"On the test file, the expected calibration error of the {count:,} predicted {units} is "
        f"<b>{reliability.ece:.4f}</b> (temperature {reliability.temperature:.3f}, {len(reliability.bins)} bins of "
        f"{what}): the size-weighted mean gap between a bin's mean confidence and the share of its {units} that are right."
    )
    rows = "\n".join(
        f'<tr data-bin="{b.lower:.1f}"><td>{b.lower:.1f}–{b.upper:.1f}</td><td>{b.count:,}</td>'
        + (
            f"<td>{b.mean_confidence:.4f}</td><td>{b.accuracy:.4f}</td></tr>"
            if b.count
            else "<td>–</td><td>–</td></tr>"
        )
        for b in reliability.bins
    )
    caption = (
        f"Per confidence bin, the share of its {units} that are right (bars) against their mean confidence (the red "
        f"gap up to it); on the dashed diagonal, confidence equals accuracy. Below: how many {units} each bin holds."
    )
    return (
        f"<p>{headline}</p>\n"
        f'<figure class="chart" id="reliability">{diagram}<figcaption>{caption}</figcaption></figure>\n'
        f'<table class="reliability"><thead><tr><th>confidence</th><th>{units}</th><th>mean confidence</th>'
        f"<th>accuracy</th></tr></thead>\n<tbody>\n{rows}\n</tbody></table>"
    )
