"""``model.onnx``: the network from characters and words to tag scores, for ONNX Runtime.

The graph is written node by node from the trained weights (``onnx.helper``), not traced: each
part of :class:`~bilstm_tagger.model.bilstm_crf.BiLstmCrf` in evaluation mode maps onto one or a few ONNX
operators. Every cell has its ONNX operator: ``LSTM`` (with its ``P`` input for the peephole
cell) and ``GRU`` (``linear_before_reset``, as torch's); both take each sentence's length, as
``pack_padded_sequence`` does, so the backward direction starts at each sentence's own last
token. The character LSTM is an ``LSTM`` over each word's characters, whose ``Y_h`` output is
each direction's last state. Dropout and the language model's head are not in the graph: they
do nothing when tagging. The tests hold its emissions equal to torch's within 1e-5.

Inputs (int64): ``word_ids`` ``(B, T)``, ``char_ids`` ``(U, L)``, ``char_index`` ``(B, T)`` and
``lengths`` ``(B,)``, as :meth:`~bilstm_tagger.model.vocab.Vocab.arrays` gives them; output:
``emissions`` ``(B, T, K)`` float32. The file also holds, as metadata, the CRF's scores (decoding
is numpy: :mod:`bilstm_tagger.model.crf_scores`) and the SHA-256 of what it was made from (:func:`~bilstm_tagger.model.trained.source_digest`).
The pretrained vectors (400,000 × 50 with GloVe: 40 MB) are not in it: the graph names them in the
model directory's ``pretrained.npy`` (ONNX external data), which torch reads too, so a model
directory holds them once. ``model.int8.onnx`` (:func:`quantize_int8`) shares them the same way.

Writing it needs the ``onnx`` package (the ``onnx`` extra), and torch to read the weights.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.files import replace_all
from bilstm_tagger.base.runtime import set_threads
from bilstm_tagger.model import checkpoint
from bilstm_tagger.model.config import QUANTIZATIONS
from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.model.trained import ONNX_FORMAT, load_trained_model, source_digest
from bilstm_tagger.model.vocab import Vocab
from bilstm_tagger.version import __version__

if TYPE_CHECKING:
    from bilstm_tagger.model.bilstm_crf import BiLstmCrf

OPSET = 17
IR_VERSION = 8  # the oldest that holds opset 17: any ONNX Runtime since 1.14 reads the file
# torch orders an LSTM's gates (input, forget, cell, output), ONNX (input, output, forget, cell);
# a GRU's torch (reset, update, new), ONNX (update, reset, hidden).
_ONNX_LSTM_GATE_ORDER = [0, 3, 1, 2]
_ONNX_GRU_GATE_ORDER = [1, 0, 2]


@dataclass(frozen=True)
class ExportResult:
    """Where ``model.onnx`` was written and how big it is."""

    path: str
    bytes: int


def export_model(directory: str | os.PathLike, quantize: str | None = None) -> list[ExportResult]:
    """Write ``MODEL_DIR/model.onnx`` from the model's current weights (replacing any older one), and
    with ``quantize="int8"`` also ``model.int8.onnx`` (:func:`quantize_int8`); one result per file written.

    The graph shares the pretrained vectors of ``pretrained.npy``; an older model's ``pretrained.pt``
    is rewritten as one first (:func:`~bilstm_tagger.model.checkpoint.move_legacy_vectors`).

    Raises:
        InputError: ``onnx`` not installed, an unknown quantization, or the model directory does not load.
    """
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise InputError(f"unknown quantization {quantize!r} (choose {', '.join(QUANTIZATIONS)})")
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise InputError(
            "exporting to ONNX needs the onnx package: pip install 'bilstm-tagger[onnx]' (make install includes it)"
        ) from None
    info = checkpoint.load_info(directory)
    vocab = Vocab.from_json(info.vocab)
    set_threads(1)
    model = load_trained_model(directory, info, vocab)
    checkpoint.move_legacy_vectors(directory)
    metadata = {
        "format": ONNX_FORMAT,
        "source_sha256": source_digest(directory, info),
        "crf": json.dumps(CrfScores.from_crf(model.crf).to_lists()),
        "tags": json.dumps(vocab.tags.itos),
        "package_version": __version__,
    }
    vectors_path = Path(directory) / checkpoint.PRETRAINED_FILE
    shared = None
    if len(model.extra_word_vectors) and vectors_path.is_file():
        shared = SharedVectors(checkpoint.PRETRAINED_FILE, checkpoint.read_vectors(vectors_path)[1])
    float_model = build_onnx(model, metadata, shared)
    results = [_write_model(Path(directory) / checkpoint.ONNX_FILE, float_model, shared)]
    if quantize == "int8":
        quantized = quantize_int8(float_model, directory)
        results.append(_write_model(Path(directory) / checkpoint.INT8_ONNX_FILE, quantized, shared))
    return results


def quantize_int8(float_model, directory: str | os.PathLike):
    """The graph with ONNX Runtime's dynamic int8 quantization of its ``LSTM`` and ``MatMul`` nodes.

    Their weights are stored as int8 with a scale per tensor, and each input is quantized as it
    comes (``DynamicQuantizeLSTM``, ``MatMulInteger``); the character tables, the word vectors and
    the CRF stay float. ``directory`` holds any file the graph's vectors are shared from.
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    properties = {entry.key: entry.value for entry in float_model.metadata_props}
    shared = {tensor.name: tensor for tensor in float_model.graph.initializer if tensor.external_data}
    inline = onnx.ModelProto()
    inline.CopyFrom(float_model)
    for tensor in inline.graph.initializer:  # the quantizer reads the model whole: the vectors in it, for now
        if tensor.name in shared:
            vectors, _ = checkpoint.read_vectors(Path(directory) / tensor.external_data[0].value)
            tensor.CopyFrom(onnx.numpy_helper.from_array(np.array(vectors), tensor.name))
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "int8.onnx"
        logging.disable(logging.WARNING)  # its advice to pre-process the graph is for convolutional networks
        try:
            quantize_dynamic(inline, target, op_types_to_quantize=["LSTM", "MatMul"], weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        quantized = onnx.load(str(target))
    for tensor in quantized.graph.initializer:  # and back to the file they are shared from
        if tensor.name in shared:
            tensor.CopyFrom(shared[tensor.name])
    onnx.helper.set_model_props(quantized, {**properties, "quantization": "int8"})
    return quantized


def _write_model(path: Path, onnx_model, shared: SharedVectors | None) -> ExportResult:
    """Write an ONNX model atomically; one that shares the vectors' file is checked where it lies."""
    data = onnx_model.SerializeToString()
    try:
        replace_all({path: data})
    except OSError as error:
        raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from None
    if shared is not None:
        from onnx import checker

        checker.check_model(str(path))  # by its path, so that the vectors' file is found next to it
    return ExportResult(str(path), len(data))


@dataclass(frozen=True)
class SharedVectors:
    """Where ``model.onnx`` finds the pretrained vectors instead of holding them: a file of the model
    directory (``pretrained.npy``) and the offset of its float16 data."""

    file: str
    offset: int


def build_onnx(model: BiLstmCrf, metadata: dict[str, str] | None = None, shared: SharedVectors | None = None):
    """The ONNX model (an ``onnx.ModelProto``) of a network's emissions, with ``metadata`` as its properties.

    ``shared``: the pretrained vectors stay in their file, which the graph names (ONNX's external
    data); without it, the graph holds them.
    """
    from onnx import TensorProto, checker, helper, numpy_helper

    nodes = []
    initializers = []

    def constant(name: str, array: np.ndarray, external: SharedVectors | None = None) -> str:
        if external is None:
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
            return name
        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", external.file), ("offset", external.offset), ("length", array.nbytes)):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
        initializers.append(tensor)
        return name

    def node(op: str, inputs: list[str], output: str, output_index: int = 0, **attributes) -> str:
        """Add a node; ``output`` names its output number ``output_index`` (the others are left unnamed)."""
        outputs = [""] * output_index + [output]
        nodes.append(helper.make_node(op, inputs, outputs, name=output, **attributes))
        return output

    def weight(tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    config = model.config
    words = _word_vectors(model, node, constant, weight, shared)  # (B, T, word_dim)
    if config.char_encoder == "cnn":
        word_chars = _char_cnn(model, node, constant, weight)  # (U, char_filters)
    else:
        word_chars = _char_lstm(model, node, constant, weight)  # (U, char_filters)
    chars = node("Gather", [word_chars, "char_index"], "token_char_vectors")  # (B, T, char_filters)
    features = node("Concat", [words, chars], "features", axis=2)
    # The bidirectional encoder, time-major as ONNX's LSTM and GRU want it: (T, B, features).
    layer_input = node("Transpose", [features], "features_time_major", perm=[1, 0, 2])
    lengths = node("Cast", ["lengths"], "lengths_int32", to=TensorProto.INT32)
    keep_two_dims = constant("shape_keep_2", np.array([0, 0, -1], dtype=np.int64))
    for layer in range(config.num_layers):
        output = _encoder_layer(model, layer, layer_input, lengths, node, constant, weight)  # (T, 2, B, hidden)
        batch_major_directions = node(
            "Transpose", [output], f"encoder_{layer}_y_t", perm=[0, 2, 1, 3]
        )  # (T, B, 2, hidden)
        layer_input = node(
            "Reshape", [batch_major_directions, keep_two_dims], f"encoder_{layer}_out"
        )  # (T, B, 2 * hidden): forward then backward, as torch concatenates them
    encoded = node("Transpose", [layer_input], "encoded", perm=[1, 0, 2])  # (B, T, 2 * hidden)
    if config.mentions:
        encoded = _mentions(model, encoded, node, constant, weight)  # (B, T, 4 * hidden)
    projection = model.projection
    scores = node("MatMul", [encoded, constant("projection_weight", weight(projection.weight).T)], "projected")
    node("Add", [scores, constant("projection_bias", weight(projection.bias))], "emissions")

    int64_input = TensorProto.INT64
    graph = helper.make_graph(
        nodes,
        "bilstm_tagger_emissions",
        [
            helper.make_tensor_value_info("word_ids", int64_input, ["batch", "tokens"]),
            helper.make_tensor_value_info("char_ids", int64_input, ["words", "characters"]),
            helper.make_tensor_value_info("char_index", int64_input, ["batch", "tokens"]),
            helper.make_tensor_value_info("lengths", int64_input, ["batch"]),
        ],
        [helper.make_tensor_value_info("emissions", TensorProto.FLOAT, ["batch", "tokens", "tags"])],
        initializer=initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="bilstm-tagger",
        producer_version=__version__,
    )
    onnx_model.ir_version = IR_VERSION
    helper.set_model_props(onnx_model, metadata or {})
    if shared is None:  # with shared vectors, the file is checked where it lies (export_model)
        checker.check_model(onnx_model)
    return onnx_model


def _mentions(model: BiLstmCrf, encoded: str, node, constant, weight) -> str:
    """:class:`~bilstm_tagger.model.encoders.MentionAttention` on ``encoded`` ``(B, T, D)``, concatenated to it: ``(B, T, 2D)``."""
    from onnx import TensorProto

    attention = model.mentions
    one = constant("mentions_one", np.array([1], dtype=np.int64))
    steps = node("Gather", [node("Shape", ["char_index"], "mentions_shape"), one], "mentions_steps")  # (1,)
    step_count = node("Squeeze", [steps], "mentions_step_count")
    positions = node(
        "Range",
        [
            constant("mentions_zero", np.array(0, dtype=np.int64)),
            step_count,
            constant("mentions_step", np.array(1, dtype=np.int64)),
        ],
        "mentions_positions",
    )  # (T,)
    column = node("Unsqueeze", [positions, one], "mentions_positions_column")  # (T, 1)
    other = node("Not", [node("Equal", [column, positions], "mentions_same_position")], "mentions_other")  # (T, T)
    real = node("Less", [positions, node("Unsqueeze", ["lengths", one], "mentions_lengths")], "mentions_real")  # (B, T)
    two = constant("mentions_two", np.array([2], dtype=np.int64))
    word_rows = node("Unsqueeze", ["char_index", two], "mentions_word_rows")  # (B, T, 1)
    word_columns = node("Unsqueeze", ["char_index", one], "mentions_word_columns")  # (B, 1, T)
    same_word = node("Equal", [word_rows, word_columns], "mentions_same_word")  # (B, T, T)
    real_columns = node("Unsqueeze", [real, one], "mentions_real_columns")  # (B, 1, T)
    same = node("And", [node("And", [same_word, real_columns], "mentions_same_real"), other], "mentions_same")
    query = node(
        "MatMul", [encoded, constant("mentions_query", weight(attention.query.weight).T)], "mentions_query_out"
    )
    keys = node("Transpose", [encoded], "mentions_keys", perm=[0, 2, 1])  # (B, D, T)
    scores = node("MatMul", [query, keys], "mentions_raw_scores")
    scores = node(
        "Mul", [scores, constant("mentions_scale", np.array(attention.scale, dtype=np.float32))], "mentions_scores"
    )
    masked = node(
        "Where", [same, scores, constant("mentions_far", np.array(-1e4, dtype=np.float32))], "mentions_masked"
    )
    weights = node("Softmax", [masked], "mentions_softmax", axis=-1)
    weights = node(
        "Mul", [weights, node("Cast", [same], "mentions_same_float", to=TensorProto.FLOAT)], "mentions_weights"
    )
    read = node("MatMul", [weights, encoded], "mentions_read")  # (B, T, D)
    return node("Concat", [encoded, read], "encoded_with_mentions", axis=2)


def _char_cnn(model: BiLstmCrf, node, constant, weight) -> str:
    """Nodes of :class:`~bilstm_tagger.model.encoders.CharCNN`: ``char_ids`` ``(U, L)`` → ``(U, char_filters)``.

    Embedding then convolving is linear in each character's one-hot: with tables[w] = embedding @
    kernel[:, :, w], the convolution at position l is the sum over w of tables[w][char at l + w - half]
    (row 0, padding, is zero). So the graph looks characters up in precomputed tables and adds them:
    ONNX Runtime's Conv runs a small product per word, several times slower here. In the centre table,
    padding's row is -inf instead, which leaves padding positions out of the max as torch's mask does.
    """
    char_cnn = model.char_cnn
    window = model.config.char_window
    half = window // 2
    embedding = weight(char_cnn.embedding.weight).astype(np.float64)  # (num_chars, char_dim)
    kernel = weight(char_cnn.conv.weight).astype(np.float64)  # (filters, char_dim, window)
    padded = node(
        "Pad", ["char_ids", constant("char_pads", np.array([0, half, 0, half], dtype=np.int64))], "char_ids_padded"
    )
    axis_1 = constant("axis_1", np.array([1], dtype=np.int64))
    terms = []
    for offset in range(window):  # the characters at l + offset - half, for each position l
        table = (embedding @ kernel[:, :, offset].T).astype(np.float32)  # (num_chars, filters)
        if offset == half:
            table[0] = -np.inf
        end = offset - 2 * half  # from the end of the padded row; 0 means up to its end
        ids = node(
            "Slice",
            [
                padded,
                constant(f"window_start_{offset}", np.array([offset], dtype=np.int64)),
                constant(
                    f"window_end_{offset}", np.array([end if end < 0 else np.iinfo(np.int64).max], dtype=np.int64)
                ),
                axis_1,
            ],
            f"char_ids_shifted_{offset}",
        )  # (U, L)
        terms.append(node("Gather", [constant(f"char_conv_table_{offset}", table), ids], f"char_conv_term_{offset}"))
    convolved = terms[0]
    for offset, term in enumerate(terms[1:], start=1):  # Add, not Sum: ONNX Runtime's Sum is slower
        convolved = node("Add", [convolved, term], f"chars_convolved_{offset}")  # (U, L, filters), -inf at padding
    word_chars = node("ReduceMax", [convolved], "word_char_maxima", axes=[1], keepdims=0)  # (U, filters)
    word_chars = node("Add", [word_chars, constant("char_conv_bias", weight(char_cnn.conv.bias))], "word_char_vectors")
    return word_chars


def _char_lstm(model: BiLstmCrf, node, constant, weight) -> str:
    """Nodes of :class:`~bilstm_tagger.model.encoders.CharLstm`: ``char_ids`` ``(U, L)`` → ``(U, char_filters)``.

    ONNX's LSTM gives each direction's last output (``Y_h``) at each word's own length: the
    forward direction's after the last character, the backward one's after the first.
    """
    from onnx import TensorProto

    char_lstm = model.char_lstm
    embedded = node(
        "Gather", [constant("char_embedding", weight(char_lstm.embedding.weight)), "char_ids"], "char_vectors"
    )
    time_major = node("Transpose", [embedded], "char_vectors_time_major", perm=[1, 0, 2])  # (L, U, char_dim)
    is_char = node(
        "Not",
        [node("Equal", ["char_ids", constant("padding_char", np.array(0, dtype=np.int64))], "is_padding_char")],
        "is_char",
    )
    counts = node(
        "ReduceSum",
        [
            node("Cast", [is_char], "is_char_int32", to=TensorProto.INT32),
            constant("axis_1_of_2", np.array([1], dtype=np.int64)),
        ],
        "char_counts",
        keepdims=0,
    )
    lengths = node(
        "Max", [counts, constant("one_int32", np.array(1, dtype=np.int32))], "word_lengths"
    )  # (U,), as torch's clamp
    weights, recurrent, biases = _rnn_layer_weights(char_lstm.lstm, 0, weight, _ONNX_LSTM_GATE_ORDER)
    inputs = [
        time_major,
        constant("char_lstm_w", weights),
        constant("char_lstm_r", recurrent),
        constant("char_lstm_b", biases),
        lengths,
    ]
    last = node(
        "LSTM",
        inputs,
        "char_lstm_y_h",
        output_index=1,
        direction="bidirectional",
        hidden_size=char_lstm.lstm.hidden_size,
    )  # (2, U, H)
    word_major = node("Transpose", [last], "char_lstm_last", perm=[1, 0, 2])  # (U, 2, H)
    return node(
        "Reshape", [word_major, constant("shape_keep_1", np.array([0, -1], dtype=np.int64))], "word_char_vectors"
    )


def _encoder_layer(model: BiLstmCrf, layer: int, layer_input: str, lengths: str, node, constant, weight) -> str:
    """One layer of the word-level encoder, whatever its cell: ``(T, B, in)`` → ``(T, 2, B, hidden)``."""
    config, encoder = model.config, model.lstm
    prefix = f"encoder_{layer}"
    gate_order = _ONNX_GRU_GATE_ORDER if config.cell == "gru" else _ONNX_LSTM_GATE_ORDER
    weights, recurrent, biases = _rnn_layer_weights(encoder, layer, weight, gate_order)
    inputs = [layer_input, constant(f"{prefix}_w", weights), constant(f"{prefix}_r", recurrent)]
    inputs += [constant(f"{prefix}_b", biases), lengths]
    options = {"direction": "bidirectional", "hidden_size": config.hidden_size}
    if config.cell == "gru":
        # linear_before_reset: the reset gate scales the recurrent product and its bias, as torch's GRU does.
        return node("GRU", inputs, f"{prefix}_y", linear_before_reset=1, **options)
    if config.cell == "peephole":
        # ONNX's P, (2, 3H), holds the input, output and forget gates' peepholes; ours are input, forget, output.
        input_gate, forget_gate, output_gate = np.split(weight(encoder.layer_weights(layer)["peephole"]), 3, axis=1)
        inputs += ["", "", constant(f"{prefix}_p", np.concatenate([input_gate, output_gate, forget_gate], axis=1))]
    return node("LSTM", inputs, f"{prefix}_y", **options)


def _word_vectors(model: BiLstmCrf, node, constant, weight, shared: SharedVectors | None) -> str:
    """Nodes of :meth:`BiLstmCrf.embed_words`: trained embeddings, or the frozen float16 pretrained vectors
    (in the graph, or in the file ``shared`` names)."""
    table = constant("word_embedding", weight(model.word_embedding.weight))
    extra = model.extra_word_vectors
    if extra.size(0) == 0:
        return node("Gather", [table, "word_ids"], "word_vectors")
    trained_words = constant("trained_words", np.array(model.word_embedding.num_embeddings, dtype=np.int64))
    is_extra = node("GreaterOrEqual", ["word_ids", trained_words], "is_extra_word")
    unknown = constant("unknown_word", np.array(1, dtype=np.int64))
    trained = node(
        "Gather", [table, node("Where", [is_extra, unknown, "word_ids"], "trained_word_ids")], "trained_vectors"
    )
    extra_ids = node("Sub", ["word_ids", trained_words], "extra_word_offsets")
    extra_ids = node("Max", [extra_ids, constant("zero_id", np.array(0, dtype=np.int64))], "extra_word_ids")
    vectors = constant("extra_word_vectors", weight(extra), shared)
    extra_vectors = node("Gather", [vectors, extra_ids], "extra_vectors_half")
    from onnx import TensorProto

    extra_vectors = node("Cast", [extra_vectors], "extra_vectors", to=TensorProto.FLOAT)
    choose = node("Unsqueeze", [is_extra, constant("axis_last", np.array([-1], dtype=np.int64))], "is_extra_word_3d")
    return node("Where", [choose, extra_vectors, trained], "word_vectors")


def _rnn_layer_weights(rnn, layer: int, weight, gate_order: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One layer of a bidirectional recurrent layer named as torch's (``weight_ih_l0``, ...), its gates
    reordered (``gate_order``), as ONNX's ``W`` ``(2, G·H, in)``, ``R`` ``(2, G·H, H)`` and ``B`` ``(2, 2·G·H)``."""

    def gates(array: np.ndarray) -> np.ndarray:
        return np.concatenate([np.split(array, len(gate_order))[gate] for gate in gate_order])

    directions = []
    for suffix in ("", "_reverse"):
        parameter = {
            name: weight(getattr(rnn, f"{name}_l{layer}{suffix}"))
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        directions.append(
            (
                gates(parameter["weight_ih"]),
                gates(parameter["weight_hh"]),
                np.concatenate([gates(parameter["bias_ih"]), gates(parameter["bias_hh"])]),
            )
        )
    return tuple(np.stack(arrays) for arrays in zip(*directions))
