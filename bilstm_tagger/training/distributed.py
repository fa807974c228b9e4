"""Training across processes and machines: the process group that ``torchrun`` starts us in.

``torchrun --nproc-per-node N -m bilstm_tagger train ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment;
:func:`join_process_group` turns that into a :class:`ProcessGroup` (gloo on CPU, NCCL on CUDA),
and a plain ``tagger train`` gets the group of one process, whose every operation is a no-op. The
training loop asks the group for the few things it shares: its part of each batch, one flag per
step, the dev predictions, the random-number states to save.

Every collective here waits at most :data:`COLLECTIVE_TIMEOUT`: a process that stops answering
(stopped, or its machine gone) ends the run with :class:`DistributedError` after that long,
rather than never. A process that dies outright is noticed at once.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from bilstm_tagger.base.errors import DistributedError, InputError
from bilstm_tagger.base.runtime import available_cores, environment_world_size

COLLECTIVE_TIMEOUT = timedelta(minutes=10)

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the training processes.

    Attributes:
        rank: this process's number, 0 to ``world_size - 1``; rank 0 writes the files and the display.
        world_size: how many processes train together.
        local_rank: its number on its machine (its GPU, on CUDA).
        local_world_size: how many of them run on its machine (they share its cores).
        backend: ``gloo`` or ``nccl``; ``""`` for a single process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def tensor_device(self) -> torch.device:
        """Where the tensors of collectives live: NCCL moves CUDA tensors only."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def default_threads(self) -> int:
        """The cores of this machine shared out between its processes (``--threads 0``)."""
        return max(1, available_cores() // self.local_world_size)

    def device_name(self, requested: str) -> str:
        """The device this process trains on: under torchrun, ``cuda`` means the GPU of its local rank."""
        if self.distributed and requested in ("cuda", "auto") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return requested

    def share(self, batch: Sequence[T]) -> list[T]:
        """This process's part of a batch that all of them drew alike: every ``world_size``-th item from its rank.

        The items of a batch are sorted by length, so each part gets long and short ones alike.
        """
        return list(batch[self.rank :: self.world_size])

    def any(self, flag: bool) -> bool:
        """Whether any process's ``flag`` is set: the same answer on every process."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=self.tensor_device)
        with self.collective("agreeing to stop"):
            dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def sum(self, value: float) -> float:
        """The sum of ``value`` over the processes (float64)."""
        if not self.distributed:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.tensor_device)
        with self.collective("adding up the epoch's loss"):
            dist.all_reduce(total)
        return float(total.item())

    def all_gather(self, item: T, what: str) -> list[T]:
        """Every process's ``item`` (any picklable object), in rank order. ``what`` names it in errors."""
        if not self.distributed:
            return [item]
        gathered: list = [None] * self.world_size
        with self.collective(what):
            dist.all_gather_object(gathered, item)
        return gathered

    def broadcast(self, item: T | None, what: str) -> T:
        """Rank 0's ``item`` on every process (the others pass ``None``)."""
        if not self.distributed:
            return item
        holder = [item]
        with self.collective(what):
            dist.broadcast_object_list(holder, src=0, device=self.tensor_device)
        return holder[0]

    def agree(self, step: Callable[[], T], what: str) -> T:
        """Run ``step`` on every process; if it raised :class:`InputError` on any, raise it on all.

        The error is rank 0's if it has one, so that the run ends with one message, the same as a
        single process would give (only rank 0 prints input errors: see
        :func:`bilstm_tagger.base.runtime.is_quiet_rank`).
        """
        try:
            result, failure = step(), None
        except InputError as error:
            result, failure = None, (error.message, error.path, error.line)
        failures = [(rank, f) for rank, f in enumerate(self.all_gather(failure, what)) if f is not None]
        if failures:
            rank, (message, path, line) = failures[0]
            prefix = f"on rank {rank}: " if rank != 0 else ""
            raise InputError(prefix + message, path, line)
        return result

    @contextlib.contextmanager
    def collective(self, what: str) -> Iterator[None]:
        """Turn torch's error for a process that died or stopped answering into one :class:`DistributedError`.

        Gloo's lost connections reach DistributedDataParallel's backward as a plain ``RuntimeError``:
        those are told apart by their message.
        """
        try:
            yield
        except RuntimeError as error:
            if not self.distributed or not (isinstance(error, dist.DistError) or _is_lost_peer(error)):
                raise
            raise DistributedError(self.rank, self.world_size, what, _reason(error)) from None


SINGLE = ProcessGroup()


@contextlib.contextmanager
def join_process_group(device: str) -> Iterator[ProcessGroup]:
    """The processes ``torchrun`` started, joined for the block (NCCL when ``device`` is CUDA, gloo otherwise).

    Without torchrun (no ``WORLD_SIZE`` above 1 in the environment) the group of one process, and
    nothing is set up.
    """
    world_size = environment_world_size()
    if world_size <= 1:
        yield SINGLE
        return
    environment = os.environ
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    group = ProcessGroup(
        rank=int(environment["RANK"]),
        world_size=world_size,
        local_rank=int(environment.get("LOCAL_RANK", "0")),
        local_world_size=int(environment.get("LOCAL_WORLD_SIZE", "1")),
        backend="nccl" if use_cuda else "gloo",
    )
    if use_cuda:
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} asked for, but CUDA is not available to this torch")
        torch.cuda.set_device(group.local_rank)
    with group.collective("joining the process group"):
        dist.init_process_group(group.backend, timeout=COLLECTIVE_TIMEOUT)
    try:
        yield group
        with group.collective("finishing"):
            dist.barrier()  # rank 0 calibrates the model last: the others wait, so that all end together
    finally:
        # DistributedDataParallel holds the group in reference cycles: collected now, while the group
        # is whole, rather than at exit, where tearing down gloo's threads aborted the process (1 run in 6).
        gc.collect()
        dist.destroy_process_group()


_LOST_PEER_MARKS = ("gloo", "nccl", "connection", "timed out", "timeout")


def _is_lost_peer(error: RuntimeError) -> bool:
    message = str(error).lower()
    return any(mark in message for mark in _LOST_PEER_MARKS)


def _reason(error: BaseException) -> str:
    """torch's message, short: its first sentence, without the source file it names.

    ``[.../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:46314: Connection reset by peer. This is...``
    → ``Read error [127.0.0.1]:46314: Connection reset by peer``
    """
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    line = re.sub(r"^\[[^\]]*\]\s*", "", line)
    return line.split(". ")[0].rstrip(".")
