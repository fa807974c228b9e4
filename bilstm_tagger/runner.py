"""A training run from start to end: :func:`train` drives the loop, the run directory and the reporter.

:func:`~bilstm_tagger.training.train_epochs` trains; this module decides what happens around it:
the output directory is checked before anything is computed, the best weights and each epoch's
figures are saved as they come, a resumable state after every epoch, SIGINT and SIGTERM stop
the run cleanly, and every event goes to a :class:`~bilstm_tagger.reporting.Reporter`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time

from .calibration import calibrate_model
from .config import TrainingConfig
from .corpus import STDIN, Sentence, read_corpus, resolve_format
from .embeddings import coverage
from .errors import InputError, TrainingInterrupted
from .events import RunInterrupted, TrainingResult
from .reporting import Reporter
from .rundir import RunDirectory, data_fingerprint
from .training import TrainingState, setup_training, train_epochs


def train(
    train_sentences: list[Sentence],
    dev_sentences: list[Sentence],
    output_dir: str | os.PathLike,
    config: TrainingConfig,
    reporter: Reporter | None = None,
    corpus_settings: dict | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> TrainingResult:
    """Train a model and keep its best-on-dev checkpoint in ``output_dir``.

    After every epoch, ``output_dir/resume.pt`` records everything needed to continue (weights,
    optimiser, random-number and early-stopping state); ``resume=True`` continues from it, and
    ends with the same weights as a run that was never interrupted. SIGINT and SIGTERM stop
    training with :class:`~bilstm_tagger.errors.TrainingInterrupted` and leave that file in place.

    Args:
        train_sentences, dev_sentences: labelled sentences.
        output_dir: the model directory; created if needed.
        config: the settings (with ``resume``, those saved in the directory are used instead).
        reporter: where progress goes (silent by default).
        corpus_settings: how the corpus was read, stored in the checkpoint for the record.
        overwrite: replace a model already in ``output_dir`` (otherwise that is an error).
        resume: continue the run whose state is in ``output_dir``.

    Raises:
        InputError: unusable data or output directory, detected before training starts.
        TrainingInterrupted: SIGINT or SIGTERM arrived.
    """
    reporter = reporter or Reporter()
    run_dir = RunDirectory(output_dir)
    saved = None
    if resume:
        saved = run_dir.load_resume_state()
        config = TrainingConfig.from_json(json.loads(saved["config"]))
    else:
        run_dir.prepare(overwrite)
    state = setup_training(train_sentences, dev_sentences, config)
    fingerprint = data_fingerprint(state.data.train, state.data.dev)
    elapsed = 0.0  # training seconds before this process (when resumed)
    if saved is not None:
        run_dir.check_fingerprint(saved, fingerprint)
        state.load_state_dict(saved)
        elapsed = saved["elapsed"]
        run_dir.keep_metrics(state.epoch)
        reporter.info(
            f"Resuming after epoch {state.epoch} (best dev {state.best_score:.2f} at epoch {state.best_epoch})."
        )
    else:
        run_dir.check_free_space(state.checkpoint_bytes())
    return _run(state, run_dir, reporter, corpus_settings, fingerprint, elapsed)


def train_files(
    train_file: str | os.PathLike,
    dev_file: str | os.PathLike,
    output_dir: str | os.PathLike,
    config: TrainingConfig,
    corpus_format: str = "auto",
    word_column: str | None = None,
    tag_column: str | None = None,
    encoding_errors: str = "strict",
    reporter: Reporter | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> TrainingResult:
    """:func:`train` on two corpus files, both read with the same settings, which the checkpoint records.

    ``corpus_format`` ``auto`` decides each file's format by itself (see :func:`~bilstm_tagger.corpus.resolve_format`).

    Raises:
        InputError: a malformed file (naming its line), or as :func:`train`.
    """
    if str(train_file) == str(dev_file) == STDIN:
        raise InputError("the training and dev data cannot both be standard input (-)")
    read = dict(word_column=word_column, tag_column=tag_column, encoding_errors=encoding_errors)
    train_format = resolve_format(train_file, corpus_format)
    train_sentences = read_corpus(train_file, train_format, **read)
    dev_sentences = read_corpus(dev_file, resolve_format(dev_file, corpus_format), **read)
    corpus_settings = {"format": train_format, "word_column": word_column, "tag_column": tag_column}
    return train(train_sentences, dev_sentences, output_dir, config, reporter, corpus_settings, overwrite, resume)


def _run(
    state: TrainingState,
    run_dir: RunDirectory,
    reporter: Reporter,
    corpus_settings: dict | None,
    fingerprint: str,
    elapsed: float,
) -> TrainingResult:
    """The loop, with its records saved and reported as they come."""
    started = time.perf_counter() - elapsed

    def resume_state() -> dict:
        return {**state.state_dict(), "elapsed": elapsed, "fingerprint": fingerprint}

    reporter.training_started(state.summary(str(run_dir.path)))
    reporter.labels_counted(state.data.label_counts())
    if state.pretrained is not None:
        reporter.info(_coverage_message(state))
    if state.epoch == 0:
        run_dir.start_metrics()
        run_dir.save_resume_state(resume_state())
    info = state.checkpoint_info(corpus_settings)
    signals = _Signals()
    try:
        with signals.interrupt_training():
            for record in train_epochs(state, on_batch=reporter.batch_finished):
                with signals.held():  # the saves of an epoch are all made, or the signal waits for them
                    if record.best:
                        run_dir.save_best(info, state.model, first=record.epoch == 1)
                    elapsed = time.perf_counter() - started
                    run_dir.append_metrics(record)
                    run_dir.save_resume_state(resume_state())
                reporter.epoch_finished(record)
    except TrainingInterrupted:
        reporter.interrupted(RunInterrupted(state.epoch, str(run_dir.path)))
        raise
    if state.patience_exhausted:
        reporter.info(f"Stopping early: no dev improvement in {state.config.patience} epochs.")
    result = TrainingResult(
        best_epoch=state.best_epoch,
        best_dev_score=state.best_score,
        metric=state.data.metric,
        epochs_run=state.epoch,
        seconds=time.perf_counter() - started,
        output_dir=str(run_dir.path),
    )
    run_dir.finish()
    reporter.training_finished(result)
    # The temperature that calibrates the model's confidences, from the best weights just saved.
    reporter.calibrated(calibrate_model(run_dir.path, state.data.dev, "dev"))
    return result


def _coverage_message(state: TrainingState) -> str:
    pretrained = state.pretrained
    found = coverage(pretrained, [token for s in state.data.train for token in s.tokens])
    return (
        f"Embeddings {pretrained.source} ({len(pretrained.words):,} × {pretrained.dim}): "
        f"{found['found']:.1f}% of training tokens found (as written {found['exact']:.1f}%, "
        f"lowercase {found['lowercase']:.1f}%, digits as 0 {found['digits']:.1f}%)"
    )


class _Signals:
    """SIGINT and SIGTERM stop training with :class:`TrainingInterrupted`, but never in the middle of a save.

    A signal that arrives inside :meth:`held` waits until its block is done, so that ``resume.pt``
    always holds the epoch that the interruption message names, and no checkpoint is left half
    replaced.
    """

    def __init__(self) -> None:
        self._holding = False
        self._pending: int | None = None

    def _interrupt(self, signum, frame) -> None:
        if self._holding:
            self._pending = signum
            return
        raise TrainingInterrupted(signum)

    @contextlib.contextmanager
    def interrupt_training(self):
        """Install the handlers while training (they can only be installed from the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def held(self):
        """Hold signals back until the block has run; then act on one that came meanwhile."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._pending is not None:
            raise TrainingInterrupted(self._pending)
