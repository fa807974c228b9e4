"""The one place that talks to people: progress bars, training rows and score tables (rich).

The library reports through a :class:`~bilstm_tagger.training.events.Reporter`, whose base class is
silent (the Python API prints nothing); :class:`RichReporter` draws on standard error so that
standard output stays clean for data. Only the CLI imports this module, and so ``rich``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.markup import escape

from bilstm_tagger.base.errors import InputWarning
from bilstm_tagger.scoring.analysis import GOLD_CLASSES, ErrorAnalysis, ErrorExample
from bilstm_tagger.scoring.metrics import EvaluationReport, metric_name
from bilstm_tagger.training.events import (
    BatchFinished,
    Calibrated,
    EpochRecord,
    LabelCounts,
    Reporter,
    RunInterrupted,
    TrainingResult,
    TrainingStarted,
)

if TYPE_CHECKING:
    from rich.console import Console


def make_console(stderr: bool = True) -> Console:
    """A rich console; sentences are not wrapped (soft wrap), so paths and commands stay whole."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class RichReporter(Reporter):
    """Progress bar per epoch (loss, sentences/s, ETA) and one table row per epoch, on stderr."""

    def __init__(self, console: Console | None = None):
        self.console = console or make_console()
        self._progress = None
        self._task = None
        self._loss_sum = 0.0
        self._batches = 0

    def training_started(self, event: TrainingStarted) -> None:
        scheme = event.tag_scheme
        if scheme != "plain" and event.data_scheme != scheme:
            scheme = f"{scheme}, data in {event.data_scheme}"
        self.console.print(
            f"[bold]Training[/] on {event.train_sentences:,} sentences "
            f"({event.train_tokens:,} tokens), dev {event.dev_sentences:,} · "
            f"{event.tags} tags ({scheme}) · {event.words:,} words, {event.chars:,} characters · "
            f"{event.parameters:,} parameters · {event.device}, {event.threads} threads → "
            f"[cyan]{event.output_dir}[/]"
        )

    def labels_counted(self, event: LabelCounts) -> None:
        shown = list(event.train.items())[:LABELS_SHOWN]
        more = len(event.train) - len(shown)
        counts = " · ".join(f"{label} {count:,}" for label, count in shown) + (f" · {more} more" if more else "")
        self.console.print(f"{event.kind.capitalize()} in training: {counts}", markup=False)
        if event.unseen_in_dev:
            unseen = ", ".join(f"{label} ({count:,})" for label, count in event.unseen_in_dev.items())
            self.console.print(
                f"[bold yellow]Warning:[/] the dev data has {event.kind} that training never shows, which the model "
                f"cannot predict (they count as errors): {escape(unseen)}"
            )

    def _start_progress(self, event: BatchFinished) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._loss_sum, self._batches = 0.0, 0
        self._progress = Progress(
            TextColumn(f"Epoch {event.epoch}/{event.max_epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TextColumn("{task.fields[speed]:,.0f} sent/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not self.console.is_terminal,  # logs get the epoch rows only
        )
        self._task = self._progress.add_task("train", total=event.total, loss=0.0, speed=0.0)
        self._progress.start()

    def batch_finished(self, event: BatchFinished) -> None:
        if self._progress is None:
            self._start_progress(event)
        self._loss_sum += event.loss
        self._batches += 1
        speed = event.sentences / event.seconds if event.seconds > 0 else 0.0
        self._progress.update(self._task, completed=event.sentences, loss=self._loss_sum / self._batches, speed=speed)

    def epoch_finished(self, record: EpochRecord) -> None:
        from rich.table import Table

        self._stop_progress()
        table = Table(box=None, show_header=record.epoch == 1, show_edge=False, pad_edge=False, header_style="bold")
        columns = ["Epoch", "Loss", "LR", "Sent/s", "Time"]
        dev = record.dev
        columns += ["Dev acc"] if dev.metric == "accuracy" else ["Dev P", "Dev R", "Dev F1"]
        columns += ["Best"]
        for name in columns:
            table.add_column(name, justify="right", width=max(len(name), 8))
        scores = (
            [f"{dev.accuracy:.2f}"]
            if dev.metric == "accuracy"
            else [f"{dev.precision:.2f}", f"{dev.recall:.2f}", f"{dev.f1:.2f}"]
        )
        table.add_row(
            str(record.epoch),
            f"{record.train_loss:.3f}",
            f"{record.learning_rate:.5f}",
            f"{record.sentences_per_second:,.0f}",
            f"{record.train_seconds:.1f}s",
            *scores,
            "[green]✓ saved[/]" if record.best else "",
        )
        self.console.print(table)

    def training_finished(self, result: TrainingResult) -> None:
        name = metric_name(result.metric)
        minutes, seconds = divmod(int(result.seconds), 60)
        self.console.print(
            f"[bold green]Done[/] in {minutes}m {seconds:02d}s: best dev {name} "
            f"[bold]{result.best_dev_score:.2f}[/] at epoch {result.best_epoch} "
            f"(of {result.epochs_run}); model in [cyan]{result.output_dir}[/]"
        )

    def calibrated(self, event: Calibrated) -> None:
        self.console.print(
            f"Confidences calibrated on {escape(event.data)} ({event.predictions:,} predictions): temperature "
            f"[bold]{event.temperature:.3f}[/], expected calibration error {event.ece_before:.4f} → "
            f"[bold]{event.ece_after:.4f}[/]"
        )

    def interrupted(self, event: RunInterrupted) -> None:
        self._stop_progress()
        output_dir = event.output_dir
        command = "command" if event.processes == 1 else f"torchrun command ({event.processes} processes)"
        self.console.print(
            f"[bold yellow]Interrupted[/] after {event.completed_epochs} completed epoch(s); the state to continue "
            f"from is in [cyan]{output_dir}/resume.pt[/]. Resume by running the same {command} with "
            f"[bold]--resume {output_dir}[/]."
        )

    def info(self, message: str) -> None:
        self._stop_progress()
        self.console.print(message)

    def warning(self, message: str) -> None:
        self._stop_progress()
        self.console.print(f"[bold yellow]warning:[/] {escape(message)}")

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextlib.contextmanager
def input_warnings_reported(reporter: Reporter) -> Iterator[None]:
    """Inside the block, each :class:`~bilstm_tagger.base.errors.InputWarning` goes to ``reporter.warning``.

    The readers raise them through :mod:`warnings`, which would print two lines naming our source
    file; the user wants one line naming theirs. Other warnings are shown as before.
    ``warnings.showwarning`` is process-wide, so warnings of a reader thread (``tagger tag``) come
    here too.
    """
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, InputWarning):
            reporter.warning(str(message))
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def print_evaluation(report: EvaluationReport, console: Console, title: str) -> None:
    """A table of per-type (or per-tag) precision, recall, F1 and support, then the overall score."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("Type" if report.metric == "f1" else "Tag")
    for name in ("Precision", "Recall", "F1", "Support"):
        table.add_column(name, justify="right")
    for row in report.per_label:
        table.add_row(row.label, f"{row.precision:.2f}", f"{row.recall:.2f}", f"{row.f1:.2f}", f"{row.support:,}")
    table.add_section()
    if report.metric == "f1":
        entities = sum(row.support for row in report.per_label)
        table.add_row(
            "[bold]micro avg[/]",
            f"{report.precision:.2f}",
            f"{report.recall:.2f}",
            f"[bold]{report.f1:.2f}[/]",
            f"{entities:,}",
        )
    console.print(table)
    summary = f"{report.sentences:,} sentences, {report.tokens:,} tokens · token accuracy {report.accuracy:.2f}"
    if report.metric == "f1":
        summary = f"Entity F1 [bold]{report.f1:.2f}[/] · " + summary
    else:
        summary = f"Accuracy [bold]{report.accuracy:.2f}[/] · " + summary
    console.print(summary)
    if report.unknown_labels:
        console.print(
            f"[yellow]Note:[/] gold labels the model never saw in training (counted as errors): "
            f"{', '.join(report.unknown_labels)}"
        )


ERROR_NAMES = {
    "correct": "Correct",
    "wrong_type": "Wrong type",
    "wrong_boundaries": "Bounds",
    "wrong_both": "Both",
    "missed": "Missed",
    "spurious": "Spurious",
    "tag": "Wrong tag",
}
LABELS_SHOWN = 12  # labels listed in the line that counts them before training
CONFUSION_LABELS = 8  # labels in a printed confusion matrix: 9 columns of 7 fit 80 columns
CONTEXT_TOKENS = 4  # tokens shown on each side of an example's span


def print_error_analysis(analysis: ErrorAnalysis, console: Console, examples: int = 10) -> None:
    """The error classes per type (span tags), the confusion matrix and the most frequent errors.

    Everything fits an 80-column terminal; ``--json`` carries the whole matrix and every count.
    """
    from rich.table import Table

    if analysis.metric == "f1":
        table = Table(title="Errors by type (each gold span once; spurious: predicted spans overlapping no gold span)",
                      title_justify="left", header_style="bold")  # fmt: skip
        table.add_column("Type")
        for name in (*GOLD_CLASSES, "spurious"):
            table.add_column(ERROR_NAMES[name], justify="right")
        for label, counts in analysis.per_type.items():
            table.add_row(label, *(f"{counts[name]:,}" for name in (*GOLD_CLASSES, "spurious")))
        table.add_section()
        totals = [analysis.gold_counts[name] for name in GOLD_CLASSES] + [analysis.predicted_counts["spurious"]]
        table.add_row("[bold]all[/]", *(f"{count:,}" for count in totals))
        console.print(table)
    console.print(_confusion_table(analysis))
    if analysis.metric == "accuracy" and analysis.confused_pairs:
        pairs = Table(title="Most confused tags", title_justify="left", header_style="bold")
        for name, justify in (("Gold", "left"), ("Predicted", "left"), ("Tokens", "right")):
            pairs.add_column(name, justify=justify)
        for gold, predicted, count in analysis.confused_pairs[:examples]:
            pairs.add_row(gold, predicted, f"{count:,}")
        console.print(pairs)
    if analysis.examples:
        console.print("[bold]Most frequent errors[/] (the gold span in brackets, or the predicted one if none)")
        for example in analysis.examples[:examples]:
            console.print(_describe_example(example), markup=False, highlight=False)


def _confusion_table(analysis: ErrorAnalysis):
    from rich.table import Table

    labels = analysis.labels
    if len(labels) > CONFUSION_LABELS + 1:  # the labels with most errors (plain tags can be dozens)
        errors = {label: 0 for label in labels}
        for gold, predicted, count in analysis.confused_pairs:
            errors[gold] += count
            errors[predicted] += count
        labels = sorted(sorted(labels, key=lambda label: -errors[label])[:CONFUSION_LABELS], key=labels.index)
        title = f"Confusion of the {len(labels)} labels with most errors (rows gold, columns predicted; --json: all)"
    else:
        title = "Confusion (rows gold, columns predicted" + (", O: no span)" if analysis.metric == "f1" else ")")
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("")
    for label in labels:
        table.add_column(label[:7], justify="right")
    index = {label: position for position, label in enumerate(analysis.labels)}
    for row in labels:
        cells = []
        for column in labels:
            count = analysis.confusion[index[row]][index[column]]
            cells.append(f"[green]{count:,}[/]" if row == column and count else f"{count:,}" if count else "·")
        table.add_row(f"[bold]{row[:12]}[/]", *cells)
    return table


def _describe_example(example: ErrorExample) -> str:
    """Two lines: ``3× Wrong type: "Tom" PER → ORG``, then the sentence around the span, ``… met [Tom] in New …``."""
    gold, predicted = example.gold_span, example.predicted_span
    tokens = example.tokens

    def text(span) -> str:
        return " ".join(tokens[span.start : span.end])

    if gold is not None and predicted is not None:
        what = f'"{text(gold)}" {gold.label} → ' + (
            predicted.label
            if (predicted.start, predicted.end) == (gold.start, gold.end)
            else f'"{text(predicted)}" {predicted.label}'
        )
    elif gold is not None:
        what = f'"{text(gold)}" {gold.label} → nothing'
    else:
        what = f'nothing → "{text(predicted)}" {predicted.label}'
    shown = gold if gold is not None else predicted
    start, end = max(0, shown.start - CONTEXT_TOKENS), min(len(tokens), shown.end + CONTEXT_TOKENS)
    context = [*tokens[start : shown.start], f"[{text(shown)}]", *tokens[shown.end : end]]
    ellipsis_before, ellipsis_after = ("… " if start > 0 else ""), (" …" if end < len(tokens) else "")
    return f"{example.count:>5,}× {ERROR_NAMES[example.kind]}: {what}\n       {ellipsis_before}{' '.join(context)}{ellipsis_after}"
