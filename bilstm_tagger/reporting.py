"""The one place that talks to people: progress bars, training rows and score tables (rich).

The library calls a :class:`Reporter`; the base class is silent (the Python API prints nothing),
:class:`RichReporter` draws on standard error so that standard output stays clean for data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .evaluation import EvaluationReport
from .events import BatchFinished, EpochRecord, RunInterrupted, TrainingResult, TrainingStarted

if TYPE_CHECKING:
    from rich.console import Console


class Reporter:
    """Receives training events (:mod:`bilstm_tagger.events`); this base class ignores them all."""

    def training_started(self, event: TrainingStarted) -> None:
        """Called once with the data and model sizes (see :func:`bilstm_tagger.runner.train`)."""

    def batch_finished(self, event: BatchFinished) -> None:
        """Called after each optimiser step: how far the epoch is, and the batch's mean loss."""

    def epoch_finished(self, record: EpochRecord) -> None:
        """Called after the dev evaluation of an epoch."""

    def training_finished(self, result: TrainingResult) -> None:
        """Called once at the end with the best epoch and score."""

    def interrupted(self, event: RunInterrupted) -> None:
        """Called when a signal stops training; the resumable state of ``event.completed_epochs`` is saved."""

    def info(self, message: str) -> None:
        """A sentence worth telling the user."""


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
        name = "accuracy" if result.metric == "accuracy" else "F1"
        minutes, seconds = divmod(int(result.seconds), 60)
        self.console.print(
            f"[bold green]Done[/] in {minutes}m {seconds:02d}s: best dev {name} "
            f"[bold]{result.best_dev_score:.2f}[/] at epoch {result.best_epoch} "
            f"(of {result.epochs_run}); model in [cyan]{result.output_dir}[/]"
        )

    def interrupted(self, event: RunInterrupted) -> None:
        self._stop_progress()
        output_dir = event.output_dir
        self.console.print(
            f"[bold yellow]Interrupted[/] after {event.completed_epochs} completed epoch(s); the state to continue "
            f"from is in [cyan]{output_dir}/resume.pt[/]. Resume by running the same command with "
            f"[bold]--resume {output_dir}[/]."
        )

    def info(self, message: str) -> None:
        self._stop_progress()
        self.console.print(message)

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


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
