"""Checkpoints: one directory per model, written atomically, loaded without running code.

Layout of ``MODEL_DIR``:

* ``config.json``: format version, package version, model sizes, tag schemes, reader and
  training settings (plain JSON);
* ``vocab.json``: the word, character and tag vocabularies (plain JSON);
* ``model.pt``: the weights, a ``state_dict`` of plain tensors, read back with
  ``torch.load(weights_only=True)``, which refuses any pickled object that is not a tensor;
* ``metrics.jsonl``: one JSON object per training epoch (written by the trainer).

Every file is written to a temporary file in the same directory, flushed to disk, then renamed
over the old one, so an interrupted save leaves the previous checkpoint whole.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import InputError
from .files import atomic_write

FORMAT_NAME = "bilstm-tagger"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "model.pt"
METRICS_FILE = "metrics.jsonl"


@dataclass
class CheckpointInfo:
    """Everything in a checkpoint except the weights.

    Attributes:
        model: :class:`~bilstm_tagger.model.ModelConfig` fields (vocabulary sizes come from ``vocab``).
        vocab: :meth:`~bilstm_tagger.vocab.Encoder.to_json` output.
        tag_scheme: the scheme the model predicts in (``iobes``, ``iob2`` or ``plain``).
        data_scheme: the scheme of the training data; predictions are written back in it.
        corpus: how the training corpus was read (format, word and tag columns).
        training: the training settings, for the record.
        package_version: the version of bilstm-tagger that wrote the checkpoint.
    """

    model: dict
    vocab: dict
    tag_scheme: str
    data_scheme: str
    corpus: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    package_version: str = __version__

    def config_json(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "package_version": self.package_version,
            "model": self.model,
            "tag_scheme": self.tag_scheme,
            "data_scheme": self.data_scheme,
            "corpus": self.corpus,
            "training": self.training,
        }


def _json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def save_info(directory: str | os.PathLike, info: CheckpointInfo) -> None:
    """Write ``config.json`` and ``vocab.json`` (once per training run: they do not change)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / VOCAB_FILE, (json.dumps(info.vocab, ensure_ascii=False) + "\n").encode("utf-8"))
    atomic_write(directory / CONFIG_FILE, _json_bytes(info.config_json()))


def save_weights(directory: str | os.PathLike, state_dict: dict) -> None:
    """Write ``model.pt`` from a model's ``state_dict`` (tensors only)."""
    import torch

    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu() for key, value in state_dict.items()}, buffer)
    atomic_write(Path(directory) / WEIGHTS_FILE, buffer.getvalue())


def load_info(directory: str | os.PathLike) -> CheckpointInfo:
    """Read and check ``config.json`` and ``vocab.json``.

    Raises:
        InputError: not a model directory, unreadable JSON, or an incompatible format version.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("no such model directory", directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise InputError(f"not a bilstm-tagger model directory (no {CONFIG_FILE})", directory)
    config = _read_json(config_path)
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise InputError("not a bilstm-tagger checkpoint configuration", config_path)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            f"checkpoint format {version} (written by bilstm-tagger {config.get('package_version', '?')}) "
            f"cannot be read by bilstm-tagger {__version__}, which reads format {FORMAT_VERSION}; "
            "retrain the model or use the version that wrote it",
            config_path,
        )
    vocab = _read_json(directory / VOCAB_FILE)
    try:
        return CheckpointInfo(
            model=dict(config["model"]),
            vocab={key: list(vocab[key]) for key in ("words", "chars", "tags")},
            tag_scheme=str(config["tag_scheme"]),
            data_scheme=str(config["data_scheme"]),
            corpus=dict(config.get("corpus", {})),
            training=dict(config.get("training", {})),
            package_version=str(config.get("package_version", "?")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"incomplete checkpoint configuration: missing or bad {error}", config_path) from None


def _read_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("missing file: the checkpoint is incomplete", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read: {error}", path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON ({error.msg}); the file is truncated or corrupted", path, error.lineno
        ) from None


def load_weights(directory: str | os.PathLike, device: str = "cpu") -> dict:
    """Read ``model.pt`` as a ``state_dict``, refusing anything but plain tensors.

    Raises:
        InputError: missing, truncated or corrupted file, or one that holds other objects.
    """
    import pickle

    import torch

    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise InputError("missing file: the checkpoint has no weights", path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unsafe content"
        raise InputError(f"refused to load: not plain tensors ({first_line})", path) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot read weights: truncated or corrupted file ({reason})", path) from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InputError("refused to load: expected a dictionary of tensors", path)
    return state
