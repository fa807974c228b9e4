"""Dask: ``tagger tag-dataset --cluster dask`` (the default), and tagging a Dask DataFrame.

>>> import dask.dataframe as dd                                        # doctest: +SKIP
>>> frame = dd.read_parquet("corpus/")                                  # doctest: +SKIP
>>> tagged = tag_dataframe(frame, "models/conll")  # a `tagged` column of dicts   # doctest: +SKIP

A split is a task of ``client.map``: a task that raises is retried (``retries``), and one whose
worker process died is given to another worker by the scheduler (up to its
``distributed.scheduler.allowed-failures``, 3). Each worker process runs one task at a time (one
thread), with the model loaded once.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bilstm_tagger.base.errors import WorkerError
from bilstm_tagger.datasets.clusters import RETRIES, reason
from bilstm_tagger.datasets.jobs import DatasetJob, SplitReport, run_split
from bilstm_tagger.datasets.records import BatchTagger
from bilstm_tagger.datasets.sources import Split


class DaskCluster:
    name = "dask"

    def __init__(self, client):
        self.client = client

    def workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def run(self, job: DatasetJob, splits: list[Split]) -> list[SplitReport]:
        shared = self.client.scatter(job, broadcast=True, hash=False)  # the job (and a shipped model) sent once
        futures = self.client.map(run_split, [shared] * len(splits), splits, retries=RETRIES, pure=False)
        # Waited for here rather than in the client's gather: Ctrl-C then finds no gather of the client's in
        # flight, which the closing client would report with tracebacks.
        while not all(future.done() for future in futures) and not any(f.status == "error" for f in futures):
            time.sleep(0.05)
        try:
            return self.client.gather(futures)
        except Exception as error:  # a task that failed on every try, or a worker that died too often
            raise WorkerError(f"dask: a split failed on every try: {reason(error)}") from None


@contextmanager
def cluster(address: str | None = None, workers: int = 2) -> Iterator[DaskCluster]:
    """A local cluster of ``workers`` processes on 127.0.0.1 (one thread each), or the scheduler at ``address``."""
    from distributed import Client, LocalCluster

    if address:
        with Client(address) as client:
            yield DaskCluster(client)
        return
    local = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL,  # a failed try is the job's to report, once
        preload=[__name__],  # each worker process runs dask_setup below, as it starts and as it restarts
    )
    with local, Client(local) as client:
        yield DaskCluster(client)


def dask_setup(worker) -> None:
    """In each worker process of a local cluster: Ctrl-C is the job's to handle.

    A terminal sends SIGINT to the whole process group: the workers ignore it, and the job, interrupted,
    closes the cluster (as ``tagger tag --workers`` does with its own).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def tag_dataframe(frame, model, text_column: str = "text", output_column: str = "tagged", engine: str = "auto"):
    """A Dask DataFrame with a column of tagged records (a dict each, :func:`~bilstm_tagger.datasets.records.tagged_fields`),
    the model loaded once per worker process."""
    tagger = BatchTagger(model, text_column, output_column, engine)
    return frame.map_partitions(tagger, meta=tagger.meta(frame._meta))
