"""tagger tag-dataset and the engines' Python APIs: splits that read each record once, the records of `tagger tag`,
a worker killed halfway and retried, a failed or interrupted job that leaves no output, on Dask, Spark and Ray
clusters bound to 127.0.0.1 (small data, bounded time)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.datasets.jobs import SUCCESS, DatasetJob, run_split
from bilstm_tagger.datasets.records import NULL_TEXT, BatchTagger, ModelFiles, ModelSpec, tagged_type
from bilstm_tagger.datasets.sources import input_files, plan_splits, read_split
from bilstm_tagger.text.corpus import iter_lines

from conftest import DATA, sigint_as_in_a_terminal, tagger

TIMEOUT = 240  # a whole job on a local cluster: Spark's JVM starts in about 5 s here


def sample_lines() -> list[str]:
    """The sample test corpus's sentences as raw text, one a line, with an empty line, CRLF, a non-ASCII line."""
    sentences, tokens = [], []
    for line in (DATA / "ner" / "test.txt").read_text().splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if tokens:
                sentences.append(" ".join(tokens))
            tokens = []
        else:
            tokens.append(line.split()[0])
    return [*sentences[:60], "", "Zoë Müller flew from Zürich to São Paulo.\r", *sentences[60:120]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two text files of sample sentences, and what `tagger tag --format jsonl` makes of them, together."""
    directory = tmp_path_factory.mktemp("corpus")
    lines = sample_lines()
    half = len(lines) // 2
    (directory / "a.txt").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    (directory / "b.txt").write_text("\n".join(lines[half:]), encoding="utf-8")  # no final newline
    (directory / "_SUCCESS").write_text("")  # a marker a previous job left: not input
    return directory


@pytest.fixture(scope="module")
def expected(corpus, trained_ner_model) -> dict[tuple[str, int], dict]:
    """`tagger tag --format jsonl`'s record of each line of the corpus, by (file, byte offset of the line)."""
    records = {}
    for name in ("a.txt", "b.txt"):
        path = corpus / name
        tagged = tagger("tag", trained_ner_model, "--input", path, "--format", "jsonl").stdout.splitlines()
        offsets, offset = [], 0
        for line in path.read_bytes().splitlines(keepends=True):
            offsets.append(offset)
            offset += len(line)
        assert len(offsets) == len(tagged)
        records.update({(str(path), position): json.loads(record) for position, record in zip(offsets, tagged)})
    return records


def output_records(output: Path) -> list[dict]:
    """Every record of a job's output, Parquet or JSON lines parts, in the order of the parts."""
    records = []
    for part in sorted(output.glob("part-*")):
        if part.suffix == ".parquet":
            records += pq.read_table(part).to_pylist()
        else:
            records += [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    return records


def assert_the_records_of_tagger_tag(records: list[dict], expected: dict) -> None:
    """Each input line's record once, equal to `tagger tag --format jsonl`'s after its place."""
    places = [(record["source"], record["position"]) for record in records]
    assert len(places) == len(set(places)) == len(expected)
    for record in records:
        assert record.get("error") is None
        mine = {key: record[key] for key in ("text", "sentences", "entities")}
        assert mine == expected[(record["source"], record["position"])]


def dataset_command(model, corpus, output, *options) -> list[str]:
    return [sys.executable, "-m", "bilstm_tagger", "tag-dataset", str(model), str(corpus), str(output), *options]


def run_dataset(model, corpus, output, *options) -> subprocess.CompletedProcess:
    command = dataset_command(model, corpus, output, *options)
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)


# --- Input: files and splits --------------------------------------------------------------------------


def test_input_files_from_a_file_a_directory_or_a_glob(corpus):
    names = lambda files: [Path(file.path).name for file in files]  # noqa: E731
    assert names(input_files(corpus)) == ["a.txt", "b.txt"]  # _SUCCESS is not input
    assert names(input_files(corpus / "b.txt")) == ["b.txt"]
    assert names(input_files(f"{corpus}/*.txt")) == ["a.txt", "b.txt"]
    assert {file.format for file in input_files(corpus)} == {"text"}
    with pytest.raises(InputError, match="no input file"):
        input_files(f"{corpus}/*.parquet")


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), max_size=12),
        min_size=1,
        max_size=25,
    ),
    endings=st.lists(st.sampled_from(["\n", "\r\n"]), min_size=25, max_size=25),
    final_newline=st.booleans(),
    size=st.integers(1, 40),
)
def test_splits_read_every_line_once_wherever_they_cut(tmp_path_factory, lines, endings, final_newline, size):
    """Byte ranges of any size: each line is read by the one split it starts in, as `tagger tag` reads it."""
    path = tmp_path_factory.mktemp("splits") / "lines.txt"
    text = "".join(line + ending for line, ending in zip(lines, endings))
    path.write_bytes(("\ufeff" + text if size % 2 else text).encode()[: None if final_newline else -1])
    files = input_files(path)
    records = [record for split in plan_splits(files, size) for record in read_split(split)]
    with open(path, "rb") as stream:
        assert [record.text for record in records] == [line for _, line in iter_lines(stream, str(path))]
    data = path.read_bytes()
    starts = [0] + [index + 1 for index, byte in enumerate(data) if byte == ord("\n") and index + 1 < len(data)]
    assert [record.position for record in records] == starts


