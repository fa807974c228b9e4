"""Raw text, calibration and n-best on CoNLL-2003 test: the figures of issue "Text in, entities out".

    python benchmarks/confidence.py [MODEL_DIR] [--data ../shared/data/conll2003]

MODEL_DIR defaults to ``models/bench/conll2003-glove-seed1`` (``make bench-accuracy`` trains it);
a model without ``calibration.json`` is first calibrated on the dev set (``eng.testa``), as
``tagger train`` does when it ends. Then, on the test set (``eng.testb``):

* **raw text**: every test sentence is joined back into raw text (``conll_text.detokenize``, whose
  docstring gives the spacing rules), one line per sentence and, separately, one line per
  document (its sentences joined by a space, so the tokenizer must find the sentence ends too);
  the lines are tagged with ``--input-format text`` and entities are scored by character offsets
  against the gold entities' offsets, next to the F1 on the gold tokens;
* **calibration**: the expected calibration error (10 bins) of entity confidences, at temperature
  1 and at the stored one, with the reliability table;
* **n-best**: the oracle entity F1 when, for each sentence, the best of its K most probable tag
  sequences is taken (the one with the most correct entities, then the fewest wrong ones).

Writes ``benchmarks/confidence.json`` and the section between the ``confidence`` markers of
``benchmarks/RESULTS.md``. Run it alone (it times nothing, but shares the machine's 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bilstm_tagger.base.schemes import Span, detect_scheme, tags_to_spans
from bilstm_tagger.scoring.calibration_metrics import expected_calibration_error, reliability
from bilstm_tagger.scoring.metrics import evaluate
from bilstm_tagger.tagging.tagger import Tagger
from bilstm_tagger.text.corpus import CorpusReading, read_corpus
from bilstm_tagger.training.calibration import calibrate_model, outcomes

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from conll_text import detokenize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "bench" / "conll2003-glove-seed1"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- confidence:begin -->", "<!-- confidence:end -->"
NBEST = (1, 5, 10)


def f1(correct: int, predicted: int, gold: int) -> dict:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * score}


def raw_text_scores(tagger: Tagger, sentences, per_document: bool) -> dict:
    """Entity F1 by character offsets of the test set given as raw text, one line per sentence or per document."""
    lines: list[str] = []
    gold: list[set] = []
    groups: list[list] = [[]]
    for sentence in sentences:
        if per_document and sentence.document_header is not None and groups[-1]:
            groups.append([])
        groups[-1].append(sentence)
    if not per_document:
        groups = [[sentence] for sentence in sentences]
    for group in groups:
        text, spans = "", set()
        for sentence in group:
            if text:
                text += " "
            sentence_text, offsets = detokenize(sentence.tokens)
            for span in tags_to_spans(sentence.tags):
                start, end = offsets[span.start][0], offsets[span.end - 1][1]
                spans.add((len(text) + start, len(text) + end, span.label))
            text += sentence_text
        lines.append(text)
        gold.append(spans)
    started = time.perf_counter()
    documents = list(tagger.pipe(lines, confidence=False))
    seconds = time.perf_counter() - started
    correct = predicted = 0
    for document, spans in zip(documents, gold):
        found = {(e.start, e.end, e.type) for e in document.entities}
        correct += len(found & spans)
        predicted += len(found)
    tokens = sum(len(document.tokens) for document in documents)
    return {
        **f1(correct, predicted, sum(len(spans) for spans in gold)),
        "lines": len(lines),
        "tokens": tokens,
        "seconds": seconds,
    }


def calibration_figures(tagger: Tagger, sentences) -> dict:
    figures = {}
    for name, temperature in (("uncalibrated", 1.0), ("calibrated", tagger.model.temperature)):
        confidences, correct = outcomes(tagger.model, sentences, temperature)
        figures[name] = {
            "temperature": temperature,
            "ece": expected_calibration_error(confidences, correct),
            "entities": len(confidences),
            "reliability": [vars(row) for row in reliability(confidences, correct)],
        }
    return figures


def oracle_scores(tagger: Tagger, sentences) -> dict:
    scheme = detect_scheme(s.tags for s in sentences)
    request = tagger.model.request(False, max(NBEST))
    predicted = list(tagger.model.tag_sentences((s.tokens for s in sentences), scheme=scheme, request=request))
    gold_total = 0
    correct = dict.fromkeys(NBEST, 0)
    found = dict.fromkeys(NBEST, 0)
    for sentence, prediction in zip(sentences, predicted):
        gold = set(tags_to_spans(sentence.tags))
        gold_total += len(gold)
        candidates = [set(tags_to_spans(path.tags)) for path in prediction.nbest or []]
        for k in NBEST:
            best: set[Span] = max(candidates[:k], key=lambda spans: (len(spans & gold), -len(spans - gold)))
            correct[k] += len(best & gold)
            found[k] += len(best)
    return {str(k): f1(correct[k], found[k], gold_total)["f1"] for k in NBEST}


def markdown(results: dict) -> str:
    raw, cal = results["raw_text"], results["calibration"]
    lines = [
        BEGIN,
        "## Raw text, confidences and n-best (`python benchmarks/confidence.py`)",
        "",
        f"Model `{results['model']}`, CoNLL-2003 test (`eng.testb`); written by the script.",
        "",
        "| input | entity F1 | precision | recall |",
        "|---|---:|---:|---:|",
        f"| gold tokens (`tagger evaluate`) | {results['gold_tokens']['f1']:.2f} | "
        f"{results['gold_tokens']['precision']:.2f} | {results['gold_tokens']['recall']:.2f} |",
    ]
    for key, label in (
        ("per_sentence", "raw text, a line per sentence"),
        ("per_document", "raw text, a line per document"),
    ):
        row = raw[key]
        lines.append(
            f"| {label} (character offsets) | {row['f1']:.2f} | {row['precision']:.2f} | {row['recall']:.2f} |"
        )
    lines += [
        "",
        f"Expected calibration error of entity confidences (10 bins, {cal['calibrated']['entities']:,} entities): "
        f"**{cal['calibrated']['ece']:.4f}** at the stored temperature {cal['calibrated']['temperature']:.3f} "
        f"(fitted on the dev set), {cal['uncalibrated']['ece']:.4f} at temperature 1.",
        "",
        "| confidence | entities | mean confidence | accuracy | (temperature 1: entities | accuracy) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row, raw_row in zip(cal["calibrated"]["reliability"], cal["uncalibrated"]["reliability"]):
        lines.append(
            f"| {row['lower']:.1f}–{row['upper']:.1f} | {row['count']} | {row['mean_confidence']:.3f} | "
            f"{row['accuracy']:.3f} | {raw_row['count']} | {raw_row['accuracy']:.3f} |"
        )
    lines += ["", "| n-best oracle | " + " | ".join(f"K = {k}" for k in NBEST) + " |", "|---|" + "---:|" * len(NBEST)]
    lines.append("| entity F1 | " + " | ".join(f"{results['nbest_oracle'][str(k)]:.2f}" for k in NBEST) + " |")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    dev = read_corpus(args.data / "eng.testa", CorpusReading("conll"))
    test = read_corpus(args.data / "eng.testb", CorpusReading("conll"))
    if not (args.model / "calibration.json").exists():
        calibrate_model(args.model, dev, "eng.testa")
    tagger = Tagger.load(args.model)
    scheme = detect_scheme(s.tags for s in test)
    predicted = [p.tags for p in tagger.model.tag_sentences((s.tokens for s in test), scheme=scheme)]
    report = evaluate([s.tags for s in test], predicted, scheme)
    results = {
        "model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
        "gold_tokens": {"f1": report.score, "precision": report.precision, "recall": report.recall},
        "raw_text": {
            "per_sentence": raw_text_scores(tagger, test, per_document=False),
            "per_document": raw_text_scores(tagger, test, per_document=True),
        },
        "calibration": calibration_figures(tagger, test),
        "nbest_oracle": oracle_scores(tagger, test),
    }
    (Path(__file__).resolve().parent / "confidence.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    figures.replace_section(RESULTS, BEGIN, END, text)
    print(text)


if __name__ == "__main__":
    main()
