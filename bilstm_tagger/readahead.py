"""Reading input in a background thread, so that tagging answers a slow pipe line by line."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator


class ReadAhead:
    """Runs an iterator in a background thread; :meth:`take` returns whatever has arrived.

    The queue between the two is bounded (``capacity`` items), so memory stays bounded however
    long the input. An exception raised by the iterator reaches the consumer after the items that
    came before it.
    """

    _END = object()

    def __init__(self, iterable: Iterable, capacity: int = 4096):
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._pending_error: BaseException | None = None
        self._finished = False
        threading.Thread(target=self._produce, args=(iter(iterable),), daemon=True).start()

    def _produce(self, iterator: Iterator) -> None:
        try:
            for item in iterator:
                self._queue.put(item)
        except BaseException as error:  # handed over to the consumer's thread
            self._queue.put(_Failure(error))
        else:
            self._queue.put(self._END)

    def take(self, limit: int, patience: float | None = 0.0) -> list:
        """Wait for one item, then for more until there are ``limit`` or none came for ``patience``
        seconds (``None``: until ``limit``, or the end of the input; 0: only those already there).

        Returns an empty list once the input is exhausted; raises the iterator's exception (after
        the items read before it have been returned).
        """
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            raise error
        if self._finished:
            return []
        items: list = []
        item = self._queue.get()
        while True:
            if item is self._END or isinstance(item, _Failure):
                self._finished = True
                if isinstance(item, _Failure):
                    if not items:
                        raise item.error
                    self._pending_error = item.error
                return items
            items.append(item)
            if len(items) >= limit:
                return items
            try:
                item = self._queue.get(timeout=patience) if patience != 0 else self._queue.get_nowait()
            except queue.Empty:
                return items


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error
