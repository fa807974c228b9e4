"""What training tells its caller: typed records, from the loop to the runner and the reporter.

Plain dataclasses, without torch: the loop (:mod:`bilstm_tagger.training`) produces them, the
runner (:mod:`bilstm_tagger.runner`) stores them, and a reporter (:mod:`bilstm_tagger.reporting`)
shows them; none of these modules needs to import another to read them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .evaluation import EvaluationReport


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
