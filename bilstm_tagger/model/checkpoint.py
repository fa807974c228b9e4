"""Checkpoints: one directory per model, written atomically, loaded without running code.

Layout of ``MODEL_DIR``:

* ``config.json``: format version, package version, model sizes, tag schemes, reader and
  training settings, the size of the training and dev data (plain JSON);
* ``vocab.json``: the word, character and tag vocabularies (plain JSON);
* ``model.pt``: the weights, a ``state_dict`` of plain tensors, read back with
  ``torch.load(weights_only=True)``, which refuses any pickled object that is not a tensor;
* ``pretrained.npy`` (models trained with ``--embeddings``): float16 vectors of the pretrained
  words that do not occur in the training data, so that the model knows them at tagging time. A
  plain NumPy array file (read with ``allow_pickle=False``) whose data starts at a page boundary:
  ``model.onnx`` points into it instead of holding a second copy, and ONNX Runtime can map it.
  Models written before it was introduced hold them in ``pretrained.pt`` (one float16 tensor), still read;
* ``calibration.json`` (optional): the temperature that makes the CRF's probabilities calibrated,
  fitted on the dev set when training ends or by ``tagger calibrate`` (:mod:`bilstm_tagger.training.calibration`);
  without it the temperature is 1;
* ``model.onnx`` (optional): the network from characters and words to tag scores, for ONNX
  Runtime, written when training ends and by ``tagger export`` (:mod:`bilstm_tagger.model.onnx_export`);
  it records the SHA-256 of the ``model.pt``, ``vocab.json`` and model settings it was made from, and is
  not used once they changed;
* ``model.int8.onnx`` (optional): the same network with its LSTM and projection weights quantized
  to int8, written by ``tagger export --quantize int8`` and used only with ``--engine onnx-int8``;
* ``metrics.jsonl``: one JSON object per training epoch (written by :class:`~bilstm_tagger.training.run_directory.RunDirectory`);
* ``resume.pt``: while training runs, the state to continue it from the last completed epoch
  (weights, optimiser, random-number and early-stopping state); removed when training ends.

Every file is written to a temporary file in the same directory, flushed to disk, then renamed
over the old one, so an interrupted save leaves the previous checkpoint whole.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.files import replace_all
from bilstm_tagger.base.schemes import MODEL_SCHEMES, SCHEMES
from bilstm_tagger.version import __version__

FORMAT_NAME = "bilstm-tagger"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "model.pt"
PRETRAINED_FILE = "pretrained.npy"
LEGACY_PRETRAINED_FILE = "pretrained.pt"  # what older models hold instead
PAGE_SIZE = 4096  # pretrained.npy's data starts at a multiple of it
METRICS_FILE = "metrics.jsonl"
RESUME_FILE = "resume.pt"
CALIBRATION_FILE = "calibration.json"
ONNX_FILE = "model.onnx"
INT8_ONNX_FILE = "model.int8.onnx"


@dataclass
class CheckpointInfo:
    """Everything in a checkpoint except the weights.

    Attributes:
        model: :class:`~bilstm_tagger.model.config.ModelConfig` fields (vocabulary sizes come from ``vocab``).
        vocab: :meth:`~bilstm_tagger.model.vocab.Vocab.to_json` output.
        tag_scheme: the scheme the model predicts in (``iobes``, ``iob2`` or ``plain``).
        data_scheme: the scheme of the training data; predictions are written back in it.
        corpus: how the training corpus was read (format, word and tag columns).
        training: the training settings, for the record.
        data: the size of the training and dev data (sentences, tokens), for the record.
        package_version: the version of bilstm-tagger that wrote the checkpoint.
    """

    model: dict
    vocab: dict
    tag_scheme: str
    data_scheme: str
    corpus: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
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
            "data": self.data,
        }


def _json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def save_checkpoint(
    directory: str | os.PathLike, info: CheckpointInfo, state_dict: dict, extra_word_vectors=None
) -> None:
    """Write a whole checkpoint: ``model.pt``, ``pretrained.npy`` (if any), ``vocab.json``, ``config.json``.

    All are written before any replaces an older file, so a failed save (disk full) leaves the
    previous checkpoint whole. ``extra_word_vectors`` (``(N, word_dim)`` float16) are the frozen
    pretrained vectors of words absent from the training data, listed as ``extra_words`` in ``vocab.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        directory / WEIGHTS_FILE: _tensor_bytes({key: value.detach().cpu() for key, value in state_dict.items()})
    }
    if extra_word_vectors is not None and len(extra_word_vectors):
        contents[directory / PRETRAINED_FILE] = vectors_bytes(extra_word_vectors.detach().cpu().numpy())
    contents[directory / VOCAB_FILE] = (json.dumps(info.vocab, ensure_ascii=False) + "\n").encode("utf-8")
    contents[directory / CONFIG_FILE] = _json_bytes(info.config_json())
    _write(contents)


