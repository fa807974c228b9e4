"""Beyond one process: training under torchrun and tagging with --workers, on CoNLL-2003 (2 cores).

    python benchmarks/distributed.py [--data ../shared/data/conll2003] [--epochs 2]

Measures, one run at a time on this machine:
- training sentences/s (the last epoch's, from ``metrics.jsonl``) with ``--preset ner``: one
  process on 1 and on 2 threads, ``torchrun`` with 2 processes of 1 thread (batches of 16 each,
  the same 32 a step as one process, and of 32 each), and 2 "nodes" of 1 process each talking
  over 127.0.0.1;
- the dev evaluation of a distributed run both ways: shared out between the processes and
  gathered, or done by rank 0 while the other waits (this script runs itself under torchrun
  with ``--dev-timing`` for that);
- tagging tokens/s of ``tagger tag --workers 1`` and ``--workers 2`` (eng.testb repeated to
  500,000 tokens, CoNLL and raw-text input), the outputs compared byte for byte.

Writes ``benchmarks/distributed.json`` and the section between the ``distributed`` markers of
``benchmarks/RESULTS.md``. Timings are only reported, never asserted; run it alone.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from speed import TAGGER, machine, run_child, tagging_input  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_JSON = Path(__file__).resolve().parent / "distributed.json"
BEGIN, END = "<!-- distributed:begin -->", "<!-- distributed:end -->"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
# Loopback only, and torchrun's own thread setting made explicit (it would print a warning).
ENVIRONMENT = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
DEV_REPEATS = 3
ALL_REDUCE_REPEATS = 50

# name → (how it is launched, per-process batch size, threads per process)
TRAINING_RUNS = {
    "1 process × 1 thread": ("single", 32, 1),
    "1 process × 2 threads": ("single", 32, 2),
    "2 processes × 1 thread, batch 16 each": ("standalone", 16, 1),
    "2 processes × 1 thread, batch 32 each": ("standalone", 32, 1),
    "2 nodes × 1 process, batch 16 each": ("nodes", 16, 1),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_command(data: Path, output: Path, batch_size: int, threads: int, epochs: int) -> list[str]:
    return [
        "train", str(data / "eng.train"), "--dev", str(data / "eng.testa"), "--output", str(output), "--overwrite",
        "--preset", "ner", "--max-epochs", str(epochs), "--batch-size", str(batch_size), "--threads", str(threads),
    ]  # fmt: skip


def training_run(launch: str, batch_size: int, threads: int, data: Path, output: Path, epochs: int) -> dict:
    """One training run; its last epoch's figures and the whole run's wall time."""
    command = train_command(data, output, batch_size, threads, epochs)
    started = time.perf_counter()
    if launch == "single":
        subprocess.run([*TAGGER, *command], check=True, capture_output=True, env=ENVIRONMENT)
    elif launch == "standalone":
        torchrun = [*TORCHRUN, "--standalone", "--nproc-per-node", "2", "-m", "bilstm_tagger"]
        subprocess.run([*torchrun, *command], check=True, capture_output=True, env=ENVIRONMENT)
    else:
        port = free_port()
        nodes = [
            subprocess.Popen(
                [
                    *TORCHRUN,
                    "--nnodes",
                    "2",
                    "--nproc-per-node",
                    "1",
                    "--node-rank",
                    str(rank),
                    "--master-addr",
                    "127.0.0.1",
                    "--master-port",
                    str(port),
                    "-m",
                    "bilstm_tagger",
                    *command,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=ENVIRONMENT,
            )  # fmt: skip
            for rank in (0, 1)
        ]
        for node in nodes:
            _, stderr = node.communicate()
            if node.returncode != 0:
                raise SystemExit(f"a node failed ({node.returncode}):\n{stderr.decode(errors='replace')[-2000:]}")
    wall = time.perf_counter() - started
    last = json.loads((output / "metrics.jsonl").read_text().splitlines()[-1])
    return {
        "batch_size": batch_size,
        "threads": threads,
        "sentences_per_second": last["sentences_per_second"],
        "epoch_seconds": last["train_seconds"],
        "run_seconds": wall,
    }


def dev_timing(data: Path, output: Path) -> None:
    """Under torchrun: time the dev evaluation shared out and on rank 0 alone; rank 0 writes ``output``."""
    from bilstm_tagger.model.config import config_from_options
    from bilstm_tagger.text.corpus import read_corpus
    from bilstm_tagger.training.distributed import join_process_group
    from bilstm_tagger.training.loop import evaluate_dev, setup_training

    config = config_from_options({"threads": 1}, "ner")
    train, dev = read_corpus(data / "eng.train"), read_corpus(data / "eng.testa")
    with join_process_group("cpu") as group:
        state = setup_training(train, dev, config, group)
        timings: dict[str, list[float]] = {"shared": [], "rank 0 alone": []}
        for _ in range(DEV_REPEATS):
            for mode, shared in (("shared", True), ("rank 0 alone", False)):
                group.any(False)  # start together
                started = time.perf_counter()
                evaluate_dev(state, shared=shared)
                timings[mode].append(time.perf_counter() - started)
        # What a step costs in communication: the gradients of every parameter, summed over the processes.
        import torch
        import torch.distributed as dist

        parameters = sum(p.numel() for p in state.model.parameters())
        for name, size in (("gradients", parameters), ("one number", 1)):
            tensor = torch.ones(size)
            for _ in range(5):
                dist.all_reduce(tensor)
            started = time.perf_counter()
            for _ in range(ALL_REDUCE_REPEATS):
                dist.all_reduce(tensor)
            timings[f"all_reduce {name}"] = [(time.perf_counter() - started) / ALL_REDUCE_REPEATS]
        if group.is_main:
            measured = {mode: min(values) for mode, values in timings.items()}
            measured["parameters"] = parameters
            measured["word_embedding_parameters"] = state.model.word_embedding.weight.numel()
            output.write_text(json.dumps(measured))


def dev_runs(data: Path, work: Path) -> dict:
    """The dev evaluation in a run of 2 processes, both ways, and in one process of 1 thread for scale."""
    output = work / "dev-timing.json"
    subprocess.run(
        [
            *TORCHRUN,
            "--standalone",
            "--nproc-per-node",
            "2",
            __file__,
            "--dev-timing",
            str(output),
            "--data",
            str(data),
        ],
        check=True,
        capture_output=True,
        env=ENVIRONMENT,
    )
    return json.loads(output.read_text())


def tagging_runs(model: Path, data: Path, work: Path) -> dict:
    """``tagger tag --workers 1`` and ``--workers 2`` on the same input, timed alone, outputs compared."""
    tokens_path, text_path, tokens, _ = tagging_input(data, work)
    results = {}
    for input_format, path in (("tokens", tokens_path), ("text", text_path)):
        outputs = {}
        for workers in (1, 2):
            outputs[workers] = work / f"tagged-{input_format}-{workers}.conll"
            command = [*TAGGER, "tag", str(model), "--input", str(path), "--input-format", input_format]
            command += ["--workers", str(workers)]
            wall, peak, _ = run_child(command, stdout=outputs[workers])
            results[f"{input_format}, {workers} worker{'s' if workers > 1 else ''}"] = {
                "tokens_per_second": tokens / wall,
                "seconds": wall,
                "peak_rss_mb": peak,  # the largest process's,
            }
        results[f"{input_format}: outputs identical"] = filecmp.cmp(outputs[1], outputs[2], shallow=False)
    return {"tokens": tokens, "runs": results}


def markdown(results: dict) -> str:
    training, dev, tagging = results["training"], results["dev_evaluation"], results["tagging"]
    base = training["1 process × 1 thread"]["sentences_per_second"]
    lines = [
        BEGIN,
        "## Several processes (`python benchmarks/distributed.py`)",
        "",
        f"CoNLL-2003 with `--preset ner`, {results['machine']['cpu']}, {results['machine']['cores']} cores; "
        "written by the script. Training: the last of "
        f"{results['epochs']} epochs; every run alone.",
        "",
        "| training | batch a step | sentences/s | ratio to 1 × 1 | whole run (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in training.items():
        processes = 2 if not name.startswith("1 process") else 1
        lines.append(
            f"| {name} | {row['batch_size'] * processes} | {row['sentences_per_second']:,.0f} | "
            f"{row['sentences_per_second'] / base:.2f} | {row['run_seconds']:.0f} |"
        )
    shared, alone = dev["shared"], dev["rank 0 alone"]
    step = training["2 processes × 1 thread, batch 16 each"]
    step_ms = 1000 * 32 / step["sentences_per_second"]
    gradients_ms, number_ms = 1000 * dev["all_reduce gradients"], 1000 * dev["all_reduce one number"]
    lines += [
        "",
        f"What limits it: every step sums the gradients of all {dev['parameters']:,} parameters over the "
        f"processes ({dev['word_embedding_parameters'] / dev['parameters']:.0%} of them the word embedding's, "
        f"dense although a batch touches a few hundred words): {gradients_ms:.1f} ms by gloo over "
        f"127.0.0.1 (one number alone takes {number_ms:.2f} ms), against about {step_ms:.0f} ms a step of 32 "
        "sentences; and on 2 cores that copying and summing take the same cores as the training. Larger "
        "batches a process mean fewer steps, hence batch 32 each scales best; more cores, or GPUs with "
        "NCCL, are where more processes pay.",
        "",
        f"Dev evaluation (eng.testa, 3,250 sentences) in a run of 2 processes: shared out and gathered "
        f"{shared:.2f} s, on rank 0 alone {alone:.2f} s ({alone / shared:.2f}× as long): training shares it out.",
        "",
        f"| tagging ({tagging['tokens']:,} tokens, conll output) | tokens/s | ratio to 1 worker | seconds |",
        "|---|---:|---:|---:|",
    ]
    for input_format in ("tokens", "text"):
        one = tagging["runs"][f"{input_format}, 1 worker"]
        for workers in (1, 2):
            row = tagging["runs"][f"{input_format}, {workers} worker{'s' if workers > 1 else ''}"]
            lines.append(
                f"| `--input-format {input_format} --workers {workers}` | {row['tokens_per_second']:,.0f} | "
                f"{row['tokens_per_second'] / one['tokens_per_second']:.2f} | {row['seconds']:.1f} |"
            )
    same = all(tagging["runs"][f"{f}: outputs identical"] for f in ("tokens", "text"))
    lines += ["", f"Output of 2 workers byte-identical to 1 worker's: {'yes' if same else 'NO'}.", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--dev-timing", type=Path, help=argparse.SUPPRESS)  # the torchrun child
    args = parser.parse_args()
    if args.dev_timing is not None:
        dev_timing(args.data, args.dev_timing)
        return
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        training = {}
        for name, (launch, batch_size, threads) in TRAINING_RUNS.items():
            print(f"training: {name} …", flush=True)
            training[name] = training_run(launch, batch_size, threads, args.data, work / "model", args.epochs)
            print(f"  {training[name]['sentences_per_second']:,.0f} sentences/s", flush=True)
        print("dev evaluation …", flush=True)
        dev = dev_runs(args.data, work)
        print("tagging …", flush=True)
        tagging = tagging_runs(work / "model", args.data, work)
    results = {"machine": machine(), "epochs": args.epochs, "training": training, "dev_evaluation": dev}
    results["tagging"] = tagging
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    figures.replace_section(RESULTS, BEGIN, END, text)
    print(text)


if __name__ == "__main__":
    main()
