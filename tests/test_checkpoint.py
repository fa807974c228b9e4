"""Checkpoints: round trip, version checks, and loading that never runs code."""

import json
import pickle

import pytest
import torch

from bilstm_tagger import Tagger, __version__, checkpoint
from bilstm_tagger.errors import InputError


@pytest.fixture
def saved_model(tiny_model, tmp_path):
    model, encoder = tiny_model
    info = checkpoint.CheckpointInfo(
        model=model.config.to_json(), vocab=encoder.to_json(), tag_scheme="iobes", data_scheme="iob1"
    )
    checkpoint.save_checkpoint(tmp_path, info, model.state_dict())
    return tmp_path


SENTENCES = [["Anna", "Berg", "lives", "in", "Oslo", "."], ["Tom", "visited", "Unknownville"], []]


def test_round_trip_gives_the_same_weights_and_tags(tiny_model, saved_model):
    model, encoder = tiny_model
    tagger = Tagger.load(saved_model)
    loaded = tagger.model.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded[name]), name
    expected = Tagger(model, encoder, "iobes", "iob1").tag(SENTENCES)
    assert tagger.tag(SENTENCES) == expected
    assert [len(tags) for tags in expected] == [6, 3, 0]
    assert all(tag == "O" or tag[:2] in ("I-", "B-") for tags in expected for tag in tags)  # IOB1 output
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