def test_records_that_cannot_be_read_keep_their_place_with_the_reason(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"Anna sings\n\xff\xfe\nNUL \x00 here\n")
    (tmp_path / "bad.jsonl").write_text('{"text": "Tom"}\n[1]\n{"body": "x"}\n{"text": 3}\nnot json\n')
    records = [record for split in plan_splits(input_files(tmp_path), 1 << 20) for record in read_split(split)]
    errors = [(Path(record.source).name, record.position, record.error) for record in records]
    assert errors == [
        ("bad.jsonl", 0, None),
        ("bad.jsonl", 16, "not a JSON object but an array"),
        ("bad.jsonl", 20, "no field 'text'; see --text-field"),
        ("bad.jsonl", 34, "a number in 'text', not a string"),
        ("bad.jsonl", 46, "not a JSON object: Expecting value (column 1)"),
        ("bad.txt", 0, None),
        ("bad.txt", 11, "invalid UTF-8 (byte 1 of the line); is this a binary file?"),
        ("bad.txt", 14, "NUL byte: this looks like a binary file, not a text corpus"),
    ]


def test_parquet_splits_are_runs_of_row_groups_with_row_numbers(tmp_path):
    texts = [f"Line {number} of Anna" for number in range(50)]
    pq.write_table(pa.table({"id": list(range(50)), "body": texts}), tmp_path / "t.parquet", row_group_size=7)
    files = input_files(tmp_path)
    splits = plan_splits(files, 1, text_field="body")  # a row group a split
    assert len(splits) == 8
    records = [record for split in splits for record in read_split(split, "body")]
    assert [(record.position, record.text) for record in records] == list(enumerate(texts))
    with pytest.raises(InputError, match="no column 'text' of texts .*id, body.*--text-field"):
        plan_splits(files, 1)
    with pytest.raises(InputError, match="column 'id' holds int64, not strings"):
        plan_splits(files, 1, text_field="id")


# --- Tagging in a worker ------------------------------------------------------------------------------


