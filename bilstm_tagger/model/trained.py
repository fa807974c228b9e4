"""A trained model read back from its directory, for either engine: its settings checked, its weights
loaded, and the digest that ties a ``model.onnx`` to the files it was made from.

The tagging engines (:mod:`bilstm_tagger.tagging.engines`) and the ONNX writer
(:mod:`bilstm_tagger.model.onnx_export`) both read a model this way. Importing this module does
not import torch; :func:`load_trained_model` does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model import checkpoint
from bilstm_tagger.model.config import ModelConfig
from bilstm_tagger.model.vocab import Vocab

if TYPE_CHECKING:
    from bilstm_tagger.model.bilstm_crf import BiLstmCrf

ONNX_FORMAT = "bilstm-tagger-onnx/1"  # the metadata's format name: what onnx_export writes, the ONNX engine reads


def check_model_config(directory: str | os.PathLike, info: checkpoint.CheckpointInfo) -> ModelConfig:
    """The model's sizes of ``config.json``, checked whatever engine runs the model.

    Raises:
        InputError: an unknown or invalid setting (naming ``config.json``).
    """
    try:
        return ModelConfig.from_json(info.model)
    except (TypeError, InputError) as error:
        message = error.message if isinstance(error, InputError) else str(error)
        raise InputError(f"bad model configuration: {message}", Path(directory) / checkpoint.CONFIG_FILE) from None


def source_digest(directory: str | os.PathLike, info: checkpoint.CheckpointInfo) -> str:
    """The SHA-256 of what ``model.onnx`` is made from: ``model.pt``, ``vocab.json`` and the model's
    sizes and tag scheme in ``config.json`` (``info``). The file records it, and is not used once it differs."""
    digest = hashlib.sha256(json.dumps([info.model, info.tag_scheme], sort_keys=True).encode())
    for name in (checkpoint.WEIGHTS_FILE, checkpoint.VOCAB_FILE):
        path = Path(directory) / name
        try:
            digest.update(path.read_bytes())
        except OSError as error:
            raise InputError(f"cannot read: {error.strerror}", path) from None
    return digest.hexdigest()


def load_trained_model(directory: str | os.PathLike, info: checkpoint.CheckpointInfo, vocab: Vocab) -> BiLstmCrf:
    """The trained :class:`~bilstm_tagger.model.bilstm_crf.BiLstmCrf` of a model directory, on the CPU, with
    its pretrained vectors.

    Raises:
        InputError: a configuration this version cannot build, or weights that do not match it.
    """
    import torch

    from bilstm_tagger.model.bilstm_crf import build_model

    config = check_model_config(directory, info)
    try:
        model = build_model(config, vocab, info.tag_scheme)
    except InputError as error:  # an encoder this version does not have
        raise InputError(
            f"bad model configuration: {error.message}", Path(directory) / checkpoint.CONFIG_FILE
        ) from None
    state = checkpoint.load_weights(directory, device="cpu")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[0]
        raise InputError(
            f"weights do not match {checkpoint.CONFIG_FILE} ({reason})",
            os.path.join(directory, checkpoint.WEIGHTS_FILE),
        ) from None
    if vocab.extra_words:
        vectors = checkpoint.load_extra_word_vectors(directory)
        if tuple(vectors.shape) != tuple(model.extra_word_vectors.shape):
            raise InputError(
                f"pretrained vectors of shape {tuple(vectors.shape)} do not match vocab.json",
                os.path.join(directory, checkpoint.PRETRAINED_FILE),
            )
        model.extra_word_vectors = vectors.to(torch.float16)
    return model
