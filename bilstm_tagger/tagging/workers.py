"""Tagging across worker processes: ``tagger tag --workers N`` and ``tagger evaluate --workers N``.

A :class:`TaggerPool` starts N processes that each load the model once and tag what they are
sent, while this process goes on reading the input and writing the output. The pool stands in
for a :class:`~bilstm_tagger.tagging.tagger.LoadedModel` where :func:`bilstm_tagger.tagging.streaming.tag_file` and
:func:`bilstm_tagger.scoring.evaluation.evaluate_file` take one, and gives the same records in the same order.

How it runs:

* Work goes out a buffer at a time, the buffers one process would tag: for ``tag`` whatever
  input has arrived, ``batch_size * BUFFER_BATCHES`` records at most; for ``evaluate``
  ``batch_size * BUFFER_BATCHES`` sentences. A buffer's sentences are batched inside the worker as they would be here, so the
  tags are the same (confidences too, but for the last bits of a float, which depend on a
  batch's other sentences: see :func:`~bilstm_tagger.tagging.batches.tag_buffer`).
* A background thread sends each buffer to the least busy worker as soon as it has been read,
  with at most ``BUFFERS_PER_WORKER × N`` buffers out at once, so memory stays bounded whatever
  the input. The caller's thread gets the results in input order, each as soon as it and those
  before it are in (``tag_file`` writes it at once): a slow interactive pipe gets each answer
  when its line is in.
* Each worker has a pipe of its own. While a result is awaited, the worker's process sentinel is
  watched too: a worker that dies is a :class:`~bilstm_tagger.base.errors.WorkerError`, never a hang.
  A worker whose parent has gone reads the end of its pipe and exits.
* Ctrl-C is this process's to handle: the workers ignore SIGINT (a terminal sends it to the
  whole process group), and the pool stops them when it is closed.

No torch at import: this module is imported by the CLI; the workers and the pool import
:mod:`bilstm_tagger.tagging.tagger` when they start.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from bilstm_tagger.base.errors import InputError, WorkerError
from bilstm_tagger.base.runtime import freeze_loaded_objects
from bilstm_tagger.model.config import BUFFER_BATCHES, TAG_BATCH_SIZE

if TYPE_CHECKING:
    from bilstm_tagger.tagging.decoding import ProbabilityRequest
    from bilstm_tagger.tagging.predictions import Document, TaggedSentence
    from bilstm_tagger.tagging.tagger import LoadedModel
    from bilstm_tagger.text.corpus import CorpusReading
    from bilstm_tagger.text.documents import TextInput

# Not "fork": this process reads its input in a thread, and a fork copies the locks that thread
# may hold (and torch's OpenMP pool) in whatever state they are. Not "spawn": each worker would
# import torch and the model code again. The fork server imports them once, alongside this
# process, and each worker is a fork of that single-threaded server. Measured on 2 cores,
# `tagger tag --workers N` on one line with the CoNLL-2003 model: 2.7 s with 2 workers (spawn:
# 4.6 s), 3.1 s with 4 (spawn: 7.2 s); 2.1 s in one process.
START_METHOD = "forkserver"
# What the fork server imports before it forks any worker, by the engine the model runs on.
PRELOADED = {
    "torch": ["bilstm_tagger.tagging.tagger", "bilstm_tagger.model.bilstm_crf"],
    "onnx": ["bilstm_tagger.tagging.tagger", "onnxruntime"],
    "onnx-int8": ["bilstm_tagger.tagging.tagger", "onnxruntime"],
}
BUFFERS_PER_WORKER = 2  # one being tagged, one waiting: a worker never waits for this process


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker loads the model: its directory, the device, the network's threads (0: one per core)
    and its engine (see :func:`~bilstm_tagger.tagging.engines.choose_engine`)."""

    path: str
    device: str = "cpu"
    threads: int = 1
    engine: str = "auto"


@dataclass(frozen=True)
class DocumentsJob:
    """A buffer of records to tag into documents (``tag``), as :meth:`LoadedModel.documents` does."""

    buffer: list[TextInput]
    batch_size: int
    request: ProbabilityRequest
    min_confidence: float = 0.0

    def run(self, model: LoadedModel) -> list[Document]:
        """In the worker: the buffer's documents."""
        return model.documents(self.buffer, self.batch_size, self.request, self.min_confidence)


