"""Training: batching, reproducibility, and the output directory rules."""

import random

import pytest
import torch

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import ModelConfig, TrainingConfig
from bilstm_tagger.tagging.tagger import Tagger
from bilstm_tagger.text.corpus import Sentence
from bilstm_tagger.training.loop import make_batches
from bilstm_tagger.training.run import train

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
        results.append((result, Tagger.load(tmp_path / run, engine="torch").model.network.model.state_dict()))
    (first, weights_a), (second, weights_b) = results
    assert first.best_dev_score == second.best_dev_score
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    other = train(SENTENCES, SENTENCES[:4], tmp_path / "c", TrainingConfig(seed=8, **TINY))
    weights_c = Tagger.load(tmp_path / "c", engine="torch").model.network.model.state_dict()
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


def test_the_loop_yields_a_record_per_epoch_and_writes_nothing(tmp_path, monkeypatch):
    from bilstm_tagger.training.loop import setup_training, train_epochs

    monkeypatch.chdir(tmp_path)
    state = setup_training(SENTENCES, SENTENCES[:4], TrainingConfig(seed=3, **{**TINY, "max_epochs": 4}))
    progress = []
    records = list(train_epochs(state, on_batch=progress.append))
    assert [r.epoch for r in records] == [1, 2, 3, 4] and state.epoch == 4
    assert records[0].best and state.best_score == max(r.dev.score for r in records)
    assert state.best_epoch == max((r for r in records if r.best), key=lambda r: r.epoch).epoch
    per_epoch = len(SENTENCES) // TINY["batch_size"]
    assert len(progress) == 4 * per_epoch and progress[per_epoch - 1].sentences == len(SENTENCES)
    assert list(tmp_path.iterdir()) == [], "the loop knows nothing of files"


def test_a_loop_continued_from_its_state_ends_where_an_unbroken_one_does():
    from bilstm_tagger.training.loop import setup_training, train_epochs

    config = TrainingConfig(seed=5, **TINY)
    unbroken = setup_training(SENTENCES, SENTENCES[:4], config)
    records = list(train_epochs(unbroken))
    first = setup_training(SENTENCES, SENTENCES[:4], config)
    next(train_epochs(first))
    saved = first.state_dict()
    second = setup_training(SENTENCES, SENTENCES[:4], config)
    second.load_state_dict(saved)
    rest = list(train_epochs(second))
    assert [r.to_json()["dev"] for r in rest] == [r.to_json()["dev"] for r in records[1:]]
    expected, actual = unbroken.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(expected[name], actual[name]) for name in expected)
