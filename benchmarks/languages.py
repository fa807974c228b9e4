"""Raw text in other languages than English: tokens and sentences against UD's gold, beside spaCy's.

    python3 benchmarks/languages.py [--data ../shared/data] [--baseline-rev REV] [--repeats 3]
    python3 benchmarks/languages.py --ner MODEL_DIR [MODEL_DIR ...]   # WikiANN German test F1 of trained models
    python3 benchmarks/languages.py --render                         # RESULTS.md again from languages.json

What is measured (spaCy is a dependency of the tests, so it is always there):

- for each UD treebank under ``--data`` whose language is shipped (``ud_de_gsd``: German GSD,
  ``ud_en_ewt``: English EWT), on its **test** file: token F1 by character spans and
  sentence-boundary F1, of ``split_text(text, language)`` (what ``tagger tag`` runs) and of
  spaCy's own tokenizer of the language (``spacy.blank(code)``) with its rule-based
  ``sentencizer``, in the same run. The gold offsets and the scores are those of
  ``benchmarks/tokenizers.py`` (its ``read_ewt`` and ``score``). The raw text is a paragraph: the
  sentences between ``# newpar`` markers joined by one space, or, for a treebank without them (GSD),
  five consecutive sentences (``GROUP``); token F1 of each sentence alone is reported too;
- how many sentence texts the plain-Python rules (:mod:`bilstm_tagger.text.rule_tokenizer`) split
  otherwise than spaCy's compiled tokenizer with the same special cases (0 is the target);
- with ``--baseline-rev REV`` (a git revision from before languages, e.g. ``main``): whether
  English is unchanged, that is the tokens of ``split_text`` on every EWT test paragraph and
  CoNLL-2003 test line equal to REV's, and how fast each splits EWT test paragraphs (gold tokens per
  second, a cold pass of a fresh tokenizer and a warm one; each in its own process, taking turns,
  best of ``--repeats``). Timings depend on the machine's load: both are measured in one run.

``--ner`` scores trained models (``tagger train ../shared/data/wikiann_de/train.conll --dev ... --language de
--seed N``; ``make bench-wikiann-de`` trains three) on WikiANN German test, each with its minutes of
training steps (``metrics.jsonl``), beside a published figure for the same split where one is known.

Writes ``benchmarks/languages.json`` (every figure, versions, machine) and its sections of
``benchmarks/RESULTS.md``; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from tokenizers import Paragraph, read_conll, read_ewt, score  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
OUTPUT = Path(__file__).resolve().parent / "languages.json"
BEGIN, END = "<!-- languages:begin -->", "<!-- languages:end -->"
NER_BEGIN, NER_END = "<!-- wikiann-de:begin -->", "<!-- wikiann-de:end -->"
GROUP = 5  # sentences per paragraph where a treebank marks none
TREEBANKS = {"ud_de_gsd": ("de", "de_gsd-ud-test.conllu"), "ud_en_ewt": ("en", "en_ewt-ud-test.conllu")}
# A published test F1 on the same WikiANN German split (Rahimi, Li & Cohn 2019's train/dev/test), or None
# where none is known for certain: then the section says so rather than quote a figure from memory.
PUBLISHED_WIKIANN_DE: dict | None = None

# Run in a fresh interpreter with PYTHONPATH set to one version of the package: split each unit of a
# JSON file of texts, time a cold pass then a warm one, and print the spans and the seconds.
TIMING_SNIPPET = """
import json, sys, time
from bilstm_tagger.text.segmentation import split_text
texts = json.load(open(sys.argv[1], encoding="utf-8"))
start = time.perf_counter()
spans = [split_text(text) for text in texts["ewt"]]
cold = time.perf_counter() - start
start = time.perf_counter()
for text in texts["ewt"]:
    split_text(text)
