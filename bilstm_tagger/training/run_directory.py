"""A model directory while training writes it: checks before the run, ``metrics.jsonl`` and
``resume.pt`` during it, the best checkpoint, and the fingerprint of the data it was trained on.

The file names and the checkpoint itself are :mod:`bilstm_tagger.model.checkpoint`'s; this module
decides when a run writes what.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.files import atomic_write
from bilstm_tagger.model import checkpoint
from bilstm_tagger.text.corpus import Sentence
from bilstm_tagger.training.events import EpochRecord


class RunDirectory:
    """The output directory of one training run.

    Args:
        path: the model directory (created by :meth:`prepare`).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def metrics_path(self) -> Path:
        return self.path / checkpoint.METRICS_FILE

    @property
    def resume_path(self) -> Path:
        return self.path / checkpoint.RESUME_FILE

    def prepare(self, overwrite: bool) -> None:
        """Fail before training, not after it: an existing model, or a directory we cannot write."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise InputError("exists and is not a directory", path)
        if self.resume_path.exists() and not overwrite:
            raise InputError(
                "holds an unfinished run; pass --resume to continue it or --overwrite to start again", path
            )
        if (path / checkpoint.CONFIG_FILE).exists() and not overwrite:
            raise InputError("already holds a model; pass --overwrite to replace it", path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise InputError(f"cannot write the model here: {error.strerror}", path) from None

    def check_free_space(self, needed: int) -> None:
        """Raise :class:`InputError` if fewer than ``needed`` bytes are free for the checkpoints."""
        free = shutil.disk_usage(self.path).free
        if free < needed:
            raise InputError(
                f"not enough disk space: {free / 1e6:.1f} MB free, checkpoints need about {needed / 1e6:.1f} MB",
                self.path,
            )

    def load_resume_state(self) -> dict:
        """The state saved by :meth:`save_resume_state` (see :func:`bilstm_tagger.model.checkpoint.load_resume_state`)."""
        return checkpoint.load_resume_state(self.path)

    def save_resume_state(self, state: dict) -> None:
        checkpoint.save_resume_state(self.path, state)

    def check_fingerprint(self, state: dict, fingerprint: str) -> None:
        """A resumed run must see the data it started with."""
        if state["fingerprint"] != fingerprint:
            raise InputError("the training or dev data differ from those of the run being resumed", self.resume_path)

    def check_processes(self, state: dict, world_size: int) -> None:
        """A resumed run must have as many processes as the run it continues (each has its random numbers)."""
        saved = state.get("world_size", 1)
        if saved != world_size:
            raise InputError(
                f"was written by a run of {_processes(saved)}; resume it with {_processes(saved)} "
                f"(torchrun --nnodes × --nproc-per-node), not {world_size}",
                self.resume_path,
            )

    def start_metrics(self) -> None:
        """An empty ``metrics.jsonl`` for a new run."""
        self.metrics_path.write_text("")

    def append_metrics(self, record: EpochRecord) -> None:
        """One line of ``metrics.jsonl``, on disk before this returns."""
        with open(self.metrics_path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record.to_json()) + "\n")
            stream.flush()
            os.fsync(stream.fileno())

    def keep_metrics(self, epochs: int) -> None:
        """Keep the first ``epochs`` records of ``metrics.jsonl`` (a later one may predate a kill)."""
        if not self.metrics_path.exists():
            return
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip()][:epochs]
        atomic_write(self.metrics_path, "".join(line + "\n" for line in kept).encode("utf-8"))

    def save_best(self, info: checkpoint.CheckpointInfo, model, first: bool) -> None:
        """Save the model's weights as the best so far.

        The first epoch always improves on nothing: it writes the whole checkpoint (replacing any
        older model), later bests only the weights.
        """
        if first:
            checkpoint.save_checkpoint(self.path, info, model.state_dict(), model.extra_word_vectors)
        else:
            checkpoint.save_weights(self.path, model.state_dict())

    def finish(self) -> None:
        """Training ended: nothing is left to resume."""
        self.resume_path.unlink(missing_ok=True)


def _processes(count: int) -> str:
    return "1 process" if count == 1 else f"{count} processes"


def data_fingerprint(train: Iterable[Sentence], dev: Iterable[Sentence]) -> str:
    """A hash of the training and dev tokens and tags: a resumed run must see the same data."""
    digest = hashlib.sha256()
    for sentences in (train, dev):
        for sentence in sentences:
            digest.update("\x1f".join(sentence.tokens).encode("utf-8", "surrogatepass"))
            digest.update("\x1e".join(sentence.tags or ()).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1d")
    return digest.hexdigest()
