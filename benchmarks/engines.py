"""torch against ONNX Runtime, float and int8: start-up, steady tagging speed, memory, a roofline, agreement.

    python benchmarks/engines.py [--repeats 5] [--data ../shared/data/conll2003]
                                 [--ner-model DIR] [--pos-model DIR]

Two models, trained here for one epoch on CoNLL-2003 (speed does not depend on how long a model
was trained): the tool's default configuration and the NER preset (GloVe 6B 50d), each exported
with ``--quantize int8`` too. For each, with ``--engine torch``, ``onnx`` and ``onnx-int8``, side by
side in one run, each timing alone:

* ``tagger tag`` of one sentence from process start to exit (median of ``--repeats``), as raw
  text and as pre-tokenised input (``--input-format tokens``), next to ``import torch`` alone;
* steady tagging: the model loaded, eng.testb repeated to 500,000 tokens, all cores: pre-tokenised
  (``speed.py``'s measure), pre-tokenised with ``--confidence``, and as raw text;
* the peak memory (max RSS) of the whole ``tagger tag`` command over the pre-tokenised file, and
  the size of the model directory.

Then a roofline: the NER preset's multiply-adds per token, the rate at which these cores multiply
matrices (numpy, and ONNX Runtime's float and int8 products at the recurrent step's shape, same
run), and the share of that rate that tagging reaches.

And agreement, on CoNLL-2003 test (an NER preset model) and UD English EWT test (a ``--preset pos``
model): tags that differ between torch and ONNX Runtime and the largest confidence gaps; the int8
graph's F1 / accuracy against the float one's and the tags that differ; and the batched decoder
against the per-sentence decoder it replaced (``tests/reference_decoding.py``): tags, entities,
confidences and the 3 best paths. ``--ner-model`` and ``--pos-model`` name fully trained models
(``make bench-accuracy`` writes them) for this part; without them, one-epoch models are trained here.

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
ENGINES = ("torch", "onnx", "onnx-int8")
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

# As tagger tag does it: the model loaded, then kept out of the garbage collector's way.
STEADY = """
import json, sys, time
from bilstm_tagger import Tagger
from bilstm_tagger.base.runtime import freeze_loaded_objects
from bilstm_tagger.text.corpus import CorpusReading
tagger = Tagger.load(sys.argv[1], engine=sys.argv[3], threads=0)
assert tagger.engine == sys.argv[3]
freeze_loaded_objects()
with open(sys.argv[2], "rb") as stream, open("/dev/null", "w") as sink:
    start = time.perf_counter()
    tagger.tag_file(stream, sys.argv[2], sink, reading=CorpusReading(sys.argv[4]), confidence=sys.argv[5] == "1")
    print(time.perf_counter() - start)
"""

IMPORT_TORCH = "import time; start = time.perf_counter(); import torch; print(time.perf_counter() - start)"


def train(
    data: Path, options: list[str], output: Path, train_file: str = "eng.train", dev_file: str = "eng.testa"
) -> Path:
    command = [*TAGGER, "train", str(data / train_file), "--dev", str(data / dev_file)]
    subprocess.run([*command, "--output", str(output), "--max-epochs", "1", *options], check=True, capture_output=True)
    return exported(output)


def exported(model: Path) -> Path:
    """The model with its float and int8 graphs (``tagger export --quantize int8``)."""
    subprocess.run([*TAGGER, "export", str(model), "--quantize", "int8"], check=True, capture_output=True)
    return model


def directory_mb(model: Path, engine: str) -> float:
    """What a model directory holds for an engine: all but the other engines' graphs."""
    others = {"torch": {"model.onnx", "model.int8.onnx"}, "onnx": {"model.int8.onnx"}, "onnx-int8": {"model.onnx"}}
    return sum(p.stat().st_size for p in model.iterdir() if p.name not in others[engine]) / 1e6


