"""The ``tagger`` command: parse options, call the library, turn errors into exit codes.

Exit codes: 0 success; 2 bad input or usage (one line, ``FILE:LINE: what is wrong``); 1 anything
else. torch is imported inside the commands, never here, so ``tagger --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.cli import options
from bilstm_tagger.cli.exits import exit_codes, report_usage_error
from bilstm_tagger.model.config import (
    OPTION_NAMES,
    TAG_BATCH_SIZE,
    ModelConfig,
    TrainingConfig,
    config_from_options,
)
from bilstm_tagger.text.corpus import CorpusReading
from bilstm_tagger.version import __version__

app = typer.Typer(
    name="tagger",
    add_completion=False,
    rich_markup_mode="markdown",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

MODEL_DEFAULTS, TRAINING_DEFAULTS = ModelConfig(), TrainingConfig()  # the defaults shown by --help


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bilstm-tagger {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Train and run BiLSTM-CNN-CRF sequence taggers on CoNLL and CoNLL-U corpora.

    tagger train learns a model from a labelled corpus, tagger evaluate scores it on another,
    tagger calibrate fits its confidences on labelled data, tagger tag tags text from standard
    input or a file, tagger report writes an HTML page about a model, tagger export writes its
    model.onnx for ONNX Runtime, and tagger serve answers over HTTP.
    Run tagger COMMAND --help for the options.
    Exit codes: 0 success, 2 bad input or usage, 1 anything else.
    """


@app.command()
@exit_codes
def train(
    invocation: typer.Context,
    train_file: options.TrainFile,
    dev: options.Dev,
    output: options.Output = None,
    corpus_format: options.Format = "auto",
    word_column: options.WordColumn = None,
    tag_column: options.TagColumn = None,
    encoding_errors: options.EncodingErrors = "strict",
    language: options.TrainLanguage = None,
    tag_scheme: options.TagScheme = TRAINING_DEFAULTS.tag_scheme,
    preset: options.Preset = None,
    embeddings: options.Embeddings = None,
    pretrained_words: options.PretrainedWords = None,
    word_dim: options.WordDim = None,
    char_dim: options.CharDim = MODEL_DEFAULTS.char_dim,
    char_filters: options.CharFilters = MODEL_DEFAULTS.char_filters,
    char_window: options.CharWindow = MODEL_DEFAULTS.char_window,
    hidden_size: options.HiddenSize = MODEL_DEFAULTS.hidden_size,
    num_layers: options.NumLayers = MODEL_DEFAULTS.num_layers,
    dropout: options.Dropout = MODEL_DEFAULTS.dropout,
    cell: options.Cell = MODEL_DEFAULTS.cell,
    char_encoder: options.CharEncoder = MODEL_DEFAULTS.char_encoder,
    locked_dropout: options.LockedDropout = MODEL_DEFAULTS.locked_dropout,
    lm_weight: options.LmWeight = MODEL_DEFAULTS.lm_weight,
    context: options.Context = MODEL_DEFAULTS.context,
    context_tokens: options.ContextTokens = MODEL_DEFAULTS.context_tokens,
    mentions: options.Mentions = MODEL_DEFAULTS.mentions,
    optimizer: options.Optimizer = TRAINING_DEFAULTS.optimizer,
    learning_rate: options.LearningRate = None,
    lr_decay: options.LrDecay = TRAINING_DEFAULTS.lr_decay,
    momentum: options.Momentum = TRAINING_DEFAULTS.momentum,
    clip: options.Clip = TRAINING_DEFAULTS.clip,
    batch_size: options.TrainBatchSize = TRAINING_DEFAULTS.batch_size,
    word_dropout: options.WordDropout = TRAINING_DEFAULTS.word_dropout,
    max_epochs: options.MaxEpochs = TRAINING_DEFAULTS.max_epochs,
    patience: options.Patience = TRAINING_DEFAULTS.patience,
    seed: options.Seed = TRAINING_DEFAULTS.seed,
    threads: options.Threads = TRAINING_DEFAULTS.threads,
    device: options.Device = TRAINING_DEFAULTS.device,
    overwrite: options.Overwrite = False,
    resume: options.Resume = None,
) -> None:
    """Train a model on TRAIN_FILE, keeping the checkpoint that scores best on --dev.

    Span tags (IOB1, IOB2, IOBES, BILOU) are detected and scored by entity F1; other tags (part of
    speech) by accuracy. Each epoch shows a progress bar and a row of dev scores, and appends its
    figures to MODEL_DIR/metrics.jsonl.

    Example: tagger train data/ner/train.txt --dev data/ner/dev.txt --output models/sample

    On several processes or machines: torchrun --nproc-per-node 2 -m bilstm_tagger train ...
    (--batch-size is then per process; see docs/processes.md).
    """
    from bilstm_tagger.cli.console import RichReporter
    from bilstm_tagger.training.run import train_files

    # The options named after config fields (OPTION_NAMES) reach the config by name: those the
    # command line gave, with the preset filling the others.
    given = {
        name: value
        for name, value in invocation.params.items()
        if name in OPTION_NAMES and invocation.get_parameter_source(name).name != "DEFAULT"
    }
    config = config_from_options(given, preset)
    reading = CorpusReading(corpus_format, word_column, tag_column, encoding_errors, language)
    output_dir = _output_dir(output, resume)
    train_files(train_file, dev, output_dir, config, reading, RichReporter(), overwrite, resume is not None)