def save_weights(directory: str | os.PathLike, state_dict: dict) -> None:
    """Replace ``model.pt`` of an existing checkpoint with a model's ``state_dict`` (tensors only)."""
    weights = {key: value.detach().cpu() for key, value in state_dict.items()}
    _write({Path(directory) / WEIGHTS_FILE: _tensor_bytes(weights)})


def save_resume_state(directory: str | os.PathLike, state: dict) -> None:
    """Write ``resume.pt``: tensors and plain Python data (numbers, strings, lists, dicts) only."""
    _write({Path(directory) / RESUME_FILE: _tensor_bytes(state)})


def _tensor_bytes(data: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


def _write(contents: dict[Path, bytes]) -> None:
    try:
        replace_all(contents)
    except OSError as error:
        names = ", ".join(str(path) for path in contents)
        raise OSError(
            error.errno, f"cannot write {names}: {error.strerror}; the previous checkpoint there is unchanged"
        ) from None


def save_calibration(directory: str | os.PathLike, calibration: dict) -> None:
    """Write ``calibration.json``: ``{"temperature": T, ...}`` and how it was fitted."""
    _write({Path(directory) / CALIBRATION_FILE: _json_bytes(calibration)})


def load_temperature(directory: str | os.PathLike) -> float:
    """The temperature of ``calibration.json``, or 1.0 without one.

    Raises:
        InputError: the file exists but holds no positive finite ``temperature``.
    """
    calibration = load_calibration(directory)
    return 1.0 if calibration is None else float(calibration["temperature"])


def load_calibration(directory: str | os.PathLike) -> dict | None:
    """``calibration.json`` as written by :func:`save_calibration`, or ``None`` without one.

    Raises:
        InputError: the file exists but holds no positive finite ``temperature``.
    """
    path = Path(directory) / CALIBRATION_FILE
    if not path.exists():
        return None
    data = _read_json(path)
    temperature = data.get("temperature") if isinstance(data, dict) else None
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not 0 < temperature < float("inf"):
        raise InputError(f"no positive number in 'temperature': {temperature!r}", path)
    return data


def load_resume_state(directory: str | os.PathLike) -> dict:
    """Read ``resume.pt`` safely (see :func:`load_weights`).

    Raises:
        InputError: no unfinished run in ``directory``, or a damaged file.
    """
    directory = _model_directory(directory)
    path = directory / RESUME_FILE
    if not path.is_file():
        raise InputError(f"nothing to resume: no {RESUME_FILE} (training finished or never started)", directory)
    state = _load_safely(path)
    expected = ("epoch", "best_score", "best_epoch", "elapsed", "config", "fingerprint", "model", "optimizer")
    if not isinstance(state, dict) or any(key not in state for key in expected):
        raise InputError("not a bilstm-tagger resume state", path)
    return state


def _model_directory(directory: str | os.PathLike) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("no such model directory", directory)
    return directory


def load_info(directory: str | os.PathLike) -> CheckpointInfo:
    """Read and check ``config.json`` and ``vocab.json``.

    Raises:
        InputError: not a model directory, unreadable JSON, or an incompatible format version.
    """
    directory = _model_directory(directory)
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
    missing = [key for key in ("words", "chars", "tags") if not isinstance(vocab, dict) or key not in vocab]
    if missing:
        raise InputError(f"incomplete vocabulary: no {', '.join(missing)}", directory / VOCAB_FILE)
    try:
        info = CheckpointInfo(
            model=dict(config["model"]),
            vocab={key: list(vocab[key]) for key in ("words", "chars", "tags", "extra_words") if key in vocab},
            tag_scheme=str(config["tag_scheme"]),
            data_scheme=str(config["data_scheme"]),
            corpus=dict(config.get("corpus", {})),
            training=dict(config.get("training", {})),
            data=dict(config.get("data", {})),
            package_version=str(config.get("package_version", "?")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"incomplete checkpoint configuration: missing or bad {error}", config_path) from None
    if info.tag_scheme not in MODEL_SCHEMES or info.data_scheme not in SCHEMES:
        raise InputError(f"unknown tag scheme {info.tag_scheme!r} / {info.data_scheme!r}", config_path)
    return info


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
    import torch

    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise InputError("missing file: the checkpoint has no weights", path)
    state = _load_safely(path, device)
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InputError("refused to load: expected a dictionary of tensors", path)
    return state


def load_extra_word_vectors(directory: str | os.PathLike):
    """The frozen pretrained vectors of ``pretrained.npy`` (or of an older model's ``pretrained.pt``):
    a ``(N, D)`` float16 tensor.

    Raises:
        InputError: missing, truncated or corrupted file, or one that holds something else.
    """
    import numpy as np
    import torch

    path = Path(directory) / PRETRAINED_FILE
    legacy = Path(directory) / LEGACY_PRETRAINED_FILE
    if not path.is_file() and legacy.is_file():
        data = _load_safely(legacy)
        if not isinstance(data, dict) or not isinstance(data.get("vectors"), torch.Tensor):
            raise InputError("refused to load: expected a tensor of vectors", legacy)
        return data["vectors"]
    if not path.is_file():
        raise InputError("missing file: the checkpoint's vocabulary names pretrained words", path)
    vectors, _ = read_vectors(path)
    return torch.from_numpy(np.array(vectors))  # a copy: the mapped file is read-only


def move_legacy_vectors(directory: str | os.PathLike) -> bool:
    """Rewrite an older model's ``pretrained.pt`` as ``pretrained.npy`` (the same float16 values), then remove
    it, so that ``model.onnx`` can share the vectors. Returns whether there was one to move."""
    directory = Path(directory)
    legacy = directory / LEGACY_PRETRAINED_FILE
    if (directory / PRETRAINED_FILE).exists() or not legacy.is_file():
        return False
    _write({directory / PRETRAINED_FILE: vectors_bytes(load_extra_word_vectors(directory).numpy())})
    legacy.unlink()
    return True


def read_vectors(path: str | os.PathLike):
    """``pretrained.npy`` mapped into memory, and where its data starts in the file: ``((N, D) float16 array, offset)``.

    Raises:
        InputError: not a 2-dimensional float16 NumPy array file, or a truncated one.
    """
    import numpy as np

    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read: truncated or corrupted file ({_first_line(error)})", path) from None
    if vectors.dtype != np.float16 or vectors.ndim != 2:
        raise InputError(f"expected a 2-dimensional float16 array, found {vectors.dtype} {vectors.shape}", path)
    return vectors, vectors.offset


def vectors_bytes(vectors) -> bytes:
    """A float16 ``(N, D)`` array as a ``.npy`` file whose header is padded to :data:`PAGE_SIZE` bytes
    (spaces before its newline, which the format allows), so that the data starts at a page boundary."""
    import numpy as np

    header = np.lib.format.header_data_from_array_1_0(np.ascontiguousarray(vectors, dtype=np.float16))
    text = repr({key: header[key] for key in sorted(header)}).encode("latin1")
    prefix = np.lib.format.magic(1, 0)
    room = PAGE_SIZE - len(prefix) - 2  # 2: the header's length, a little-endian uint16
    return prefix + room.to_bytes(2, "little") + text.ljust(room - 1) + b"\n" + vectors.astype(np.float16).tobytes()


def _load_safely(path: Path, device: str = "cpu"):
    """``torch.load(weights_only=True)``: tensors and plain data only; no pickled code ever runs."""
    import pickle
    import warnings

    import torch

    try:
        # A foreign pickle can make torch warn (about its protocol, say) before it refuses the file:
        # the refusal below is the one line the user gets.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise InputError(f"refused to load: not plain tensors ({_first_line(error)})", path) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise InputError(f"cannot read: truncated or corrupted file ({_first_line(error)})", path) from None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
