"""Tagged records as Arrow data, and the model each worker process loads once: what every engine shares.

A text is tagged into the record ``tagger tag --format jsonl`` writes for it (text, sentences with
tokens, entities; offsets index the text), by :func:`~bilstm_tagger.tagging.formats.jsonl_object`
itself. As Arrow data (:func:`tagged_fields`) the record is three columns, ``sentences``,
``entities`` and ``error``:

* ``error`` is null for a tagged text. A text that cannot be tagged keeps its row: no sentences,
  no entities, and in ``error`` the message ``tagger tag`` stops at for such a line (``NUL byte:
  ...``, ``invalid UTF-8 ...``) or ``no text: the value is null``. One bad record among billions
  does not stop a job; the job counts them (:mod:`bilstm_tagger.datasets.jobs`).

:class:`BatchTagger` adds those columns to a batch of texts, an Arrow table or record batch or a
pandas DataFrame, the unit of Spark's ``mapInArrow``, Ray Data's ``map_batches`` and Dask's
``map_partitions``. It is a small object that the engine ships to its workers; the model itself is
loaded in each worker process the first time it is needed there, and kept (:func:`loaded_model`):
once per process, not once per batch or partition. No torch here: with a model that has a
``model.onnx``, the workers run ONNX Runtime and need no torch.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import TAG_BATCH_SIZE
from bilstm_tagger.tagging.formats import jsonl_object
from bilstm_tagger.text.corpus import check_no_nul

if TYPE_CHECKING:
    import pyarrow as pa

    from bilstm_tagger.tagging.tagger import LoadedModel

NULL_TEXT = "no text: the value is null"


@functools.cache
def tagged_fields() -> tuple[pa.Field, ...]:
    """The columns a tagged text gets: those of a ``tagger tag --format jsonl`` record but its text, and the error.

    A function, so that importing this module (the CLI does) does not import pyarrow.
    """
    import pyarrow as pa

    token = pa.struct(
        [
            ("text", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("tag", pa.string()),
            ("confidence", pa.float64()),
        ]
    )
    sentence = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("tokens", pa.list_(token))])
    entity = pa.struct(
        [
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("type", pa.string()),
            ("text", pa.string()),
            ("confidence", pa.float64()),
        ]
    )
    return (
        pa.field("sentences", pa.list_(sentence)),
        pa.field("entities", pa.list_(entity)),
        pa.field("error", pa.string()),
    )


def tagged_type() -> pa.StructType:
    """The tagged column's type: a struct of :func:`tagged_fields`."""
    import pyarrow as pa

    return pa.struct(list(tagged_fields()))


@dataclass(frozen=True)
class ModelFiles:
    """A model directory's files as bytes, shipped with a job to workers that cannot read the directory.

    ``digest`` names the files' content: a worker process writes them to a directory of its own once.
    """

    name: str
    files: dict[str, bytes] = field(repr=False)
    digest: str

    @classmethod
    def read(cls, directory: str | Path, engine: str = "auto") -> ModelFiles:
        """The files a worker needs to load the model on ``engine``: with ONNX Runtime, not the pretrained vectors
        (the graph holds them; ``model.pt`` is read to check that the graph was made from these weights)."""
        directory = Path(directory)
        skipped = {"resume.pt"}  # a training's state, never needed for tagging
        if engine != "torch" and (directory / "model.onnx").is_file():
            skipped.add("pretrained.pt")
        files = {
            path.name: path.read_bytes()
            for path in sorted(directory.iterdir())
            if path.is_file() and path.name not in skipped
        }
        digest = hashlib.sha256()
        for name, content in files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        return cls(directory.name, files, digest.hexdigest())

    def materialize(self) -> Path:
        """The files written to a directory of this process's (once per content), as a model directory."""
        directory = _MATERIALIZED.get(self.digest)
        if directory is None:
            parent = tempfile.mkdtemp(prefix=f"bilstm-tagger-{self.name}-")
            atexit.register(shutil.rmtree, parent, ignore_errors=True)  # when the worker process ends
            directory = Path(parent) / self.name
            directory.mkdir()
            for name, content in self.files.items():
                (directory / name).write_bytes(content)
            _MATERIALIZED[self.digest] = directory
        return directory


@dataclass(frozen=True)
class ModelSpec:
    """How a worker loads the model: a directory every worker can read (shared storage), or files shipped with
    the job (``shipped``); the network's engine (``auto``, ``onnx``, ``torch``); its CPU threads (1: one task a
    core, as the engines schedule); the language raw text is split by (``None``: the model's)."""

    path: str
    engine: str = "auto"
    threads: int = 1
    language: str | None = None
    shipped: ModelFiles | None = field(default=None, repr=False)


# Per worker process: the models loaded (with the seconds each took) and the shipped files written out.
_LOADED: dict[tuple, tuple[LoadedModel, float]] = {}
_MATERIALIZED: dict[str, Path] = {}