@dataclass(frozen=True)
class SentencesJob:
    """A buffer of tokenised sentences to tag (``evaluate``), as :meth:`LoadedModel.tag_sentences` does."""

    sentences: list[Sequence[str]]
    batch_size: int
    buffer_batches: int
    scheme: str | None = None
    request: ProbabilityRequest | None = None
    documents: list[int] | None = None

    def run(self, model: LoadedModel) -> list[TaggedSentence]:
        """In the worker: the buffer's tagged sentences."""
        tagged = model.tag_sentences(
            self.sentences, self.batch_size, self.buffer_batches, self.scheme, self.request, self.documents
        )
        return list(tagged)


@dataclass(frozen=True)
class Reply:
    """A worker's answer to one job: its result, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


class TaggerPool:
    """A model loaded in several worker processes that tag side by side, results in input order.

    >>> with TaggerPool("models/sample", workers=2) as pool:                # doctest: +SKIP
    ...     tag_file(pool, stream, "input.txt", sys.stdout, output_format="jsonl")
    ...     evaluation = evaluate_file(pool, "data/ner/test.txt")

    The model is loaded here too, on the CPU while the workers load theirs, for what callers ask
    of a tagger besides tagging: its name, columns, labels, scheme and temperature. One run (an
    iterator of :meth:`tag_buffers` or :meth:`tag_sentences`) at a time; the next run takes the
    results an abandoned one left out.

    Args:
        path: the model directory.
        workers: how many processes (1 or more; more than there are cores is allowed).
        threads: torch threads in each worker; ``None``: 1, so that N workers use N cores; 0: one per core.
        device: where each worker runs the model (``cpu``, ``cuda``, ...).
        engine: ``auto``, ``torch`` or ``onnx`` (see :mod:`bilstm_tagger.tagging.engines`).

    Raises:
        InputError: ``workers`` below 1, or a model directory that does not load.
        WorkerError: a worker died while loading the model.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        workers: int,
        threads: int | None = None,
        device: str = "cpu",
        engine: str = "auto",
    ):
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        from bilstm_tagger.tagging.engines import choose_engine

        settings = WorkerSettings(str(path), device, 1 if threads is None else threads, engine)
        preloaded = PRELOADED[choose_engine(path, engine, device).engine]
        self._lock = threading.Lock()  # guards each worker's count of jobs in flight
        self._workers: list[_Worker] = []
        self._broken: BaseException | None = None
        self._running = False
        self._closed = False
        try:
            context = _context(preloaded)  # first: the fork server imports torch while this process does
            from bilstm_tagger.tagging.tagger import LoadedModel

            self._workers = [_Worker(context, settings, number, workers, self._lock) for number in range(workers)]
            self.model = LoadedModel.load(path, engine=engine, threads=1)  # on the CPU: this copy never tags
            freeze_loaded_objects()
            for worker in self._workers:
                _value(self._receive(worker))  # its model is loaded: raises what loading it raised
        except BaseException:
            self.close(at_once=True)
            raise
        self.name = self.model.name
        self.engine_note = self.model.engine_note

    @property
    def workers(self) -> int:
        """How many worker processes tag."""
        return len(self._workers)

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [worker.process.pid for worker in self._workers if worker.process.pid is not None]

    @property
    def output_scheme(self) -> str:
        return self.model.output_scheme

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @property
    def reading(self) -> CorpusReading:
        """How the model's training data was read: the columns of files of its format."""
        return self.model.reading

    def request(self, confidence: bool = False, nbest: int = 0) -> ProbabilityRequest:
        """What to compute besides the best tags, as :meth:`LoadedModel.request` says."""
        return self.model.request(confidence, nbest)

    def tag_buffers(self, buffers: Iterable[list[TextInput]], *options) -> Iterator[list[Document]]:
        """Each buffer's documents, in order, as :meth:`LoadedModel.tag_buffers` gives them (``options``: the
        other arguments of :meth:`LoadedModel.documents`), tagged by the workers.

        ``buffers`` is read in a background thread, each buffer sent as soon as it comes.
        """
        return self._results(DocumentsJob(buffer, *options) for buffer in buffers)

    def tag_sentences(
        self,
        sentences: Iterable[Sequence[str]],
        batch_size: int = TAG_BATCH_SIZE,
        buffer_batches: int = BUFFER_BATCHES,
        scheme: str | None = None,
        request: ProbabilityRequest | None = None,
        documents: Iterable[int] | None = None,
    ) -> Iterator[TaggedSentence]:
        """:meth:`LoadedModel.tag_sentences` across the workers: the same buffers of ``batch_size *
        buffer_batches`` sentences, each tagged by one worker, so the same tags, in order."""
        from bilstm_tagger.tagging.batches import check_batch_size

        check_batch_size(batch_size)
        size = batch_size * buffer_batches
        iterator = iter(sentences)
        keys = iter(documents) if documents is not None else None
        buffers = iter(lambda: list(islice(iterator, size)), [])
        jobs = (
            SentencesJob(
                buffer, batch_size, buffer_batches, scheme, request, list(islice(keys, len(buffer))) if keys else None
            )
            for buffer in buffers
        )
        for tagged in self._results(jobs):
            yield from tagged

    def close(self, at_once: bool = False) -> None:
        """Stop the workers: let them finish and exit, or, ``at_once`` (or with work still out), terminate them."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            worker.stop(at_once or worker.in_flight > 0)

    def __enter__(self) -> TaggerPool:
        return self

    def __exit__(self, error_type, error, trace) -> None:
        self.close(at_once=error_type is not None)  # after Ctrl-C or an error, nobody waits for the work out

    def _results(self, jobs: Iterator[Any]) -> Iterator[Any]:
        """Each job's result, in the order of ``jobs``, which a background thread reads and sends out."""
        self._start_run()
        run = _Run(threading.Semaphore(BUFFERS_PER_WORKER * len(self._workers)))
        threading.Thread(target=self._submit, args=(jobs, run), name="tagger-pool-submit", daemon=True).start()
        try:
            while (ticket := run.tickets.get()) is not _END:
                if isinstance(ticket, BaseException):  # the input's error, or a worker found dead when sent a job
                    if isinstance(ticket, WorkerError):
                        self._broken = ticket
                    raise ticket
                reply = self._receive(ticket)
                run.slots.release()
                yield _value(reply)
        finally:
            with self._lock:
                run.stopped = True  # nothing more goes out; what is out is taken by the next run
                self._running = False
            run.slots.release()  # wakes a sender waiting for room, to see the stop

    def _submit(self, jobs: Iterator[Any], run: _Run) -> None:
        """Send each job to the least busy worker once there is room, and queue that worker for its result."""
        try:
            while True:
                run.slots.acquire()
                job = next(jobs, _END) if not run.stopped else _END  # waits for the input; raises its error
                with self._lock:
                    if run.stopped or job is _END:
                        break
                    worker = min(self._workers, key=lambda candidate: candidate.in_flight)
                    worker.in_flight += 1
                worker.send(job)
                run.tickets.put(worker)
        except BaseException as error:  # handed to the thread that takes the results
            run.tickets.put(error)
        else:
            run.tickets.put(_END)

    def _start_run(self) -> None:
        """Check that the pool can take a run, and take the results that an abandoned run left out."""
        if self._closed:
            raise RuntimeError("the tagger pool is closed")
        if self._broken is not None:
            raise RuntimeError(f"the tagger pool stopped: {self._broken}")
        with self._lock:
            if self._running:
                raise RuntimeError("the tagger pool runs one iterator at a time: finish or close the other first")
            self._running = True
        for worker in self._workers:
            while worker.in_flight:
                self._receive(worker)  # dropped, a failure too: nobody waits for it now

    def _receive(self, worker: _Worker) -> Reply:
        """The worker's next reply. Failing to get one (a dead worker, Ctrl-C mid-message) stops the pool;
        a job that failed does not."""
        try:
            return worker.receive()
        except BaseException as error:
            self._broken = error
            raise


