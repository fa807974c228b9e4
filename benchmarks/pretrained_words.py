"""What keeping fewer pretrained words costs: ``tagger train --pretrained-words N``, measured on trained models.

    make bench-pretrained-words    (trains the models, then runs this)
    python benchmarks/pretrained_words.py --model DIR --test FILE [--model DIR --test FILE ...]
                                          [--words 400000 200000 100000 50000 20000]

The vectors of pretrained words absent from the training data are frozen: training never changes
them, and they only matter for the test words that training never saw. So the model that
``--pretrained-words N`` would have given is, up to which epoch early stopping keeps, the trained
model with those vectors cut to the GloVe file's first N words. For each N this writes that copy
(``vocab.json``, ``pretrained.npy``, ``model.onnx``), scores it on the test file, and measures the
directory. The models must hold all the words: ``make bench-pretrained-words`` trains the two presets
with ``--pretrained-words 400000`` first (the presets keep 200,000).

Writes ``benchmarks/pretrained_words.json`` and the section between the ``pretrained-words`` markers of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from speed import TAGGER  # noqa: E402

from bilstm_tagger.model import checkpoint  # noqa: E402
from bilstm_tagger.model.embeddings import load_pretrained  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- pretrained-words:begin -->", "<!-- pretrained-words:end -->"


def cut(model: Path, words: int, ranks: dict[str, int], output: Path) -> Path:
    """A copy of ``model`` that keeps the pretrained words among the vectors file's first ``words``."""
    shutil.copytree(model, output)
    vocab = json.loads((output / "vocab.json").read_text(encoding="utf-8"))
    kept = [index for index, word in enumerate(vocab["extra_words"]) if ranks[word] < words]
    vectors, _ = checkpoint.read_vectors(model / checkpoint.PRETRAINED_FILE)
    vocab["extra_words"] = [vocab["extra_words"][index] for index in kept]
    (output / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (output / checkpoint.PRETRAINED_FILE).write_bytes(checkpoint.vectors_bytes(np.array(vectors[kept])))
    for name in (checkpoint.ONNX_FILE, checkpoint.INT8_ONNX_FILE):
        (output / name).unlink(missing_ok=True)
    subprocess.run([*TAGGER, "export", str(output)], check=True, capture_output=True)
    return output


def measure(model: Path, test: Path, counts: list[int], ranks: dict[str, int], work: Path) -> dict:
    subprocess.run([*TAGGER, "export", str(model)], check=True, capture_output=True)  # pretrained.npy
    rows = []
    for words in counts:
        copy = cut(model, words, ranks, work / f"{model.name}-{words}")
        result = subprocess.run([*TAGGER, "evaluate", str(copy), str(test), "--json"], check=True, capture_output=True)
        report = json.loads(result.stdout)
        size = sum(path.stat().st_size for path in copy.iterdir()) / 1e6
        extra = len(json.loads((copy / "vocab.json").read_text(encoding="utf-8"))["extra_words"])
        rows.append({"words": words, "extra_words": extra, "score": report["score"], "directory_mb": size})
        print(model.name, rows[-1], flush=True)
    return {"model": str(model), "test": test.name, "metric": report["metric"], "rows": rows}


def report(results: dict) -> str:
    lines = [
        BEGIN,
        "## Fewer pretrained words (`benchmarks/pretrained_words.py`)",
        "",
        "Written by `python benchmarks/pretrained_words.py`: each trained model (GloVe 6B 50d) with the vectors "
        "of the words absent from its training data cut to GloVe's first N words, as `--pretrained-words N` "
        "keeps them; the directory holds model.pt, vocab.json, pretrained.npy and model.onnx.",
        "",
        "| model | test | N | pretrained words kept | score | change | directory (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in results["models"]:
        everything = model["rows"][0]["score"]
        for row in model["rows"]:
            lines.append(
                f"| {Path(model['model']).name} | {model['test']} ({model['metric']}) | {row['words']:,} "
                f"| {row['extra_words']:,} | {row['score']:.2f} | {row['score'] - everything:+.2f} "
                f"| {row['directory_mb']:.0f} |"
            )
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--test", type=Path, action="append", required=True)
    parser.add_argument("--words", type=int, nargs="+", default=[400_000, 200_000, 100_000, 50_000, 20_000])
    parser.add_argument("--embeddings", default="glove-6b-50d", help="the vectors the models were trained with")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "pretrained_words.json")
    args = parser.parse_args()
    pretrained = load_pretrained(args.embeddings)
    ranks = {}
    for rank, word in enumerate(pretrained.words):
        ranks.setdefault(word, rank)
    results = {"embeddings": args.embeddings, "models": []}
    with tempfile.TemporaryDirectory() as directory:
        for model, test in zip(args.model, args.test):
            results["models"].append(measure(model, test, args.words, ranks, Path(directory)))
    figures.publish(results, args.output, "pretrained_words.json", report(results), figures.RESULTS_MD, BEGIN, END)


if __name__ == "__main__":
    main()
