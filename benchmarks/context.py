"""Document context (docs/context.md): its tagging speed against sentence models, and raw text by documents.

    python benchmarks/context.py [--repeats 3] [--model DIR] [--data ../shared/data/conll2003]

* **Speed**: three models trained here for one epoch of the NER preset (speed does not depend on
  how long a model was trained): sentence by sentence, ``--context document`` and ``--context
  document --mentions``. Each tags CoNLL-2003 test (``eng.testb`` with its ``-DOCSTART-`` lines, so
  that documents are read as documents) repeated 4 times, pre-tokenised CoNLL input, the model
  loaded, all cores, on torch and on ONNX Runtime; the runs interleave, each alone, and the
  median of ``--repeats`` is taken. The ratio to the sentence model is the figure.
* **Raw text**: ``--model`` (a fully trained model with document context; the ablation writes
  them) tags the test set three ways: gold tokens (``tagger evaluate``); raw text a line per
  sentence, documents separated by a blank line, as ``tagger tag`` reads documents; and raw text
  a line per document (the tokenizer must find the sentence ends too). Entities are scored by
  character offsets against the gold ones (``confidence.py``'s scorer).

Writes ``benchmarks/context.json`` and the section between the ``context`` markers of
``benchmarks/RESULTS.md``. Run it alone: two processes at once on 2 cores slow each other.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bilstm_tagger.base.schemes import tags_to_spans
from bilstm_tagger.scoring.evaluation import evaluate_file
from bilstm_tagger.tagging.tagger import Tagger
from bilstm_tagger.text.corpus import CorpusReading, read_corpus

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from confidence import f1, raw_text_scores  # noqa: E402
from conll_text import detokenize  # noqa: E402
from engines import STEADY, train  # noqa: E402
from speed import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
DEFAULT_MODEL = ROOT / "models" / "ablation" / "conll2003-document-seed1"
RESULTS_JSON = Path(__file__).resolve().parent / "context.json"
BEGIN, END = "<!-- context:begin -->", "<!-- context:end -->"
VARIANTS = {
    "sentence": ["--preset", "ner"],
    "document": ["--preset", "ner", "--context", "document"],
    "mentions": ["--preset", "ner", "--context", "document", "--mentions"],
}
ENGINES = ("torch", "onnx")
COPIES = 4


def tagging_speeds(data: Path, work: Path, repeats: int) -> dict:
    """Tokens per second of each variant on each engine: CoNLL-2003 test, COPIES times, as CoNLL input."""
    test = (data / "eng.testb").read_text()
    corpus = work / "test-x4.conll"
    corpus.write_text(test * COPIES)
    tokens = COPIES * sum(len(s) for s in read_corpus(data / "eng.testb", CorpusReading("conll")))
    models = {name: train(data, options, work / name) for name, options in VARIANTS.items()}
    seconds: dict[str, list[float]] = {f"{name}/{engine}": [] for name in VARIANTS for engine in ENGINES}
    for _ in range(repeats):
        for name, model in models.items():
            for engine in ENGINES:
                command = [sys.executable, "-c", STEADY, str(model), str(corpus), engine, "conll", "0"]
                run = subprocess.run(command, capture_output=True, text=True, check=True)
                seconds[f"{name}/{engine}"].append(float(run.stdout))
    speeds = {key: tokens / statistics.median(values) for key, values in seconds.items()}
    return {
        "tokens": tokens,
        "tokens_per_second": speeds,
        "seconds": seconds,
        "ratio_to_sentence": {
            key: speeds[key] / speeds[f"sentence/{key.split('/')[1]}"]
            for key in speeds
            if not key.startswith("sentence/")
        },
    }


def raw_text_by_lines(tagger: Tagger, sentences) -> dict:
    """Entity F1 by character offsets of the test set as raw text a line per sentence, documents
    separated by a blank line, read as ``tagger tag`` reads it (one document up to a blank line)."""
    lines, gold = [], []
    for sentence in sentences:
        if sentence.starts_document and lines:
            lines.append("")
            gold.append(set())
        text, offsets = detokenize(sentence.tokens)
        lines.append(text)
        gold.append({(offsets[s.start][0], offsets[s.end - 1][1], s.label) for s in tags_to_spans(sentence.tags)})
    output = io.StringIO()
    stream = io.BytesIO(("\n".join(lines) + "\n").encode())
    tagger.tag_file(stream, "test.txt", output, output_format="jsonl")
    records = [json.loads(line) for line in output.getvalue().splitlines()]
    correct = predicted = 0
    for record, spans in zip(records, gold, strict=True):
        found = {(e["start"], e["end"], e["type"]) for e in record["entities"]}
        correct += len(found & spans)
        predicted += len(found)
    return {**f1(correct, predicted, sum(map(len, gold))), "lines": len(lines)}


def raw_text(model: Path, data: Path) -> dict:
    tagger = Tagger.load(model)
    sentences = read_corpus(data / "eng.testb", CorpusReading("conll"))
    gold = evaluate_file(tagger, data / "eng.testb")
    return {
        "model": str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model),
        "context": tagger.context,
        "gold_tokens": {"f1": gold.report.score},
        "lines_per_sentence": raw_text_by_lines(tagger, sentences),
        "line_per_document": raw_text_scores(tagger, sentences, per_document=True),
    }


def section(results: dict) -> str:
    speed, raw = results["speed"], results["raw_text"]
    lines = [
        BEGIN,
        "## Document context: tagging speed and raw text (`python benchmarks/context.py`)",
        "",
        f"{figures.machine_name(results['machine'])}; written by the script. CoNLL-2003 test with its "
        f"`-DOCSTART-` lines, {COPIES} times ({speed['tokens']:,} tokens), CoNLL input, the model loaded, all cores; "
        "one-epoch NER-preset models (speed does not depend on training); medians of "
        f"{len(next(iter(speed['seconds'].values())))} interleaved runs, each alone.",
        "",
        "| model | engine | tokens/s | × sentence model |",
        "|---|---|---:|---:|",
    ]
    for key, value in speed["tokens_per_second"].items():
        name, engine = key.split("/")
        ratio = speed["ratio_to_sentence"].get(key, 1.0)
        lines.append(f"| {name} | {engine} | {value:,.0f} | {ratio:.2f} |")
    lines += [
        "",
        f"Raw text with `{raw['model']}` (context: {raw['context']}), CoNLL-2003 test, entities scored by "
        "character offsets:",
        "",
        "| input | entity F1 | precision | recall |",
        "|---|---:|---:|---:|",
        f"| gold tokens (`tagger evaluate`) | {raw['gold_tokens']['f1']:.2f} | | |",
    ]
    for key, label in (
        ("lines_per_sentence", "raw text, a line per sentence, a blank line between documents"),
        ("line_per_document", "raw text, a line per document"),
    ):
        row = raw[key]
        lines.append(f"| {label} | {row['f1']:.2f} | {row['precision']:.2f} | {row['recall']:.2f} |")
    return "\n".join([*lines, END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        speed = tagging_speeds(args.data, Path(work), args.repeats)
    results = {"machine": machine(), "speed": speed, "raw_text": raw_text(args.model, args.data)}
    figures.publish(results, RESULTS_JSON, "context.json", section(results), figures.RESULTS_MD, BEGIN, END)


if __name__ == "__main__":
    main()