@contextmanager
def open_tagger(
    path: str | os.PathLike, device: str = "cpu", workers: int = 1, threads: int | None = None, engine: str = "auto"
) -> Iterator[LoadedModel | TaggerPool]:
    """The model at ``path`` on ``engine``, ready to tag: for one worker a :class:`LoadedModel` in this process,
    whose network uses ``threads`` threads (``None`` or 0: one per core); for more, a :class:`TaggerPool`
    (``threads`` per worker, ``None``: 1), closed when the block ends.

    Raises:
        InputError: ``workers`` below 1, or a model directory that does not load.
    """
    if workers == 1:
        from bilstm_tagger.tagging.tagger import LoadedModel

        model = LoadedModel.load(path, device, engine, threads)
        freeze_loaded_objects()
        yield model
        return
    with TaggerPool(path, workers, threads, device, engine) as pool:
        yield pool


_END = object()  # the end of the jobs, in a run's queue of tickets


@dataclass
class _Run:
    """One run's state, shared by the thread that sends jobs and the one that takes their results.

    ``tickets`` holds, in input order, the worker each job went to (then the end, or the exception
    that stopped the sending); ``slots`` counts the room for jobs out.
    """

    slots: threading.Semaphore
    tickets: queue.Queue = field(default_factory=queue.Queue)
    stopped: bool = False


