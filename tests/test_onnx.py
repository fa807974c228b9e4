"""Tagging on ONNX Runtime: the exported network against torch's, numpy decoding against the torch CRF,
the engine choice, and a tagging path that never imports torch (in a child process; the other commands run in
this one through the console script's ``main()``, conftest.tagger_in_process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from bilstm_tagger import Tagger
from bilstm_tagger.base.schemes import allowed_transitions
from bilstm_tagger.model import checkpoint
from bilstm_tagger.model.bilstm_crf import build_model
from bilstm_tagger.model.config import ModelConfig
from bilstm_tagger.model.crf import ConstrainedCRF
from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.model.onnx_export import build_onnx
from bilstm_tagger.model.trained import load_trained_model
from bilstm_tagger.model.vocab import Vocab
from bilstm_tagger.text.corpus import read_corpus

from conftest import ROOT, assert_one_line_error, tagger_in_process

MODEL = ROOT / "tests" / "fixtures" / "format1" / "model"  # trained on data/ner, with pretrained vectors
TEST = ROOT / "data" / "ner" / "test.txt"
LABELS = ["O", "B-A", "I-A", "E-A", "S-A", "B-B", "I-B", "E-B", "S-B"]


@pytest.mark.parametrize("seed", range(3))
def test_numpy_viterbi_gives_the_torch_crf_paths(seed):
    torch.manual_seed(seed)
    crf = ConstrainedCRF(len(LABELS), allowed_transitions(LABELS, "iobes"))
    with torch.no_grad():
        for parameter in (crf.transitions, crf.start_transitions, crf.end_transitions):
            parameter.uniform_(-3, 3)
    emissions = torch.randn(6, 9, len(LABELS)) * 3
    lengths = [9, 1, 4, 7, 2, 9]
    mask = torch.arange(9)[None, :] < torch.tensor(lengths)[:, None]
    expected = crf.decode(emissions, mask)
    paths = CrfScores.from_crf(crf).viterbi(emissions.numpy(), lengths)  # (B, T)
    assert [row[:length].tolist() for row, length in zip(paths, lengths)] == expected
    assert [len(path) for path in expected] == lengths


def test_crf_scores_survive_json():
    torch.manual_seed(1)
    crf = ConstrainedCRF(len(LABELS), allowed_transitions(LABELS, "iobes"))
    scores = CrfScores.from_crf(crf)
    again = CrfScores.from_lists(json.loads(json.dumps(scores.to_lists())), allowed_transitions(LABELS, "iobes"))
    for name in ("transitions", "start", "end", "forbidden_transitions", "forbidden_starts", "forbidden_ends"):
        assert np.array_equal(getattr(scores, name), getattr(again, name)), name


@pytest.mark.parametrize(
    "layers,extra_words,cell,char_encoder",
    [
        (1, 0, "lstm", "cnn"),
        (2, 3, "lstm", "cnn"),
        (1, 0, "peephole", "lstm"),
        (2, 3, "peephole", "cnn"),
        (2, 0, "gru", "lstm"),
    ],
)
def test_the_onnx_network_gives_torchs_emissions(layers, extra_words, cell, char_encoder):
    sentences = [["Anna", "Berg", "lives", "in", "Oslo", "."], ["Tom", "saw", "Bergen"], ["Zebulon"], ["x"] * 11]
    vocab = Vocab.build([(tokens, ["O"] * len(tokens)) for tokens in sentences[:2]] + [(["S"], ["S-PER"])])
    vocab.extra_words = ["zebulon", "bergen", "oslo"][:extra_words]
    vocab = Vocab.from_json(vocab.to_json())
    torch.manual_seed(layers)
    config = ModelConfig(
        word_dim=8, char_dim=5, char_filters=6, hidden_size=7, num_layers=layers, cell=cell, char_encoder=char_encoder
    )
    model = build_model(config, vocab, "iobes").eval()
    model.extra_word_vectors = torch.randn(extra_words, 8).to(torch.float16)
    session = onnxruntime.InferenceSession(build_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    batch = vocab.arrays(sentences)
    if extra_words:
        assert (batch.word_ids >= len(vocab.words)).sum() == 1  # "Zebulon" finds its pretrained vector
    inputs = {name: getattr(batch, name) for name in ("word_ids", "char_ids", "char_index", "lengths")}
    [emissions] = session.run(["emissions"], inputs)
    with torch.inference_mode():
        expected = model.emissions(batch.to_torch()).numpy()
    mask = np.arange(batch.word_ids.shape[1])[None, :] < batch.lengths[:, None]
    assert emissions.shape == expected.shape
    assert np.abs(emissions - expected)[mask].max() < 1e-5
    # A sentence alone gets the emissions it gets padded in a batch (the backward LSTM starts at its end).
    [alone] = session.run(["emissions"], {name: getattr(vocab.arrays(sentences[2:3]), name) for name in inputs})
    assert np.abs(alone[0, :1] - emissions[2, :1]).max() < 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A copy of the fixture model (an older one: pretrained.pt), with its model.onnx and model.int8.onnx."""
    directory = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(MODEL, directory)
    before = checkpoint.load_extra_word_vectors(directory)
    result = tagger_in_process("export", directory, "--quantize", "int8")
    assert "ONNX model written" in result.stderr and "model.int8.onnx" in result.stderr
    # The vectors moved to pretrained.npy, unchanged, and both graphs read them there.
    assert not (directory / "pretrained.pt").exists()
    assert torch.equal(checkpoint.load_extra_word_vectors(directory), before)
    for name in ("model.onnx", "model.int8.onnx"):
        [vectors] = [
            t
            for t in onnx.load(directory / name, load_external_data=False).graph.initializer
            if t.name == "extra_word_vectors"
        ]
        assert {entry.key: entry.value for entry in vectors.external_data}["location"] == "pretrained.npy"
        assert not vectors.raw_data
    return directory


