"""``tagger tag-dataset``: tag a dataset's splits on a cluster engine and commit the output once, whole.

The job is the same on every engine (:mod:`~bilstm_tagger.datasets.on_dask`,
:mod:`~bilstm_tagger.datasets.on_spark`, :mod:`~bilstm_tagger.datasets.on_ray`); an engine only runs
:func:`run_split` once for each split, on its workers, and retries a split whose task failed or
whose worker process died. What makes the output right whatever the engine retried:

* **Each split writes one file of its own name** (``part-00007.parquet``): first to a name of this
  attempt's, then renamed to the split's name in one step. A retried split replaces the file of the
  attempt before; a split's records are in the output once, never twice, never half.
* **The output appears only when all is done.** Splits write into a staging directory beside the
  output (``OUTPUT.partial-<id>``). Once every split has reported, the staging directory gets a
  ``_SUCCESS`` marker (JSON: the counts, the model, the engine) and is renamed to the output; an
  output that ``--overwrite`` replaces is kept until then. A job that fails or is interrupted
  removes its staging directory and leaves the output as it was: no directory that looks complete.

No engine and no torch imported here.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.datasets.records import ModelFiles, ModelSpec, loaded_model, tag_texts, tagged_fields
from bilstm_tagger.datasets.sources import InputRecord, Split, input_files, plan_splits, read_split, split_size
from bilstm_tagger.model.config import BUFFER_BATCHES, TAG_BATCH_SIZE

if TYPE_CHECKING:
    from bilstm_tagger.tagging.tagger import LoadedModel

OUTPUT_FORMATS: tuple[str, ...] = ("parquet", "jsonl")
SUCCESS = "_SUCCESS"
WRITE_RECORDS = TAG_BATCH_SIZE * BUFFER_BATCHES * 4  # records tagged and written at a time (a Parquet row group)


@dataclass(frozen=True)
class DatasetJob:
    """What every task of a job needs: the model, the staging directory, the formats.

    ``crash_once`` is for testing the engines' retries: the first task that finds no file there creates
    it and ends its own process abruptly, halfway through writing its split.
    """

    model: ModelSpec
    staging: str
    output_format: str = "parquet"
    text_field: str = "text"
    batch_size: int = TAG_BATCH_SIZE
    crash_once: str | None = None


@dataclass(frozen=True)
class SplitReport:
    """What a task reports of its split: records written, those with an error, seconds in all and of them loading
    the model (0 where the worker process had it already), and the worker (``host:pid``)."""

    index: int
    records: int
    errors: int
    seconds: float
    load_seconds: float
    worker: str


@dataclass(frozen=True)
class DatasetResult:
    """A committed job: the output directory, the engine, its workers and start-up seconds, the whole job's seconds
    (start-up included) and each split's report in input order."""

    output: str
    cluster: str
    workers: int
    startup_seconds: float
    seconds: float
    splits: list[SplitReport] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(split.records for split in self.splits)

    @property
    def errors(self) -> int:
        return sum(split.errors for split in self.splits)


class Cluster(Protocol):
    """An engine's local or remote cluster, as a job uses it (:mod:`bilstm_tagger.datasets.on_dask` ...)."""

    name: str

    def workers(self) -> int:
        """How many tasks it runs at once: the splits are planned for that many."""
        ...

    def run(self, job: DatasetJob, splits: list[Split]) -> list[SplitReport]:
        """:func:`run_split` of each split on the workers, retrying failed ones; the reports in split order.

        Raises:
            WorkerError: a split failed on every try (one line: the engine's reason).
        """
        ...


ClusterOpener = Callable[[], AbstractContextManager[Cluster]]


def run_split(job: DatasetJob, split: Split) -> SplitReport:
    """In a worker: tag a split's records and write them to its file in the staging directory."""
    started = time.perf_counter()
    model, load_seconds = loaded_model(job.model)
    final = Path(job.staging) / part_name(split.index, job.output_format)
    attempt = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}")  # hidden until renamed
    records = errors = 0
    with _PartWriter(attempt, job.output_format) as write:
        for chunk in _chunks(read_split(split, job.text_field), WRITE_RECORDS):
            rows = _tagged_rows(model, chunk, job)
            write(rows)
            records += len(rows)
            errors += sum("error" in row for row in rows)
            if job.crash_once is not None:
                _crash_once(job.crash_once)
    os.replace(attempt, final)
    seconds = time.perf_counter() - started
    return SplitReport(split.index, records, errors, seconds, load_seconds, f"{socket.gethostname()}:{os.getpid()}")


def part_name(index: int, output_format: str) -> str:
    return f"part-{index:05d}.{output_format}"


