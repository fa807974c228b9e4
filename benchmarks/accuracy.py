"""Accuracy benchmark: train and evaluate on CoNLL-2003 and UD English EWT, several seeds.

    python benchmarks/accuracy.py [--seeds 1 2 3] [--only conll2003-glove ...] [--data ../shared/data]

Each run is the `tagger train` / `tagger evaluate` command printed in the report, in a fresh
process, one after the other (never two at once: on 2 cores they would slow each other down).
Results: a rich table, ``benchmarks/RESULTS.md`` (with the exact commands, CPU, core count and torch
version) and ``benchmarks/results.json``, rewritten after every run, each run with the machine it
ran on; the accuracy figures of README.md and benchmarks/README.md are then rendered again from it
(figures.py), once it holds a run of every benchmark. With ``--only`` or ``--seeds``, the other
benchmarks' and seeds' runs are kept from the last ``results.json``, machine and all, so the files
hold the latest run of each (an interrupted benchmark goes on with the seeds it had left). Scores
are percentages. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (the benchmarks share their helpers)
from speed import machine, run_child  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TAGGER = [sys.executable, "-m", "bilstm_tagger"]

# name → (dataset, embeddings, metric, train, dev, test, preset and options)
RUNS = {
    "conll2003-glove": (
        "conll2003",
        "glove-6b-50d",
        "f1",
        "conll2003/eng.train",
        "conll2003/eng.testa",
        "conll2003/eng.testb",
        ["--preset", "ner"],
    ),
    "conll2003-random": (
        "conll2003",
        "random",
        "f1",
        "conll2003/eng.train",
        "conll2003/eng.testa",
        "conll2003/eng.testb",
        ["--preset", "ner", "--embeddings", "none"],
    ),
    "ud_en_ewt-glove": (
        "ud_en_ewt",
        "glove-6b-50d",
        "accuracy",
        "ud_en_ewt/en_ewt-ud-train.conllu",
        "ud_en_ewt/en_ewt-ud-dev.conllu",
        "ud_en_ewt/en_ewt-ud-test.conllu",
        ["--preset", "pos"],
    ),
}


def run_one(name: str, seed: int, data: Path, models: Path, extra: list[str], spec: tuple | None = None) -> dict:
    """Train and evaluate one run of ``RUNS[name]`` (or of ``spec``, shaped as RUNS' values) with ``seed``."""
    dataset, embeddings, metric, train, dev, test, options = spec or RUNS[name]
    model = models / f"{name}-seed{seed}"
    train_command = [*TAGGER, "train", str(data / train), "--dev", str(data / dev), "--output", str(model)]
    train_command += [*options, "--seed", str(seed), "--overwrite", *extra]
    wall, peak, _ = run_child(train_command)
    records = [json.loads(line) for line in (model / "metrics.jsonl").read_text().splitlines()]
    evaluate_command = [*TAGGER, "evaluate", str(model), str(data / test), "--json"]
    result = subprocess.run(evaluate_command, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    train_seconds = sum(r["train_seconds"] for r in records)
    return {
        "name": name,
        "dataset": dataset,
        "embeddings": embeddings,
        "metric": metric,
        "seed": seed,
        "epochs": len(records),
        "best_epoch": max(records, key=lambda r: r["dev_score"])["epoch"],
        "dev": max(r["dev_score"] for r in records),
        "test": report["score"],
        "train_minutes": wall / 60,
        "sentences_per_second": statistics.mean(r["sentences_per_second"] for r in records),
        "epoch_seconds": train_seconds / len(records),
        "peak_rss_mb": peak,
        "commands": [
            " ".join(command[len(TAGGER) :]).replace(str(data), "../shared/data").replace(f"{ROOT}/", "")
            for command in (train_command, evaluate_command)
        ],
        "machine": machine(),
    }


def summarise(runs: list[dict]) -> list[dict]:
    summary = []
    for name in RUNS:
        group = [r for r in runs if r["name"] == name]
        if not group:
            continue
        tests = [r["test"] for r in group]
        summary.append(
            {
                "dataset": group[0]["dataset"],
                "embeddings": group[0]["embeddings"],
                "metric": group[0]["metric"],
                "seeds": len(group),
                "test_mean": round(statistics.mean(tests), 2),
                "test_std": round(statistics.stdev(tests), 2) if len(tests) > 1 else 0.0,
                "test_min": round(min(tests), 2),
                "dev_mean": round(statistics.mean(r["dev"] for r in group), 2),
                "epochs_mean": round(statistics.mean(r["epochs"] for r in group), 1),
                "train_minutes_mean": round(statistics.mean(r["train_minutes"] for r in group), 1),
                "sentences_per_second_mean": round(statistics.mean(r["sentences_per_second"] for r in group)),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in group)),
            }
        )
    return summary


