"""Reading input in a background thread, so that tagging answers a slow pipe line by line."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

CLOSE_WAIT = 0.5  # seconds


class ReadAhead:
    """Runs an iterator in a background thread; :meth:`take` returns whatever has arrived.

    The queue between the two is bounded (about ``capacity`` items), so memory stays bounded however
    long the input. An exception raised by the iterator reaches the consumer after the items that
    came before it. Items cross in chunks of ``chunk``: 1 for an input that may pause (each line
    is answered as it comes), more for a file, whose lines are all there (a queue's hand-over costs
    as much as reading a short line).
    """

    _END = object()

    def __init__(self, iterable: Iterable, capacity: int = 4096, chunk: int = 1):
        self._chunk = chunk
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, capacity // chunk))
        self._pending_error: BaseException | None = None
        self._finished = False
        self._leftover: list = []  # items of the last chunk that did not fit into the last take
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(iter(iterable),), daemon=True)
        self._thread.start()

    def _produce(self, iterator: Iterator) -> None:
        chunk: list = []
        try:
            for item in iterator:
                if self._closed.is_set():
                    return
                chunk.append(item)
                if len(chunk) == self._chunk:
                    self._queue.put(chunk)
                    chunk = []
        except BaseException as error:  # handed over to the consumer's thread
            if chunk:
                self._queue.put(chunk)
            self._queue.put(_Failure(error))
        else:
            if chunk:
                self._queue.put(chunk)
            self._queue.put(self._END)

    def close(self, wait: float = CLOSE_WAIT) -> None:
        """Stop reading: the thread ends after the item it is reading (waited for ``wait`` seconds at most).

        Call it before the program exits early (a closed output pipe, an error): a daemon thread
        still running extension code (spaCy's tokenizer) when the interpreter shuts down can abort
        the process. One blocked reading a pipe that sends nothing is left to its read.
        """
        self._closed.set()
        while True:  # room for the item the thread may be putting, so that it sees the flag
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(wait)

    def take(self, limit: int, patience: float | None = 0.0) -> list:
        """Wait for one item, then for more until there are ``limit`` or none came for ``patience``
        seconds (``None``: until ``limit``, or the end of the input; 0: only those already there).

        Returns an empty list once the input is exhausted; raises the iterator's exception (after
        the items read before it have been returned).
        """
        items, self._leftover = self._leftover[:limit], self._leftover[limit:]
        if len(items) == limit:
            return items
        if self._pending_error is not None and not items:
            error, self._pending_error = self._pending_error, None
            raise error
        if self._finished:
            return items
        try:
            chunk = self._queue.get() if not items else self._next_chunk(patience)
        except queue.Empty:
            return items
        while True:
            if chunk is self._END or isinstance(chunk, _Failure):
                self._finished = True
                if isinstance(chunk, _Failure):
                    if not items:
                        raise chunk.error
                    self._pending_error = chunk.error
                return items
            room = limit - len(items)
            items += chunk[:room]
            if len(chunk) >= room:
                self._leftover = chunk[room:]
                return items
            try:
                chunk = self._next_chunk(patience)
            except queue.Empty:
                return items

    def _next_chunk(self, patience: float | None):
        return self._queue.get(timeout=patience) if patience != 0 else self._queue.get_nowait()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error
