"""Ablation of the LSTM family: each factor (cell, character encoder, layers, locked dropout, the
language model, document context) against the current preset, on CoNLL-2003 (``--preset ner``) or UD EWT (``--preset pos``).

    python benchmarks/ablation.py [--dataset conll2003] [--variants preset lm ...] [--seeds 1] [--jobs 1] [--one-thread] [--adam]

Each run is the `tagger train` / `tagger evaluate` command recorded with it, in a fresh process.
``--jobs 2`` runs two at a time, and ``--one-thread`` gives each run ``--threads 1`` (on 2 cores,
two runs on two threads each slow each other many times; ``--jobs`` above 1 implies it). The
minutes and sentences per second of a run on one thread beside another are those of one shared
core: comparable with each other but not with a run alone; and a run on one thread is not
bit-identical to the same seed on two. ``--adam`` is the quicker screen: each variant with Adam's
recipe instead of the preset's SGD (CoNLL-2003 only). Results go to the ``ablation``
part of ``benchmarks/results.json`` (a variant's new seeds replace the same seeds' old runs) and
to its section of ``benchmarks/RESULTS.md``. Scores are percentages; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402
from accuracy import DATA, ROOT, RUNS, run_one  # noqa: E402

RESULTS_JSON = ROOT / "benchmarks" / "results.json"
BEGIN, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
BASE = {"conll2003": "conll2003-glove", "ud_en_ewt": "ud_en_ewt-glove"}  # the accuracy benchmark's run per dataset

# The quicker screen on CoNLL-2003: Adam's recipe (docs/training.md, "Presets"), converged in about 20 epochs
# where the preset's SGD takes 70 to 100; every factor can then be measured in the time of one preset run.
ADAM = ["--optimizer", "adam", "--learning-rate", "0.002", "--max-epochs", "30", "--patience", "6"]
ADAM += ["--dropout", "0.5", "--word-dropout", "0.5"]

# name → (options added to the dataset's preset, what it tests)
VARIANTS = {
    "preset": ([], "the current preset"),
    "peephole": (["--cell", "peephole"], "peephole LSTM cell (Gers & Schmidhuber 2000)"),
    "gru": (["--cell", "gru"], "GRU cell"),
    "char-lstm": (["--char-encoder", "lstm"], "character BiLSTM (Lample et al.) instead of the CNN"),
    "layers-2": (["--layers", "2"], "two BiLSTM layers"),
    "locked-dropout": (["--locked-dropout"], "locked (variational) dropout"),
    "lm": (["--lm-weight", "0.1"], "joint word-level language model, weight 0.1 (Rei 2017)"),
    "locked-lm": (["--locked-dropout", "--lm-weight", "0.1"], "locked dropout and the language model"),
    "document": (["--context", "document"], "document context: the BiLSTM over windows of 64 tokens of the document"),
    "mentions": (
        ["--context", "document", "--mentions"],
        "document context and attention to the other mentions of each word in the window",
    ),
    "document-lm": (["--context", "document", "--lm-weight", "0.1"], "document context and the language model"),
}


def run_variant(dataset: str, variant: str, seed: int, one_thread: bool, adam: bool, data: Path, models: Path) -> dict:
    spec = RUNS[BASE[dataset]]
    options, _ = VARIANTS[variant]
    name = f"{dataset}-{variant}"
    if adam:  # the quicker screen: its own rows, beside the preset's
        options, name = [*ADAM, *options], f"{name}-adam"
    threads = ["--threads", "1"] if one_thread else []
    run = run_one(name, seed, data, models, [*options, *threads], spec=spec)
    return {**run, "variant": variant, "options": " ".join(options), "threads": 1 if one_thread else "all"}


def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    order = {name: index for index, name in enumerate([*BASE, *VARIANTS])}
    # The preset's runs first, then the Adam screen's.
    keys = sorted(
        {(r["dataset"], r["variant"], r["options"]) for r in runs},
        key=lambda key: (key[2].startswith(" ".join(ADAM)), order[key[0]], order[key[1]], key[2]),
    )
    for key in keys:
        group = sorted((r for r in runs if (r["dataset"], r["variant"], r["options"]) == key), key=lambda r: r["seed"])
        tests = [r["test"] for r in group]
        rows.append(
            {
                "dataset": key[0],
                "variant": key[1],
                "options": key[2],
                "metric": group[0]["metric"],
                "seeds": [r["seed"] for r in group],
                "tests": tests,
                "test_mean": round(statistics.mean(tests), 2),
                "test_std": round(statistics.stdev(tests), 2) if len(tests) > 1 else 0.0,
                "dev_mean": round(statistics.mean(r["dev"] for r in group), 2),
                "best_epochs": [r["best_epoch"] for r in group],
                "epochs": [r["epochs"] for r in group],
                "train_minutes_mean": round(statistics.mean(r["train_minutes"] for r in group), 1),
                "sentences_per_second_mean": round(statistics.mean(r["sentences_per_second"] for r in group)),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in group)),
                "threads": group[0]["threads"],
            }
        )
    return rows


def reference_rows(results: dict) -> list[str]:
    """The accuracy benchmark's runs of each dataset's preset (alone, on two threads), as rows of the table."""
    lines = []
    for dataset, name in BASE.items():
        runs = sorted((r for r in results.get("runs", []) if r["name"] == name), key=lambda r: r["seed"])
        if not runs:
            continue
        tests = [r["test"] for r in runs]
        spread = statistics.stdev(tests) if len(tests) > 1 else 0.0
        epochs = ", ".join(f"{r['best_epoch']}/{r['epochs']}" for r in runs)
        lines.append(
            f"| {dataset} | preset, accuracy benchmark | `(none)` | {', '.join(str(r['seed']) for r in runs)} | "
            f"{statistics.mean(r['dev'] for r in runs):.2f} | {statistics.mean(tests):.2f} ± {spread:.2f} | "
            f"{', '.join(f'{t:.2f}' for t in tests)} | {epochs} | "
            f"{statistics.mean(r['train_minutes'] for r in runs):.1f} | "
            f"{round(statistics.mean(r['sentences_per_second'] for r in runs))} | "
            f"{round(max(r['peak_rss_mb'] for r in runs))} | all |"
        )
    return lines


def section(results: dict) -> str:
    ablation = results["ablation"]
    lines = [
        BEGIN,
        "## Ablation: the LSTM family (`benchmarks/ablation.py`)",
        "",
        "Each row adds its options to the dataset's preset (`--preset ner` for CoNLL-2003, `--preset pos` for",
        "UD EWT). Runs on 1 thread (*threads* column) ran two at a time, one thread each: their minutes and",
        "sentences/s are those of one shared core, comparable with each other, not with a run alone. Rows whose",
        f"options start with `{' '.join(ADAM)}` are the Adam screen: the preset",
        "with the Adam recipe of docs/training.md, which converges in about 20 epochs where SGD takes 70 to 100.",
        "",
        "| dataset | variant | options | seeds | dev mean | test mean ± std | test per seed | best epoch / epochs | "
        "train min | sent/s | peak MB | threads |",
        "|---|---|---|---|---:|---:|---|---|---:|---:|---:|---:|",
        *reference_rows(results),
    ]
    for row in ablation["summary"]:
        per_seed = ", ".join(f"{test:.2f}" for test in row["tests"])
        epochs = ", ".join(f"{best}/{total}" for best, total in zip(row["best_epochs"], row["epochs"]))
        lines.append(
            f"| {row['dataset']} | {row['variant']} | `{row['options'] or '(none)'}` | "
            f"{', '.join(map(str, row['seeds']))} | {row['dev_mean']:.2f} | {row['test_mean']:.2f} ± {row['test_std']:.2f} | "
            f"{per_seed} | {epochs} | {row['train_minutes_mean']} | {row['sentences_per_second_mean']} | "
            f"{row['peak_rss_mb']} | {row['threads']} |"
        )
    lines += ["", "Commands of each run:", ""]
    for run in ablation["runs"]:
        lines.append(
            f"- {run['dataset']} {run['variant']} seed {run['seed']}: test {run['test']:.2f}, dev {run['dev']:.2f}"
        )
        lines += [f"  - `tagger {command}`" for command in run["commands"]]
    lines.append(END)
    return "\n".join(lines)


def save(run: dict, path: Path) -> dict:
    """Add a run to results.json's ``ablation`` part (replacing the same variant and seed) and rewrite its section."""
    results = json.loads(path.read_text()) if path.exists() else {"summary": [], "runs": []}
    ablation = results.get("ablation", {"runs": []})
    key = (run["dataset"], run["variant"], run["options"], run["seed"])
    runs = [r for r in ablation["runs"] if (r["dataset"], r["variant"], r["options"], r["seed"]) != key] + [run]
    ablation = {"summary": summarise(runs), "runs": runs}
    results["ablation"] = ablation
    path.write_text(json.dumps(results, indent=2) + "\n")
    figures.replace_section(figures.RESULTS_MD, BEGIN, END, section(results))
    return ablation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=list(BASE), default="conll2003")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (above 1 implies --one-thread)")
    parser.add_argument("--adam", action="store_true", help="the quicker screen: each variant with Adam's recipe")
    parser.add_argument("--one-thread", action="store_true", help="each run on one thread, as beside another run")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models", type=Path, default=ROOT / "models" / "ablation")
    parser.add_argument("--render", action="store_true", help="only write RESULTS.md's section again from results.json")
    args = parser.parse_args()
    if args.render:
        figures.replace_section(figures.RESULTS_MD, BEGIN, END, section(json.loads(RESULTS_JSON.read_text())))
        return
    work = [(variant, seed) for seed in args.seeds for variant in args.variants]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(
                run_variant,
                args.dataset,
                variant,
                seed,
                args.one_thread or args.jobs > 1,
                args.adam,
                args.data,
                args.models,
            )
            for variant, seed in work
        ]
        for future in as_completed(futures):
            run = future.result()
            print(json.dumps(run), flush=True)
            save(run, RESULTS_JSON)


if __name__ == "__main__":
    main()
