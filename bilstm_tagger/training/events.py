"""What training tells its caller: typed records, from the loop to the runner and the reporter.

Plain dataclasses, without torch: the loop (:mod:`bilstm_tagger.training.loop`) produces them, the
runner (:mod:`bilstm_tagger.training.run`) stores them and hands them to a :class:`Reporter`, which is
silent here; the CLI's reporter (:mod:`bilstm_tagger.cli.console`) shows them. None of these modules
needs to import another to read them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bilstm_tagger.scoring.metrics import EvaluationReport


@dataclass(frozen=True)
class TrainingStarted:
    """The sizes of a run, once its data, vocabularies and model are ready."""

    train_sentences: int
    train_tokens: int
    dev_sentences: int
    data_scheme: str
    tag_scheme: str
    tags: int
    words: int
    chars: int
    parameters: int
    device: str
    threads: int
    output_dir: str


@dataclass(frozen=True)
class LabelCounts:
    """The labels of the data: entity types (span tags) or tags (plain tags), with their counts.

    ``train`` is most frequent first; ``unseen_in_dev`` holds the dev labels that training never
    shows (the model cannot predict them), with their dev counts.
    """

    kind: str  # "entity types" or "tags"
    train: dict[str, int]
    unseen_in_dev: dict[str, int]


@dataclass(frozen=True)
class BatchFinished:
    """One optimiser step: ``sentences`` of the epoch's ``total`` done in ``seconds``, the batch's mean loss."""

    epoch: int
    max_epochs: int
    sentences: int
    total: int
    loss: float
    seconds: float


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: its training figures and dev scores. :meth:`to_json` is one line of ``metrics.jsonl``."""

    epoch: int
    train_loss: float
    learning_rate: float
    train_seconds: float
    sentences_per_second: float
    dev: EvaluationReport
    best: bool

    def to_json(self) -> dict:
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "learning_rate": self.learning_rate,
            "train_seconds": self.train_seconds,
            "sentences_per_second": self.sentences_per_second,
            "dev": self.dev.summary(),
            "dev_score": self.dev.score,
            "best": self.best,
        }


@dataclass(frozen=True)
class TrainingResult:
    """The end of a run: the best epoch and its dev score (``metric``: ``f1`` or ``accuracy``)."""

    best_epoch: int
    best_dev_score: float
    metric: str
    epochs_run: int
    seconds: float
    output_dir: str


@dataclass(frozen=True)
class Calibrated:
    """A temperature was fitted on ``data`` and stored; the expected calibration error before and after it."""

    temperature: float
    ece_before: float
    ece_after: float
    predictions: int
    data: str


@dataclass(frozen=True)
class RunInterrupted:
    """A signal stopped the run; the state after ``completed_epochs`` is saved in ``output_dir``.

    ``processes`` is how many trained together (under ``torchrun``): a resume needs as many.
    """

    completed_epochs: int
    output_dir: str
    processes: int = 1


class Reporter:
    """Receives training events (:mod:`bilstm_tagger.training.events`); this base class ignores them all."""

    def training_started(self, event: TrainingStarted) -> None:
        """Called once with the data and model sizes (see :func:`bilstm_tagger.training.run.train`)."""

    def labels_counted(self, event: LabelCounts) -> None:
        """Called once before the first epoch with the labels of the data."""

    def batch_finished(self, event: BatchFinished) -> None:
        """Called after each optimiser step: how far the epoch is, and the batch's mean loss."""

    def epoch_finished(self, record: EpochRecord) -> None:
        """Called after the dev evaluation of an epoch."""

    def training_finished(self, result: TrainingResult) -> None:
        """Called once at the end with the best epoch and score."""

    def calibrated(self, event: Calibrated) -> None:
        """Called when a temperature was fitted and stored (after training, or by ``tagger calibrate``)."""

    def interrupted(self, event: RunInterrupted) -> None:
        """Called when a signal stops training; the resumable state of ``event.completed_epochs`` is saved."""

    def info(self, message: str) -> None:
        """A sentence worth telling the user."""

    def warning(self, message: str) -> None:
        """Something about the input the user should know, though the work goes on (``FILE:LINE: ...``)."""
