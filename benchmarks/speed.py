"""Speed benchmark: training and tagging throughput, start-up time and peak memory, on the CPU.

    python benchmarks/speed.py [--repeats 3] [--data ../shared/data/conll2003]

Every figure is the median of ``--repeats`` runs (min and max beside it), each run a fresh
process, so that peak memory (ru_maxrss) is the run's own. Results: a rich table on the terminal
and ``benchmarks/speed.json``, each configuration with the machine it was measured on; then the
speed figures of README.md and benchmarks/README.md are rendered again from it (figures.py).
Timings are only printed, never asserted. Run it alone: two torch processes at once on 2 cores
slow both down many times.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bilstm_tagger.base.runtime import available_cores
from bilstm_tagger.model.config import TrainingConfig
from bilstm_tagger.text.corpus import CorpusReading, read_corpus

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
TAGGER = [sys.executable, "-m", "bilstm_tagger"]

# The two model configurations measured: the NER preset (GloVe 6B 50d), and NCRF++'s CoNLL-2003
# model (50-d words, char CNN of 50 filters, BiLSTM of 100 per direction, CRF) for a like-for-like
# comparison. The second is also the tool's default, but is spelled out so that it stays NCRF++'s.
CONFIGS = {
    "ner-preset": ["--preset", "ner"],
    "ncrfpp-sized": ["--word-dim", "50", "--char-filters", "50", "--hidden-size", "100"],
}
DEFAULT_BATCH_SIZE = TrainingConfig().batch_size
TAG_TOKENS = 500_000


def run_child(command: list[str], **options) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run a command in a fresh parent process; return (wall seconds, peak RSS in MB, result)."""
    measure = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "stdout = open(sys.argv[1], 'wb') if sys.argv[1] != '-' else subprocess.DEVNULL\n"
        "stdin = open(sys.argv[2], 'rb') if sys.argv[2] != '-' else subprocess.DEVNULL\n"
        "done = subprocess.run(sys.argv[3:], stdout=stdout, stdin=stdin, stderr=subprocess.PIPE)\n"
        "wall = time.perf_counter() - start\n"
        "print(json.dumps([wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.returncode,"
        " done.stderr.decode(errors='replace')[-2000:]]))\n"
    )
    stdout = options.get("stdout", "-")
    stdin = options.get("stdin", "-")
    result = subprocess.run(
        [sys.executable, "-c", measure, str(stdout), str(stdin), *command], capture_output=True, text=True, check=True
    )
    wall, peak, code, stderr = json.loads(result.stdout)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{stderr}")
    return wall, peak, result


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def train_runs(data: Path, config: str, batch_size: int, repeats: int, work: Path) -> tuple[dict, Path]:
    """One epoch of eng.train per run; throughput from metrics.jsonl (the epoch loop alone)."""
    sentences_per_second, tokens_per_second, peaks = [], [], []
    tokens = sum(
        1 for line in open(data / "eng.train", encoding="utf-8") if line.strip() and not line.startswith("-DOCSTART-")
    )
    model = work / f"{config}-b{batch_size}"
    for _ in range(repeats):
        command = [*TAGGER, "train", str(data / "eng.train"), "--dev", str(data / "eng.testa"), "--output", str(model)]
        command += ["--overwrite", "--max-epochs", "1", "--batch-size", str(batch_size), *CONFIGS[config]]
        _, peak, _ = run_child(command)
        record = json.loads((model / "metrics.jsonl").read_text().splitlines()[0])
        sentences_per_second.append(record["sentences_per_second"])
        tokens_per_second.append(tokens / record["train_seconds"])
        peaks.append(peak)
    return {
        "batch_size": batch_size,
        "sentences_per_second": summary(sentences_per_second),
        "tokens_per_second": summary(tokens_per_second),
        "peak_rss_mb": summary(peaks),
    }, model


