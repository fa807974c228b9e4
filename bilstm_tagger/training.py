"""The training loop: length-bucketed batches, SGD or Adam, early stopping on the dev score.

:func:`train` takes sentences already read (see :mod:`bilstm_tagger.corpus`), trains in the
chosen tag scheme, evaluates on the dev sentences after each epoch, keeps the best-on-dev
checkpoint in the output directory and appends each epoch's figures to ``metrics.jsonl``.
It reports progress only through a :class:`~bilstm_tagger.reporting.Reporter`.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import checkpoint
from .corpus import Sentence
from .errors import InputError
from .evaluation import EvaluationReport, evaluate
from .model import BiLstmCrf, ModelConfig, resolve_device, set_threads
from .reporting import Reporter
from .schemes import allowed_transitions, convert, detect_scheme
from .tagging import predict_tags
from .vocab import Encoder

DEFAULT_LEARNING_RATES = {"sgd": 0.015, "adam": 0.001}
BUCKET_BATCHES = 50  # batches per pool of sentences sorted by length


@dataclass
class TrainingConfig:
    """How to train, and the model's sizes (``model``).

    ``learning_rate`` ``None`` means 0.015 for SGD (Ma & Hovy) and 0.001 for Adam. With SGD the rate
    of epoch ``e`` (from 0) is ``learning_rate / (1 + lr_decay * e)``. ``word_dropout`` is the
    chance that a word seen once in training is replaced by the unknown word in a batch (Lample et
    al.), so that the unknown word's embedding is trained.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    tag_scheme: str = "iobes"
    optimizer: str = "sgd"
    learning_rate: float | None = None
    momentum: float = 0.9
    lr_decay: float = 0.05
    clip: float = 5.0
    batch_size: int = 10
    word_dropout: float = 0.5
    max_epochs: int = 50
    patience: int = 5
    seed: int = 1
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.optimizer not in DEFAULT_LEARNING_RATES:
            raise InputError(f"unknown optimizer {self.optimizer!r} (choose sgd or adam)")
        if self.tag_scheme not in ("iobes", "iob2"):
            raise InputError(f"unknown training tag scheme {self.tag_scheme!r} (choose iobes or iob2)")
        for name in ("batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise InputError(f"word-dropout must be in [0, 1), got {self.word_dropout}")

    @property
    def effective_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.optimizer]


@dataclass
class EpochRecord:
    """One line of ``metrics.jsonl``."""

    epoch: int
    train_loss: float
    learning_rate: float
    train_seconds: float
    sentences_per_second: float
    dev: dict
    dev_score: float
    best: bool


@dataclass
class TrainingResult:
    best_epoch: int
    best_dev_score: float
    metric: str
    epochs_run: int
    seconds: float
    output_dir: str


