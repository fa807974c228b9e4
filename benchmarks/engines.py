"""torch against ONNX Runtime: start-up, steady tagging speed and peak memory of tagging.

    python benchmarks/engines.py [--repeats 5] [--data ../shared/data/conll2003]

Two models, trained here for one epoch on CoNLL-2003 (speed does not depend on how long a model
was trained): the tool's default configuration and the NER preset (GloVe 6B 50d). For each, with
``--engine torch`` and ``--engine onnx``, side by side in one run:

* ``tagger tag`` of one sentence from process start to exit (median of ``--repeats``), as raw
  text and as pre-tokenised input (``--input-format tokens``);
* steady tagging: the model loaded, eng.testb repeated to 500,000 tokens, pre-tokenised, all
  cores (``speed.py``'s measure);
* the peak memory (max RSS) of the whole ``tagger tag`` command over that file.

And whether the engines agree: every tag, and the largest difference of a token's and an entity's
confidence, on CoNLL-2003 test (the NER model) and UD English EWT test (a ``--preset pos`` model,
also trained here for one epoch).

Writes ``benchmarks/engines.json`` and the section between the ``engines`` markers of
``benchmarks/RESULTS.md``. Run it alone: two processes at once on 2 cores slow each other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from speed import TAGGER, machine, run_child, summary, tagging_input  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
EWT = ROOT.parent / "shared" / "data" / "ud_en_ewt"
RESULTS = figures.RESULTS_MD
BEGIN, END = "<!-- engines:begin -->", "<!-- engines:end -->"
MODELS = {"default": [], "ner-preset": ["--preset", "ner"]}
ENGINES = ("torch", "onnx")
SENTENCE = "EU rejects German call to boycott British lamb from next week.\n"
TOKENS = "EU rejects German call to boycott British lamb from next week .\n"

LOAD = """
import json, sys, time
started = time.perf_counter()
from bilstm_tagger import Tagger
imported = time.perf_counter()
tagger = Tagger.load(sys.argv[1], engine=sys.argv[2])
loaded = time.perf_counter()
tagger.tag([["EU", "rejects", "German", "call", "."]], confidence=True)
print(json.dumps([imported - started, loaded - imported, time.perf_counter() - loaded]))
"""

STEADY = """
import json, sys, time
from bilstm_tagger import Tagger
from bilstm_tagger.text.corpus import CorpusReading
tagger = Tagger.load(sys.argv[1], engine=sys.argv[3], threads=0)
assert tagger.engine == sys.argv[3]
with open(sys.argv[2], "rb") as stream, open("/dev/null", "w") as sink:
    start = time.perf_counter()
    tagger.tag_file(stream, sys.argv[2], sink, reading=CorpusReading("tokens"))
    print(time.perf_counter() - start)