@app.command()
@exit_codes
def evaluate(
    model_dir: options.ModelSource,
    test_file: options.TestFile,
    json_output: options.JsonOutput = False,
    errors: options.Errors = False,
    output_predictions: options.OutputPredictions = None,
    min_score: options.MinScore = None,
    corpus_format: options.Format = "auto",
    word_column: options.WordColumn = None,
    tag_column: options.TagColumn = None,
    encoding_errors: options.EncodingErrors = "strict",
    batch_size: options.BatchSize = TAG_BATCH_SIZE,
    workers: options.Workers = 1,
    threads: options.WorkerThreads = None,
    device: options.Device = "cpu",
    engine: options.Engine = "auto",
) -> None:
    """Score a model on a labelled TEST_FILE and print a table of the figures.

    Span tags get entity precision, recall and F1 per type and micro-averaged (the figures of the
    conlleval script); plain tags get token accuracy and per-tag figures. The columns default to the ones the model was trained with.
    Example: tagger evaluate models/sample data/ner/test.txt
    """
    import json

    from bilstm_tagger.cli.console import make_console, print_error_analysis, print_evaluation
    from bilstm_tagger.scoring.evaluation import evaluate_file
    from bilstm_tagger.tagging.workers import open_tagger
    from bilstm_tagger.text.corpus import write_predictions

    reading = CorpusReading(corpus_format, word_column, tag_column, encoding_errors)
    with open_tagger(model_dir, device, workers, threads, engine) as tagger:
        _note_engine(tagger)
        evaluation = evaluate_file(tagger, test_file, reading, batch_size)
    report = evaluation.report
    if output_predictions is not None:
        write_predictions(output_predictions, evaluation.sentences, evaluation.predicted_tags, evaluation.corpus_format)
    analysis = evaluation.analyse() if errors else None
    if json_output:
        result = {"model": str(model_dir), "test_file": str(test_file), **report.to_json()}
        if analysis is not None:
            result["errors"] = analysis.to_json()
        typer.echo(json.dumps(result))
    else:
        console = make_console(stderr=False)
        print_evaluation(report, console, title=f"{test_file} · {model_dir}")
        if analysis is not None:
            print_error_analysis(analysis, console)
    if min_score is not None and report.score < min_score:
        typer.echo(f"{test_file}: {report.metric} {report.score:.2f} is below the minimum {min_score:.2f}", err=True)
        raise typer.Exit(1)