def _chunks(records: Iterator[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    while chunk := list(islice(records, size)):
        yield chunk


def _tagged_rows(model: LoadedModel, chunk: list[InputRecord], job: DatasetJob) -> list[dict]:
    """The output rows of a chunk, as ``tagger tag --format jsonl`` writes a record, its place first:
    ``source``, ``position``, ``text``, ``sentences``, ``entities``, and ``error`` only where there is one."""
    readable = [record.text for record in chunk if record.error is None]
    tagged = iter(tag_texts(model, readable, job.model.language, job.batch_size))
    rows = []
    for record in chunk:
        row = {"source": record.source, "position": record.position, "text": record.text}
        found = next(tagged) if record.error is None else {"sentences": [], "entities": [], "error": record.error}
        row["sentences"], row["entities"] = found["sentences"], found["entities"]
        if found["error"] is not None:
            row["error"] = found["error"]
        rows.append(row)
    return rows


class _PartWriter:
    """A split's file, written a chunk of rows at a time: JSON lines, or Parquet (a row group a chunk).

    Rows are JSON lines first in both: for Parquet, Arrow's JSON reader parses them against the output
    schema, three times as fast as Arrow builds the same nested columns from Python dicts.
    """

    def __init__(self, path: Path, output_format: str):
        self.path, self.output_format = path, output_format

    def __enter__(self) -> Callable[[list[dict]], None]:
        if self.output_format == "parquet":
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(self.path, output_schema())
        else:
            self.stream = open(self.path, "w", encoding="utf-8")
        return self.write

    def write(self, rows: list[dict]) -> None:
        from bilstm_tagger.tagging.formats import jsonl_line

        lines = "".join(map(jsonl_line, rows))
        if self.output_format == "jsonl":
            self.stream.write(lines)
            return
        import pyarrow.json

        data = lines.encode()
        options = pyarrow.json.ParseOptions(explicit_schema=output_schema())
        # One block for the whole chunk: Arrow refuses a line that straddles two blocks (1 MB by default).
        reading = pyarrow.json.ReadOptions(use_threads=False, block_size=max(1 << 20, len(data) + 1))
        self.writer.write_table(pyarrow.json.read_json(io.BytesIO(data), reading, options))

    def __exit__(self, *exception) -> None:
        if self.output_format == "parquet":
            self.writer.close()
        else:
            self.stream.close()


def output_schema():
    """The Arrow schema of the output: the record's place in the input, its text, then :func:`~bilstm_tagger.datasets.records.tagged_fields`."""
    import pyarrow as pa

    return pa.schema([("source", pa.string()), ("position", pa.int64()), ("text", pa.string()), *tagged_fields()])


def _crash_once(marker: str) -> None:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(86)  # as a worker killed by the kernel would end: no exception, no clean-up


@dataclass(frozen=True)
class DatasetRequest:
    """A ``tag-dataset`` job as asked: the model (directory or package name), the input (file, directory, glob),
    the output directory, and how (see :func:`tag_dataset`)."""

    model: str
    input: str
    output: str
    input_format: str = "auto"
    output_format: str = "parquet"
    text_field: str = "text"
    engine: str = "auto"
    threads: int = 1
    language: str | None = None
    ship_model: bool = False
    partitions: int | None = None
    overwrite: bool = False
    batch_size: int = TAG_BATCH_SIZE
    crash_once: str | None = None


def tag_dataset(request: DatasetRequest, open_cluster: ClusterOpener) -> DatasetResult:
    """Tag a dataset on the cluster ``open_cluster`` gives, and commit the output (see the module's docstring).

    Everything that can be checked before the cluster starts is: the model, the input files, the output.

    Raises:
        InputError: a model, input or output that cannot be used; an unknown format.
        WorkerError: a split failed on every try of the engine's.
    """
    started = time.perf_counter()
    if request.output_format not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {request.output_format!r} (choose {', '.join(OUTPUT_FORMATS)})")
    spec = model_spec(request)
    files = input_files(request.input, request.input_format)
    output = Path(request.output).absolute()
    check_output(output, request.overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f"{output.name}.partial-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        job = DatasetJob(
            spec, str(staging), request.output_format, request.text_field, request.batch_size, request.crash_once
        )
        with open_cluster() as cluster:
            startup = time.perf_counter() - started
            workers = cluster.workers()
            splits = plan_splits(files, split_size(files, workers, request.partitions), request.text_field)
            reports = cluster.run(job, splits)
        result = DatasetResult(str(output), cluster.name, workers, startup, time.perf_counter() - started, reports)
        commit(staging, output, result, spec, request.output_format)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone by now after a commit
    return result


def model_spec(request: DatasetRequest) -> ModelSpec:
    """The model as the workers load it; checked here first, so that a bad model fails once, not in every task."""
    from bilstm_tagger.model import checkpoint, packages
    from bilstm_tagger.tagging.engines import choose_engine
    from bilstm_tagger.text.languages import check_language

    path = packages.locate(request.model)
    checkpoint.load_info(path)
    engine = choose_engine(path, request.engine).engine
    language = check_language(request.language) if request.language is not None else None
    shipped = ModelFiles.read(path, engine) if request.ship_model else None
    return ModelSpec(str(Path(path).absolute()), engine, request.threads, language, shipped)


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse an output that exists (unless ``overwrite``) or that is not a directory."""
    if output.exists() and not output.is_dir():
        raise InputError("the output exists and is not a directory", output)
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise InputError("the output directory is not empty; --overwrite replaces it once the job succeeds", output)


def commit(staging: Path, output: Path, result: DatasetResult, spec: ModelSpec, output_format: str) -> None:
    """Check that every split wrote its file, write ``_SUCCESS``, and put the staging directory in the output's place."""
    missing = [
        split.index for split in result.splits if not (staging / part_name(split.index, output_format)).is_file()
    ]
    if missing:
        raise RuntimeError(f"splits {missing[:5]} reported done but wrote no file")
    for leftover in staging.glob(".part-*"):  # an attempt the engine gave up on, or one still running
        leftover.unlink(missing_ok=True)
    marker = {
        "records": result.records,
        "errors": result.errors,
        "splits": len(result.splits),
        "cluster": result.cluster,
        "workers": result.workers,
        "model": spec.path,
        "engine": spec.engine,
        "seconds": round(result.seconds, 3),
        "startup_seconds": round(result.startup_seconds, 3),
        "split_reports": [asdict(split) for split in result.splits],
    }
    (staging / SUCCESS).write_text(json.dumps(marker, indent=1) + "\n")
    previous = output.with_name(f"{output.name}.replaced-{uuid.uuid4().hex[:8]}")
    if output.exists():
        output.rename(previous)
    staging.rename(output)
    shutil.rmtree(previous, ignore_errors=True)
