"""``tagger tag-dataset`` on Dask, Spark and Ray against ``tagger tag --workers 2``, on the same text.

    python benchmarks/datasets.py [--model DIR] [--repeats 2] [--output benchmarks/datasets.json]

The model is an NER-preset model trained here for one epoch on CoNLL-2003 (speed does not depend
on how long a model trained), unless ``--model`` names one (with its ``model.onnx``). Two inputs,
raw text one sentence a line: CoNLL-2003 test once, and repeated to 500,000 tokens.

* **Records**: every engine's output, ordered by input position, against ``tagger tag --format
  jsonl`` of the same file, record by record (text, sentences, tokens, tags, confidences, entities).
* **Throughput** on the 500,000 tokens, every run alone, the runs interleaved ``--repeats`` times:
  ``tagger tag --workers 2 --format jsonl`` as one command, and ``tagger tag-dataset --workers 2``
  (and ``--workers 1``) on each engine as one command, start-up included; the start-up (until the
  cluster is up), each split's seconds and its model load, from the job's ``_SUCCESS``.
* **What each engine costs**: the size of its own installed packages.

Writes ``benchmarks/datasets.json`` and the section between the ``datasets`` markers of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from importlib.metadata import distribution
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from conll_text import detokenize  # noqa: E402
from engines import train  # noqa: E402
from speed import TAGGER, machine, run_child  # noqa: E402

from bilstm_tagger.text.corpus import CorpusReading, read_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
BEGIN, END = "<!-- datasets:begin -->", "<!-- datasets:end -->"
TOKENS = 500_000
CLUSTERS = ("dask", "spark", "ray")
# Each engine's own distributions (not the libraries they share with the rest, such as pyarrow or pandas).
PACKAGES = {"dask": ["dask", "distributed"], "spark": ["pyspark", "py4j"], "ray": ["ray"]}
TARGET_RATIO = 0.8  # of tagger tag --workers 2's throughput, start-up included


def inputs(data: Path, work: Path) -> dict[str, tuple[Path, int]]:
    """CoNLL-2003 test as raw text, once and repeated to TOKENS tokens: each file and its tokens."""
    sentences = [sentence.tokens for sentence in read_corpus(data / "eng.testb", CorpusReading("conll"))]
    per_pass = sum(len(tokens) for tokens in sentences)
    lines = [detokenize(tokens)[0] for tokens in sentences]
    once, repeated = work / "test.txt", work / "test-500k.txt"
    once.write_text("\n".join(lines) + "\n", encoding="utf-8")
    passes = -(-TOKENS // per_pass)
    repeated.write_text("\n".join(lines * passes) + "\n", encoding="utf-8")
    return {"test": (once, per_pass), "500k": (repeated, per_pass * passes)}


def tag_command(model: Path, path: Path, workers: int) -> list[str]:
    return [*TAGGER, "tag", str(model), "--input", str(path), "--format", "jsonl", "--workers", str(workers)]


def dataset_command(model: Path, path: Path, output: Path, cluster: str, workers: int) -> list[str]:
    command = [*TAGGER, "tag-dataset", str(model), str(path), str(output), "--cluster", cluster]
    return [*command, "--workers", str(workers), "--format", "jsonl", "--overwrite"]


def job_record(output: Path) -> dict:
    return json.loads((output / "_SUCCESS").read_text())


def same_records(tagged: Path, output: Path) -> dict:
    """How many of the job's records equal ``tagger tag``'s for the same line, ordered by input position."""
    expected = [json.loads(line) for line in tagged.read_text(encoding="utf-8").splitlines()]
    records = [json.loads(line) for part in sorted(output.glob("part-*")) for line in part.read_text().splitlines()]
    records.sort(key=lambda record: (record["source"], record["position"]))
    equal = sum({key: r[key] for key in ("text", "sentences", "entities")} == e for r, e in zip(records, expected))
    return {"input_lines": len(expected), "records": len(records), "equal": equal}


def installed_mb(names: list[str]) -> float:
    total = 0
    for name in names:
        files = distribution(name).files or []
        total += sum(file.locate().stat().st_size for file in files if file.locate().is_file())
    return total / 1e6


def measure(model: Path, data: Path, work: Path, repeats: int) -> dict:
    files = inputs(data, work)
    results: dict = {"tokens": {name: tokens for name, (_, tokens) in files.items()}, "records": {}, "runs": {}}
    tagged = {}
    for name, (path, _) in files.items():  # the reference records, and a run of every engine to compare
        tagged[name] = work / f"{name}.jsonl"
        run_child(tag_command(model, path, 2), stdout=tagged[name])
        for cluster in CLUSTERS:
            output = work / f"{name}-{cluster}"
            run_child(dataset_command(model, path, output, cluster, 2))
            results["records"][f"{name}, {cluster}"] = same_records(tagged[name], output)
            print(f"records, {name}, {cluster}: {results['records'][f'{name}, {cluster}']}", flush=True)
    path, tokens = files["500k"]
    runs: dict[str, list] = {}
    for repeat in range(repeats):
        for workers in (2, 1):
            wall, peak, _ = run_child(tag_command(model, path, workers), stdout=work / "tagged.jsonl")
            runs.setdefault(f"tag, {workers}", []).append({"seconds": wall, "peak_rss_mb": peak})
            for cluster in CLUSTERS:
                output = work / f"run-{cluster}"
                wall, peak, _ = run_child(dataset_command(model, path, output, cluster, workers))
                job = job_record(output)
                splits = job["split_reports"]
                runs.setdefault(f"{cluster}, {workers}", []).append(
                    {
                        "seconds": wall,
                        "job_seconds": job["seconds"],
                        "startup_seconds": job["startup_seconds"],
                        "splits": len(splits),
                        "split_seconds": [split["seconds"] for split in splits],
                        "model_loads": [split["load_seconds"] for split in splits if split["load_seconds"] > 0],
                        "workers_seen": len({split["worker"] for split in splits}),
                    }
                )
                shutil.rmtree(output)
            print(f"repeat {repeat + 1}, {workers} workers: done", flush=True)
    results["runs"] = runs
    results["installed_mb"] = {cluster: installed_mb(names) for cluster, names in PACKAGES.items()}
    return results


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(results: dict) -> str:
    runs, tokens = results["runs"], results["tokens"]["500k"]
    tag_seconds = median(runs["tag, 2"], "seconds")
    lines = [
        BEGIN,
        "## Tagging a dataset on Dask, Spark and Ray (`python benchmarks/datasets.py`)",
        "",
        f"{results['machine']['cpu']}, {results['machine']['cores']} cores; written by the script. CoNLL-2003 "
        f"test as raw text, one sentence a line, repeated to {tokens:,} tokens; an NER-preset model on ONNX "
        f"Runtime; every run alone, as one command, start-up included; medians of {results['repeats']} "
        "interleaved runs. Local clusters on 127.0.0.1.",
        "",
        "| command | workers | seconds | tokens/s | × `tagger tag --workers 2` | start-up (s) | "
        "splits | model load a worker (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers in (2, 1):
        seconds = median(runs[f"tag, {workers}"], "seconds")
        lines.append(
            f"| `tagger tag --format jsonl` | {workers} | {seconds:.1f} | {tokens / seconds:,.0f} | "
            f"{tag_seconds / seconds:.2f} | | | |"
        )
        for cluster in CLUSTERS:
            measured = runs[f"{cluster}, {workers}"]
            seconds = median(measured, "seconds")
            loads = [load for run in measured for load in run["model_loads"]]
            lines.append(
                f"| `tagger tag-dataset --cluster {cluster}` | {workers} | {seconds:.1f} | {tokens / seconds:,.0f} | "
                f"{tag_seconds / seconds:.2f} | {median(measured, 'startup_seconds'):.1f} | {measured[0]['splits']} | "
                f"{statistics.median(loads):.2f} |"
            )
    lines += ["", "| engine | 1 → 2 workers, whole command | 1 → 2 workers, after start-up | installed (MB) |"]
    lines.append("|---|---:|---:|---:|")
    for cluster in CLUSTERS:
        one, two = runs[f"{cluster}, 1"], runs[f"{cluster}, 2"]
        whole = median(one, "seconds") / median(two, "seconds")
        after = (median(one, "job_seconds") - median(one, "startup_seconds")) / (
            median(two, "job_seconds") - median(two, "startup_seconds")
        )
        lines.append(f"| {cluster} | {whole:.2f}× | {after:.2f}× | {results['installed_mb'][cluster]:,.0f} |")
    two = runs["dask, 2"]
    steady = tokens / (median(two, "job_seconds") - median(two, "startup_seconds"))
    lines += [
        "",
        f"On paper, by the same measure: Dask's 2 workers tag {steady:,.0f} tokens/s once started. A cluster of N "
        f"such 2-core machines reading from shared storage would tag N × {steady:,.0f} tokens/s at best (the "
        f"speed-up from 1 to 2 workers above says how close to N× the cores of one machine come), so a billion "
        f"tokens would take about {1e9 / steady / 3600:.1f} hours on 1 machine, "
        f"{1e9 / steady / 10 / 60:.0f} minutes on 10 and {1e9 / steady / 100 / 60:.1f} minutes on 100, plus a "
        "start-up of seconds; storage bandwidth and the scheduler's overhead per split (a few milliseconds) "
        "are not in this figure.",
        "",
        "| records equal to `tagger tag --format jsonl`'s, by input position | input lines | records | equal |",
        "|---|---:|---:|---:|",
    ]
    for name, row in results["records"].items():
        lines.append(f"| {name} | {row['input_lines']:,} | {row['records']:,} | {row['equal']:,} |")
    ratio = tag_seconds / median(runs["dask, 2"], "seconds")
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    lines += [
        "",
        f"Target: {TARGET_RATIO}× the throughput of `tagger tag --workers 2`, start-up included: {verdict} by "
        f"Dask ({ratio:.2f}×), the default. Once started, its 2 workers tag at {steady * tag_seconds / tokens:.2f}× "
        f"the rate of the whole `tagger tag --workers 2` command (whose {tag_seconds:.1f} s include its own "
        f"start); what is lost is the start of the cluster ({median(two, 'startup_seconds'):.2f} s: two worker "
        "processes started by spawn, each importing Dask) and each worker's first split, which warms its caches.",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a model directory with model.onnx (default: trained here)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=figures.BENCHMARKS / "datasets.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        model = args.model
        if model is None:
            print("training the model (one epoch) …", flush=True)
            model = train(args.data, ["--preset", "ner"], work / "model")
        results = {"machine": machine(), "repeats": args.repeats, **measure(model, args.data, work, args.repeats)}
    figures.publish(results, args.output, "datasets.json", report(results), figures.RESULTS_MD, BEGIN, END)


if __name__ == "__main__":
    main()
