"""Apache Spark: ``tagger tag-dataset --cluster spark``, and tagging a Spark DataFrame.

>>> df = spark.read.parquet("corpus/")                                   # doctest: +SKIP
>>> tag_dataframe(df, "models/conll").select("text", "tagged.entities").show()   # doctest: +SKIP

:func:`tag_dataframe` runs :class:`~bilstm_tagger.datasets.records.BatchTagger` in ``mapInArrow``:
Arrow record batches in and out, no row-by-row conversion, the model loaded once per Python worker
(Spark reuses them). A split of ``tag-dataset`` is one task of an RDD; a task whose Python worker
died is retried up to ``spark.task.maxFailures`` times (a local master is ``local[N,4]``: Spark's
plain ``local[N]`` never retries).

Under ``spark-submit`` the master and the rest of the configuration are spark-submit's; alone, the
job starts a local cluster on 127.0.0.1 (or joins ``--address``, a master URL).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bilstm_tagger.base.errors import WorkerError
from bilstm_tagger.datasets.clusters import RETRIES, reason
from bilstm_tagger.datasets.jobs import DatasetJob, SplitReport, run_split
from bilstm_tagger.datasets.records import BatchTagger, tagged_type
from bilstm_tagger.datasets.sources import Split

QUIET_LOG = Path(__file__).with_name("spark-log4j2.properties")


class SparkCluster:
    name = "spark"

    def __init__(self, session):
        self.session = session

    def workers(self) -> int:
        return self.session.sparkContext.defaultParallelism

    def run(self, job: DatasetJob, splits: list[Split]) -> list[SplitReport]:
        context = self.session.sparkContext
        shared = context.broadcast(job)  # the job (and a shipped model) sent to each executor once
        tasks = context.parallelize(splits, len(splits)).map(lambda split: run_split(shared.value, split))
        try:
            with _ctrl_c_cancels(context) as interrupted:
                try:
                    return tasks.collect()
                except Exception as error:  # Py4JJavaError: the stage failed after the last retry, or was cancelled
                    if interrupted.is_set():
                        raise KeyboardInterrupt from None
                    raise WorkerError(f"spark: a split failed on every try: {reason(error)}") from None
        finally:
            shared.destroy()


@contextmanager
def _ctrl_c_cancels(context) -> Iterator[threading.Event]:
    """Ctrl-C cancels the running job from another thread; the event says it did.

    pyspark's own handler cancels it through the connection to the JVM that the waiting ``collect``
    holds, and py4j prints the tracebacks of that clash: a thread of its own has a connection of its own.
    """
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def cancel(signum, frame) -> None:
        interrupted.set()
        threading.Thread(target=context.cancelAllJobs, name="cancel Spark jobs", daemon=True).start()

    previous = signal.signal(signal.SIGINT, cancel)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def cluster(address: str | None = None, workers: int = 2) -> Iterator[SparkCluster]:
    """spark-submit's session; else a local one of ``workers`` cores on 127.0.0.1, or the master at ``address``."""
    from pyspark.sql import SparkSession

    # The workers run the Python that runs this, where bilstm_tagger is installed (unless told otherwise).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("tagger tag-dataset").config("spark.ui.showConsoleProgress", "false")
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # started by spark-submit, which has set the master
    if address:
        builder = builder.master(address)
    elif not submitted:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.master(f"local[{workers},{RETRIES + 1}]").config("spark.ui.enabled", "false")
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        # The JVM logs only what is fatal: a retried task is no news (a split failed for good is an error here).
        # Its JIT compiles quickly (C1 only) and it collects garbage serially: the Python workers do the job's
        # work, and the JVM starts 1.2 s sooner of 4.8 (measured on 2 cores).
        options = f"-Dlog4j2.configurationFile={QUIET_LOG} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
        builder = builder.config("spark.driver.extraJavaOptions", options)
    with warnings.catch_warnings():  # pyspark warns at pandas 3 for features this job does not use
        warnings.simplefilter("ignore", FutureWarning)
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("FATAL")
    try:
        yield SparkCluster(session)
    finally:
        session.stop()


def tag_dataframe(df, model, text_column: str = "text", output_column: str = "tagged", engine: str = "auto"):
    """``df`` with a struct column of tagged records (:func:`~bilstm_tagger.datasets.records.tagged_fields`),
    computed in ``mapInArrow`` with the model loaded once per Python worker."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    tagger = BatchTagger(model, text_column, output_column, engine)
    schema = StructType([*df.schema.fields, StructField(output_column, from_arrow_type(tagged_type()))])
    return df.mapInArrow(lambda batches: (tagger(batch) for batch in batches), schema)