"""


def train(
    data: Path, options: list[str], output: Path, train_file: str = "eng.train", dev_file: str = "eng.testa"
) -> Path:
    command = [*TAGGER, "train", str(data / train_file), "--dev", str(data / dev_file)]
    subprocess.run([*command, "--output", str(output), "--max-epochs", "1", *options], check=True, capture_output=True)
    if not (output / "model.onnx").exists():
        raise SystemExit(f"{output}: no model.onnx after training; install the onnx extra (make install)")
    return output


def measure(model: Path, engine: str, work: Path, tokens_file: Path, tokens: int, repeats: int) -> dict:
    one_sentence = {"raw_text": work / "sentence.txt", "tokens": work / "tokens.txt"}
    one_sentence["raw_text"].write_text(SENTENCE)
    one_sentence["tokens"].write_text(TOKENS)
    options = {"raw_text": [], "tokens": ["--input-format", "tokens"]}
    startup: dict[str, list[float]] = {name: [] for name in one_sentence}
    steady, peaks, phases = [], [], []
    for _ in range(repeats):
        result = subprocess.run(
            [sys.executable, "-c", LOAD, str(model), engine], capture_output=True, text=True, check=True
        )
        phases.append(json.loads(result.stdout))
        for name, path in one_sentence.items():
            wall, _, _ = run_child([*TAGGER, "tag", str(model), "--engine", engine, *options[name]], stdin=path)
            startup[name].append(wall)
    for _ in range(max(1, repeats // 2)):
        result = subprocess.run(
            [sys.executable, "-c", STEADY, str(model), str(tokens_file), engine],
            capture_output=True,
            text=True,
            check=True,
        )
        steady.append(tokens / float(result.stdout))
        _, peak, _ = run_child(
            [*TAGGER, "tag", str(model), "--engine", engine, "--input-format", "tokens", "-i", str(tokens_file)]
        )
        peaks.append(peak)
    return {
        "one_sentence_seconds": {name: summary(values) for name, values in startup.items()},
        # In-process: importing the tagging module, Tagger.load (the engine's imports included), the first sentence.
        "import_seconds": summary([phase[0] for phase in phases]),
        "load_seconds": summary([phase[1] for phase in phases]),
        "first_sentence_seconds": summary([phase[2] for phase in phases]),
        "steady_tokens_per_second": summary(steady),
        "peak_rss_mb": summary(peaks),
    }


def agreement(model: Path, corpus: Path) -> dict:
    """How far the ONNX path's tags and confidences are from torch's on a labelled corpus."""
    from bilstm_tagger import Tagger
    from bilstm_tagger.text.corpus import CorpusReading, read_corpus

    sentences = [s.tokens for s in read_corpus(corpus, CorpusReading("auto"))]
    tagged = {engine: Tagger.load(model, engine=engine).tag(sentences, confidence=True) for engine in ENGINES}
    pairs = list(zip(tagged["torch"], tagged["onnx"]))
    token_gaps = [abs(a - b) for x, y in pairs for a, b in zip(x.scores, y.scores)]
    span_gaps = [abs(a - b) for x, y in pairs if x.spans == y.spans for a, b in zip(x.span_scores, y.span_scores)]
    return {
        "corpus": corpus.name,
        "sentences": len(sentences),
        "tokens": len(token_gaps),
        "tags_differing": sum(a != b for x, y in pairs for a, b in zip(x.tags, y.tags)),
        "max_token_confidence_gap": max(token_gaps),
        "max_entity_confidence_gap": max(span_gaps, default=0.0),
    }


def report(results: dict) -> str:
    lines = [
        BEGIN,
        "## torch against ONNX Runtime (`benchmarks/engines.py`)",
        "",
        f"Written by `python benchmarks/engines.py --repeats {results['repeats']}`; {figures.machine_name(results['machine'])}. "
        "Medians, min–max in brackets; one sentence is from process start to exit; loading the model is "
        "`Tagger.load` in a process that has imported the tagging module (the engine's own imports included); "
        "steady tagging is eng.testb "
        "repeated to 500,000 tokens, pre-tokenised, the model loaded, all cores; peak memory is that of the whole "
        "command over the same file.",
        "",
        "| model | engine | one sentence, raw text (s) | one sentence, tokens (s) | of which loading the model (s) | steady tokens/s | peak memory (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, engines in results["models"].items():
        for engine, figure in engines.items():
            lines.append(
                f"| {model} | {engine} | {figures.spread(figure['one_sentence_seconds']['raw_text'], 2)} "
                f"| {figures.spread(figure['one_sentence_seconds']['tokens'], 2)} "
                f"| {figures.spread(figure['load_seconds'], 2)} "
                f"| {figures.spread(figure['steady_tokens_per_second'])} | {figures.spread(figure['peak_rss_mb'])} |"
            )
        ratio = (
            engines["onnx"]["steady_tokens_per_second"]["median"]
            / engines["torch"]["steady_tokens_per_second"]["median"]
        )
        lines.append(f"| {model} | onnx ÷ torch | | | | {figures.times(ratio)} | |")
    lines += [
        "",
        "| corpus | sentences | tokens | tags differing (onnx against torch) | largest token confidence gap | largest entity confidence gap |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["agreement"]:
        lines.append(
            f"| {row['corpus']} | {row['sentences']:,} | {row['tokens']:,} | {row['tags_differing']} "
            f"| {row['max_token_confidence_gap']:.1e} | {row['max_entity_confidence_gap']:.1e} |"
        )
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "engines.json")
    args = parser.parse_args()
    results: dict = {"repeats": args.repeats, "machine": machine(), "models": {}, "agreement": []}
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        tokens_file, _, tokens, _ = tagging_input(args.data, work)
        for name, options in MODELS.items():
            model = train(args.data, options, work / name)
            results["models"][name] = {
                engine: measure(model, engine, work, tokens_file, tokens, args.repeats) for engine in ENGINES
            }
            print(name, json.dumps(results["models"][name]), flush=True)
            if name == "ner-preset":
                results["agreement"].append(agreement(model, args.data / "eng.testb"))
        if (EWT / "en_ewt-ud-train.conllu").exists():
            pos = train(EWT, ["--preset", "pos"], work / "pos", "en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu")
            results["agreement"].append(agreement(pos, EWT / "en_ewt-ud-test.conllu"))
        print(json.dumps(results["agreement"]), flush=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    print(text)
    if args.output.resolve() == (ROOT / "benchmarks" / "engines.json").resolve():
        figures.replace_section(RESULTS, BEGIN, END, text)


if __name__ == "__main__":
    main()
