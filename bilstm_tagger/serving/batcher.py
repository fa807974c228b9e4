"""Requests that arrive together are tagged together: :class:`MicroBatcher`.

One thread takes every request waiting, tags their sentences as one buffer and answers each, so
that throughput under load approaches that of tagging a file, while a request alone waits for nobody.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from bilstm_tagger.model.config import BUFFER_BATCHES, TAG_BATCH_SIZE
from bilstm_tagger.serving.requests import TagRequest
from bilstm_tagger.tagging.decoding import ProbabilityRequest
from bilstm_tagger.tagging.formats import jsonl_object

MAX_BATCH_TEXTS = TAG_BATCH_SIZE * BUFFER_BATCHES  # texts tagged together at most: tagger tag's buffer


class BatchObserver(Protocol):
    """What a batcher reports as it works (the server's metrics)."""

    def queued(self, change: int) -> None:
        """Requests waiting went up (``+1``) or down (``-n``) by ``change``."""

    def tagged(self, texts: int, tokens: int) -> None:
        """A batch of ``texts`` texts or sentences, ``tokens`` tokens in all, was tagged."""


class _Unobserved:
    def queued(self, change: int) -> None:
        pass

    def tagged(self, texts: int, tokens: int) -> None:
        pass


@dataclass
class _Job:
    request: TagRequest
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """Tags the requests that wait together, in one thread, and answers each with its records.

    A request alone is tagged at once; requests that arrive while a batch is being tagged wait
    and are tagged together next, up to :data:`MAX_BATCH_TEXTS` texts, those with the same
    options in one buffer.

    Args:
        tagger: a loaded :class:`~bilstm_tagger.tagging.tagger.LoadedModel`.
        batch_size: sentences per batch of its network.
        observer: told of the queue's depth and of each batch tagged.
    """

    def __init__(self, tagger, batch_size: int = TAG_BATCH_SIZE, observer: BatchObserver = _Unobserved()):
        self.tagger = tagger
        self.batch_size = batch_size
        self.observer = observer
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tagger-batcher", daemon=True)
        self._thread.start()

    def submit(self, request: TagRequest) -> Future:
        """A future of the request's ``jsonl`` records (a list, one per text or sentence)."""
        job = _Job(request)
        self.observer.queued(1)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        """Stop the thread once the jobs already submitted are answered."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (first := self._jobs.get()) is not None:
            jobs = [first]
            count = first.request.count
            stop = False
            while count < MAX_BATCH_TEXTS:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
                count += job.request.count
            self.observer.queued(-len(jobs))
            groups: dict[tuple[int, float], list[_Job]] = {}
            for job in jobs:
                groups.setdefault((job.request.nbest, job.request.min_confidence), []).append(job)
            for (nbest, min_confidence), group in groups.items():
                self._tag(group, nbest, min_confidence)
            if stop:
                return

    def _tag(self, jobs: list[_Job], nbest: int, min_confidence: float) -> None:
        try:
            inputs = [job.request.inputs(self.tagger.reading.text_language) for job in jobs]
            request = ProbabilityRequest(True, nbest, self.tagger.temperature)
            flat = [item for items in inputs for item in items]
            documents = iter(self.tagger.documents(flat, self.batch_size, request, min_confidence))
            tokens = 0
            for job, items in zip(jobs, inputs):
                records = [jsonl_object(next(documents)) for _ in items]
                tokens += sum(len(sentence["tokens"]) for record in records for sentence in record["sentences"])
                job.future.set_result(records)
            self.observer.tagged(len(flat), tokens)
        except Exception as error:  # answered to the requests, not raised in this thread
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(error)
