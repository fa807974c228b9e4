"""A training run from start to end: :func:`train` drives the loop, the run directory and the reporter.

:func:`~bilstm_tagger.training.loop.train_epochs` trains; this module decides what happens around it:
the output directory is checked before anything is computed, the best weights and each epoch's
figures are saved as they come, a resumable state after every epoch, SIGINT and SIGTERM stop
the run cleanly, and every event goes to a :class:`~bilstm_tagger.training.events.Reporter`.

Under ``torchrun`` (see :mod:`bilstm_tagger.training.distributed`) every process runs :func:`train`; rank 0
alone writes the directory and reports, the checks that can fail are agreed on by all (so that
they fail together, with rank 0's message), and a signal to any process stops all of them at the
same step.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

from bilstm_tagger.base.errors import DistributedError, InputError, TrainingInterrupted
from bilstm_tagger.model import checkpoint
from bilstm_tagger.model.config import TrainingConfig
from bilstm_tagger.model.embeddings import coverage
from bilstm_tagger.model.onnx_export import export_model
from bilstm_tagger.text.corpus import STDIN, CorpusReading, Sentence, read_corpus
from bilstm_tagger.training.calibration import calibrate_model
from bilstm_tagger.training.distributed import ProcessGroup, join_process_group
from bilstm_tagger.training.events import Reporter, RunInterrupted, TrainingResult
from bilstm_tagger.training.loop import TrainingState, setup_training, train_epochs
from bilstm_tagger.training.run_directory import RunDirectory, data_fingerprint


def train(
    train_sentences: list[Sentence],
    dev_sentences: list[Sentence],
    output_dir: str | os.PathLike,
    config: TrainingConfig,
    reporter: Reporter | None = None,
    reading: CorpusReading | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> TrainingResult:
    """Train a model and keep its best-on-dev checkpoint in ``output_dir``.

    After every epoch, ``output_dir/resume.pt`` records everything needed to continue (weights,
    optimiser, random-number and early-stopping state); ``resume=True`` continues from it, and
    ends with the same weights as a run that was never interrupted. SIGINT and SIGTERM stop
    training with :class:`~bilstm_tagger.base.errors.TrainingInterrupted` and leave that file in place.

    Args:
        train_sentences, dev_sentences: labelled sentences.
        output_dir: the model directory; created if needed.
        config: the settings (with ``resume``, those saved in the directory are used instead).
        reporter: where progress goes (silent by default).
        reading: how the corpus was read, stored in the checkpoint: files of its format are read with its columns.
        overwrite: replace a model already in ``output_dir`` (otherwise that is an error).
        resume: continue the run whose state is in ``output_dir``.

    Raises:
        InputError: unusable data or output directory, detected before training starts.
        TrainingInterrupted: SIGINT or SIGTERM arrived.
    """
    with join_process_group(config.device) as group:
        return _train(group, train_sentences, dev_sentences, output_dir, config, reporter, reading, overwrite, resume)


def _train(
    group: ProcessGroup,
    train_sentences: list[Sentence],
    dev_sentences: list[Sentence],
    output_dir: str | os.PathLike,
    config: TrainingConfig,
    reporter: Reporter | None,
    reading: CorpusReading | None,
    overwrite: bool,
    resume: bool,
) -> TrainingResult:
    """:func:`train` in ``group``: rank 0 reads and writes the directory, and tells the others."""
    reporter = (reporter or Reporter()) if group.is_main else Reporter()
    run_dir = RunDirectory(output_dir)
    main = group.is_main
    saved = None
    if resume:
        saved = group.broadcast(
            group.agree(lambda: run_dir.load_resume_state() if main else None, "reading resume.pt"), "sharing resume.pt"
        )
        config = TrainingConfig.from_json(json.loads(saved["config"]))
        run_dir.check_processes(saved, group.world_size)
    else:
        group.agree(lambda: run_dir.prepare(overwrite) if main else None, "checking the output directory")
    state = group.agree(lambda: setup_training(train_sentences, dev_sentences, config, group), "setting up")
    fingerprint = data_fingerprint(state.data.train, state.data.dev)
    _check_same_everywhere(group, fingerprint, state.config)
    elapsed = 0.0  # training seconds before this process (when resumed)
    if saved is not None:
        run_dir.check_fingerprint(saved, fingerprint)
        state.load_state_dict(saved)
        elapsed = saved["elapsed"]
        if main:
            run_dir.keep_metrics(state.epoch)
        reporter.info(
            f"Resuming after epoch {state.epoch} (best dev {state.best_score:.2f} at epoch {state.best_epoch})."
        )
    else:
        group.agree(lambda: run_dir.check_free_space(state.checkpoint_bytes()) if main else None, "checking disk space")
    return _run(state, run_dir, reporter, reading, fingerprint, elapsed)


def with_saved_language(reading: CorpusReading, directory: str | os.PathLike) -> CorpusReading:
    """A resumed run keeps the language it was started with (in its checkpoint), unless one is given again."""
    if reading.language is not None:
        return reading
    try:
        saved = checkpoint.load_info(directory).corpus
    except (InputError, OSError):  # no checkpoint yet: interrupted in its first epoch
        return reading
    return replace(reading, language=CorpusReading.from_json(saved).language)


def train_files(
    train_file: str | os.PathLike,
    dev_file: str | os.PathLike,
    output_dir: str | os.PathLike,
    config: TrainingConfig,
    reading: CorpusReading = CorpusReading(),
    reporter: Reporter | None = None,
    overwrite: bool = False,
    resume: bool = False,
) -> TrainingResult:
    """:func:`train` on two corpus files, both read as ``reading`` says, which the checkpoint records.

    A ``reading`` of format ``auto`` decides each file's format by itself (see
    :func:`~bilstm_tagger.text.corpus.resolve_format`); the checkpoint records the training file's.

    Raises:
        InputError: a malformed file (naming its line), or as :func:`train`.
    """
    if str(train_file) == str(dev_file) == STDIN:
        raise InputError("the training and dev data cannot both be standard input (-)")
    train_reading = (with_saved_language(reading, output_dir) if resume else reading).resolved(train_file)

    def read_both() -> tuple[list[Sentence], list[Sentence]]:
        return read_corpus(train_file, train_reading), read_corpus(dev_file, reading.resolved(dev_file))

    with join_process_group(config.device) as group:
        # Every process reads the files (on its own machine): a file missing on one stops them all.
        train_sentences, dev_sentences = group.agree(read_both, "reading the corpora")
        return _train(
            group, train_sentences, dev_sentences, output_dir, config, reporter, train_reading, overwrite, resume
        )


def _run(
    state: TrainingState,
    run_dir: RunDirectory,
    reporter: Reporter,
    reading: CorpusReading | None,
    fingerprint: str,
    elapsed: float,
) -> TrainingResult:
    """The loop, with its records saved and reported as they come."""
    started = time.perf_counter() - elapsed
    group = state.group
    main = group.is_main

    saved_epoch = state.epoch  # the epoch resume.pt holds

    def save_resume_state() -> None:
        nonlocal saved_epoch
        resumable = state.state_dict()  # a collective in a distributed run: every process gets here
        if main:
            run_dir.save_resume_state({**resumable, "elapsed": elapsed, "fingerprint": fingerprint})
        saved_epoch = state.epoch

    reporter.training_started(state.summary(str(run_dir.path)))
    reporter.labels_counted(state.data.label_counts())
    if state.pretrained is not None:
        reporter.info(_coverage_message(state))
    if state.epoch == 0:
        if main:
            run_dir.start_metrics()
        save_resume_state()
    info = state.checkpoint_info(reading)
    # One process stops at its signal; several stop together at the next step (train_epochs asks).
    signals = _Signals(deferred=group.distributed)
    interruption = signals.pending if group.distributed else None
    try:
        with signals.interrupt_training():
            for record in train_epochs(state, on_batch=reporter.batch_finished, interruption=interruption):
                with signals.held():  # the saves of an epoch are all made, or the signal waits for them
                    if record.best and main:
                        run_dir.save_best(info, state.model, first=record.epoch == 1)
                    elapsed = time.perf_counter() - started
                    if main:
                        run_dir.append_metrics(record)
                    save_resume_state()
                reporter.epoch_finished(record)
    except TrainingInterrupted:
        reporter.interrupted(RunInterrupted(state.epoch, str(run_dir.path), group.world_size))
        raise
    except DistributedError as error:
        raise error.advise(
            f"{run_dir.resume_path} holds epoch {saved_epoch}: run the same torchrun command with "
            f"--resume {run_dir.path} to continue"
        ) from None
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
    if main:
        run_dir.finish()
        reporter.training_finished(result)
        # The temperature that calibrates the model's confidences, from the best weights just saved.
        reporter.calibrated(calibrate_model(run_dir.path, state.data.dev, "dev"))
        reporter.info(_export_onnx(run_dir.path))
    return result


def _export_onnx(directory: Path) -> str:
    """Write ``model.onnx`` for tagging without torch, where the onnx package is installed; say what was done."""
    if importlib.util.find_spec("onnx") is None:
        return "No model.onnx written (tagging will use torch): the onnx package is not installed"
    [result] = export_model(directory)
    return f"ONNX model for tagging without torch: {result.path} ({result.bytes / 1e6:.1f} MB)"


def _check_same_everywhere(group: ProcessGroup, fingerprint: str, config: TrainingConfig) -> None:
    """Every process of a run must have read the same data and been given the same settings."""
    if not group.distributed:
        return
    settings = json.dumps(config.to_json(), sort_keys=True)
    for rank, (theirs, their_settings) in enumerate(group.all_gather((fingerprint, settings), "comparing the data")):
        if theirs != fingerprint:
            raise InputError(f"training process {rank} read other training or dev data than process {group.rank}")
        if their_settings != settings:
            raise InputError(f"training process {rank} was given other settings than process {group.rank}")


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
    replaced. ``deferred`` signals never raise here: :meth:`pending` gives them to the training
    loop, whose processes must all stop at the same step.
    """

    def __init__(self, deferred: bool = False) -> None:
        self._holding = False
        self._deferred = deferred
        self._pending: int | None = None

    def pending(self) -> int | None:
        """The signal that arrived and waits to be acted on, if any."""
        return self._pending

    def _interrupt(self, signum, frame) -> None:
        if self._holding or self._deferred:
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
        if self._pending is not None and not self._deferred:
            raise TrainingInterrupted(self._pending)