def test_a_split_in_a_worker_writes_the_records_of_tagger_tag(corpus, expected, trained_ner_model, tmp_path):
    """run_split as a task runs it, from files shipped with the job (the directory is not read) and without torch."""
    code = f"""
import json, sys
from bilstm_tagger.datasets.jobs import DatasetJob, run_split
from bilstm_tagger.datasets.records import ModelFiles, ModelSpec
from bilstm_tagger.datasets.sources import input_files, plan_splits
spec = ModelSpec("/nowhere", "onnx", 1, shipped=ModelFiles.read({str(trained_ner_model)!r}, "onnx"))
job = DatasetJob(spec, {str(tmp_path)!r}, "jsonl")
reports = [run_split(job, split) for split in plan_splits(input_files({str(corpus)!r}), 2000)]
print(json.dumps([report.records for report in reports]), "torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    counts, torch_imported = result.stdout.rsplit(maxsplit=1)
    assert torch_imported == "False"
    assert sum(json.loads(counts)) == len(expected) and len(json.loads(counts)) > 2
    assert not list(tmp_path.glob(".part-*"))  # each attempt's file renamed to its split's
    assert_the_records_of_tagger_tag(output_records(tmp_path), expected)


def test_the_model_files_shipped_leave_out_what_onnx_runtime_does_not_need(trained_ner_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(trained_ner_model, model)
    (model / "pretrained.pt").write_bytes(b"vectors")  # as a model trained with --embeddings has
    (model / "resume.pt").write_bytes(b"a training's state")
    everything = {path.name for path in model.iterdir()}
    shipped = ModelFiles.read(model, "onnx")
    assert set(shipped.files) == everything - {"pretrained.pt", "resume.pt"}
    assert set(ModelFiles.read(model, "torch").files) == everything - {"resume.pt"}
    assert shipped.digest == ModelFiles.read(model, "onnx").digest
    (model / "model.onnx").write_bytes(b"changed")
    assert ModelFiles.read(model, "onnx").digest != shipped.digest


def test_batch_tagger_adds_a_column_to_arrow_and_pandas_batches(trained_ner_model, expected):
    texts = ["Anna Berg lives in Oslo.", None, "NUL \x00 byte", ""]
    tagger = BatchTagger(ModelSpec(str(trained_ner_model), "onnx"), text_column="body")
    table = tagger(pa.table({"id": [1, 2, 3, 4], "body": texts}))
    assert table.schema.names == ["id", "body", "tagged"] and table.schema.field("tagged").type == tagged_type()
    tagged = table.column("tagged").to_pylist()
    assert [record["error"] for record in tagged] == [
        None,
        NULL_TEXT,
        "NUL byte: this looks like a binary file, not a text corpus",
        None,
    ]
    assert tagged[0]["entities"][0]["text"] in {"Anna Berg", "Anna", "Oslo"}
    assert tagged[3] == {"sentences": [], "entities": [], "error": None}
    batch = tagger(pa.RecordBatch.from_pydict({"body": texts}))
    assert isinstance(batch, pa.RecordBatch) and batch.column(1).to_pylist() == tagged
    pandas = pytest.importorskip("pandas")
    frame = tagger(pandas.DataFrame({"body": texts}))
    assert list(frame["tagged"]) == tagged
    with pytest.raises(InputError, match="no column 'body' of texts to tag"):
        tagger(pa.table({"text": texts}))


# --- The command on each engine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cluster, output_format",
    [("dask", "parquet"), ("spark", "jsonl"), ("ray", "parquet")],
)
def test_a_worker_killed_halfway_is_retried_and_each_record_is_written_once(
    cluster, output_format, corpus, expected, trained_ner_model, tmp_path
):
    """The first task kills its own process after writing part of its split; the engine retries it elsewhere."""
    pytest.importorskip({"dask": "distributed", "spark": "pyspark", "ray": "ray"}[cluster])
    marker, output = tmp_path / "crashed", tmp_path / "tagged"
    options = ["--cluster", cluster, "--format", output_format, "--partitions", "6", "--crash-once", marker]
    result = run_dataset(trained_ner_model, corpus, output, *options, *(["--ship-model"] if cluster == "dask" else []))
    assert result.returncode == 0, result.stderr
    assert marker.exists()  # a worker did die
    success = json.loads((output / SUCCESS).read_text())
    splits = success["splits"]
    assert 6 <= splits <= 7  # about 6: each of the two files is cut at the same size
    summary = f"Tagged {len(expected)} records in {splits} splits on {cluster} (2 workers)"
    assert result.stderr.strip().splitlines()[-1].startswith(summary)
    assert success["records"] == len(expected) and success["errors"] == 0 and success["cluster"] == cluster
    assert [report["index"] for report in success["split_reports"]] == list(range(splits))
    parts = [f"part-{index:05d}.{output_format}" for index in range(splits)]
    assert sorted(path.name for path in output.iterdir()) == [SUCCESS, *parts]
    assert_the_records_of_tagger_tag(output_records(output), expected)
    assert not list(tmp_path.glob("tagged.*"))  # no staging directory left


def test_a_split_that_fails_on_every_try_fails_the_job_and_keeps_the_output_as_it_was(
    corpus, trained_ner_model, tmp_path
):
    output = tmp_path / "tagged"
    output.mkdir()
    (output / "part-00000.parquet").write_text("an earlier job's")
    # The marker's directory does not exist: every try of every split fails.
    options = ["--overwrite", "--crash-once", tmp_path / "missing" / "marker", "--workers", "1"]
    result = run_dataset(trained_ner_model, corpus, output, *options)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: dask: a split failed on every try: FileNotFoundError: [Errno 2] No such file or directory: "
        f"'{tmp_path / 'missing' / 'marker'}'"
    ]
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith("tagged")] == ["tagged"]
    assert [path.name for path in output.iterdir()] == ["part-00000.parquet"]


def test_bad_input_and_a_full_output_are_refused_in_one_line_before_the_cluster_starts(
    corpus, trained_ner_model, tmp_path
):
    output = tmp_path / "tagged"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    result = run_dataset(trained_ner_model, corpus, output)
    assert result.returncode == 2
    assert (
        result.stderr == f"{output}: the output directory is not empty; --overwrite replaces it once the job succeeds\n"
    )
    missing = run_dataset(trained_ner_model, tmp_path / "nothing*.txt", tmp_path / "other")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no input file" in missing.stderr
    not_a_model = run_dataset(tmp_path, corpus, tmp_path / "other")
    assert not_a_model.returncode == 2 and not_a_model.stderr.count("\n") == 1
    assert not (tmp_path / "other").exists() and (output / "keep.txt").read_text() == "mine"


def test_records_that_cannot_be_tagged_are_counted_and_kept_with_their_reason(trained_ner_model, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "Anna Berg lives in Oslo."}\n{"text": null}\n{"text": "x\\u0000"}\n')
    result = run_dataset(trained_ner_model, tmp_path / "in.jsonl", tmp_path / "out", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert "Tagged 3 records, 2 not tagged (see their error) in 1 split on dask" in result.stderr
    records = output_records(tmp_path / "out")
    assert [record.get("error") for record in records] == [
        None,
        NULL_TEXT,
        "NUL byte: this looks like a binary file, not a text corpus",
    ]
    assert "error" not in records[0]  # as tagger tag writes a record
    assert records[1] == {"source": str(tmp_path / "in.jsonl"), "position": 37, "text": None, "sentences": [],
                          "entities": [], "error": NULL_TEXT}  # fmt: skip


def test_ctrl_c_stops_the_job_with_one_line_and_no_output(trained_ner_model, tmp_path):
    lines = sample_lines() * 300
    (tmp_path / "big.txt").write_text("\n".join(lines) + "\n")
    output = tmp_path / "tagged"
    process = subprocess.Popen(
        dataset_command(trained_ner_model, tmp_path / "big.txt", output, "--partitions", "40"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's job: SIGINT goes to its workers too
        preexec_fn=sigint_as_in_a_terminal,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("tagged.partial-*/part-*")) and process.poll() is None:
            assert time.monotonic() < deadline, "no split written in 120 s"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 130
        assert process.stderr.read().decode() == "interrupted\n"
    finally:
        process.kill()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["big.txt"]


# --- The Python APIs in each engine's idiom ------------------------------------------------------------
# Spark's and Ray's run as docs/datasets.md shows them (test_docs.py); BatchTagger runs inside all three.

DASK_API = """
import json, sys
import dask.dataframe as dd, pandas
from bilstm_tagger.datasets import on_dask
with on_dask.cluster(workers=2):
    frame = dd.from_pandas(pandas.DataFrame({"text": json.loads(sys.argv[2])}), npartitions=3)
    print(json.dumps(on_dask.tag_dataframe(frame, sys.argv[1]).compute()["tagged"].tolist()))