class _Worker:
    """One worker process, this process's end of its pipe, and the number of its jobs in flight."""

    def __init__(self, context: Any, settings: WorkerSettings, number: int, count: int, lock: threading.Lock) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, settings), name=f"tagger-worker-{number + 1}", daemon=True
        )
        self.process.start()
        child.close()  # the worker holds the only other end: when it dies, this end reads the end of the pipe
        self.label = f"tagging worker {number + 1} of {count}"
        self.in_flight = 1  # loading the model: its reply says it is ready
        self._lock = lock

    def send(self, job: Any) -> None:
        """Give the worker a job. Raises WorkerError if it has died."""
        try:
            self.connection.send(job)
        except OSError:  # BrokenPipeError here is the worker's, not that of our output (exit 141)
            raise self._death() from None

    def receive(self) -> Reply:
        """The reply to the worker's oldest job, once it comes. Raises WorkerError if the worker dies first."""
        if self.connection in wait([self.connection, self.process.sentinel]):
            try:
                reply = self.connection.recv()
            except (EOFError, OSError):
                pass  # the worker died: its end of the pipe is closed
            else:
                with self._lock:
                    self.in_flight -= 1
                return reply
        raise self._death()

    def stop(self, at_once: bool) -> None:
        """Close the pipe (the worker exits when it reads its end); terminate the worker first if ``at_once``."""
        if at_once and self.process.is_alive():
            self.process.terminate()
        self.connection.close()
        self.process.join(timeout=10)
        if self.process.is_alive():  # not even a SIGTERM stopped it
            self.process.kill()
            self.process.join()

    def _death(self) -> WorkerError:
        """The error that says how the worker ended (once it has: its pipe may close a moment before)."""
        self.process.join(timeout=5)
        code = self.process.exitcode
        if code is None:
            how = "closed its pipe"
        elif code < 0:
            how = f"was killed by {_signal_name(-code)}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
        else:
            how = f"exited with code {code}"
        return WorkerError(f"{self.label} (pid {self.process.pid}) {how}")


def _value(reply: Reply) -> Any:
    """A reply's result; raises the exception of a job that failed."""
    if reply.error is not None:
        raise reply.error
    return reply.value


def _signal_name(number: int) -> str:
    """``SIGKILL`` for 9."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _context(preloaded: list[str]) -> Any:
    """The fork server's context, its server started (once per process) with the ``preloaded`` modules imported.

    The server is started with SIGINT ignored, which it and every worker it forks inherit: they
    ignore Ctrl-C from their first instruction, also while the server imports torch. (In the few
    milliseconds that starting it takes, a Ctrl-C here would be lost.)
    """
    context = multiprocessing.get_context(START_METHOD)
    context.set_forkserver_preload(preloaded)
    with _sigint_ignored():
        forkserver.ensure_running()
    return context


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in this process for the block (in the main thread; elsewhere the block runs as it is)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: then each worker ignores SIGINT as its first step (_serve)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _serve(connection: Connection, settings: WorkerSettings) -> None:
    """A worker's life: load the model, say so, then answer each job in turn until its pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool on Ctrl-C
    try:
        from bilstm_tagger.tagging.tagger import LoadedModel

        model = LoadedModel.load(settings.path, settings.device, settings.engine, settings.threads)
        freeze_loaded_objects()
        reply = Reply(os.getpid())
    except Exception as error:
        reply = _failure(error)
    try:
        connection.send(reply)
        if reply.error is not None:
            return
        while True:
            job = connection.recv()
            try:
                reply = Reply(job.run(model))
            except Exception as error:
                reply = _failure(error)
            connection.send(reply)
    except (EOFError, OSError):
        pass  # the pool was closed, or its process has gone: nobody waits for an answer


def _failure(error: Exception) -> Reply:
    """The reply that carries ``error`` to the parent, with this worker's traceback as a note (shown with
    BILSTM_TAGGER_DEBUG=1); a RuntimeError that names it if it cannot be pickled."""
    if not isinstance(error, InputError) and hasattr(error, "add_note"):  # Python 3.11 and later
        error.add_note(f"in tagging worker pid {os.getpid()}:\n{traceback.format_exc().rstrip()}")
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        error = RuntimeError(f"{type(error).__name__}: {error}")
    return Reply(error=error)
