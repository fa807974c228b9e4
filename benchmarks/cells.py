"""Speed of the LSTM family, side by side in one process: training sentences/s and tagging tokens/s.

    python benchmarks/cells.py [--data ../shared/data] [--sentences 2000] [--repeats 3]

Training: ``--sentences`` sentences of CoNLL-2003 ``eng.train`` with ``--preset ner`` (GloVe 50d,
batches of 32), one pass per variant and repeat, the variants taking turns so that a slow
moment of the machine falls on all of them. Tagging: ``eng.testb`` (3,453 sentences) with
untrained weights (the speed does not depend on their values), on torch and on ONNX Runtime.
Each figure is the median of the repeats, with the ratio to ``lstm`` (``nn.LSTM``, the preset)
measured in the same run. Run it alone: two torch processes on 2 cores slow each other.
Writes ``benchmarks/cells.json`` and its section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402
from speed import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CELLS_JSON = ROOT / "benchmarks" / "cells.json"
BEGIN, END = "<!-- cells:begin -->", "<!-- cells:end -->"

# name → options (by config field name) added to --preset ner
VARIANTS = {
    "lstm": {},
    "peephole": {"cell": "peephole"},
    "gru": {"cell": "gru"},
    "char-lstm": {"char_encoder": "lstm"},
    "layers-2": {"num_layers": 2},
    "locked-dropout": {"locked_dropout": True},
    "lm": {"lm_weight": 0.1},
}
TAGGING = ("lstm", "peephole", "gru", "char-lstm", "layers-2")  # the others tag with the preset's network


def training_speed(state, sentences: int) -> float:
    """Sentences per second of one pass over the first ``sentences`` training sentences."""
    from bilstm_tagger.training import loop as training

    state.data.train, state.data.train_tags = state.data.train[:sentences], state.data.train_tags[:sentences]
    _, seconds = training._train_epoch(state, training._loss_function(state), 1, None, None)
    return sentences / seconds


def tagging_speeds(state, test_sentences) -> dict[str, float]:
    """Tokens per second tagging ``test_sentences`` with the state's (untrained) model, on each engine."""
    import onnxruntime

    from bilstm_tagger.model.crf_scores import CrfScores
    from bilstm_tagger.model.onnx_export import build_onnx
    from bilstm_tagger.tagging.batches import predict_tags
    from bilstm_tagger.tagging.engines import OnnxNetwork, TorchNetwork
    from bilstm_tagger.tagging.spans import SpanTables

    model = state.model.eval()
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        build_onnx(model).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    networks = {
        "torch": TorchNetwork(model, state.device),
        "onnx": OnnxNetwork("memory", CrfScores.from_crf(model.crf), session),
    }
    tokens = sum(len(s) for s in test_sentences)
    speeds = {}
    for engine, network in networks.items():
        started = time.perf_counter()
        tables = SpanTables.from_labels(state.vocab.tags.itos, state.data.tag_scheme)
        for _ in predict_tags(network, state.vocab, tables, test_sentences):
            pass
        speeds[engine] = tokens / (time.perf_counter() - started)
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="only write RESULTS.md's section again from cells.json")
    args = parser.parse_args()
    if args.render:
        figures.replace_section(figures.RESULTS_MD, BEGIN, END, section(json.loads(CELLS_JSON.read_text())))
        return

    from bilstm_tagger.model.config import config_from_options
    from bilstm_tagger.text.corpus import read_corpus
    from bilstm_tagger.training import loop as training_module
    from bilstm_tagger.training.loop import setup_training

    # GloVe read once, not once per variant and repeat (a few seconds each; not part of what is timed).
    training_module.load_pretrained = functools.lru_cache(training_module.load_pretrained)

    train = read_corpus(args.data / "conll2003" / "eng.train")
    dev = read_corpus(args.data / "conll2003" / "eng.testa")[:50]
    test = [s.tokens for s in read_corpus(args.data / "conll2003" / "eng.testb") if s.tokens]
    training: dict[str, list[float]] = {name: [] for name in VARIANTS}
    tagging: dict[str, dict[str, list[float]]] = {name: {"torch": [], "onnx": []} for name in TAGGING}
    for _ in range(args.repeats):
        for name, options in VARIANTS.items():
            state = setup_training(train, dev, config_from_options({**options, "seed": 1}, "ner"))
            training[name].append(training_speed(state, args.sentences))
            if name in TAGGING:
                for engine, speed in tagging_speeds(state, test).items():
                    tagging[name][engine].append(speed)
            print(
                name, round(training[name][-1]), {e: round(v[-1]) for e, v in tagging.get(name, {}).items()}, flush=True
            )

    def row(name: str) -> dict:
        result = {"options": VARIANTS[name], "train_sentences_per_second": statistics.median(training[name])}
        result["train_runs"] = training[name]
        result["train_ratio_to_lstm"] = result["train_sentences_per_second"] / statistics.median(training["lstm"])
        if name in TAGGING:
            for engine in ("torch", "onnx"):
                result[f"tag_tokens_per_second_{engine}"] = statistics.median(tagging[name][engine])
                result[f"tag_ratio_to_lstm_{engine}"] = result[f"tag_tokens_per_second_{engine}"] / statistics.median(
                    tagging["lstm"][engine]
                )
        return result

    results = {
        "sentences": args.sentences,
        "repeats": args.repeats,
        "variants": {name: row(name) for name in VARIANTS},
        "machine": machine(),
    }
    CELLS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    figures.replace_section(figures.RESULTS_MD, BEGIN, END, section(results))
    print(section(results))


def section(results: dict) -> str:
    lines = [
        BEGIN,
        "## Speed of the LSTM family (`benchmarks/cells.py`)",
        "",
        f"Training: {results['sentences']:,} sentences of CoNLL-2003 `eng.train` with `--preset ner` on "
        f"{results['machine']['cores']} cores; tagging: `eng.testb`, untrained weights. Medians of "
        f"{results['repeats']} runs taken in turns in one process, and the ratio to `nn.LSTM` (`lstm`) in the same run.",
        "",
        "| variant | options | train sent/s | × lstm | tag tokens/s, torch | × lstm | tag tokens/s, ONNX | × lstm |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in results["variants"].items():
        options = " ".join(f"{key}={value}" for key, value in row["options"].items()) or "(preset)"
        tagging = "| (as lstm) | | (as lstm) | "
        if "tag_tokens_per_second_torch" in row:
            tagging = (
                f"| {row['tag_tokens_per_second_torch']:,.0f} | {row['tag_ratio_to_lstm_torch']:.2f} "
                f"| {row['tag_tokens_per_second_onnx']:,.0f} | {row['tag_ratio_to_lstm_onnx']:.2f} "
            )
        lines.append(
            f"| {name} | `{options}` | {row['train_sentences_per_second']:,.0f} | {row['train_ratio_to_lstm']:.2f} "
            + tagging
            + "|"
        )
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