"""


def test_a_dask_dataframe_gets_the_records_of_tagger_tag(trained_ner_model, expected):
    texts = [record["text"] for record in list(expected.values())[:20]]
    command = [sys.executable, "-c", DASK_API, str(trained_ner_model), json.dumps(texts)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    tagged = json.loads(result.stdout)
    assert all(row["error"] is None for row in tagged)
    records = [
        {"text": text, "sentences": row["sentences"], "entities": row["entities"]} for text, row in zip(texts, tagged)
    ]
    assert records == list(expected.values())[:20]


def test_a_text_of_megabytes_in_any_script_is_written_whole(trained_ner_model, tmp_path):
    """A Parquet row group is parsed from the chunk's JSON lines, in one block: Arrow's default of 1 MB refuses a
    line that straddles two blocks."""
    long_text = "\x00" + "😀" * 600_000  # 2.4 MB in UTF-8; the NUL keeps it out of the tokenizer (its error)
    pq.write_table(pa.table({"text": ["Anna sings.", long_text]}), tmp_path / "in.parquet")
    job = DatasetJob(ModelSpec(str(trained_ner_model), "onnx"), str(tmp_path), "parquet")
    [split] = plan_splits(input_files(tmp_path / "in.parquet"), 1 << 30)
    assert run_split(job, split).records == 2
    rows = pq.read_table(tmp_path / "part-00000.parquet").to_pylist()
    assert rows[1]["text"] == long_text and rows[1]["error"].startswith("NUL byte")
    assert [row["position"] for row in rows] == [0, 1] and rows[0]["error"] is None