def make_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of sentence indices of similar length.

    Sentences are shuffled, cut into pools of ``BUCKET_BATCHES`` batches, sorted by length within
    each pool and cut into batches, whose order is shuffled again: little padding, yet each epoch
    sees different batch compositions.
    """
    indices = list(range(len(lengths)))
    rng.shuffle(indices)
    pool_size = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(indices), pool_size):
        pool = sorted(indices[start : start + pool_size], key=lambda i: lengths[i])
        batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    rng.shuffle(batches)
    return batches


def train(
    train_sentences: list[Sentence],
    dev_sentences: list[Sentence],
    output_dir: str | os.PathLike,
    config: TrainingConfig,
    reporter: Reporter | None = None,
    corpus_settings: dict | None = None,
    overwrite: bool = False,
) -> TrainingResult:
    """Train a model and keep its best-on-dev checkpoint in ``output_dir``.

    Args:
        train_sentences, dev_sentences: labelled sentences.
        output_dir: the model directory; created if needed.
        config: the settings.
        reporter: where progress goes (silent by default).
        corpus_settings: how the corpus was read, stored in the checkpoint for the record.
        overwrite: replace a model already in ``output_dir`` (otherwise that is an error).

    Raises:
        InputError: unusable data or output directory, detected before training starts.
    """
    reporter = reporter or Reporter()
    started = time.perf_counter()
    output_dir = Path(output_dir)
    _prepare_output_dir(output_dir, overwrite)
    train_sentences = [s for s in train_sentences if s.tokens]
    dev_sentences = [s for s in dev_sentences if s.tokens]

    data_scheme = detect_scheme(s.tags for s in train_sentences)
    dev_scheme = detect_scheme(s.tags for s in dev_sentences)
    if (data_scheme == "plain") != (dev_scheme == "plain"):
        raise InputError(f"the training data has {_describe(data_scheme)} but the dev data has {_describe(dev_scheme)}")
    tag_scheme = "plain" if data_scheme == "plain" else config.tag_scheme
    train_tags = [convert(s.tags, data_scheme, tag_scheme) for s in train_sentences]
    dev_tags = [convert(s.tags, dev_scheme, tag_scheme) for s in dev_sentences]

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    threads = set_threads(config.threads)
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(config.seed)

    encoder = Encoder.build(zip((s.tokens for s in train_sentences), train_tags))
    model = BiLstmCrf(
        config.model,
        len(encoder.words),
        len(encoder.chars),
        len(encoder.tags),
        allowed_transitions(encoder.tags.itos, tag_scheme),
    ).to(device)
    info = checkpoint.CheckpointInfo(
        model=config.model.to_json(),
        vocab=encoder.to_json(),
        tag_scheme=tag_scheme,
        data_scheme=data_scheme,
        corpus=corpus_settings or {},
        training=asdict(config),
    )
    optimizer = _make_optimizer(model, config)
    singletons = _singleton_mask(train_sentences, encoder).to(device)
    rng = random.Random(config.seed)
    metric = "accuracy" if tag_scheme == "plain" else "f1"

    reporter.training_started(
        {
            "train_sentences": len(train_sentences),
            "train_tokens": sum(len(s) for s in train_sentences),
            "dev_sentences": len(dev_sentences),
            "data_scheme": data_scheme,
            "tag_scheme": tag_scheme,
            "tags": len(encoder.tags),
            "words": len(encoder.words),
            "chars": len(encoder.chars),
            "parameters": sum(p.numel() for p in model.parameters()),
            "device": str(device),
            "threads": threads,
            "metric": metric,
            "output_dir": str(output_dir),
        }
    )
    metrics_path = output_dir / checkpoint.METRICS_FILE
    metrics_path.write_text("")
    best_score, best_epoch, epochs_run = -1.0, 0, 0
    saved_once = False
    for epoch in range(1, config.max_epochs + 1):
        learning_rate = _set_learning_rate(optimizer, config, epoch)
        loss, seconds = _train_epoch(
            model, encoder, train_sentences, train_tags, optimizer, config, singletons, rng, device, epoch, reporter
        )
        report = _evaluate_dev(model, encoder, dev_sentences, dev_tags, tag_scheme, device)
        improved = report.score > best_score
        if improved:
            best_score, best_epoch = report.score, epoch
            _save(output_dir, model, info, first=not saved_once)
            saved_once = True
        record = EpochRecord(
            epoch=epoch,
            train_loss=loss,
            learning_rate=learning_rate,
            train_seconds=seconds,
            sentences_per_second=len(train_sentences) / seconds if seconds > 0 else 0.0,
            dev=_dev_summary(report),
            dev_score=report.score,
            best=improved,
        )
        _append_jsonl(metrics_path, asdict(record))
        reporter.epoch_finished(record)
        epochs_run = epoch
        if epoch - best_epoch >= config.patience:
            reporter.info(f"Stopping early: no dev improvement in {config.patience} epochs.")
            break
    result = TrainingResult(
        best_epoch=best_epoch,
        best_dev_score=best_score,
        metric=metric,
        epochs_run=epochs_run,
        seconds=time.perf_counter() - started,
        output_dir=str(output_dir),
    )
    reporter.training_finished(asdict(result))
    return result


def _describe(scheme: str) -> str:
    return "plain tags (no spans)" if scheme == "plain" else f"span tags ({scheme})"


def _prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Fail before training, not after it: an existing model, or a directory we cannot write."""
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError("exists and is not a directory", output_dir)
    if (output_dir / checkpoint.CONFIG_FILE).exists() and not overwrite:
        raise InputError("already holds a model; pass --overwrite to replace it", output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise InputError(f"cannot write the model here: {error.strerror}", output_dir) from None


def _save(output_dir: Path, model: BiLstmCrf, info: checkpoint.CheckpointInfo, first: bool) -> None:
    if first:
        # config.json marks a complete checkpoint: remove an old one first, write it last.
        (output_dir / checkpoint.CONFIG_FILE).unlink(missing_ok=True)
        checkpoint.save_weights(output_dir, model.state_dict())
        checkpoint.save_info(output_dir, info)
    else:
        checkpoint.save_weights(output_dir, model.state_dict())


def _make_optimizer(model: BiLstmCrf, config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.effective_learning_rate)
    return torch.optim.SGD(model.parameters(), lr=config.effective_learning_rate, momentum=config.momentum)


def _set_learning_rate(optimizer: torch.optim.Optimizer, config: TrainingConfig, epoch: int) -> float:
    rate = config.effective_learning_rate
    if config.optimizer == "sgd":
        rate /= 1.0 + config.lr_decay * (epoch - 1)
    for group in optimizer.param_groups:
        group["lr"] = rate
    return rate


def _singleton_mask(sentences: list[Sentence], encoder: Encoder) -> torch.Tensor:
    """``(num_words,)`` bool: words seen exactly once in training (candidates for word dropout)."""
    counts = torch.zeros(len(encoder.words), dtype=torch.long)
    for sentence in sentences:
        counts.index_add_(
            0, torch.tensor([encoder.word_id(t) for t in sentence.tokens]), torch.ones(len(sentence), dtype=torch.long)
        )
    singles = counts == 1
    singles[:2] = False  # padding and unknown
    return singles


def _train_epoch(model, encoder, sentences, tags, optimizer, config, singletons, rng, device, epoch, reporter):
    model.train()
    batches = make_batches([len(s) for s in sentences], config.batch_size, rng)
    reporter.epoch_started(epoch, config.max_epochs, len(sentences))
    total_loss, started = 0.0, time.perf_counter()
    for indices in batches:
        batch = encoder.encode([sentences[i].tokens for i in indices], [tags[i] for i in indices], device=device)
        if config.word_dropout > 0:
            drop = singletons[batch.word_ids] & (torch.rand(batch.word_ids.shape, device=device) < config.word_dropout)
            batch.word_ids = batch.word_ids.masked_fill(drop, 1)
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(batch)
        loss.backward()
        if config.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        batch_loss = loss.item()
        total_loss += batch_loss * len(indices)
        reporter.batch_finished(len(indices), batch_loss)
    seconds = time.perf_counter() - started
    return total_loss / max(1, len(sentences)), seconds


def _evaluate_dev(model, encoder, sentences, gold_tags, tag_scheme, device) -> EvaluationReport:
    predicted = list(predict_tags(model, encoder, (s.tokens for s in sentences), device))
    return evaluate(gold_tags, predicted, tag_scheme, known_labels=encoder.tags.itos)


def _dev_summary(report: EvaluationReport) -> dict:
    if report.metric == "accuracy":
        return {"accuracy": round(report.accuracy, 4)}
    return {
        "precision": round(report.precision, 4),
        "recall": round(report.recall, 4),
        "f1": round(report.f1, 4),
        "per_type": {row.label: round(row.f1, 4) for row in report.per_label},
    }


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")
        stream.flush()
        os.fsync(stream.fileno())