@app.command()
@exit_codes
def calibrate(
    model_dir: options.ModelDir,
    dev_file: options.DevFile,
    corpus_format: options.Format = "auto",
    word_column: options.WordColumn = None,
    tag_column: options.TagColumn = None,
    encoding_errors: options.EncodingErrors = "strict",
    threads: options.Threads = 0,
) -> None:
    """Fit the temperature that makes the model's confidences calibrated on DEV_FILE, and store it in the model.

    tagger train does this on its dev set when it ends; use this for models trained before, or
    to calibrate on other data. The tags never change, only the confidences.
    Example: tagger calibrate models/sample data/ner/dev.txt
    """
    from bilstm_tagger.base.runtime import set_threads
    from bilstm_tagger.cli.console import RichReporter
    from bilstm_tagger.training.calibration import calibrate_file

    set_threads(threads)
    reading = CorpusReading(corpus_format, word_column, tag_column, encoding_errors)
    RichReporter().calibrated(calibrate_file(model_dir, dev_file, reading))


@app.command()
@exit_codes
def report(
    model_dir: options.ModelDir,
    output: options.ReportOutput,
    test: options.Test = None,
    examples: options.Examples = 10,
    corpus_format: options.Format = "auto",
    word_column: options.WordColumn = None,
    tag_column: options.TagColumn = None,
    encoding_errors: options.EncodingErrors = "strict",
    batch_size: options.BatchSize = TAG_BATCH_SIZE,
    threads: options.Threads = 0,
    device: options.Device = "cpu",
) -> None:
    """Write one self-contained HTML page about a model: training curves and, with --test, what it gets wrong.

    The page opens from a file with no network (charts are SVG inside it). Needs matplotlib, the
    report extra: pip install 'bilstm-tagger[report]'.
    Example: tagger report models/sample --test data/ner/test.txt --output report.html
    """
    from bilstm_tagger.scoring.report import write_report

    if test is not None:  # only scoring a test file needs torch
        from bilstm_tagger.base.runtime import set_threads

        set_threads(threads)
    reading = CorpusReading(corpus_format, word_column, tag_column, encoding_errors)
    write_report(model_dir, output, test, reading=reading, batch_size=batch_size, device=device, max_examples=examples)
    typer.echo(f"Report written to {output}", err=True)


@app.command()
@exit_codes
def tag(
    model_dir: options.ModelSource,
    input_file: options.InputFile = None,
    output_format: options.OutputFormat = "conll",
    input_format: options.InputFormat = "text",
    language: options.TagLanguage = None,
    confidence: options.Confidence = False,
    nbest: options.Nbest = 0,
    min_confidence: options.MinConfidence = 0.0,
    word_column: options.WordColumn = None,
    encoding_errors: options.EncodingErrors = "strict",
    batch_size: options.BatchSize = TAG_BATCH_SIZE,
    workers: options.Workers = 1,
    threads: options.WorkerThreads = None,
    device: options.Device = "cpu",
    engine: options.Engine = "auto",
) -> None:
    """Tag text from standard input (or --input) and write it to standard output.

    Raw text and tokens input give exactly one output record per input line, in order; an empty
    line gives an empty record. Offsets are character (code point) indices into the record's
    text. Output is written while input is still being read.
    Example: echo 'John Smith lives in Paris.' | tagger tag models/sample --format inline
    """
    from bilstm_tagger.tagging.streaming import tag_file
    from bilstm_tagger.tagging.workers import open_tagger

    reading = CorpusReading(input_format, word_column, encoding_errors=encoding_errors, language=language)
    with open_tagger(model_dir, device, workers, threads, engine) as tagger:
        _note_engine(tagger)
        stream, name = _open_input(input_file)
        tag_file(
            tagger,
            stream,
            name,
            sys.stdout,
            output_format=output_format,
            reading=reading,
            batch_size=batch_size,
            confidence=confidence,
            nbest=nbest,
            min_confidence=min_confidence,
        )
    # Closed only once all of it was read: after an error or Ctrl-C its reader thread may be blocked
    # in a read, holding the stream's lock, and closing it would wait for that read for ever.
    stream.close()