@pytest.fixture(scope="module")
def decoy(exported, tmp_path_factory):
    """A copy of the exported model whose model.onnx passes every check (it records the SHA-256 of the copy's
    files) but scores S-MISC far above every other tag: only a run on ONNX Runtime tags each token MISC."""
    directory = tmp_path_factory.mktemp("decoy") / "model"
    shutil.copytree(exported, directory)
    info = checkpoint.load_info(directory)
    vocab = Vocab.from_json(info.vocab)
    model = load_trained_model(directory, info, vocab).eval()
    with torch.no_grad():
        model.projection.bias[vocab.tags.stoi["S-MISC"]] += 100.0
    metadata = {entry.key: entry.value for entry in onnx.load(directory / "model.onnx").metadata_props}
    (directory / "model.onnx").write_bytes(build_onnx(model, metadata).SerializeToString())
    return directory


def entity_types(jsonl_output):
    return [[entity["type"] for entity in json.loads(line)["entities"]] for line in jsonl_output.splitlines()]


def test_onnx_runs_model_onnx_and_torch_does_not(decoy):
    """The engine asked for is the one that runs: a model.onnx of other scores shows which one did."""
    text = "Anna Berg lives in Oslo .\nTom sings\n"
    assert Tagger.load(decoy, engine="onnx").engine == Tagger.load(decoy).engine == "onnx"
    assert Tagger.load(decoy, engine="torch").engine == "torch"
    [document] = Tagger.load(decoy, engine="onnx").pipe(["Tom sings"])
    assert [entity.type for entity in document.entities] == ["MISC", "MISC"]
    on_onnx = entity_types(tagger_in_process("tag", decoy, "--engine", "onnx", "-f", "jsonl", input=text).stdout)
    assert on_onnx == [["MISC"] * 6, ["MISC"] * 2]  # test_both_engines_tag_alike: auto runs as onnx does
    on_torch = entity_types(tagger_in_process("tag", decoy, "--engine", "torch", "-f", "jsonl", input=text).stdout)
    assert len(on_torch) == 2 and on_torch != [["MISC"] * 6, ["MISC"] * 2]
    [evaluation_on_onnx, evaluation_on_torch] = [
        json.loads(tagger_in_process("evaluate", decoy, TEST, "--json", "--engine", engine).stdout)
        for engine in ("onnx", "torch")
    ]
    assert evaluation_on_onnx["f1"] < evaluation_on_torch["f1"]


