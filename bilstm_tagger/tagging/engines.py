"""The network that turns a batch of sentences into tag scores, run by torch or by ONNX Runtime.

Tagging needs of a model only its *emissions*, ``(B, T, K)`` tag scores, and its CRF's scores
(:class:`~bilstm_tagger.model.crf_scores.CrfScores`); decoding and probabilities are numpy
(:mod:`bilstm_tagger.tagging.batches`). Two engines compute the emissions:

* ``torch``: the trained :class:`~bilstm_tagger.model.bilstm_crf.BiLstmCrf`, on the CPU or a GPU;
* ``onnx``: ``model.onnx`` (written by :mod:`bilstm_tagger.model.onnx_export`) on ONNX Runtime's CPU
  provider. Nothing on this path imports torch, which takes a second or more to import.
* ``onnx-int8``: ``model.int8.onnx``, the same graph with int8 weights (``tagger export --quantize
  int8``), the same way. Only when asked for: its tags may differ from the float model's.

:func:`load_network` picks one: ``auto`` takes ONNX Runtime when the model directory has a
``model.onnx`` made from its current files, the runtime is installed and the device is the
CPU, and torch otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.runtime import available_cores
from bilstm_tagger.base.schemes import allowed_transitions
from bilstm_tagger.model import checkpoint
from bilstm_tagger.model.config import ENGINES, ModelConfig, context_tokens
from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.model.trained import ONNX_FORMAT, load_trained_model, source_digest
from bilstm_tagger.model.vocab import EncodedBatch, Vocab

if TYPE_CHECKING:
    import torch

    from bilstm_tagger.model.bilstm_crf import BiLstmCrf


class EmissionNetwork(Protocol):
    """What tagging needs of a network: its engine's name, its CRF's scores, the emissions of a
    batch, and with document context the most tokens a window holds (else ``None``)."""

    engine: str
    crf: CrfScores
    context_tokens: int | None

    def emissions(self, batch: EncodedBatch) -> np.ndarray:
        """``(B, T, K)`` float32 tag scores; rows past a sentence's end are to be ignored."""
        ...


class TorchNetwork:
    """A :class:`~bilstm_tagger.model.bilstm_crf.BiLstmCrf` in evaluation mode on ``device``."""

    engine = "torch"

    def __init__(self, model: BiLstmCrf, device: torch.device | str = "cpu"):
        self.model = model.eval()
        self.device = device
        self.crf = CrfScores.from_crf(model.crf)
        self.context_tokens = context_tokens(model.config)

    def emissions(self, batch: EncodedBatch) -> np.ndarray:
        import torch

        with torch.inference_mode():
            scores = self.model.emissions(batch.to_torch(self.device))
        return scores.float().cpu().numpy()


class OnnxNetwork:
    """``model.onnx`` (or ``model.int8.onnx``: ``engine`` ``onnx-int8``) in an ONNX Runtime session on
    the CPU (made by :func:`load_onnx_network`)."""

    def __init__(
        self, path: str | os.PathLike, crf: CrfScores, session, engine: str = "onnx", context_tokens: int | None = None
    ):
        self.path = str(path)
        self.crf = crf
        self.session = session
        self.engine = engine
        self.context_tokens = context_tokens

    def emissions(self, batch: EncodedBatch) -> np.ndarray:
        inputs = {
            "word_ids": batch.word_ids,
            "char_ids": batch.char_ids,
            "char_index": batch.char_index,
            "lengths": batch.lengths,
        }
        return self.session.run(["emissions"], inputs)[0]


@dataclass(frozen=True)
class EngineChoice:
    """The engine a model runs on, and, when ``auto`` could not take ONNX Runtime, why not (for a note)."""

    engine: str
    reason: str | None = None