warm = time.perf_counter() - start
conll = [split_text(text) for text in texts["conll"]]
print(json.dumps({"cold": cold, "warm": warm, "ewt": spans, "conll": conll}))
"""


def paragraphs_of(sentences: list[Paragraph], size: int = GROUP) -> list[Paragraph]:
    """Consecutive sentences joined ``size`` at a time by one space, with their gold offsets and ends."""
    units = []
    for first in range(0, len(sentences), size):
        pieces, tokens, ends, offset = [], [], [], 0
        for sentence in sentences[first : first + size]:
            if pieces:
                offset += 1
            pieces.append(sentence.text)
            tokens.extend((start + offset, end + offset) for start, end in sentence.tokens)
            offset += len(sentence.text)
            ends.append(offset)
        units.append(Paragraph(" ".join(pieces), tokens, ends))
    return units


def spacy_splitter(language: str):
    """spaCy's rule-based tokenizer of the language and its rule-based sentencizer."""
    import spacy

    nlp = spacy.blank(language)
    nlp.add_pipe("sentencizer")

    def split(text: str) -> list[list[tuple[int, int]]]:
        sentences = [[(t.idx, t.idx + len(t)) for t in sentence if not t.is_space] for sentence in nlp(text).sents]
        return [sentence for sentence in sentences if sentence]

    return split


def port_differences(language: str, texts: list[str]) -> int:
    """How many texts the plain-Python rules split otherwise than spaCy's compiled tokenizer (same special cases)."""
    import spacy

    from bilstm_tagger.text import segmentation
    from bilstm_tagger.text.rule_tokenizer import RuleTokenizer, keeps_special_case

    tokenizer = spacy.blank(language).tokenizer
    tokenizer.rules = {o: p for o, p in tokenizer.rules.items() if keeps_special_case(o, language)}
    port = RuleTokenizer.load(language)
    differing = 0
    for text in texts:
        text = segmentation._SEPARATOR.sub(" ", text)
        expected = [(t.idx, t.idx + len(t)) for t in tokenizer(text) if not t.text.isspace()]
        differing += port.spans(text) != expected
    return differing


def measure_treebank(directory: Path, language: str, filename: str) -> dict:
    from bilstm_tagger.text.segmentation import split_text

    paragraphs, sentences, stats = read_ewt(directory / filename)
    if len(paragraphs) <= 1:  # no paragraph markers: running text made of consecutive sentences
        paragraphs = paragraphs_of(sentences)
    candidates = {"split_text": lambda text: split_text(text, language), "spacy": spacy_splitter(language)}
    result = {
        "language": language,
        "file": filename,
        "sentences": len(sentences),
        "paragraphs": len(paragraphs),
        "gold_tokens": stats.tokens,
        "rules_differing_from_spacy": port_differences(language, [s.text for s in sentences]),
    }
    for name, split in candidates.items():
        tokens, boundaries = score(split, paragraphs)
        alone, _ = score(split, sentences)
        result[name] = {"token": tokens, "token_sentence_alone": alone, "sentence_boundary": boundaries}
        print(f"{language} {name}: token F1 {tokens['f1']:.2f}, sentence F1 {boundaries['f1']:.2f}", flush=True)
    return result