def test_both_engines_tag_alike(exported):
    # Two engines, not one twice: the onnx runs are ONNX Runtime's (test_onnx_runs_model_onnx_and_torch_does_not).
    assert Tagger.load(exported, engine="onnx").engine == "onnx" and Tagger.load(exported).engine == "onnx"
    runs = {
        engine: tagger_in_process(
            "tag", exported, "--engine", engine, "--input-format", "conll", "-i", TEST, "-f", "jsonl", "--nbest", "3"
        )
        for engine in ("torch", "onnx", "auto")
    }
    assert runs["auto"].stdout == runs["onnx"].stdout
    torch_records = [json.loads(line) for line in runs["torch"].stdout.splitlines()]
    onnx_records = [json.loads(line) for line in runs["onnx"].stdout.splitlines()]
    assert len(torch_records) == len(onnx_records) == 129  # the sentences of data/ner/test.txt
    for ours, theirs in zip(onnx_records, torch_records):
        assert [t["tag"] for s in ours["sentences"] for t in s["tokens"]] == [
            t["tag"] for s in theirs["sentences"] for t in s["tokens"]
        ]
        assert [e["type"] for e in ours["entities"]] == [e["type"] for e in theirs["entities"]]
        ours_scores = [t["confidence"] for s in ours["sentences"] for t in s["tokens"]]
        theirs_scores = [t["confidence"] for s in theirs["sentences"] for t in s["tokens"]]
        assert np.allclose(ours_scores, theirs_scores, rtol=0, atol=2e-4)  # 4 significant digits each
    evaluations = [
        json.loads(tagger_in_process("evaluate", exported, TEST, "--json", "--engine", e).stdout)
        for e in ("torch", "onnx")
    ]
    assert evaluations[0]["f1"] == evaluations[1]["f1"]


def test_the_onnx_path_imports_neither_torch_nor_spacy(exported):
    script = (
        "import atexit, sys\n"
        'atexit.register(lambda: sys.stderr.write(f\'imported: {sorted({"torch", "spacy"} & set(sys.modules))}\\n\'))\n'
        "from bilstm_tagger.cli.commands import main\n"
        f"sys.argv = ['tagger', 'tag', {str(exported)!r}, '-f', 'jsonl']\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input="Maria Lopez flew to Berlin.\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entities"]
    assert "imported: []" in result.stderr  # neither torch nor spaCy (raw text is split without it)


def test_a_model_onnx_of_other_weights_is_not_used(exported, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(exported, copy)
    weights = torch.load(copy / "model.pt")
    weights["projection.bias"] += 1.0
    torch.save(weights, copy / "model.pt")
    result = tagger_in_process("tag", copy, input="Anna lives in Oslo\n")
    assert result.stdout.strip()
    assert "note: tagging with torch:" in result.stderr and "made from another model.pt" in result.stderr
    assert_one_line_error(tagger_in_process("tag", copy, "--engine", "onnx", input="Anna\n", check=False), str(copy))
    (copy / "model.onnx").write_bytes(b"not a model")
    assert "note: tagging with torch:" in tagger_in_process("tag", copy, input="Anna lives in Oslo\n").stderr
    (copy / "model.onnx").unlink()
    result = tagger_in_process("tag", copy, "--engine", "onnx", input="Anna\n", check=False)
    assert_one_line_error(result, str(copy))
    assert "tagger export" in result.stderr


def test_the_int8_graph_runs_only_when_asked_and_tags_nearly_as_the_float_one(exported, tmp_path):
    """``--engine onnx-int8`` runs model.int8.onnx, with int8 weights; ``auto`` keeps the float graph."""
    graph = onnx.load(exported / "model.int8.onnx", load_external_data=False)
    operators = {node.op_type for node in graph.graph.node}
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} <= operators and "LSTM" not in operators
    assert Tagger.load(exported).engine == "onnx"
    quantized = Tagger.load(exported, engine="onnx-int8")
    assert quantized.engine == "onnx-int8"
    sentences = [s.tokens for s in read_corpus(TEST)]
    tags = [s.tags for s in quantized.tag(sentences)]
    float_tags = [s.tags for s in Tagger.load(exported, engine="onnx").tag(sentences)]
    pairs = [(a, b) for x, y in zip(tags, float_tags) for a, b in zip(x, y)]
    assert sum(a == b for a, b in pairs) / len(pairs) > 0.97
    result = json.loads(tagger_in_process("evaluate", exported, TEST, "--json", "--engine", "onnx-int8").stdout)
    assert result["f1"] > 0
    copy = tmp_path / "model"
    shutil.copytree(exported, copy)
    (copy / "model.int8.onnx").unlink()
    result = tagger_in_process("tag", copy, "--engine", "onnx-int8", input="Anna\n", check=False)
    assert_one_line_error(result, str(copy))
    assert "tagger export --quantize int8" in result.stderr