def choose_engine(directory: str | os.PathLike, engine: str = "auto", device: str = "cpu") -> EngineChoice:
    """The engine to run a model on (see the module docstring).

    Raises:
        InputError: an unknown engine, or ``onnx`` asked for where it cannot run.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r} (choose {', '.join(ENGINES)})")
    if engine == "torch":
        return EngineChoice("torch")
    asked = engine != "auto"  # onnx or onnx-int8: an error where it cannot run, not a fallback
    file = checkpoint.INT8_ONNX_FILE if engine == "onnx-int8" else checkpoint.ONNX_FILE
    if device != "cpu":
        if asked:
            raise InputError(f"--engine {engine} runs on the CPU only, not --device {device}")
        return EngineChoice("torch")
    if not (Path(directory) / file).is_file():
        if asked:
            raise InputError(f"--engine {engine}: no {file}; run {_export(engine)} {directory}", directory)
        return EngineChoice("torch")
    if importlib.util.find_spec("onnxruntime") is None:
        reason = "onnxruntime is not installed: pip install 'bilstm-tagger[onnx]' (make install includes it)"
        if asked:
            raise InputError(f"--engine {engine}: {reason}")
        return EngineChoice("torch", reason)
    return EngineChoice("onnx-int8" if engine == "onnx-int8" else "onnx")


def _export(engine: str) -> str:
    """The command that writes the graph an ONNX engine runs."""
    return "tagger export --quantize int8" if engine == "onnx-int8" else "tagger export"


def load_network(
    directory: str | os.PathLike,
    info: checkpoint.CheckpointInfo,
    vocab: Vocab,
    engine: str = "torch",
    device: str = "cpu",
    threads: int | None = None,
) -> EmissionNetwork:
    """The model's network on an engine that :func:`choose_engine` chose (``torch``, ``onnx`` or ``onnx-int8``).

    ``threads``: CPU threads for its operators (``None`` or 0: one per available core).

    Raises:
        InputError: a damaged or mismatched file, or a ``model.onnx`` made from another model.
    """
    if engine in ("onnx", "onnx-int8"):
        return load_onnx_network(directory, info, vocab, threads, quantized=engine == "onnx-int8")
    return load_torch_network(directory, info, vocab, device, threads)


def load_onnx_network(
    directory: str | os.PathLike,
    info: checkpoint.CheckpointInfo,
    vocab: Vocab,
    threads: int | None = None,
    quantized: bool = False,
) -> OnnxNetwork:
    """``model.onnx`` (``model.int8.onnx`` if ``quantized``) in an ONNX Runtime session, checked against
    the checkpoint it was made from."""
    import onnxruntime

    path = Path(directory) / (checkpoint.INT8_ONNX_FILE if quantized else checkpoint.ONNX_FILE)
    export = _export("onnx-int8" if quantized else "onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or available_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its warnings are not the user's business
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own exception types, not OSError
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot load: {reason}; run {export} {directory} again", path) from None
    metadata = session.get_modelmeta().custom_metadata_map
    if metadata.get("format") != ONNX_FORMAT:
        raise InputError(f"not a bilstm-tagger ONNX model (format {metadata.get('format')!r})", path)
    if metadata.get("source_sha256") != source_digest(directory, info):
        raise InputError(
            f"made from another {checkpoint.WEIGHTS_FILE}, {checkpoint.VOCAB_FILE} or {checkpoint.CONFIG_FILE}; "
            f"run {export} {directory} again",
            path,
        )
    tags = vocab.tags.itos
    crf = CrfScores.from_lists(json.loads(metadata["crf"]), allowed_transitions(tags, info.tag_scheme))
    config = ModelConfig.from_json(info.model)
    return OnnxNetwork(path, crf, session, "onnx-int8" if quantized else "onnx", context_tokens(config))


def load_torch_network(
    directory: str | os.PathLike,
    info: checkpoint.CheckpointInfo,
    vocab: Vocab,
    device: str = "cpu",
    threads: int | None = None,
) -> TorchNetwork:
    """The trained :class:`~bilstm_tagger.model.bilstm_crf.BiLstmCrf` of a model directory, on ``device``."""
    from bilstm_tagger.base.runtime import resolve_device, set_threads

    set_threads(threads)
    resolved = resolve_device(device)
    return TorchNetwork(load_trained_model(directory, info, vocab).to(resolved), resolved)