@app.command(name="tag-dataset")
@exit_codes
def tag_dataset(
    model: options.ModelSource,
    input_path: options.DatasetInput,
    output: options.DatasetOutput,
    cluster: options.Cluster = "dask",
    address: options.ClusterAddress = None,
    workers: options.ClusterWorkers = 2,
    input_format: options.DatasetInputFormat = "auto",
    output_format: options.DatasetOutputFormat = "parquet",
    text_field: options.TextField = "text",
    language: options.TagLanguage = None,
    partitions: options.Partitions = None,
    ship_model: options.ShipModel = False,
    overwrite: options.ReplaceOutput = False,
    batch_size: options.BatchSize = TAG_BATCH_SIZE,
    threads: options.DatasetThreads = 1,
    engine: options.Engine = "auto",
    crash_once: options.CrashOnce = None,
) -> None:
    """Tag a dataset (text, JSON lines or Parquet files) on Dask, Spark or Ray, into Parquet or JSON lines parts.

    Each record gets tagger tag --format jsonl's fields, after its source file and position there (byte
    offset of its line; row number in Parquet); a record that cannot be tagged gets its reason in error.
    The engine retries a failed split; OUTPUT appears, with _SUCCESS, only once every split is written.
    Example: tagger tag-dataset models/sample corpus/ tagged/ --cluster dask --workers 2
    """
    from bilstm_tagger.datasets.clusters import open_cluster
    from bilstm_tagger.datasets.jobs import DatasetRequest
    from bilstm_tagger.datasets.jobs import tag_dataset as run_job

    request = DatasetRequest(
        model,
        input_path,
        str(output),
        input_format=input_format,
        output_format=output_format,
        text_field=text_field,
        engine=engine,
        threads=threads,
        language=language,
        ship_model=ship_model,
        partitions=partitions,
        overwrite=overwrite,
        batch_size=batch_size,
        crash_once=crash_once,
    )
    result = run_job(request, lambda: open_cluster(cluster, address, workers))
    not_tagged = f", {result.errors:,} not tagged (see their error)" if result.errors else ""
    typer.echo(
        f"Tagged {result.records:,} records{not_tagged} in {_count(len(result.splits), 'split')} on {result.cluster} "
        f"({result.workers} workers) in {result.seconds:.1f} s, of which {result.startup_seconds:.1f} s starting "
        f"the cluster; written to {result.output}",
        err=True,
    )


@app.command()
@exit_codes
def export(
    model_dir: options.ModelDir,
    quantize: options.Quantize = None,
) -> None:
    """Write MODEL_DIR/model.onnx from the model's weights, for tagging on ONNX Runtime without torch.

    tagger train does this when it ends, where the onnx package is installed (make install includes it);
    use this for models trained before, or without it. tagger tag and tagger evaluate then use it.
    With --quantize int8, also MODEL_DIR/model.int8.onnx, which --engine onnx-int8 runs.
    Example: tagger export models/sample --quantize int8
    """
    from bilstm_tagger.model.onnx_export import export_model

    for result in export_model(model_dir, quantize):
        typer.echo(f"ONNX model written to {result.path} ({result.bytes / 1e6:.1f} MB)", err=True)