def steady_seconds(model: Path, engine: str, path: Path, input_format: str, confidence: bool) -> float:
    command = [sys.executable, "-c", STEADY, str(model), str(path), engine, input_format, str(int(confidence))]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def measure(model: Path, engine: str, work: Path, inputs: dict, repeats: int) -> dict:
    one_sentence = {"raw_text": work / "sentence.txt", "tokens": work / "tokens.txt"}
    one_sentence["raw_text"].write_text(SENTENCE)
    one_sentence["tokens"].write_text(TOKENS)
    options = {"raw_text": [], "tokens": ["--input-format", "tokens"]}
    startup: dict[str, list[float]] = {name: [] for name in one_sentence}
    phases, peaks = [], []
    steady: dict[str, list[float]] = {"tokens": [], "confidence": [], "raw_text": []}
    for _ in range(repeats):
        result = subprocess.run(
            [sys.executable, "-c", LOAD, str(model), engine], capture_output=True, text=True, check=True
        )
        phases.append(json.loads(result.stdout))
        for name, path in one_sentence.items():
            wall, _, _ = run_child([*TAGGER, "tag", str(model), "--engine", engine, *options[name]], stdin=path)
            startup[name].append(wall)
    tokens = inputs["tokens"]
    for _ in range(max(1, repeats // 2)):
        steady["tokens"].append(tokens / steady_seconds(model, engine, inputs["tokens_file"], "tokens", False))
        steady["confidence"].append(tokens / steady_seconds(model, engine, inputs["tokens_file"], "tokens", True))
        steady["raw_text"].append(tokens / steady_seconds(model, engine, inputs["text_file"], "text", False))
        tokens_input = ["--input-format", "tokens", "-i", str(inputs["tokens_file"])]
        _, peak, _ = run_child([*TAGGER, "tag", str(model), "--engine", engine, *tokens_input])
        peaks.append(peak)
    return {
        "one_sentence_seconds": {name: summary(values) for name, values in startup.items()},
        # In-process: importing the tagging module, Tagger.load (the engine's imports included), the first sentence.
        "import_seconds": summary([phase[0] for phase in phases]),
        "load_seconds": summary([phase[1] for phase in phases]),
        "first_sentence_seconds": summary([phase[2] for phase in phases]),
        "steady_tokens_per_second": summary(steady["tokens"]),
        "steady_confidence_tokens_per_second": summary(steady["confidence"]),
        "steady_raw_text_tokens_per_second": summary(steady["raw_text"]),
        "peak_rss_mb": summary(peaks),
        "model_directory_mb": directory_mb(model, engine),
    }


def import_torch_seconds(repeats: int) -> dict:
    runs = [
        float(subprocess.run([sys.executable, "-c", IMPORT_TORCH], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeats)
    ]
    return summary(runs)


def multiply_adds_per_token(model: Path) -> dict:
    """The network's multiply-adds per token, from its sizes: the BiLSTM's input and recurrent products,
    the projection, and the character encoder's (once per token: an upper bound, as the graph runs it once
    per distinct word of a batch). Lookups and element-wise steps are left out."""
    config = json.loads((model / "config.json").read_text())["model"]
    vocab = json.loads((model / "vocab.json").read_text())
    hidden, layers, tags = config["hidden_size"], config["num_layers"], len(vocab["tags"])
    inputs = config["word_dim"] + config["char_filters"]
    recurrent = 0
    for _ in range(layers):
        recurrent += 2 * 4 * hidden * (inputs + hidden)  # two directions, four gates
        inputs = 2 * hidden
    projection = 2 * hidden * tags
    # The character CNN: each of a word's characters (about 6 in CoNLL-2003) times the window, per filter.
    characters = 6 * config["char_window"] * config["char_dim"] * config["char_filters"]
    return {"lstm": recurrent, "projection": projection, "characters": characters}


ROOFLINE = """
import json, sys, time
import numpy as np
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

def rate(run, flops, seconds=2.0):
    run()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(); done += 1
    return flops * done / (time.perf_counter() - start) / 1e9

rng = np.random.default_rng(0)
square = rng.standard_normal((2048, 2048), dtype=np.float32)
result = {"numpy_2048_square": rate(lambda: square @ square, 2 * 2048 ** 3)}
# The recurrent step's product: (batch 256 x hidden 100) by (100 x 400), then the input product of a whole
# batch of sentences at once, (T*B = 4096 x 80) by (80 x 400), each on ONNX Runtime, float and int8.
for name, (rows, inner, columns) in {"recurrent_step": (256, 100, 400), "input_product": (4096, 80, 400)}.items():
    left = rng.standard_normal((rows, inner), dtype=np.float32)
    weight = rng.standard_normal((inner, columns), dtype=np.float32)
    for kind in ("float", "int8"):
        if kind == "float":
            nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
            initializer = [numpy_helper.from_array(weight, "w")]
            feed = {"x": left}
            x_type = TensorProto.FLOAT
            out_type = TensorProto.FLOAT
        else:
            nodes = [helper.make_node("MatMulInteger", ["x", "w", "xz"], ["y"])]
            initializer = [numpy_helper.from_array((weight * 20).astype(np.int8), "w"), numpy_helper.from_array(np.array(128, dtype=np.uint8), "xz")]
            feed = {"x": rng.integers(0, 255, size=(rows, inner), dtype=np.uint8)}
            x_type = TensorProto.UINT8
            out_type = TensorProto.INT32
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", x_type, [rows, inner])],
                                  [helper.make_tensor_value_info("y", out_type, [rows, columns])], initializer=initializer)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        options = onnxruntime.SessionOptions(); options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        result[f"onnxruntime_{kind}_{name}"] = rate(lambda: session.run(None, feed), 2 * rows * inner * columns)
print(json.dumps(result))
"""


def roofline(model: Path, speeds: dict) -> dict:
    """Multiply-adds per token, the machine's measured product rates (GFLOP/s), and tagging's share of them."""
    rates = json.loads(
        subprocess.run([sys.executable, "-c", ROOFLINE], capture_output=True, text=True, check=True).stdout
    )
    work = multiply_adds_per_token(model)
    flops_per_token = 2 * sum(work.values())
    shares = {}
    for engine in ("onnx", "onnx-int8"):
        achieved = speeds[engine]["steady_tokens_per_second"]["median"] * flops_per_token / 1e9
        peak = rates["onnxruntime_int8_recurrent_step" if engine == "onnx-int8" else "onnxruntime_float_recurrent_step"]
        shares[engine] = {
            "gflops": achieved,
            "of_numpy_square": achieved / rates["numpy_2048_square"],
            "of_step": achieved / peak,
        }
    return {"multiply_adds": work, "flops_per_token": flops_per_token, "rates_gflops": rates, "tagging": shares}


def agreement(model: Path, corpus: Path) -> dict:
    """On a labelled corpus: torch against float ONNX (tags, confidences), int8 against float (tags, score),
    and the batched decoder against the per-sentence one, on the same emissions."""
    from bilstm_tagger import Tagger
    from bilstm_tagger.scoring.evaluation import evaluate_file
    from bilstm_tagger.text.corpus import CorpusReading, read_corpus

    sentences = [s.tokens for s in read_corpus(corpus, CorpusReading("auto"))]
    taggers = {engine: Tagger.load(model, engine=engine) for engine in ENGINES}
    tagged = {engine: tagger.tag(sentences, confidence=True) for engine, tagger in taggers.items()}
    pairs = list(zip(tagged["torch"], tagged["onnx"]))
    token_gaps = [abs(a - b) for x, y in pairs for a, b in zip(x.scores, y.scores)]
    span_gaps = [abs(a - b) for x, y in pairs if x.spans == y.spans for a, b in zip(x.span_scores, y.span_scores)]
    scores = {engine: evaluate_file(taggers[engine], corpus).report.score for engine in ("onnx", "onnx-int8")}
    return {
        "corpus": corpus.name,
        "sentences": len(sentences),
        "tokens": len(token_gaps),
        "tags_differing": sum(a != b for x, y in pairs for a, b in zip(x.tags, y.tags)),
        "max_token_confidence_gap": max(token_gaps),
        "max_entity_confidence_gap": max(span_gaps, default=0.0),
        "int8_tags_differing": sum(
            a != b for x, y in zip(tagged["onnx-int8"], tagged["onnx"]) for a, b in zip(x.tags, y.tags)
        ),
        "float_score": scores["onnx"],
        "int8_score": scores["onnx-int8"],
        "decoders": decoder_agreement(taggers["onnx"].model, sentences),
    }


def decoder_agreement(model, sentences: list[list[str]]) -> dict:
    """The batched decoder against the per-sentence one (``tests/reference_decoding.py``), batch by batch."""
    sys.path.insert(0, str(ROOT / "tests"))
    from reference_decoding import reference_predictions

    from bilstm_tagger.tagging.decoding import ProbabilityRequest, decode_batch

    request = ProbabilityRequest(confidence=True, nbest=3, temperature=model.temperature)
    labels = model.vocab.tags.itos
    tags = spans = nbest = 0
    token_gap = span_gap = probability_gap = 0.0
    for start in range(0, len(sentences), 256):
        batch = model.vocab.arrays(sentences[start : start + 256])
        emissions = model.network.emissions(batch)
        new = decode_batch(model.network.crf, emissions, batch.lengths, model.tables, request)
        old = reference_predictions(model.network.crf, emissions, batch.lengths, labels, model.tag_scheme, request)
        for ours, theirs in zip(new, old):
            tags += sum(a != b for a, b in zip(ours.tags, theirs.tags))
            spans += ours.spans != theirs.spans
            nbest += [p.tags for p in ours.nbest] != [p.tags for p in theirs.nbest]
            token_gap = max([token_gap, *(abs(a - b) for a, b in zip(ours.tag_scores, theirs.tag_scores))])
            span_gap = max([span_gap, *(abs(a - b) for a, b in zip(ours.span_scores, theirs.span_scores))])
            probability_gap = max(
                [probability_gap, *(abs(a.probability - b.probability) for a, b in zip(ours.nbest, theirs.nbest))]
            )
    return {
        "tags_differing": tags,
        "sentences_with_other_entities": spans,
        "sentences_with_other_nbest": nbest,
        "max_token_confidence_gap": token_gap,
        "max_entity_confidence_gap": span_gap,
        "max_nbest_probability_gap": probability_gap,
    }


def report(results: dict) -> str:
    lines = [
        BEGIN,
        "## torch against ONNX Runtime, float and int8 (`benchmarks/engines.py`)",
        "",
        f"Written by `python benchmarks/engines.py --repeats {results['repeats']}`; {figures.machine_name(results['machine'])}. "
        "Medians, min–max in brackets; each timing alone. One sentence is from process start to exit; "
        "loading the model is `Tagger.load` in a process that has imported the tagging module (the engine's "
        "own imports included); steady tagging is eng.testb repeated to 500,000 tokens, the model loaded, "
        "all cores, conll output to /dev/null; peak memory is that of the whole command over the "
        "pre-tokenised file; the directory is what the engine needs of it. "
        f"`import torch` alone took {figures.spread(results['import_torch_seconds'], 2)} s in the same run.",
        "",
        "| model | engine | one sentence, raw text (s) | one sentence, tokens (s) | of which loading the model (s) "
        "| steady tokens/s, tokens | with `--confidence` | raw text | peak memory (MB) | directory (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, engines in results["models"].items():
        for engine, figure in engines.items():
            lines.append(
                f"| {model} | {engine} | {figures.spread(figure['one_sentence_seconds']['raw_text'], 2)} "
                f"| {figures.spread(figure['one_sentence_seconds']['tokens'], 2)} "
                f"| {figures.spread(figure['load_seconds'], 2)} "
                f"| {figures.spread(figure['steady_tokens_per_second'])} "
                f"| {figures.spread(figure['steady_confidence_tokens_per_second'])} "
                f"| {figures.spread(figure['steady_raw_text_tokens_per_second'])} "
                f"| {figures.spread(figure['peak_rss_mb'])} | {figure['model_directory_mb']:.0f} |"
            )
        for engine in ("onnx", "onnx-int8"):
            ratio = (
                engines[engine]["steady_tokens_per_second"]["median"]
                / engines["torch"]["steady_tokens_per_second"]["median"]
            )
            lines.append(f"| {model} | {engine} ÷ torch | | | | {figures.times(ratio)} | | | | |")
    roof = results["roofline"]
    rates = roof["rates_gflops"]
    work = roof["multiply_adds"]
    lines += [
        "",
        f"**Roofline** (NER preset): {roof['flops_per_token'] / 1e6:.2f} MFLOP a token "
        f"(multiply-adds: BiLSTM {work['lstm']:,}, projection {work['projection']:,}, character CNN at most "
        f"{work['characters']:,}). The same run's product rates: numpy float32 2048² {rates['numpy_2048_square']:.0f} "
        f"GFLOP/s; ONNX Runtime at the recurrent step's shape (256 × 100 by 100 × 400) "
        f"{rates['onnxruntime_float_recurrent_step']:.0f} GFLOP/s float, "
        f"{rates['onnxruntime_int8_recurrent_step']:.0f} int8; at a batch's input product (4,096 × 80 by 80 × 400) "
        f"{rates['onnxruntime_float_input_product']:.0f} float, {rates['onnxruntime_int8_input_product']:.0f} int8.",
        "",
        "| engine | tagging's arithmetic (GFLOP/s) | share of numpy's 2048² rate | share of the step's rate |",
        "|---|---|---|---|",
    ]
    for engine, share in roof["tagging"].items():
        lines.append(f"| {engine} | {share['gflops']:.1f} | {share['of_numpy_square']:.0%} | {share['of_step']:.0%} |")
    lines += [
        "",
        "| corpus | sentences | tokens | tags differing, onnx against torch | largest token confidence gap "
        "| largest entity confidence gap | float score | int8 score | tags differing, int8 against float |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["agreement"]:
        lines.append(
            f"| {row['corpus']} | {row['sentences']:,} | {row['tokens']:,} | {row['tags_differing']} "
            f"| {row['max_token_confidence_gap']:.1e} | {row['max_entity_confidence_gap']:.1e} "
            f"| {row['float_score']:.2f} | {row['int8_score']:.2f} | {row['int8_tags_differing']:,} |"
        )
    lines += [
        "",
        "| corpus | batched against per-sentence decoder: tags differing | sentences with other entities "
        "| other 3-best paths | largest token confidence gap | largest entity confidence gap | largest n-best probability gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["agreement"]:
        decoders = row["decoders"]
        lines.append(
            f"| {row['corpus']} | {decoders['tags_differing']} | {decoders['sentences_with_other_entities']} "
            f"| {decoders['sentences_with_other_nbest']} | {decoders['max_token_confidence_gap']:.1e} "
            f"| {decoders['max_entity_confidence_gap']:.1e} | {decoders['max_nbest_probability_gap']:.1e} |"
        )
    scored = "the models of `--ner-model` / `--pos-model`" if results.get("trained_models") else "one-epoch models"
    lines += ["", f"Scores (entity F1 / UPOS accuracy, test) are those of {scored}.", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ner-model", type=Path, help="a trained NER preset model for the agreement part")
    parser.add_argument("--pos-model", type=Path, help="a trained POS preset model for the agreement part")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "engines.json")
    args = parser.parse_args()
    results: dict = {"repeats": args.repeats, "machine": machine(), "models": {}, "agreement": []}
    results["trained_models"] = bool(args.ner_model and args.pos_model)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        tokens_file, text_file, tokens, _ = tagging_input(args.data, work)
        inputs = {"tokens_file": tokens_file, "text_file": text_file, "tokens": tokens}
        results["import_torch_seconds"] = import_torch_seconds(args.repeats)
        for name, options in MODELS.items():
            model = train(args.data, options, work / name)
            results["models"][name] = {engine: measure(model, engine, work, inputs, args.repeats) for engine in ENGINES}
            print(name, json.dumps(results["models"][name]), flush=True)
            if name == "ner-preset":
                results["roofline"] = roofline(model, results["models"][name])
                ner = exported(args.ner_model) if args.ner_model else model
                results["agreement"].append(agreement(ner, args.data / "eng.testb"))
        if (EWT / "en_ewt-ud-train.conllu").exists():
            if args.pos_model:
                pos = exported(args.pos_model)
            else:
                pos = train(EWT, ["--preset", "pos"], work / "pos", "en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu")
            results["agreement"].append(agreement(pos, EWT / "en_ewt-ud-test.conllu"))
        print(json.dumps(results["agreement"]), flush=True)
    figures.publish(results, args.output, "engines.json", report(results), RESULTS, BEGIN, END)


if __name__ == "__main__":
    main()
