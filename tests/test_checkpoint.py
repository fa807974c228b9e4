"""Checkpoints: round trip, version checks, and loading that never runs code."""

import json
import pickle

import pytest
import torch

from bilstm_tagger import Tagger, __version__
from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model import checkpoint
from bilstm_tagger.tagging.engines import TorchNetwork
from bilstm_tagger.tagging.tagger import LoadedModel

from conftest import DATA, ROOT, record_tags, record_tokens

FORMAT1 = ROOT / "tests" / "fixtures" / "format1"  # a model written by the code of 0.1.0 before its re-cut


@pytest.fixture
def saved_model(tiny_model, tmp_path):
    model, vocab = tiny_model
    info = checkpoint.CheckpointInfo(
        model=model.config.to_json(), vocab=vocab.to_json(), tag_scheme="iobes", data_scheme="iob1"
    )
    checkpoint.save_checkpoint(tmp_path, info, model.state_dict())
    return tmp_path


SENTENCES = [["Anna", "Berg", "lives", "in", "Oslo", "."], ["Tom", "visited", "Unknownville"], []]


def test_round_trip_gives_the_same_weights_and_tags(tiny_model, saved_model):
    model, vocab = tiny_model
    tagger = Tagger.load(saved_model)
    loaded = tagger.model.network.model.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded[name]), name
    expected = Tagger(LoadedModel(TorchNetwork(model), vocab, "iobes", "iob1")).tag(SENTENCES)
    assert tagger.tag(SENTENCES) == expected
    assert [len(sentence.tags) for sentence in expected] == [6, 3, 0]
    assert all(tag == "O" or tag[:2] in ("I-", "B-") for s in expected for tag in s.tags)  # IOB1 output
    config = json.loads((saved_model / "config.json").read_text())
    assert config["package_version"] == __version__ and config["format_version"] == checkpoint.FORMAT_VERSION


def load_error(path):
    with pytest.raises(InputError) as caught:
        Tagger.load(path)
    return str(caught.value)


def test_a_checkpoint_of_another_format_version_is_refused(saved_model):
    path = saved_model / "config.json"
    config = json.loads(path.read_text())
    config.update(format_version=99, package_version="9.0.0")
    path.write_text(json.dumps(config))
    message = load_error(saved_model)
    assert message.startswith(f"{path}: checkpoint format 99 (written by bilstm-tagger 9.0.0)")


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(saved_model, tmp_path):
    victim = tmp_path / "created-by-unpickling"

    class Exploit:
        def __reduce__(self):
            return (open, (str(victim), "w"))

    (saved_model / "model.pt").write_bytes(pickle.dumps({"weights": Exploit()}, protocol=2))
    message = load_error(saved_model)
    assert message.startswith(f"{saved_model / 'model.pt'}: refused to load: not plain tensors")
    assert not victim.exists()


def test_truncated_and_corrupted_files_are_input_errors(saved_model):
    weights = saved_model / "model.pt"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert load_error(saved_model).startswith(f"{weights}: cannot read: truncated or corrupted")
    weights.write_bytes(data)
    config = saved_model / "config.json"
    config.write_text(config.read_text()[:40])
    assert load_error(saved_model).startswith(f"{config}:")


def test_weights_of_another_model_are_refused(saved_model):
    torch.save({"word_embedding.weight": torch.zeros(3, 3)}, saved_model / "model.pt")
    assert "weights do not match config.json" in load_error(saved_model)


def test_wrong_directories_are_input_errors(tmp_path):
    assert load_error(tmp_path / "missing") == f"{tmp_path / 'missing'}: no such model directory"
    assert load_error(tmp_path) == f"{tmp_path}: not a bilstm-tagger model directory (no config.json)"


def test_a_checkpoint_written_before_the_re_cut_loads_and_tags_as_it_did(tmp_path):
    """The fixture was trained, tagged and scored by the code before the modules were re-cut (commit 796e346):
    the same files must give the same tags, entities and scores, byte for byte."""
    import subprocess
    import sys

    def run(*args):
        command = [sys.executable, "-m", "bilstm_tagger", *map(str, args), "--threads", "1"]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout

    model = FORMAT1 / "model"
    # expected-tag.jsonl holds the records of the format this model was written with ({"tokens", "tags", "spans"}):
    # the same tokens, tags and entities must come out in today's records, from pre-tokenised input.
    tagged = run("tag", model, "--input", FORMAT1 / "sentences.txt", "--format", "jsonl", "--input-format", "tokens")
    expected_records = [json.loads(line) for line in (FORMAT1 / "expected-tag.jsonl").read_text().splitlines()]
    records = [json.loads(line) for line in tagged.splitlines()]
    assert [(record_tokens(r), record_tags(r)) for r in records] == [(e["tokens"], e["tags"]) for e in expected_records]
    assert [[(e["type"], e["text"]) for e in r["entities"]] for r in records] == [
        [(span["type"], span["text"]) for span in e["spans"]] for e in expected_records
    ]
    conll = run("tag", model, "--input", DATA / "ner" / "test.txt", "--input-format", "conll", "--format", "conll")
    assert conll == (FORMAT1 / "expected-test.conll").read_text()
    report = json.loads(run("evaluate", model, DATA / "ner" / "test.txt", "--json"))
    expected = json.loads((FORMAT1 / "expected-evaluate.json").read_text())
    del report["model"], expected["model"], report["test_file"], expected["test_file"]
    assert report == expected
    assert 40 < report["f1"] < 100, "the fixture should tag something, so that the comparison means something"


def test_the_vectors_file_is_plain_numpy_page_aligned_and_checked(tmp_path):
    import numpy as np

    vectors = np.arange(12, dtype=np.float16).reshape(6, 2)
    path = tmp_path / checkpoint.PRETRAINED_FILE
    path.write_bytes(checkpoint.vectors_bytes(vectors))
    assert np.array_equal(np.load(path, allow_pickle=False), vectors)  # any NumPy reads it
    mapped, offset = checkpoint.read_vectors(path)
    assert offset == checkpoint.PAGE_SIZE and np.array_equal(mapped, vectors)
    path.write_bytes(checkpoint.vectors_bytes(vectors)[:-5])
    with pytest.raises(InputError, match="truncated or corrupted") as caught:
        checkpoint.read_vectors(path)
    assert str(path) in str(caught.value)
    np.save(path, vectors.astype(np.float32))
    with pytest.raises(InputError, match="float16"):
        checkpoint.read_vectors(path)