@app.command()
@exit_codes
def serve(
    models: options.ServedModels,
    host: options.Host = "127.0.0.1",
    port: options.Port = 8000,
    workers: options.ServeWorkers = 1,
    max_body: options.MaxBody = 1 << 20,
    timeout: options.Timeout = 10.0,
    batch_size: options.BatchSize = TAG_BATCH_SIZE,
    threads: options.WorkerThreads = None,
    device: options.Device = "cpu",
    engine: options.Engine = "auto",
    api_key: options.ApiKey = None,
    access_log: options.AccessLog = False,
) -> None:
    """Serve models over HTTP: POST /tag (one model) or /models/NAME/tag, GET /health, /ready, /info, /metrics.

    POST takes {"text": "..."}, {"texts": [...]} or {"sentences": [[tokens]]} (and nbest,
    min_confidence) and answers what tagger tag --format jsonl writes. Requests that arrive together
    are tagged together. SIGHUP (or POST /admin/reload) loads the models again and switches to each once
    it is loaded. SIGTERM or Ctrl-C finishes the requests in flight, then exits 0.
    Example: tagger serve models/sample --port 8000
    """
    from bilstm_tagger.serving.server import ServerEvents, ServerSettings
    from bilstm_tagger.serving.server import serve as run_server

    settings = ServerSettings(
        tuple(models), host, port, workers, threads, engine, device, max_body, timeout, batch_size, api_key, access_log
    )

    def ready(url: str, served) -> None:
        one = len(served) == 1
        routes = "POST /tag" if one else "POST /models/NAME/tag"
        engines = ", ".join(f"{name} ({served[name].current.tagger.engine})" for name in served.names)
        typer.echo(
            f"Serving {engines} on {url}: {routes}, GET /health, /ready, /info, /metrics, /openapi.json", err=True
        )
        for name in served.names:
            _note_engine(served[name].current.tagger)

    def failed(error: Exception) -> None:
        typer.echo(f"error: {error}", err=True)

    def said(line: str) -> None:
        typer.echo(line, err=True)

    def logged(record: dict) -> None:
        from bilstm_tagger.tagging.formats import json_text

        sys.stderr.write(json_text(record) + "\n")
        sys.stderr.flush()

    code = run_server(settings, ServerEvents(ready, failed, said, logged))
    if code:
        raise typer.Exit(code)


@app.command()
@exit_codes
def package(
    model_dir: options.ModelDir,
    name: options.PackageName,
    version: options.PackageVersion,
    output: options.PackageOutput = Path("dist"),
    description: options.Description = "",
) -> None:
    """Build MODEL_DIR into an installable model package: a wheel and an sdist in --output.

    After pip install of the wheel, tagger tag NAME, tagger serve NAME and Tagger.load("NAME") find it.
    Example: tagger package models/sample --name en_sample_ner --version 1.0.0
    """
    from bilstm_tagger.model.packages import build_package

    built = build_package(model_dir, name, version, output, description)
    typer.echo(f"Model package {name} {built.meta['version']} written:", err=True)
    for path in (built.wheel, built.sdist):
        typer.echo(f"  {path} ({path.stat().st_size / 1e6:.1f} MB)", err=True)
    typer.echo(f"Install it with: pip install {built.wheel}", err=True)


def _output_dir(output: Path | None, resume: Path | None) -> Path:
    """The model directory ``tagger train`` writes: ``--output``, or the ``--resume`` directory."""
    if resume is not None and output is not None and output.resolve() != resume.resolve():
        raise InputError(f"--output {output} and --resume {resume} name different directories")
    if resume is None and output is None:
        raise InputError("missing --output MODEL_DIR (or --resume MODEL_DIR)")
    return resume if resume is not None else output


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _note_engine(tagger) -> None:
    """Say why a model that has a model.onnx is not tagging on it (``--engine auto`` fell back to torch)."""
    if tagger.engine_note:
        typer.echo(f"note: tagging with torch: {tagger.engine_note}", err=True)


def _open_input(input_file: Path | None) -> tuple[BinaryIO, str]:
    """The stream to tag and its name for messages: the file, or standard input.

    Standard input is read through a reader of its own over a copy of its descriptor, so that
    Python's exit never waits for ``sys.stdin``'s lock while the reader thread is blocked in it.
    """
    if input_file is None:
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb"), "<stdin>"
    try:
        return open(input_file, "rb"), str(input_file)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", input_file) from None


def main() -> None:
    """Entry point of the ``tagger`` console script."""
    try:
        code = app(prog_name="tagger", standalone_mode=False)
    except typer.TyperException as error:  # usage errors, as typer raises them: one line, exit 2
        code = report_usage_error(error)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
