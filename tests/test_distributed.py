"""Training under torchrun: gloo on CPU, two processes on loopback, small data, bounded time.

Each run starts torchrun (``python -m torch.distributed.run``) and two training processes; the
runs are shared between the tests of this module. Everything talks over 127.0.0.1 only.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import TrainingConfig
from bilstm_tagger.text.corpus import read_corpus
from bilstm_tagger.training.run import train

from conftest import DATA

TRAIN, DEV = DATA / "ner" / "train.txt", DATA / "ner" / "dev.txt"
# SGD, so that rounding differences stay rounding-sized (Adam divides by tiny second moments).
SETTINGS = ["--optimizer", "sgd", "--learning-rate", "0.1", "--threads", "1", "--patience", "50"]
EPOCHS = 8
WITH_DROPOUT = [*SETTINGS, "--batch-size", "16", "--max-epochs", str(EPOCHS)]
LAUNCH_TIMEOUT = 180  # seconds any one torchrun may take here before the test fails


def torchrun_command(output: Path, *launch: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *launch,
        "-m",
        "bilstm_tagger",
        "train",
        str(TRAIN),
        "--dev",
        str(DEV),
        "--output",
        str(output),
        *extra,
    ]


ENVIRONMENT = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
STANDALONE = ("--standalone", "--nproc-per-node", "2")


def start(output: Path, *launch: str, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        torchrun_command(output, *launch, extra=extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENVIRONMENT,
        start_new_session=True,  # a test that fails can kill the whole group
    )


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return process.returncode, stdout, stderr


def run(output: Path, *launch: str, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    return finish(start(output, *launch, extra=extra))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_nodes(port: int, rank: int) -> tuple[str, ...]:
    """torchrun's options for node ``rank`` of two, one process each, meeting at 127.0.0.1:``port``."""
    return ("--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(rank), "--master-addr", "127.0.0.1",
            "--master-port", str(port))  # fmt: skip


def wait_for_epochs(output: Path, epochs: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    metrics = output / "metrics.jsonl"
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= epochs:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {epochs} epochs in {metrics} (exit {process.poll()})")


def weights(output: Path) -> dict[str, torch.Tensor]:
    return torch.load(output / "model.pt", weights_only=True)


def same_weights(first: Path, second: Path) -> bool:
    a, b = weights(first), weights(second)
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def losses(output: Path) -> list[float]:
    return [json.loads(line)["train_loss"] for line in (output / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """Two processes, batches of 16 each, with dropout: the reference the other runs are compared to."""
    output = tmp_path_factory.mktemp("ddp") / "model"
    code, _, stderr = run(output, *STANDALONE, extra=tuple(WITH_DROPOUT))
    assert code == 0, stderr
    return output


def test_two_processes_with_batches_of_b_follow_one_process_with_batches_of_2b(tmp_path):
    """Same sentences in each step, the gradients averaged: the same trajectory up to rounding.

    After one epoch (15 steps) the weights differ by less than 1e-6 here (the CRF's gradients are
    computed from per-step distributions, see ``_LogPartition``); rounding differences grow with
    every step, so the comparison is made early.
    """
    no_dropout = [*SETTINGS, "--max-epochs", "1", "--dropout", "0", "--word-dropout", "0"]
    code, _, stderr = run(tmp_path / "two", *STANDALONE, extra=(*no_dropout, "--batch-size", "16"))
    assert code == 0, stderr
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, threads=1, patience=50, max_epochs=1, batch_size=32,
                            word_dropout=0.0)  # fmt: skip
    config.model.dropout = 0.0
    train(read_corpus(TRAIN), read_corpus(DEV), tmp_path / "one", config)

    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), rel=1e-5)
    two, one = weights(tmp_path / "two"), weights(tmp_path / "one")
    for name in one:
        assert torch.allclose(two[name], one[name], rtol=1e-5, atol=1e-5), name
    assert not torch.equal(one["lstm.weight_ih_l0"], torch.zeros_like(one["lstm.weight_ih_l0"]))


def test_the_same_run_on_two_nodes_gives_bit_identical_weights(two_process_run, tmp_path):
    """Two identical 2-process runs, here as two "machines" of one process each on 127.0.0.1."""
    port = free_port()
    extra = tuple(WITH_DROPOUT)
    node0 = start(tmp_path / "model", *two_nodes(port, 0), extra=extra)
    node1 = start(tmp_path / "node1", *two_nodes(port, 1), extra=extra)
    (code0, _, stderr0), (code1, _, stderr1) = finish(node0), finish(node1)
    assert (code0, code1) == (0, 0), stderr0 + stderr1
    assert same_weights(tmp_path / "model", two_process_run)
    assert "Done in" in stderr0 and "Done in" not in stderr1  # rank 0 reports; the other is silent
    assert not (tmp_path / "node1").exists()  # and only rank 0 writes