def write_report(results: dict, path: Path) -> None:
    """Write RESULTS.md, keeping whatever an earlier version had below figures.NOTES_MARKER."""
    figures.write_results_markdown(results, path)


def print_table(summary: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Accuracy (test mean ± std over seeds)", title_justify="left", header_style="bold")
    for column in (
        "dataset",
        "embeddings",
        "metric",
        "seeds",
        "test",
        "dev",
        "epochs",
        "train min",
        "sent/s",
        "peak MB",
    ):
        table.add_column(column, justify="left" if column in ("dataset", "embeddings", "metric") else "right")
    for row in summary:
        table.add_row(
            row["dataset"],
            row["embeddings"],
            row["metric"],
            str(row["seeds"]),
            f"{row['test_mean']:.2f} ± {row['test_std']:.2f}",
            f"{row['dev_mean']:.2f}",
            str(row["epochs_mean"]),
            str(row["train_minutes_mean"]),
            str(row["sentences_per_second_mean"]),
            str(row["peak_rss_mb"]),
        )
    Console().print(table)


def kept_runs(path: Path, measuring: list[str], seeds: list[int]) -> list[dict]:
    """The runs of an earlier results.json that are not run now (another benchmark, or another
    seed of one), each with its machine.

    They are kept so that the files always hold the latest run of each benchmark and seed (an
    interrupted benchmark goes on with ``--seeds`` of the rest), and keep the machine they ran on
    so that the report can say so where it differs from the new runs'.
    """
    if not path.exists():
        return []
    previous = json.loads(path.read_text())
    kept = [run for run in previous["runs"] if run["name"] not in measuring or run["seed"] not in seeds]
    for run in kept:  # a file from before machines were recorded per run
        run.setdefault("machine", previous.get("machine"))
    return kept


def kept_sections(path: Path) -> dict:
    """The parts of an earlier results.json that other benchmarks write (``ablation``: benchmarks/ablation.py)."""
    if not path.exists():
        return {}
    previous = json.loads(path.read_text())
    return {key: value for key, value in previous.items() if key not in ("summary", "runs", "minutes")}


def complete(runs: list[dict]) -> bool:
    """Whether ``runs`` hold a run of every benchmark: the report's targets need them all."""
    return {run["name"] for run in runs} >= set(RUNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--models", type=Path, default=ROOT / "models" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one epoch per run, files left alone: checks the machinery, measures nothing worth keeping",
    )
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    runs = [] if args.smoke else kept_runs(args.output / "results.json", args.only, args.seeds)
    started = time.perf_counter()
    for name in args.only:
        for seed in args.seeds:
            runs.append(run_one(name, seed, args.data, args.models, ["--max-epochs", "1"] if args.smoke else []))
            print(json.dumps(runs[-1]), flush=True)
            results = {
                "summary": summarise(runs),
                "runs": runs,
                "minutes": (time.perf_counter() - started) / 60,
                **kept_sections(args.output / "results.json"),
            }
            if args.smoke:
                continue
            # Written after every run, so that an interruption keeps what was measured.
            (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
            if complete(runs):
                write_report(results, args.output / "RESULTS.md")
                if args.output.resolve() == figures.BENCHMARKS:  # the docs quote this file, not one elsewhere
                    figures.refresh_docs(results=results, report=False)
    print_table(results["summary"])
    if not args.smoke and complete(runs) and args.output.resolve() == figures.BENCHMARKS:
        figures.refresh_docs(results=results)  # now only names the hand-written sentences left stale


if __name__ == "__main__":
    main()
