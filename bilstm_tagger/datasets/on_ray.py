"""Ray: ``tagger tag-dataset --cluster ray``, and tagging a Ray Dataset.

>>> import ray.data                                                      # doctest: +SKIP
>>> tagged = tag_ray_dataset(ray.data.read_parquet("corpus/"), "models/conll")  # doctest: +SKIP

:func:`tag_ray_dataset` runs :class:`~bilstm_tagger.datasets.records.BatchTagger` as a callable class
in ``map_batches``: a pool of actors, each loading the model once, Arrow batches in and out. A
split of ``tag-dataset`` is a Ray task, retried (``max_retries``) when its worker process dies
or it raises. Under ``ray job submit`` (``RAY_ADDRESS`` set) the job joins that cluster; alone, it
starts a local one on 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from bilstm_tagger.base.errors import WorkerError
from bilstm_tagger.datasets.clusters import RETRIES, reason
from bilstm_tagger.datasets.jobs import DatasetJob, SplitReport, run_split
from bilstm_tagger.datasets.records import BatchTagger
from bilstm_tagger.datasets.sources import Split


class RayCluster:
    name = "ray"

    def workers(self) -> int:
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def run(self, job: DatasetJob, splits: list[Split]) -> list[SplitReport]:
        import ray

        shared = ray.put(job)  # the job (and a shipped model) in the object store once
        task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=True)(run_split)
        try:
            return ray.get([task.remote(shared, split) for split in splits])
        except KeyboardInterrupt:
            raise
        except Exception as error:  # RayTaskError, WorkerCrashedError: after the last retry
            raise WorkerError(f"ray: a split failed on every try: {reason(error)}") from None


@contextmanager
def cluster(address: str | None = None, workers: int = 2) -> Iterator[RayCluster]:
    """The cluster at ``address`` (or ``RAY_ADDRESS``, as ``ray job submit`` sets); else a local one of
    ``workers`` CPUs on 127.0.0.1."""
    import ray

    quiet = {"logging_level": logging.CRITICAL, "log_to_driver": False}  # a failed try is the job's to report
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address or "auto", **quiet)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    try:
        yield RayCluster()
    finally:
        ray.shutdown()


def tag_ray_dataset(
    dataset, model, text_column: str = "text", output_column: str = "tagged", engine: str = "auto", concurrency: int = 2
):
    """``dataset`` with a struct column of tagged records, by ``concurrency`` actors that each load the model once."""
    return dataset.map_batches(
        BatchTagger,
        fn_constructor_args=(model, text_column, output_column, engine),
        batch_format="pyarrow",
        concurrency=concurrency,
    )