def loaded_model(spec: ModelSpec) -> tuple[LoadedModel, float]:
    """The model of ``spec``, loaded in this process the first time and kept; and the seconds loading took
    (0.0 when it was already loaded)."""
    key = (spec.path, spec.engine, spec.threads, spec.shipped.digest if spec.shipped else None)
    if key in _LOADED:
        return _LOADED[key][0], 0.0
    from bilstm_tagger.tagging.tagger import LoadedModel

    started = time.perf_counter()
    path = spec.shipped.materialize() if spec.shipped is not None else spec.path
    model = LoadedModel.load(path, "cpu", spec.engine, spec.threads)
    seconds = time.perf_counter() - started
    _LOADED[key] = (model, seconds)
    return model, seconds


def tag_texts(
    model: LoadedModel, texts: Sequence[str | None], language: str | None = None, batch_size: int = TAG_BATCH_SIZE
) -> list[dict[str, Any]]:
    """Each text's record, in order: ``{"sentences", "entities", "error"}`` (see the module's docstring).

    The texts that can be tagged go through :meth:`~bilstm_tagger.tagging.tagger.Tagger.pipe`, which
    buffers them as ``tagger tag`` buffers a file, so that the records equal its ``jsonl`` ones.
    """
    from bilstm_tagger.tagging.tagger import Tagger

    errors = [text_error(text) for text in texts]
    readable = [text for text, error in zip(texts, errors) if error is None]
    documents = Tagger(model).pipe(readable, batch_size, confidence=True, language=language)
    records = []
    for error in errors:
        if error is None:
            record = jsonl_object(next(documents))
            records.append({"sentences": record["sentences"], "entities": record["entities"], "error": None})
        else:
            records.append({"sentences": [], "entities": [], "error": error})
    return records


def text_error(text: str | None) -> str | None:
    """Why ``tagger tag`` would refuse a text (its message without a file and line), or ``None``."""
    if text is None:
        return NULL_TEXT
    try:
        check_no_nul(text, None, None)
    except InputError as error:
        return error.message
    return None


def tagged_array(records: list[dict[str, Any]]) -> pa.StructArray:
    """Records of :func:`tag_texts` as one Arrow struct array of :func:`tagged_type`."""
    import pyarrow as pa

    return pa.array(records, type=tagged_type())


class BatchTagger:
    """Adds a tagged column to a batch of texts, in Spark's, Ray Data's and Dask's idiom.

    >>> tagger = BatchTagger("models/conll")                              # doctest: +SKIP
    >>> dataset.map_batches(BatchTagger, fn_constructor_args=("models/conll",),
    ...                     batch_format="pyarrow", concurrency=2)       # Ray Data   # doctest: +SKIP
    >>> frame.map_partitions(tagger, meta=tagger.meta(frame._meta))     # Dask       # doctest: +SKIP

    Spark's :func:`bilstm_tagger.datasets.on_spark.tag_dataframe` runs it in ``mapInArrow``.

    Args:
        model: the model directory, readable by every worker; or a :class:`ModelSpec`.
        text_column: the column of texts (strings; a null is a record with an error).
        output_column: the column added, a struct of :func:`tagged_fields` (in pandas, a dict per row).
        engine: the network's engine in the workers: ``auto`` (ONNX Runtime where the model has a
            ``model.onnx``), ``onnx`` or ``torch``.
        language: split raw text by the rules of this language instead of the model's.
    """

    def __init__(
        self,
        model: str | Path | ModelSpec,
        text_column: str = "text",
        output_column: str = "tagged",
        engine: str = "auto",
        language: str | None = None,
    ):
        self.spec = model if isinstance(model, ModelSpec) else ModelSpec(str(model), engine, language=language)
        self.text_column = text_column
        self.output_column = output_column

    def __call__(self, batch):
        """The batch (``pyarrow.Table``, ``pyarrow.RecordBatch`` or ``pandas.DataFrame``) with the tagged column
        added at its end; the same type back."""
        import pyarrow as pa

        if isinstance(batch, (pa.Table, pa.RecordBatch)):
            records = self.records(batch.column(self._column_index(batch.schema.names)).to_pylist())
            return batch.append_column(pa.field(self.output_column, tagged_type()), tagged_array(records))
        if self.text_column not in batch.columns:
            raise InputError(self._missing(list(batch.columns)))
        texts = [None if not isinstance(text, str) else text for text in batch[self.text_column]]
        return batch.assign(**{self.output_column: self.records(texts)})

    def records(self, texts: Sequence[str | None]) -> list[dict[str, Any]]:
        """The records of ``texts`` (see :func:`tag_texts`), by the model this process loaded."""
        model, _ = loaded_model(self.spec)
        return tag_texts(model, texts, self.spec.language)

    def meta(self, frame):
        """An empty pandas DataFrame shaped as the output for ``frame``'s columns: Dask's ``meta``."""
        return frame.iloc[:0].assign(**{self.output_column: []})  # an empty column of objects

    def _column_index(self, names: list[str]) -> int:
        if self.text_column not in names:
            raise InputError(self._missing(names))
        return names.index(self.text_column)

    def _missing(self, names: list[str]) -> str:
        return f"no column {self.text_column!r} of texts to tag (the columns: {', '.join(map(str, names))})"