def compare_with_baseline(data: Path, revision: str, repeats: int) -> dict:
    """English before and after: the same tokens, and the speed of each, in processes taking turns."""
    paragraphs, _, stats = read_ewt(data / "ud_en_ewt" / "en_ewt-ud-test.conllu")
    conll = read_conll(data / "conll2003" / "eng.testb")
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        baseline.mkdir()
        archive = subprocess.run(
            ["git", "archive", revision, "bilstm_tagger"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        texts = Path(scratch) / "texts.json"
        texts.write_text(json.dumps({"ewt": [p.text for p in paragraphs], "conll": [u.text for u in conll]}))
        runs: dict[str, list[dict]] = {"baseline": [], "current": []}
        for repeat in range(repeats):
            order = ["baseline", "current"] if repeat % 2 == 0 else ["current", "baseline"]
            for name in order:
                path = baseline if name == "baseline" else ROOT
                output = subprocess.run(
                    [sys.executable, "-c", TIMING_SNIPPET, str(texts)],
                    cwd=scratch,  # not the repository: python -c puts the working directory first on sys.path
                    env={**os.environ, "PYTHONPATH": str(path)},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[name].append(json.loads(output.stdout))
    first_base, first_current = runs["baseline"][0], runs["current"][0]
    speeds = {
        name: {
            "cold_tokens_per_second": stats.tokens / min(run["cold"] for run in results),
            "warm_tokens_per_second": stats.tokens / min(run["warm"] for run in results),
        }
        for name, results in runs.items()
    }
    return {
        "revision": revision,
        "revision_commit": subprocess.run(
            ["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "ewt_paragraphs": len(paragraphs),
        "ewt_paragraphs_tokens_differing": differing(first_base["ewt"], first_current["ewt"], tokens_only=True),
        "ewt_paragraphs_sentences_differing": differing(first_base["ewt"], first_current["ewt"]),
        "conll_lines": len(conll),
        "conll_lines_tokens_differing": differing(first_base["conll"], first_current["conll"], tokens_only=True),
        "conll_lines_sentences_differing": differing(first_base["conll"], first_current["conll"]),
        "gold_tokens": stats.tokens,
        "repeats": repeats,
        "speed": speeds,
    }


def differing(before: list, after: list, tokens_only: bool = False) -> int:
    """How many texts were split otherwise: their tokens (``tokens_only``), or their tokens and sentences."""
    if tokens_only:
        before = [[span for sentence in text for span in sentence] for text in before]
        after = [[span for sentence in text for span in sentence] for text in after]
    return sum(a != b for a, b in zip(before, after))


def ner_scores(models: list[Path], data: Path) -> dict:
    """Each model's WikiANN German test scores, and its training time from metrics.jsonl."""
    from bilstm_tagger import Tagger
    from bilstm_tagger.scoring.evaluation import evaluate_file

    runs = []
    for model in models:
        tagger = Tagger.load(model, threads=1)
        scores = evaluate_file(tagger.model, data / "wikiann_de" / "test.conll")
        config = json.loads((model / "config.json").read_text())
        epochs = [json.loads(line) for line in (model / "metrics.jsonl").read_text().splitlines() if line.strip()]
        runs.append(
            {
                "model": str(model),
                "seed": config["training"]["seed"],
                "language": config["corpus"].get("language"),
                "test": {key: getattr(scores.report, key) for key in ("precision", "recall", "f1")},
                "epochs": len(epochs),
                # The epochs' training time; scoring dev after each epoch, calibration and the ONNX export come on top.
                "training_minutes": sum(epoch["train_seconds"] for epoch in epochs) / 60,
                "max_epochs": config["training"]["max_epochs"],
                "patience": config["training"]["patience"],
                "threads": config["training"]["threads"],
            }
        )
        print(f"{model}: test F1 {runs[-1]['test']['f1']:.2f}", flush=True)
    f1s = [run["test"]["f1"] for run in runs]
    return {
        "runs": runs,
        "mean_f1": statistics.mean(f1s),
        "min_f1": min(f1s),
        "stdev_f1": statistics.stdev(f1s) if len(f1s) > 1 else 0.0,
        "published": PUBLISHED_WIKIANN_DE,
        "machine": machine(),
    }


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d"),
    }


def section(results: dict) -> str:
    lines = [
        BEGIN,
        "## Raw text in other languages (`benchmarks/languages.py`)",
        "",
        f"Written by `python benchmarks/languages.py` on {results['machine']['date']} (spaCy {results['spacy']}). "
        "UD test files; a paragraph is the sentences between `# newpar` markers, or five consecutive sentences "
        f"where there are none (GSD). spaCy: `spacy.blank(code)` and its `sentencizer`, in the same run.",
        "",
        "| treebank | splitter | token F1 | token F1, sentences alone | sentence-boundary P / R / F1 |",
        "|---|---|---:|---:|---|",
    ]
    for name, treebank in results["treebanks"].items():
        for candidate, label in (("split_text", "`split_text` (tagger tag)"), ("spacy", "spaCy rules + sentencizer")):
            scores = treebank[candidate]
            boundary = scores["sentence_boundary"]
            lines.append(
                f"| {name} ({treebank['sentences']} sentences) | {label} | {scores['token']['f1']:.2f} "
                f"| {scores['token_sentence_alone']['f1']:.2f} "
                f"| {boundary['precision']:.2f} / {boundary['recall']:.2f} / {boundary['f1']:.2f} |"
            )
    lines += [
        "",
        "Sentence texts the plain-Python rules split otherwise than spaCy's compiled tokenizer: "
        + ", ".join(f"{name} {t['rules_differing_from_spacy']}" for name, t in results["treebanks"].items())
        + ".",
    ]
    english = results.get("english")
    if english:
        speed = english["speed"]
        lines += [
            "",
            f"English against `{english['revision']}` ({english['revision_commit']}, before languages): "
            f"{english['ewt_paragraphs_tokens_differing']} of {english['ewt_paragraphs']} EWT test paragraphs and "
            f"{english['conll_lines_tokens_differing']} of {english['conll_lines']} CoNLL-2003 test lines have "
            "other tokens; "
            f"{english['ewt_paragraphs_sentences_differing']} paragraphs and "
            f"{english['conll_lines_sentences_differing']} lines other sentences (the ellipsis and bracket rules). "
            "Gold tokens per second of `split_text` on EWT test paragraphs, best of "
            f"{english['repeats']} (each in its own process, taking turns):",
            "",
            "| version | cold (fresh tokenizer) | warm |",
            "|---|---:|---:|",
        ]
        for name in ("baseline", "current"):
            lines.append(
                f"| {name} | {speed[name]['cold_tokens_per_second']:,.0f} | {speed[name]['warm_tokens_per_second']:,.0f} |"
            )
    lines.append(END)
    return "\n".join(lines)


def ner_section(results: dict) -> str:
    runs = results["runs"]
    lines = [
        NER_BEGIN,
        "## WikiANN German NER (`benchmarks/languages.py --ner`)",
        "",
        f"Written by `python benchmarks/languages.py --ner` on {results['machine']['date']}: models trained with "
        "`tagger train ../shared/data/wikiann_de/train.conll --dev ../shared/data/wikiann_de/dev.conll --language de "
        f"--seed N --threads {runs[0]['threads']} --max-epochs {runs[0]['max_epochs']} --patience {runs[0]['patience']}` "
        "(the default recipe, random word embeddings: no German vectors here), on 2 cores shared with other jobs (the minutes depend on their load), scored on `test.conll`.",
        "",
        "| seed | epochs | minutes of training steps (dev scoring not counted) | test P | test R | test F1 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        test = run["test"]
        lines.append(
            f"| {run['seed']} | {run['epochs']} | {run['training_minutes']:.1f} | {test['precision']:.2f} "
            f"| {test['recall']:.2f} | {test['f1']:.2f} |"
        )
    lines += [
        "",
        f"Test F1 mean {results['mean_f1']:.2f}, min {results['min_f1']:.2f}, stdev {results['stdev_f1']:.2f}.",
    ]
    published = results["published"]
    if published:
        lines.append(f"Published on the same split: {published['f1']:.1f} ({published['source']}).")
    else:
        lines.append(
            "No published test F1 on this split is quoted: none is known here for certain (Rahimi, Li & Cohn 2019 "
            "made the split; their monolingual figures are not reproduced from memory)."
        )
    lines.append(NER_END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baseline-rev", help="git revision to compare English with (tokens and speed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ner", type=Path, nargs="+", help="score these WikiANN German models instead")
    parser.add_argument("--render", action="store_true", help="only write RESULTS.md's sections again from the JSON")
    args = parser.parse_args(argv)
    previous = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    if args.render:
        figures.replace_section(figures.RESULTS_MD, BEGIN, END, section(previous))
        if "wikiann_de" in previous:
            figures.replace_section(figures.RESULTS_MD, NER_BEGIN, NER_END, ner_section(previous["wikiann_de"]))
        return
    if args.ner:
        previous["wikiann_de"] = ner_scores(args.ner, args.data)
        OUTPUT.write_text(json.dumps(previous, indent=2) + "\n")
        figures.replace_section(figures.RESULTS_MD, NER_BEGIN, NER_END, ner_section(previous["wikiann_de"]))
        return
    import spacy

    results = {"spacy": spacy.__version__, "machine": machine(), "treebanks": {}}
    for name, (language, filename) in TREEBANKS.items():
        if (args.data / name / filename).exists():
            results["treebanks"][name] = measure_treebank(args.data / name, language, filename)
    if args.baseline_rev:
        results["english"] = compare_with_baseline(args.data, args.baseline_rev, args.repeats)
        print(json.dumps(results["english"]["speed"]), flush=True)
    if "wikiann_de" in previous:
        results["wikiann_de"] = previous["wikiann_de"]
    OUTPUT.write_text(json.dumps(results, indent=2) + "\n")
    figures.replace_section(figures.RESULTS_MD, BEGIN, END, section(results))
    print(section(results))


if __name__ == "__main__":
    main()
