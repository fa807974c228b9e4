"""Training: batching, reproducibility, and the output directory rules."""

import random

import pytest
import torch

from bilstm_tagger.corpus import Sentence
from bilstm_tagger.errors import InputError
from bilstm_tagger.model import ModelConfig
from bilstm_tagger.tagging import Tagger
from bilstm_tagger.training import TrainingConfig, make_batches, train

SENTENCES = [
    Sentence(["Anna", "Berg", "lives", "in", "Oslo", "."], ["I-PER", "I-PER", "O", "O", "I-LOC", "O"]),
    Sentence(["Tom", "works", "for", "Nordbank", "in", "Bergen", "."], ["I-PER", "O", "O", "I-ORG", "O", "I-LOC", "O"]),
    Sentence(["The", "Oslo", "office", "of", "Nordbank", "closed", "."], ["O", "I-LOC", "O", "O", "I-ORG", "O", "O"]),
    Sentence(["Paris", "Rome", "and", "Madrid"], ["I-LOC", "B-LOC", "O", "I-LOC"]),
] * 3
TINY = dict(model=ModelConfig(word_dim=8, char_dim=5, char_filters=6, hidden_size=8), max_epochs=3, batch_size=2)


def test_batches_cover_every_sentence_once_and_group_similar_lengths():
    lengths = [random.Random(1).randint(1, 60) for _ in range(1000)]
    batches = make_batches(lengths, 10, random.Random(2))
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 5, "sentences of a batch should have similar lengths"
    assert batches != make_batches(lengths, 10, random.Random(3))


def test_same_seed_gives_the_same_model_and_scores(tmp_path):
    results = []
    for run in ("a", "b"):
        result = train(SENTENCES, SENTENCES[:4], tmp_path / run, TrainingConfig(seed=7, **TINY))
        results.append((result, Tagger.load(tmp_path / run).model.state_dict()))
    (first, weights_a), (second, weights_b) = results
    assert first.best_dev_score == second.best_dev_score
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    other = train(SENTENCES, SENTENCES[:4], tmp_path / "c", TrainingConfig(seed=8, **TINY))
    weights_c = Tagger.load(tmp_path / "c").model.state_dict()
    assert not torch.equal(weights_a["projection.weight"], weights_c["projection.weight"])
    assert other.epochs_run == 3


def test_output_directory_problems_are_found_before_training(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(InputError, match="exists and is not a directory"):
        train(SENTENCES, SENTENCES, file, TrainingConfig(**TINY))
    train(SENTENCES, SENTENCES, tmp_path / "m", TrainingConfig(**{**TINY, "max_epochs": 1}))
    with pytest.raises(InputError, match="already holds a model"):
        train(SENTENCES, SENTENCES, tmp_path / "m", TrainingConfig(**TINY))


def test_span_and_plain_dev_data_cannot_be_mixed(tmp_path):
    pos = [Sentence(["Anna", "sings"], ["PROPN", "VERB"])]
    with pytest.raises(InputError, match="dev data has plain tags"):
        train(SENTENCES, pos, tmp_path / "m", TrainingConfig(**TINY))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TrainingConfig(optimizer="lbfgs"), "unknown optimizer"),
        (lambda: TrainingConfig(word_dropout=1.0), "word-dropout must be in"),
        (lambda: TrainingConfig(batch_size=0), "batch-size must be at least 1"),
        (lambda: ModelConfig(dropout=1.0), "dropout must be in"),
        (lambda: ModelConfig(char_window=2), "char-window must be an odd number"),
    ],
)
def test_bad_settings_are_input_errors(make, message):
    with pytest.raises(InputError, match=message):
        make()
