"""The LSTM family: the peephole cell against its equations and against nn.LSTM, every cell and character
encoder under padding, locked dropout, the jointly trained language model, and resuming each of them."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bilstm_tagger.base.errors import InputError, TrainingInterrupted
from bilstm_tagger.model import checkpoint
from bilstm_tagger.model.bilstm_crf import build_model
from bilstm_tagger.model.config import ModelConfig, TrainingConfig
from bilstm_tagger.model.encoders import GruEncoder, LockedDropout, LstmEncoder, PeepholeLstm
from bilstm_tagger.model.language_model import WordLanguageModel
from bilstm_tagger.model.vocab import Vocab
from bilstm_tagger.scoring.report import model_summary
from bilstm_tagger.text.corpus import read_corpus
from bilstm_tagger.training.events import Reporter
from bilstm_tagger.training.run import train

from conftest import DATA, tagger

TRAIN, DEV, TEST = DATA / "ner" / "train.txt", DATA / "ner" / "dev.txt", DATA / "ner" / "test.txt"

SENTENCES = [
    ["Anna", "Berg", "visited", "New", "York", "City", "and", "Oslo", "yesterday", "."],
    ["Tom", "lives", "in", "Oslo"],
    ["Unknown", "words", "like", "Zyxwvutsrqponmlkjihgfedcba", "are", "fine"],
]
TAGS = [["B-PER", "E-PER", "O", "B-LOC", "I-LOC", "E-LOC", "O", "S-LOC", "O", "O"], ["S-PER", "O", "O", "S-LOC"]]


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def peephole_by_the_equations(encoder: PeepholeLstm, features: torch.Tensor) -> torch.Tensor:
    """One sentence ``(T, in)`` through the layers of ``encoder``, one scalar gate at a time, as Gers &
    Schmidhuber write them: ``(T, 2 * hidden)``."""
    hidden = encoder.hidden_size
    layer_input = features.tolist()
    for layer in range(encoder.num_layers):
        directions = []
        for suffix, order in (("", range(len(layer_input))), ("_reverse", reversed(range(len(layer_input))))):
            w_ih = getattr(encoder, f"weight_ih_l{layer}{suffix}").tolist()
            w_hh = getattr(encoder, f"weight_hh_l{layer}{suffix}").tolist()
            bias = (
                getattr(encoder, f"bias_ih_l{layer}{suffix}") + getattr(encoder, f"bias_hh_l{layer}{suffix}")
            ).tolist()
            p_i, p_f, p_o = getattr(encoder, f"peephole_l{layer}{suffix}").view(3, hidden).tolist()
            h, c = [0.0] * hidden, [0.0] * hidden
            outputs = [None] * len(layer_input)
            for t in order:
                x = layer_input[t]
                pre = [  # each gate row's W x + U h + b
                    sum(w * v for w, v in zip(w_ih[row], x)) + sum(w * v for w, v in zip(w_hh[row], h)) + bias[row]
                    for row in range(4 * hidden)
                ]
                new_c, new_h = [], []
                for j in range(hidden):
                    i = _sigmoid(pre[j] + p_i[j] * c[j])
                    f = _sigmoid(pre[hidden + j] + p_f[j] * c[j])
                    g = math.tanh(pre[2 * hidden + j])
                    cell = f * c[j] + i * g
                    o = _sigmoid(pre[3 * hidden + j] + p_o[j] * cell)
                    new_c.append(cell)
                    new_h.append(o * math.tanh(cell))
                h, c = new_h, new_c
                outputs[t] = h
            directions.append(outputs)
        layer_input = [forward + backward for forward, backward in zip(*directions)]
    return torch.tensor(layer_input, dtype=torch.float64)


@pytest.mark.parametrize("layers", [1, 2])
def test_the_peephole_cell_follows_the_equations_of_gers_and_schmidhuber(layers):
    torch.manual_seed(layers)
    encoder = PeepholeLstm(5, ModelConfig(hidden_size=4, num_layers=layers, dropout=0.0)).eval()
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            if name.startswith("peephole"):
                parameter.uniform_(-1.5, 1.5)  # large enough that a gate looking at the wrong state would show
    features = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 2, 4])
    with torch.no_grad():
        encoded = encoder.encode(features, lengths)
    for row, length in enumerate(lengths.tolist()):
        expected = peephole_by_the_equations(encoder, features[row, :length])
        assert torch.allclose(encoded[row, :length].double(), expected, atol=1e-5)
        assert not encoded[row, length:].any()  # zeros past the end


@pytest.mark.parametrize("layers", [1, 2])
def test_the_peephole_cell_without_peepholes_is_torchs_lstm(layers):
    torch.manual_seed(7)
    config = ModelConfig(hidden_size=6, num_layers=layers, dropout=0.0)
    peephole, lstm = PeepholeLstm(9, config), LstmEncoder(9, config)
    with torch.no_grad():
        for name, parameter in lstm.named_parameters():
            getattr(peephole, name).copy_(parameter)
        for name, parameter in peephole.named_parameters():
            if name.startswith("peephole"):
                parameter.zero_()
    features, lengths = torch.randn(4, 8, 9), torch.tensor([8, 3, 1, 5])
    with torch.no_grad():
        assert torch.allclose(peephole.encode(features, lengths), lstm.encode(features, lengths), atol=1e-6)


@pytest.mark.parametrize("encoder_class", [LstmEncoder, GruEncoder])
@pytest.mark.parametrize("layers", [1, 2])
def test_torchs_cells_run_fused_on_the_cpu_as_they_run_packed(encoder_class, layers):
    torch.manual_seed(layers)
    encoder = encoder_class(9, ModelConfig(hidden_size=6, num_layers=layers, dropout=0.0))
    features, lengths = torch.randn(4, 8, 9, requires_grad=True), torch.tensor([8, 3, 1, 5])
    fused = encoder.encode(features, lengths)
    packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
    expected = pad_packed_sequence(encoder(packed)[0], batch_first=True, total_length=8)[0]
    assert torch.allclose(fused, expected, atol=1e-6)
    assert not fused[1, 3:].any() and not fused[2, 1:].any()  # zeros past the end
    weights = torch.randn_like(expected)  # any loss: the gradients must agree too
    fused_grads = torch.autograd.grad((fused * weights).sum(), [features, *encoder.parameters()])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [features, *encoder.parameters()])
    for got, want in zip(fused_grads, expected_grads):
        assert torch.allclose(got, want, atol=1e-5)


def tiny_vocab() -> Vocab:
    return Vocab.build(zip(SENTENCES[:2], TAGS))


MEMBERS = [
    {"cell": "lstm", "char_encoder": "lstm"},
    {"cell": "peephole", "char_encoder": "cnn", "num_layers": 2},
    {"cell": "peephole", "char_encoder": "lstm", "locked_dropout": True, "lm_weight": 0.5},
    {"cell": "gru", "char_encoder": "cnn", "num_layers": 2, "locked_dropout": True},
    {"cell": "gru", "char_encoder": "lstm", "lm_weight": 0.1},
]


@pytest.mark.parametrize("options", MEMBERS, ids=lambda options: "-".join(f"{value}" for value in options.values()))
def test_every_member_tags_a_sentence_alone_as_in_a_padded_batch(options):
    torch.manual_seed(2)
    vocab = tiny_vocab()
    config = ModelConfig(word_dim=8, char_dim=6, char_filters=8, hidden_size=8, **options)
    model = build_model(config, vocab, "iobes").eval()
    alone, batch = vocab.encode([SENTENCES[1]]), vocab.encode(SENTENCES)
    with torch.no_grad():
        assert torch.allclose(model.emissions(alone)[0], model.emissions(batch)[1, :4], atol=1e-5)
        assert model.decode(alone)[0] == model.decode(batch)[1]
        tags = torch.tensor([model.decode(alone)[0]])
        padded = torch.zeros_like(batch.word_ids)
        padded[1, :4] = tags
        assert model.log_likelihood(alone, tags)[0].item() == pytest.approx(
            model.log_likelihood(batch, padded)[1].item(), abs=1e-4
        )
        # A word's character vector does not depend on the longer words beside it.
        short = model.char_encoder(vocab.encode([["Oslo"]]).char_ids)[0]
        mixed = vocab.encode([["Oslo", "Zyxwvutsrqponmlkjihgfedcba"]])
        assert torch.allclose(short, model.char_encoder(mixed.char_ids)[mixed.char_index[0, 0]], atol=1e-6)


def test_locked_dropout_keeps_one_mask_per_sentence_and_feature():
    torch.manual_seed(0)
    dropout = LockedDropout(0.5)
    features = torch.ones(3, 7, 10)
    dropped = dropout(features)
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # the same at every position
    assert not torch.equal(dropped[0], dropped[1])  # but its own for each sentence
    assert torch.equal(dropout.eval()(features), features)


def test_the_language_model_predicts_neighbours_from_the_right_direction():
    torch.manual_seed(4)
    head = WordLanguageModel(hidden_size=3, num_words=8)
    head.set_vocabulary(torch.tensor([0, 9, 5, 5, 1, 7, 0, 2]))  # padding, unknown and unseen words get none
    assert head.num_classes == 8
    assert head.word_classes.tolist() == [0, 0, 2, 3, 5, 1, 0, 4]
    small = WordLanguageModel(hidden_size=3, num_words=8)
    small.num_classes = 3  # as if LM_VOCABULARY were 3: the two most frequent words, and "any other"
    small.word_classes = torch.zeros(8, dtype=torch.long)
    small.set_vocabulary(torch.tensor([0, 9, 5, 5, 1, 7, 0, 2]))
    assert small.word_classes.tolist() == [0, 0, 2, 0, 0, 1, 0, 0]  # ties go to the lower id

    states = torch.randn(2, 4, 6)
    word_ids = torch.tensor([[2, 3, 5, 7], [4, 2, 0, 0]])
    mask = word_ids != 0
    expected = torch.tensor(0.0)
    for row, length in enumerate((4, 2)):
        classes = head.word_classes[word_ids[row]]
        for t in range(length - 1):
            forward, backward = states[row, t, :3], states[row, t + 1, 3:]
            expected -= torch.log_softmax(head.next_word(forward), -1)[classes[t + 1]]
            expected -= torch.log_softmax(head.previous_word(backward), -1)[classes[t]]
    assert head.loss(states, word_ids, mask).item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_language_model_adds_its_weighted_loss_and_needs_one_layer():
    torch.manual_seed(5)
    vocab = tiny_vocab()
    config = ModelConfig(word_dim=8, char_dim=6, char_filters=8, hidden_size=8, dropout=0.0, lm_weight=0.25)
    model = build_model(config, vocab, "iobes")
    batch = vocab.encode(SENTENCES[:2], TAGS)
    with torch.no_grad():
        tagger_only = -model.crf(model.emissions(batch), batch.tag_ids, mask=batch.mask, reduction="mean")
        language_model = model.language_model.loss(model.encode(batch), batch.word_ids, batch.mask)
        assert model.loss(batch).item() == pytest.approx((tagger_only + 0.25 * language_model / 2).item(), rel=1e-5)
    with pytest.raises(InputError, match="--lm-weight needs --layers 1"):
        ModelConfig(num_layers=2, lm_weight=0.1)
    with pytest.raises(InputError, match="char-filters must be even"):
        ModelConfig(char_encoder="lstm", char_filters=25)
    with pytest.raises(InputError, match="unknown cell"):
        ModelConfig(cell="rnn")


class _StopAfter(Reporter):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def epoch_finished(self, record) -> None:
        if record.epoch == self.epoch:
            raise TrainingInterrupted(15)


@pytest.mark.parametrize("options", MEMBERS[2:4], ids=["peephole-charlstm-locked-lm", "gru-layers2-locked"])
def test_every_member_resumes_to_the_same_weights(tmp_path, options):
    sentences, dev = read_corpus(TRAIN)[:80], read_corpus(DEV)[:20]
    model = ModelConfig(word_dim=8, char_dim=6, char_filters=8, hidden_size=8, **options)
    config = TrainingConfig(model=model, max_epochs=3, patience=3, seed=3, threads=1)
    train(sentences, dev, tmp_path / "whole", config)
    with pytest.raises(TrainingInterrupted):
        train(sentences, dev, tmp_path / "resumed", config, reporter=_StopAfter(1))
    train(sentences, dev, tmp_path / "resumed", config, resume=True)
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)
    assert any(name.startswith("language_model.") for name in whole) == ("lm_weight" in options)


def test_a_member_trains_from_the_command_line_and_tags_alike_on_both_engines(tmp_path):
    options = ["--cell", "peephole", "--char-encoder", "lstm", "--locked-dropout", "--lm-weight", "0.1"]
    model = tmp_path / "model"
    sizes = ["--word-dim", "16", "--hidden-size", "16", "--char-filters", "10", "--max-epochs", "2"]
    tagger("train", TRAIN, "--dev", DEV, "--output", model, *sizes, *options)
    saved = json.loads((model / "config.json").read_text())["model"]
    assert (saved["cell"], saved["char_encoder"], saved["locked_dropout"], saved["lm_weight"]) == (
        "peephole",
        "lstm",
        True,
        0.1,
    )
    assert (model / "model.onnx").exists()
    summary = model_summary(checkpoint.load_info(model))  # what tagger report says of it
    assert "a peephole BiLSTM of 16" in summary and "a character BiLSTM" in summary
    assert "locked dropout; a joint language model (weight 0.1)" in summary
    tagged = {
        engine: tagger("tag", model, "--input", TEST, "--format", "conll", "--engine", engine).stdout
        for engine in ("torch", "onnx")
    }
    assert tagged["torch"] == tagged["onnx"] and len(tagged["onnx"].splitlines()) > 100


def test_a_configuration_written_before_the_cells_reads_as_the_lstm():
    older = {**ModelConfig().to_json(), "encoder": "lstm"}
    for name in ("cell", "char_encoder", "locked_dropout", "lm_weight"):
        del older[name]
    assert ModelConfig.from_json(older) == ModelConfig()
    assert TrainingConfig.from_json({**TrainingConfig().to_json(), "model": older}) == TrainingConfig()
