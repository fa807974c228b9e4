"""A dataset's input: its files, cut into splits that workers read on their own, each record with its position.

The input is a file, a directory (its files, recursively, but for hidden ones and those whose name
starts with ``_``, such as a ``_SUCCESS`` marker) or a glob (``corpus/*.jsonl``, ``**`` too). Each
file is read by its format, from its extension unless one is given:

* ``text`` (any other extension): one record per line, read as ``tagger tag`` reads a line
  (:func:`~bilstm_tagger.text.corpus.decode_line`: ``\\n`` or ``\\r\\n`` ends it, UTF-8, a byte-order
  mark dropped);
* ``jsonl`` (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line, its text in a field;
* ``parquet`` (``.parquet``, ``.pq``): one record per row, its text in a column.

A split is a byte range of a text or JSON lines file, or a run of a Parquet file's row groups.
As in Hadoop's line reader, a range holds the lines that *start* inside it, so that each line of
a file is read by exactly one split wherever the ranges fall. A record's position is the byte
offset of its line in the file (text, JSON lines) or its row number (Parquet): known to the
split alone, without counting the lines before it, and in input order within a file.

No engine here: the splits are plain values that any engine ships to its workers.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.text.corpus import UTF8_BOM, decode_line

DATASET_FORMATS: tuple[str, ...] = ("auto", "text", "jsonl", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
MIN_SPLIT_BYTES = 64 * 1024  # below this, a task's overhead outweighs its tagging
MAX_SPLIT_BYTES = 64 * 1024 * 1024  # a task a worker redoes in a minute or so if it fails
SPLITS_PER_WORKER = 8  # so that a slow or retried split does not leave the other workers idle at the end


@dataclass(frozen=True)
class InputFile:
    path: str
    format: str  # text, jsonl or parquet
    size: int


@dataclass(frozen=True)
class Split:
    """A piece of one file that one task reads.

    ``start`` and ``end`` are byte offsets (text, JSON lines) or row group numbers (Parquet; ``first_row``
    is the row number of the first one's first row).
    """

    index: int
    path: str
    format: str
    start: int
    end: int
    first_row: int = 0


@dataclass(frozen=True)
class InputRecord:
    """One record read: its file, its position there, its text (``None`` where there is none) and why it cannot be
    tagged (``None`` where it can)."""

    source: str
    position: int
    text: str | None
    error: str | None = None


def input_files(pattern: str | os.PathLike, input_format: str = "auto") -> list[InputFile]:
    """The files of a dataset's input (see the module's docstring), in name order, each with its format.

    Raises:
        InputError: an unknown format, or no file.
    """
    if input_format not in DATASET_FORMATS:
        raise InputError(f"unknown input format {input_format!r} (choose {', '.join(DATASET_FORMATS)})")
    pattern = str(pattern)
    if os.path.isdir(pattern):
        paths = [
            os.path.join(root, name)
            for root, directories, names in os.walk(pattern)
            for name in names
            if not name.startswith((".", "_"))
        ]
    elif os.path.exists(pattern):
        paths = [pattern]
    else:
        paths = [path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path)]
    if not paths:
        raise InputError("no input file: not a file, a directory with files, nor a glob that matches any", pattern)
    return [
        InputFile(os.path.abspath(path), _format_of(path, input_format), os.path.getsize(path))
        for path in sorted(paths)
    ]


def _format_of(path: str, input_format: str) -> str:
    if input_format != "auto":
        return input_format
    return _EXTENSIONS.get(Path(path).suffix.lower(), "text")


def split_size(files: list[InputFile], workers: int, splits: int | None = None) -> int:
    """Bytes a split: for about ``splits`` splits where given (a Parquet row group is never cut); else about
    :data:`SPLITS_PER_WORKER` splits a worker, within the bounds above."""
    total = sum(file.size for file in files)
    if splits:
        return max(1, math.ceil(total / splits))
    return min(MAX_SPLIT_BYTES, max(MIN_SPLIT_BYTES, math.ceil(total / max(1, workers * SPLITS_PER_WORKER))))


def plan_splits(files: list[InputFile], size: int, text_field: str = "text") -> list[Split]:
    """The splits of the files, each about ``size`` bytes (a Parquet row group is never cut), in input order.

    Raises:
        InputError: a Parquet file that cannot be read, or without a column of strings ``text_field`` (named).
    """
    splits: list[Split] = []
    for file in files:
        if file.format == "parquet":
            pieces = _row_group_runs(file.path, size, text_field)
        else:
            pieces = [(start, min(start + size, file.size), 0) for start in range(0, max(file.size, 1), size)]
        for start, end, first_row in pieces:
            splits.append(Split(len(splits), file.path, file.format, start, end, first_row))
    return splits


def _row_group_runs(path: str, size: int, column: str) -> list[tuple[int, int, int]]:
    """Runs of consecutive row groups of about ``size`` bytes: ``(first group, end group, first row)``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises ArrowInvalid and OSError alike for a file that is not Parquet
        raise InputError(f"not a Parquet file ({error})", path) from None
    schema = parquet.schema_arrow
    if column not in schema.names:
        raise InputError(
            f"no column {column!r} of texts (the columns: {', '.join(schema.names)}); see --text-field", path
        )
    if not (pa.types.is_string(schema.field(column).type) or pa.types.is_large_string(schema.field(column).type)):
        raise InputError(f"column {column!r} holds {schema.field(column).type}, not strings; see --text-field", path)
    metadata = parquet.metadata
    runs: list[tuple[int, int, int]] = []
    start, first_row, rows, run_bytes = 0, 0, 0, 0
    for group in range(metadata.num_row_groups):
        run_bytes += metadata.row_group(group).total_byte_size
        rows += metadata.row_group(group).num_rows
        if run_bytes >= size or group == metadata.num_row_groups - 1:
            runs.append((start, group + 1, first_row))
            start, first_row, run_bytes = group + 1, rows, 0
    return runs or [(0, 0, 0)]


