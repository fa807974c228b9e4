"""Training speed: the NER preset's loop in this checkout against an earlier commit, side by side.

    python benchmarks/training_speed.py [--baseline 8358f02] [--epochs 2] [--repeats 3]

Each run is ``tagger train`` on CoNLL-2003 with ``--preset ner --seed 1 --max-epochs EPOCHS``, all
cores, in a fresh process; the baseline runs from a temporary git worktree of ``--baseline``
(by default the last commit before the fused encoders). The runs alternate, one at a time, and
the figure of each run is its epochs' sentences per second as ``metrics.jsonl`` records them:
the training loop alone, without the dev evaluation. The medians over ``--repeats`` and their
ratio are reported; the 3-seed accuracy of the same code is ``accuracy.py``'s.

Writes ``benchmarks/training_speed.json`` and the section between the ``training-speed`` markers
of ``benchmarks/RESULTS.md``. Run it alone: two processes at once on 2 cores slow each other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from speed import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
RESULTS_JSON = Path(__file__).resolve().parent / "training_speed.json"
BEGIN, END = "<!-- training-speed:begin -->", "<!-- training-speed:end -->"
BASELINE = "8358f02"


def epoch_speeds(checkout: Path, data: Path, model: Path, epochs: int) -> list[float]:
    """Sentences per second of each epoch of ``tagger train --preset ner`` run from ``checkout``."""
    command = [
        sys.executable,
        "-m",
        "bilstm_tagger",
        "train",
        str(data / "eng.train"),
        "--dev",
        str(data / "eng.testa"),
    ]
    command += ["--output", str(model), "--preset", "ner", "--seed", "1", "--max-epochs", str(epochs), "--overwrite"]
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    subprocess.run(command, cwd=checkout, env=environment, check=True, capture_output=True)
    records = [json.loads(line) for line in (model / "metrics.jsonl").read_text().splitlines()]
    return [record["sentences_per_second"] for record in records]


def measure(baseline: str, data: Path, epochs: int, repeats: int) -> dict:
    """Both checkouts' runs, alternating: each run's mean sentences/s, the medians and their ratio."""
    with tempfile.TemporaryDirectory() as work:
        old = Path(work) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), baseline], cwd=ROOT, check=True)
        try:
            runs: dict[str, list[float]] = {"baseline": [], "this": []}
            for _ in range(repeats):
                for name, checkout in (("baseline", old), ("this", ROOT)):
                    speeds = epoch_speeds(checkout, data, Path(work) / f"model-{name}", epochs)
                    runs[name].append(statistics.mean(speeds))
                    print(f"{name}: {runs[name][-1]:.0f} sentences/s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=True)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "baseline": baseline,
        "this": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "epochs": epochs,
        "sentences_per_second": runs,
        "median": medians,
        "ratio": medians["this"] / medians["baseline"],
    }


def section(results: dict) -> str:
    runs = len(results["sentences_per_second"]["this"])
    return "\n".join(
        [
            BEGIN,
            "## Training speed of the NER preset (`python benchmarks/training_speed.py`)",
            "",
            f"{figures.machine_name(results['machine'])}; written by the script. `tagger train` on CoNLL-2003 "
            f"with `--preset ner --seed 1 --max-epochs {results['epochs']}`, all cores; sentences per second of the "
            f"training loop (dev evaluation excluded), medians of {runs} alternating runs, each alone.",
            "",
            "| code | sentences/s | runs |",
            "|---|---:|---|",
            *(
                f"| {label} `{results[key]}` | {results['median'][key]:,.0f} | "
                f"{', '.join(f'{value:,.0f}' for value in results['sentences_per_second'][key])} |"
                for key, label in (("baseline", "before"), ("this", "now"))
            ),
            "",
            f"Now {results['ratio']:.2f} times as fast.",
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    results = {"machine": machine(), **measure(args.baseline, args.data, args.epochs, args.repeats)}
    figures.publish(results, RESULTS_JSON, "training_speed.json", section(results), figures.RESULTS_MD, BEGIN, END)


if __name__ == "__main__":
    main()