def test_sigterm_to_torchrun_leaves_a_state_that_resumes_bit_exactly_under_as_many_processes(two_process_run, tmp_path):
    output = tmp_path / "model"
    process = start(output, *STANDALONE, extra=tuple(WITH_DROPOUT))
    wait_for_epochs(output, 2, process)
    os.kill(process.pid, signal.SIGTERM)
    code, _, stderr = finish(process)
    assert code != 0
    assert "Interrupted after" in stderr and "the same torchrun command (2 processes)" in stderr
    assert (output / "resume.pt").exists()
    interrupted_at = len(losses(output))
    assert 2 <= interrupted_at < EPOCHS

    # One process cannot continue a state of two: one line, before anything is written.
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, threads=1)
    with pytest.raises(InputError, match="written by a run of 2 processes; resume it with 2 processes"):
        train(read_corpus(TRAIN), read_corpus(DEV), output, config, resume=True)
    assert len(losses(output)) == interrupted_at

    code, _, stderr = run(output, *STANDALONE, extra=(*WITH_DROPOUT, "--resume", str(output)))
    assert code == 0, stderr
    assert f"Resuming after epoch {interrupted_at}" in stderr
    assert same_weights(output, two_process_run)
    assert losses(output) == losses(two_process_run)


def test_a_worker_killed_with_sigkill_ends_the_run_with_one_line_and_the_checkpoint_loads(tmp_path):
    from bilstm_tagger.model.checkpoint import load_resume_state
    from bilstm_tagger.tagging.tagger import Tagger

    output = tmp_path / "model"
    process = start(output, *STANDALONE, extra=(*SETTINGS, "--max-epochs", "200"))
    wait_for_epochs(output, 1, process)
    [rank1] = [child for child in _children(process.pid) if _environment(child).get("RANK") == "1"]
    os.kill(rank1, signal.SIGKILL)
    code, _, stderr = finish(process)
    assert code != 0
    ours = [line for line in stderr.splitlines() if line.startswith("error: training process")]
    # Rank 0 says it lost the others, unless torchrun's SIGTERM reaches it first while it waits in
    # gloo (seen once in CI): then torchrun's summary, which names the SIGKILL, is all there is.
    assert len(ours) <= 1, stderr
    assert ours or "Signal 9 (SIGKILL)" in stderr, stderr
    assert all("lost the others" in line and f"--resume {output}" in line for line in ours)
    Tagger.load(output).tag([["Anna", "lives", "in", "Oslo"]])
    assert load_resume_state(output)["world_size"] == 2


def test_a_node_that_cannot_reach_the_rendezvous_fails_within_its_timeout(tmp_path):
    started = time.monotonic()
    launch = (*two_nodes(free_port(), 1), "--rdzv-conf", "timeout=1")
    code, _, stderr = run(tmp_path / "model", *launch, extra=("--max-epochs", "1"))
    assert code != 0
    assert "timed out" in stderr.lower()
    assert time.monotonic() - started < 60
    assert not (tmp_path / "model").exists()


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:  # the field after the state is the parent's pid
            children.append(int(stat.parent.name))
    return children


def _environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode(errors="replace").partition("=")[::2] for entry in entries if b"=" in entry)


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_each_epoch_gives_every_sentence_to_exactly_one_process_and_every_process_a_share(world_size):
    import random

    from bilstm_tagger.training.distributed import ProcessGroup
    from bilstm_tagger.training.loop import _at_least_one_each, make_batches

    lengths = [random.Random(7).randint(1, 40) for _ in range(103)]  # 103 = 3 × 34 + 1: a batch of one at the end
    groups = [ProcessGroup(rank=rank, world_size=world_size) for rank in range(world_size)]
    batches = _at_least_one_each(make_batches(lengths, 2 * world_size, random.Random(1)), groups[0])
    assert all(len(batch) >= world_size for batch in batches)
    shares = [[index for batch in batches for index in group.share(batch)] for group in groups]
    assert sorted(index for share in shares for index in share) == list(range(len(lengths)))
    assert max(map(len, shares)) - min(map(len, shares)) <= len(batches)


def test_a_lost_connection_is_one_short_line_and_other_errors_pass_through():
    from bilstm_tagger.base.errors import DistributedError
    from bilstm_tagger.training.distributed import ProcessGroup

    group = ProcessGroup(rank=0, world_size=2, backend="gloo")
    gloo = (
        "[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:46314: Connection reset "
        "by peer. This is typically caused by a remote worker hanging or bugs in the application."
    )
    with pytest.raises(DistributedError) as caught:
        with group.collective("training on a batch"):
            raise RuntimeError(gloo)
    assert str(caught.value) == (
        "training process 0 of 2 lost the others while training on a batch: "
        "Read error [127.0.0.1]:46314: Connection reset by peer"
    )
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes"):
        with group.collective("training on a batch"):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
