"""Settings without torch: model sizes, training settings, the presets and the tagging limits.

This module imports neither torch nor any module that does, so the CLI's ``--help``, the presets
and a configuration file can be read without paying for torch.

Options have one flat name each, the name of a field of :class:`TrainingConfig` or of
:class:`ModelConfig` (``hidden_size``, ``learning_rate``); presets and :func:`config_from_options`
use those names, and route each one to the dataclass that owns it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.schemes import TRAINING_SCHEMES

# Tagging limits
TAG_BATCH_SIZE = 256  # sentences per batch when tagging: measured fastest on 2 cores (benchmarks/README.md)
MAX_SEGMENT_TOKENS = 500  # longer sentences are tagged (and trained on) in pieces of this length
MAX_BATCH_TOKENS = 4096  # padded tokens per batch when tagging: ONNX Runtime keeps ~6 KB a padded token; 4,096 tags as fast as 16,384 on 2 cores
# Inputs are tagged a buffer of BUFFER_BATCHES batches at a time: sorted by length within the
# buffer, its batches carry little padding, and memory stays bounded whatever the input's length.
BUFFER_BATCHES = 8
READ_AHEAD_BATCHES = 16  # batches of input that tagger tag's reader thread may hold ahead of the tagging
# What runs the network when tagging: see bilstm_tagger.tagging.engines. onnx-int8 runs the quantized
# graph of tagger export --quantize int8, and only when asked for: auto never takes it.
ENGINES = ("auto", "torch", "onnx", "onnx-int8")
QUANTIZATIONS = ("int8",)  # tagger export --quantize
CELLS = ("lstm", "peephole", "gru")  # the word-level encoder's cell: see bilstm_tagger.model.encoders
CHAR_ENCODERS = ("cnn", "lstm")  # how a word's characters become its vector: see bilstm_tagger.model.encoders
CONTEXTS = ("sentence", "document")  # what the encoder reads: see bilstm_tagger.model.context

DEFAULT_LEARNING_RATES = {"sgd": 0.015, "adam": 0.002}

# Recipes for the common jobs, by option name (benchmarks/RESULTS.md has the runs behind them).
# The defaults are the fast recipe: Adam 0.002 decaying by 0.05 an epoch, batches of 32, dropout
# 0.5 (Ma & Hovy), singleton word dropout (Lample et al.). A preset adds GloVe 6B 50d, and what
# measured best for its job within about 20 minutes on 2 cores:
# - ner: plain SGD at 0.3 on the batch-mean loss (NCRF++'s 0.015 per sentence, times the batch
#   of 32, with NCRF++'s zero momentum). Its dev score creeps up for 70 to 100 epochs, hence
#   NCRF++'s 100 epochs and a patience of 20. GloVe leaves few words unknown, so less dropout
#   (0.3) and singleton word dropout (0.1) than the defaults: CoNLL-2003 dev F1 94.69 against
#   94.36 with 0.5 and 0.5; test F1 90.87 ± 0.14, against 90.69 ± 0.13 (3 seeds each).
# - pos: a BiLSTM of 200 per direction (UD EWT test accuracy 95.66 ± 0.08 against 95.47 ± 0.11;
#   it did nothing for NER), and 50 epochs (UD EWT was still improving at epoch 30).
# - both keep GloVe's 200,000 most frequent words (issue 27): their trained models cut that way
#   scored +0.05 F1 (CoNLL-2003 test) and +0.02 accuracy (UD EWT test), in a model directory of
#   31 MB instead of 53 that loads and tags in less memory (benchmarks/pretrained_words.py).
PRESETS: dict[str, dict[str, Any]] = {
    "ner": {
        "embeddings": "glove-6b-50d",
        "pretrained_words": 200_000,
        "tag_scheme": "iobes",
        "optimizer": "sgd",
        "learning_rate": 0.3,
        "momentum": 0.0,
        "max_epochs": 100,
        "patience": 20,
        "dropout": 0.3,
        "word_dropout": 0.1,
    },
    "pos": {
        "embeddings": "glove-6b-50d",
        "pretrained_words": 200_000,
        "hidden_size": 200,
        "max_epochs": 50,
        "patience": 6,
    },
}


@dataclass
class ModelConfig:
    """The model's sizes, chosen by the user; stored in the checkpoint's ``config.json``.

    The vocabulary sizes are not here: they come from the training data. The defaults are the
    sizes of NCRF++'s CoNLL-2003 model (Yang & Zhang 2018): as accurate as Ma & Hovy's 200 per
    direction in our measurements, and 1.4 times as fast (see ``benchmarks/RESULTS.md``).
    ``cell`` names the word-level encoder's recurrent cell and ``char_encoder`` the character
    encoder (see :mod:`bilstm_tagger.model.encoders`); ``char_filters`` is the size of a word's
    character vector either way (a character LSTM has half of it per direction).
    ``locked_dropout`` draws one dropout mask per sentence instead of one per position.
    ``lm_weight`` above 0 trains a language model on the BiLSTM with the tagger, its loss scaled
    by it (:mod:`bilstm_tagger.model.language_model`). ``context`` ``document`` runs the BiLSTM over
    windows of up to ``context_tokens`` tokens of consecutive sentences of a document
    (:mod:`bilstm_tagger.model.context`); ``mentions`` adds attention from each token to the other
    occurrences of its word in the window.
    """

    word_dim: int = 50
    char_dim: int = 30
    char_filters: int = 50
    char_window: int = 3
    hidden_size: int = 100
    num_layers: int = 1
    dropout: float = 0.5
    cell: str = "lstm"
    char_encoder: str = "cnn"
    locked_dropout: bool = False
    lm_weight: float = 0.0
    context: str = "sentence"
    context_tokens: int = 64
    mentions: bool = False

    def __post_init__(self) -> None:
        for name in ("word_dim", "char_dim", "char_filters", "hidden_size", "num_layers", "context_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{_option(name)} must be at least 1, got {getattr(self, name)}")
        if self.char_window < 1 or self.char_window % 2 == 0:
            raise InputError(f"char-window must be an odd number, got {self.char_window}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.cell not in CELLS:
            raise InputError(f"unknown cell {self.cell!r} (choose {', '.join(CELLS)})")
        if self.char_encoder not in CHAR_ENCODERS:
            raise InputError(f"unknown char-encoder {self.char_encoder!r} (choose {' or '.join(CHAR_ENCODERS)})")
        if self.char_encoder == "lstm" and self.char_filters % 2:
            raise InputError(
                f"char-filters must be even with --char-encoder lstm (half per direction), got {self.char_filters}"
            )
        if self.context not in CONTEXTS:
            raise InputError(f"unknown context {self.context!r} (choose {' or '.join(CONTEXTS)})")
        if self.lm_weight < 0:
            raise InputError(f"lm-weight must not be negative, got {self.lm_weight}")
        if self.lm_weight > 0 and self.num_layers > 1:
            # A second layer's forward state has seen the first layer's backward one, that is the
            # words to come: predicting the next word from it would teach nothing.
            raise InputError("--lm-weight needs --layers 1: an upper layer has seen the words it would predict")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelConfig:
        """The inverse of :meth:`to_json`; also reads checkpoints older than the cells, which named it ``encoder``."""
        data = dict(data)
        if "encoder" in data:
            data["cell"] = data.pop("encoder")
        return cls(**data)


def context_tokens(config: ModelConfig) -> int | None:
    """The most tokens the encoder reads at once with document context, or ``None`` (sentence by sentence)."""
    return config.context_tokens if config.context == "document" else None


@dataclass
class TrainingConfig:
    """How to train, and the model's sizes (``model``).

    ``embeddings`` names pretrained word vectors (``glove-6b-50d`` or a GloVe/word2vec text file;
    see :mod:`bilstm_tagger.model.embeddings`), or ``None`` (also spelt ``"none"``); the word embedding
    then takes their size. ``pretrained_words`` keeps, of the pretrained words absent from the
    training data, those among the file's first N (GloVe lists words by frequency); ``None``: all.

    ``learning_rate`` ``None`` means 0.002 for Adam and 0.015 for SGD (Ma & Hovy). The rate of
    epoch ``e`` (from 0) is ``learning_rate / (1 + lr_decay * e)``, for either optimiser.
    ``word_dropout`` is the chance that a word seen once in training is replaced by the unknown
    word in a batch (Lample et al.), so that the unknown word's embedding is trained.
    ``threads`` 0 means one per available core.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    embeddings: str | None = None
    pretrained_words: int | None = None
    tag_scheme: str = "iobes"
    optimizer: str = "adam"
    learning_rate: float | None = None
    momentum: float = 0.9
    lr_decay: float = 0.05
    clip: float = 5.0
    batch_size: int = 32
    word_dropout: float = 0.5
    max_epochs: int = 50
    patience: int = 5
    seed: int = 1
    threads: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.embeddings == "none":
            self.embeddings = None
        if self.optimizer not in DEFAULT_LEARNING_RATES:
            raise InputError(f"unknown optimizer {self.optimizer!r} (choose sgd or adam)")
        if self.tag_scheme not in TRAINING_SCHEMES:
            raise InputError(
                f"unknown training tag scheme {self.tag_scheme!r} (choose {' or '.join(TRAINING_SCHEMES)})"
            )
        if self.pretrained_words is not None and self.pretrained_words < 1:
            raise InputError(f"pretrained-words must be at least 1, got {self.pretrained_words}")
        for name in ("batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise InputError(f"{_option(name)} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise InputError(f"word-dropout must be in [0, 1), got {self.word_dropout}")
        if not 0.0 <= self.momentum < 1.0:
            raise InputError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise InputError(f"learning-rate must be positive, got {self.learning_rate}")
        for name in ("lr_decay", "clip"):
            if getattr(self, name) < 0:
                raise InputError(f"{_option(name)} must not be negative, got {getattr(self, name)}")

    @property
    def effective_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.optimizer]

    def with_options(self, options: Mapping[str, Any]) -> TrainingConfig:
        """A copy with options changed by flat name (a field of this class or of :class:`ModelConfig`).

        Raises:
            InputError: an unknown name, or a value out of range.
        """
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise InputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        model_values = {name: value for name, value in options.items() if name in _MODEL_FIELDS}
        own_values = {name: value for name, value in options.items() if name not in _MODEL_FIELDS}
        return replace(self, model=replace(self.model, **model_values), **own_values)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """The inverse of :meth:`to_json`."""
        return cls(**{**data, "model": ModelConfig.from_json(data["model"])})


