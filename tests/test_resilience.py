"""Never lose work: signals, SIGKILL at random moments, resume, and failed writes."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from bilstm_tagger import Tagger
from bilstm_tagger.base import files
from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import ModelConfig, TrainingConfig
from bilstm_tagger.text.corpus import read_corpus
from bilstm_tagger.training.events import Reporter
from bilstm_tagger.training.run import train

from conftest import DATA, sigint_as_in_a_terminal

TRAIN, DEV = DATA / "ner" / "train.txt", DATA / "ner" / "dev.txt"
SMALL = ["--word-dim", "16", "--hidden-size", "16", "--char-filters", "10", "--max-epochs", "8", "--patience", "8"]


def start_training(output, *extra):
    command = [sys.executable, "-m", "bilstm_tagger", "train", str(TRAIN), "--dev", str(DEV), *SMALL, *extra]
    if "--resume" not in extra:
        command += ["--output", str(output)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_as_in_a_terminal
    )


def completed_epochs(output):
    path = output / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_for(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def weights(directory):
    return torch.load(directory / "model.pt", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "uninterrupted"
    process = start_training(output)
    assert process.wait(timeout=300) == 0, process.stderr.read()
    return output


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_a_resumable_state_and_resuming_gives_the_same_model(tmp_path, uninterrupted, signum, code):
    output = tmp_path / "run"
    process = start_training(output)
    wait_for(lambda: completed_epochs(output) >= 2)
    process.send_signal(signum)
    assert process.wait(timeout=120) == code
    stderr = process.stderr.read()
    assert f"--resume {output}" in stderr and "Traceback" not in stderr
    assert (output / "resume.pt").exists()

    resumed = start_training(output, "--resume", str(output))
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert not (output / "resume.pt").exists()
    expected, actual = weights(uninterrupted), weights(output)
    assert all(torch.equal(expected[name], actual[name]) for name in expected)
    epochs = [json.loads(line)["epoch"] for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 9))


def test_sigkill_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path, uninterrupted):
    output = tmp_path / "run"
    rng = random.Random(11)
    process = start_training(output)
    wait_for(lambda: (output / "config.json").exists())
    kills_during_training = []
    for _ in range(4):
        epochs = completed_epochs(output)
        wait_for(lambda p=process, e=epochs: p.poll() is not None or completed_epochs(output) > e)  # training now
        time.sleep(rng.uniform(0.0, 0.5))
        kills_during_training.append(process.poll() is None)
        process.kill()
        process.wait(timeout=60)
        if kills_during_training[-1]:
            assert process.returncode == -signal.SIGKILL  # the kill, not the end of training, stopped it
        tags = Tagger.load(output).tag([["Anna", "Berg", "lives", "in", "Oslo"]])  # what is left loads
        assert len(tags[0]) == 5
        if not (output / "resume.pt").exists():
            break  # the run had finished before the kill
        process = start_training(output, "--resume", str(output))
    # The first kill comes one epoch into eight: it always hits a running training, and leaves a run to resume.
    assert kills_during_training[0] and len(kills_during_training) >= 2
    if (output / "resume.pt").exists():
        process = start_training(output, "--resume", str(output))
        assert process.wait(timeout=300) == 0, process.stderr.read()
    expected, actual = weights(uninterrupted), weights(output)
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


def tiny_config(**changes):
    model = ModelConfig(word_dim=8, char_dim=5, char_filters=6, hidden_size=8)
    return TrainingConfig(model=model, **{"max_epochs": 4, "patience": 4, **changes})


@pytest.mark.parametrize("failing_file", ["model.pt", "vocab.json", "config.json", "resume.pt"])
def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, failing_file):
    sentences, dev = read_corpus(TRAIN)[:60], read_corpus(DEV)[:20]
    output = tmp_path / "model"
    train(sentences, dev, output, tiny_config(max_epochs=1))
    before = {path.name: path.read_bytes() for path in output.iterdir()}
    real_stage = files._stage

    def disk_full(path, data):
        if path.name == failing_file:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_stage(path, data)

    monkeypatch.setattr(files, "_stage", disk_full)
    with pytest.raises(OSError, match="previous checkpoint there is unchanged"):
        train(read_corpus(TRAIN)[:80], dev, output, tiny_config(), overwrite=True)
    after = {
        path.name: path.read_bytes() for path in output.iterdir() if path.name not in ("metrics.jsonl", "resume.pt")
    }
    assert after == {name: data for name, data in before.items() if name != "metrics.jsonl"}
    Tagger.load(output)


def test_atomic_write_leaves_no_temporary_file_when_it_fails(tmp_path, monkeypatch):
    target = tmp_path / "file"
    target.write_bytes(b"old")

    def failing_fsync(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        files.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


class _Readers(Reporter):
    """Holds each checkpoint file open, as a reader that opened it before a save would (a tagger loading the
    model, a copy being made), and after each epoch's saves checks that it still reads the file it opened, whole:
    a save must put a new file in its place (a rename), never write into the one there."""

    NAMES = ("model.pt", "config.json", "vocab.json", "resume.pt")

    def __init__(self, directory):
        self.directory = directory
        self.held = {}  # name: (stream, the bytes it held when opened)
        self.replaced = {name: 0 for name in self.NAMES}
        self.written_in_place = []
        self._open_all()

    def _open_all(self):
        for name in self.NAMES:
            if (self.directory / name).exists():
                stream = open(self.directory / name, "rb")
                self.held[name] = (stream, stream.read())

    def epoch_finished(self, record) -> None:
        for name, (stream, data) in self.held.items():
            stream.seek(0)
            if stream.read() != data:
                self.written_in_place.append((record.epoch, name))
            elif (self.directory / name).read_bytes() != data:
                self.replaced[name] += 1
        self.close()
        self._open_all()

    def close(self):
        for stream, _ in self.held.values():
            stream.close()
        self.held = {}


def test_every_save_replaces_the_checkpoint_files_and_never_writes_into_them(tmp_path):
    """Row: killed while saving. A reader that opened model.pt (or config.json, vocab.json, resume.pt) before a
    save reads the old file whole after it: the save wrote a temporary file and renamed it over the old one, so a
    kill at any moment leaves one or the other, never half of each. Checked at each save of an overwriting run:
    the first epoch's whole checkpoint, the later epochs' better weights, the resume state of every epoch."""
    # Part-of-speech data: its dev accuracy rises from the first epochs on, so that later epochs save weights.
    sentences, dev = read_corpus(DATA / "pos" / "train.conllu"), read_corpus(DATA / "pos" / "dev.conllu")
    output = tmp_path / "model"
    train(sentences[:40], dev[:10], output, tiny_config(max_epochs=1))
    readers = _Readers(output)
    assert set(readers.held) == {"model.pt", "config.json", "vocab.json"}
    try:
        result = train(sentences, dev, output, tiny_config(), reporter=readers, overwrite=True)
    finally:
        readers.close()
    assert readers.written_in_place == []
    assert result.best_epoch > 1, "a later epoch saved better weights (save_weights), or half of this test is void"
    assert readers.replaced["model.pt"] >= 2 and readers.replaced["resume.pt"] >= 3, readers.replaced
    assert readers.replaced["config.json"] == readers.replaced["vocab.json"] == 1


def test_too_little_disk_space_is_reported_before_training(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(InputError, match="not enough disk space"):
        train(read_corpus(TRAIN)[:20], read_corpus(DEV)[:5], tmp_path / "m", tiny_config())
    assert not (tmp_path / "m" / "model.pt").exists()


def test_resume_refuses_other_data_and_missing_state(tmp_path):
    sentences, dev = read_corpus(TRAIN)[:40], read_corpus(DEV)[:10]
    with pytest.raises(InputError, match="nothing to resume"):
        train(sentences, dev, tmp_path, tiny_config(), resume=True)
    output = tmp_path / "run"
    process = start_training(output)
    wait_for(lambda: completed_epochs(output) >= 1)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    with pytest.raises(InputError, match="differ from those of the run being resumed"):
        train(sentences, dev, output, tiny_config(), resume=True)
    with pytest.raises(InputError, match="unfinished run; pass --resume"):
        train(sentences, dev, output, tiny_config())


def test_a_signal_during_the_saves_of_an_epoch_waits_for_them():
    from bilstm_tagger.base.errors import TrainingInterrupted
    from bilstm_tagger.training.run import _Signals

    signals, done = _Signals(), []
    with pytest.raises(TrainingInterrupted) as interruption:
        with signals.interrupt_training():
            with signals.held():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler has run by now, and only noted the signal
                done.append("saved")
    assert done == ["saved"] and interruption.value.signum == signal.SIGTERM
    with pytest.raises(TrainingInterrupted):  # outside a save, at once
        with signals.interrupt_training():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