def read_split(split: Split, text_field: str = "text") -> Iterator[InputRecord]:
    """The records of a split in order; ``text_field`` names the text's field (JSON lines) or column (Parquet).

    A record that cannot be read (invalid UTF-8, a NUL byte, a line that is not a JSON object with a
    string in ``text_field``) is an :class:`InputRecord` with the reason in ``error``. A file that cannot
    be opened raises :class:`OSError`, which fails the task (the engine retries it).
    """
    if split.format == "parquet":
        yield from _parquet_records(split, text_field)
        return
    for position, raw in _lines(split):
        try:
            text = decode_line(raw, split.path, None)
        except InputError as error:
            yield InputRecord(split.path, position, None, error.message)
            continue
        if split.format == "text":
            yield InputRecord(split.path, position, text)
        else:
            yield _json_record(split.path, position, text, text_field)


def _lines(split: Split) -> Iterator[tuple[int, bytes]]:
    """The lines that start in the split's byte range, each with its offset; a file's byte-order mark dropped."""
    with open(split.path, "rb") as stream:
        position = split.start
        if split.start > 0:
            # The line that holds the byte before the range belongs to the split before: skip past its end.
            stream.seek(split.start - 1)
            position = split.start - 1 + len(stream.readline())
        while position < split.end:
            raw = stream.readline()
            if not raw:
                break
            offset, position = position, position + len(raw)
            yield offset, raw[3:] if offset == 0 and raw.startswith(UTF8_BOM) else raw


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
_JSON_KINDS |= {type(None): "null", dict: "an object"}


def _json_record(source: str, position: int, line: str, text_field: str) -> InputRecord:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return InputRecord(source, position, None, f"not a JSON object: {error.msg} (column {error.colno})")
    if not isinstance(value, dict):
        return InputRecord(source, position, None, f"not a JSON object but {_JSON_KINDS[type(value)]}")
    if text_field not in value:
        return InputRecord(source, position, None, f"no field {text_field!r}; see --text-field")
    text = value[text_field]
    if text is not None and not isinstance(text, str):  # a null is a record without text, as in Parquet
        return InputRecord(source, position, None, f"{_JSON_KINDS[type(text)]} in {text_field!r}, not a string")
    return InputRecord(source, position, text)


def _parquet_records(split: Split, column: str) -> Iterator[InputRecord]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(split.path)
    position = split.first_row
    for group in range(split.start, split.end):
        for text in parquet.read_row_group(group, columns=[column]).column(0).to_pylist():
            yield InputRecord(split.path, position, text)
            position += 1