_MODEL_FIELDS = frozenset(f.name for f in fields(ModelConfig))
OPTION_NAMES = _MODEL_FIELDS | {f.name for f in fields(TrainingConfig) if f.name != "model"}


def apply_preset(config: TrainingConfig, preset: str, keep: Collection[str] = ()) -> TrainingConfig:
    """``config`` with the values of a preset (``ner`` or ``pos``), except the options named in ``keep``.

    >>> apply_preset(TrainingConfig(seed=2), "ner").optimizer
    'sgd'
    >>> apply_preset(TrainingConfig(optimizer="adam"), "ner", keep={"optimizer"}).optimizer
    'adam'
    """
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r} (choose {' or '.join(PRESETS)})")
    return config.with_options({name: value for name, value in PRESETS[preset].items() if name not in keep})


def config_from_options(options: Mapping[str, Any], preset: str | None = None) -> TrainingConfig:
    """The training configuration a user asked for: ``options`` (by flat name), then the preset, then the defaults.

    ``options`` holds only what the user gave: a preset fills the others. ``word_dim`` may not
    be given with pretrained ``embeddings``, whose size is the word embedding's.

    Raises:
        InputError: an unknown option, a value out of range, or ``word_dim`` with ``embeddings``.
    """
    config = TrainingConfig().with_options(options)
    if preset is not None:
        config = apply_preset(config, preset, keep=options.keys())
    if config.embeddings is not None and "word_dim" in options:
        raise InputError("--word-dim and --embeddings exclude each other: the vectors' size is the embedding size")
    return config


def _option(name: str) -> str:
    """A field's name as the command line spells it: ``batch_size`` → ``batch-size``."""
    return name.replace("_", "-")