def tagging_input(data: Path, work: Path) -> tuple[Path, Path, int, int]:
    """eng.testb, repeated to at least TAG_TOKENS tokens, one sentence per line, twice: pre-tokenised
    (tokens separated by spaces) and as raw text (``conll_text.detokenize``)."""
    from conll_text import detokenize

    sentences = [s.tokens for s in read_corpus(data / "eng.testb", CorpusReading("conll"))]
    per_pass = sum(len(tokens) for tokens in sentences)
    passes = -(-TAG_TOKENS // per_pass)
    tokens_path, text_path = work / "tagging-input.txt", work / "tagging-input-raw.txt"
    tokens_path.write_text("\n".join(" ".join(tokens) for tokens in sentences * passes) + "\n", encoding="utf-8")
    text_path.write_text("\n".join(detokenize(tokens)[0] for tokens in sentences * passes) + "\n", encoding="utf-8")
    return tokens_path, text_path, per_pass * passes, len(sentences) * passes


STEADY = """
import json, sys, time
from bilstm_tagger import Tagger
from bilstm_tagger.base.runtime import set_threads
from bilstm_tagger.text.corpus import CorpusReading
set_threads(0)
tagger = Tagger.load(sys.argv[1])
with open(sys.argv[2], "rb") as stream, open("/dev/null", "w") as sink:
    start = time.perf_counter()
    options = json.loads(sys.argv[3])
    reading = CorpusReading(options.pop("input_format", "text"))
    tagger.tag_file(stream, sys.argv[2], sink, reading=reading, **options)
    print(time.perf_counter() - start)
"""

# What is tagged: (input file, tag_file options, the same as command-line options)
TAGGING_RUNS = {
    "tagging": ("tokens", {"input_format": "tokens"}, ["--input-format", "tokens"]),
    "tagging_raw_text": ("raw", {"input_format": "text"}, ["--input-format", "text"]),
    "tagging_confidence": (
        "tokens",
        {"input_format": "tokens", "confidence": True},
        ["--input-format", "tokens", "--confidence"],
    ),
}


def tagging_runs(
    model: Path, text: Path, tokens: int, sentences: int, repeats: int, options: dict, cli_options: list[str]
) -> dict:
    """Tagging throughput in-process (steady: the model loaded) and of the whole command (end to end)."""
    steady, end_to_end, peaks = [], [], []
    for _ in range(repeats):
        result = subprocess.run(
            [sys.executable, "-c", STEADY, str(model), str(text), json.dumps(options)],
            capture_output=True,
            text=True,
            check=True,
        )
        steady.append(float(result.stdout))
        wall, peak, _ = run_child([*TAGGER, "tag", str(model), "--input", str(text), *cli_options])
        end_to_end.append(wall)
        peaks.append(peak)
    return {
        "tokens": tokens,
        "sentences": sentences,
        "steady_tokens_per_second": summary([tokens / s for s in steady]),
        "steady_sentences_per_second": summary([sentences / s for s in steady]),
        "end_to_end_tokens_per_second": summary([tokens / s for s in end_to_end]),
        "end_to_end_seconds": summary(end_to_end),
        "peak_rss_mb": summary(peaks),
    }


def startup_runs(model: Path, work: Path, repeats: int) -> dict:
    sentence = work / "one-sentence.txt"
    sentence.write_text("EU rejects German call to boycott British lamb from next week .\n")
    help_times, tag_times, torch_times, bare = [], [], [], []
    for _ in range(repeats):
        help_times.append(run_child([*TAGGER, "--help"])[0])
        tag_times.append(run_child([*TAGGER, "tag", str(model)], stdin=sentence)[0])
        torch_times.append(run_child([sys.executable, "-c", "import torch"])[0])
        bare.append(run_child([sys.executable, "-c", "pass"])[0])
    torch_import = statistics.median(torch_times) - statistics.median(bare)
    return {
        "help_seconds": summary(help_times),
        "tag_one_sentence_seconds": summary(tag_times),
        "torch_import_seconds": torch_import,
        "torch_import_share_of_tag": torch_import / statistics.median(tag_times),
    }


def machine() -> dict:
    import torch

    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = available_cores()
    return {
        "cpu": cpu,
        "cores": cores,
        "threads": cores,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def print_table(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def cell(figure: dict, digits: int = 0) -> str:
        return f"{figure['median']:,.{digits}f} [dim]({figure['min']:,.{digits}f}–{figure['max']:,.{digits}f})[/]"

    console = Console()
    table = Table(title="Speed (median of runs, min–max)", title_justify="left", header_style="bold")
    table.add_column("measure")
    for config in results["configs"]:
        table.add_column(config, justify="right")
    rows = [
        (
            "train sent/s, batch " + str(DEFAULT_BATCH_SIZE),
            lambda r: cell(r["train_default_batch"]["sentences_per_second"]),
        ),
        (
            "train tokens/s, batch " + str(DEFAULT_BATCH_SIZE),
            lambda r: cell(r["train_default_batch"]["tokens_per_second"]),
        ),
        ("train sent/s, batch 10", lambda r: cell(r["train_batch_10"]["sentences_per_second"])),
        ("train peak RSS MB", lambda r: cell(r["train_default_batch"]["peak_rss_mb"])),
        ("tag tokens/s, steady", lambda r: cell(r["tagging"]["steady_tokens_per_second"])),
        ("tag sent/s, steady", lambda r: cell(r["tagging"]["steady_sentences_per_second"])),
        ("tag tokens/s, end to end", lambda r: cell(r["tagging"]["end_to_end_tokens_per_second"])),
        ("tag peak RSS MB", lambda r: cell(r["tagging"]["peak_rss_mb"])),
        ("`tagger tag` one sentence, s", lambda r: cell(r["startup"]["tag_one_sentence_seconds"], 2)),
    ]
    for name, figure in rows:
        table.add_row(name, *(figure(results["configs"][c]) for c in results["configs"]))
    console.print(table)
    startup = next(iter(results["configs"].values()))["startup"]
    # Each machine named once, in the order of the columns it measured.
    machines = dict.fromkeys(figures.config_machine(config) for config in results["configs"].values())
    console.print(
        f"`tagger --help`: {cell(startup['help_seconds'], 2)} s · torch import {startup['torch_import_seconds']:.2f} s "
        f"({100 * startup['torch_import_share_of_tag']:.0f}% of `tagger tag` on one sentence) · " + " / ".join(machines)
    )


def kept_configs(path: Path, measuring: list[str]) -> dict:
    """The configurations of an earlier speed.json that are not measured now, each with its machine.

    They keep their last figures so that the file holds the latest of each, and the machine they
    ran on so that the docs can say so where it differs from the new one's.
    """
    if not path.exists():
        return {}
    previous = json.loads(path.read_text())
    kept = {name: config for name, config in previous["configs"].items() if name not in measuring}
    for config in kept.values():  # a file from before machines were recorded per configuration
        config.setdefault("machine", previous.get("machine"))
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "speed.json")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    if not (args.data / "eng.train").exists():
        raise SystemExit(f"{args.data}: CoNLL-2003 files not found (eng.train, eng.testa, eng.testb)")
    results: dict = {"repeats": args.repeats, "configs": kept_configs(args.output, args.configs)}
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        tokens_text, raw_text, tokens, sentences = tagging_input(args.data, work)
        inputs = {"tokens": tokens_text, "raw": raw_text}
        for config in args.configs:
            started = time.perf_counter()
            default_batch, model = train_runs(args.data, config, DEFAULT_BATCH_SIZE, args.repeats, work)
            batch_10, _ = train_runs(args.data, config, 10, args.repeats, work)
            results["configs"][config] = {
                "options": CONFIGS[config],
                "train_default_batch": default_batch,
                "train_batch_10": batch_10,
                **{
                    name: tagging_runs(model, inputs[source], tokens, sentences, args.repeats, options, cli)
                    for name, (source, options, cli) in TAGGING_RUNS.items()
                },
                "startup": startup_runs(model, work, args.repeats),
                "benchmark_seconds": time.perf_counter() - started,
                "machine": machine(),
            }
    results["configs"] = {name: results["configs"][name] for name in CONFIGS if name in results["configs"]}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    if args.output.resolve() == figures.SPEED_JSON:  # the docs quote this file, not one written elsewhere
        figures.refresh_docs(speed=results)


if __name__ == "__main__":
    main()
