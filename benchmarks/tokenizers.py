"""Choose the raw-text tokenizer of ``tagger tag`` by measurement: accuracy, speed, start-up.

    python3 benchmarks/tokenizers.py [--data ../shared/data] [--repeats 5]

Candidates (each measured when importable, else listed as missing):

- ``syntok``: pure-Python tokenizer and sentence segmenter, ``segmenter.analyze``;
- ``spacy``: spaCy's rule-based English tokenizer with no trained pipeline,
  ``spacy.blank("en")`` plus the rule-based ``sentencizer``;
- ``blingfire``: ``text_to_sentences_and_offsets`` and ``text_to_words_with_offsets``;
- ``nltk``: ``NLTKWordTokenizer`` (Penn Treebank rules, the tokenizer of ``word_tokenize``) inside
  an untrained ``PunktSentenceTokenizer`` (its English model is a download, which is not allowed);
- ``split_text``: ``bilstm_tagger.text.segmentation.split_text``, the chosen library with this
  project's post-processing: what ``tagger tag`` really runs.

What is measured, on UD English EWT **test** (``ud_en_ewt/en_ewt-ud-test.conllu``):

- token F1 by character spans. The gold offsets are rebuilt by finding each token's form in the
  sentence's ``# text``, left to right. A multi-word token (``3-4 don't``: ``do`` ``n't``) counts
  as its words when their forms concatenate to its surface form (always so in EWT test), else as
  one token. The raw text given to a tokenizer is a **paragraph**: the sentences from one
  ``# newpar`` or ``# newdoc`` marker to the next, their ``# text`` joined with one space (UD does
  not record the white space between sentences; one space is what running text has). That is what
  users pipe to ``tagger tag``, one paragraph a line. Token F1 with each sentence's text given
  alone is reported too, to separate tokenization errors from sentence-splitting effects;
- sentence-boundary F1 on paragraphs: a boundary is the end offset of a sentence that is not the
  last of its paragraph (the paragraph's own end is given away and not counted);
- throughput in gold tokens per second of tokenization plus sentence splitting, offsets
  included, every candidate on the same paragraphs in one process, the candidates taking turns
  within each repetition (the order rotated), best of ``--repeats``. The numerator is the gold
  token count for every candidate, so the figures compare time on the same text. Each
  repetition builds the tokenizers afresh and times a cold pass (nothing cached) and a warm one
  (spaCy caches every word it has tokenized; a stream of new text is mostly cold);
- start-up: a fresh interpreter importing the library and building the tokenizer, best of 3,
  minus a bare interpreter's start.

Throughput also over a stream twenty times longer (CoNLL-2003 ``eng.train`` sentences and EWT
``train`` paragraphs, about 500,000 tokens), one cold pass of a fresh tokenizer, best of 3: the
closest to what ``tagger tag`` sees, text mostly new to the tokenizer.

And the CoNLL-2003 convention check: each sentence of ``conll2003/eng.testb`` is joined into
natural raw text by ``conll_text.detokenize`` (one sentence a line), and token F1 is computed
against its tokens, together with throughput on those lines.

Writes ``benchmarks/tokenizers.json`` (every figure, the versions, the machine and its load
average, since another job may share it) and prints a markdown table. Timings are only printed,
never asserted. Only spaCy is a dependency of the project: a candidate not installed keeps the
figures of the last run that had it, marked ``from_an_earlier_run`` (its speed is then not
side by side with the others). To measure them all without touching the project's environment::

    python3 -m venv --system-site-packages /tmp/tokvenv
    /tmp/tokvenv/bin/pip install syntok blingfire nltk
    /tmp/tokvenv/bin/python benchmarks/tokenizers.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conll_text import detokenize  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
OUTPUT = Path(__file__).resolve().parent / "tokenizers.json"

Span = tuple[int, int]
Splitter = Callable[[str], list[list[Span]]]


@dataclass
class Paragraph:
    """One raw-text unit with its gold segmentation.

    Attributes:
        text: the raw text given to the tokenizer.
        tokens: gold token offsets into ``text``, in order.
        sentence_ends: end offset of each gold sentence, in order (the last is the text's end).
    """

    text: str
    tokens: list[Span]
    sentence_ends: list[int] = field(default_factory=list)


@dataclass
class EwtStats:
    """How the EWT gold offsets were rebuilt, to show that nothing was guessed."""

    sentences: int = 0
    paragraphs: int = 0
    tokens: int = 0
    multiword_tokens: int = 0
    multiword_as_one_token: int = 0  # words not concatenating to the surface form
    forms_not_found_in_text: int = 0


# --------------------------------------------------------------------------------------------
# Gold data


def align_sentence(text: str, forms: list[tuple[str, list[str]]], stats: EwtStats) -> list[Span]:
    """Offsets of a sentence's tokens in its ``# text``.

    Args:
        text: the sentence's ``# text``.
        forms: each surface token's form with its words' forms (a single word: ``[form]``).
        stats: counts updated in place.
    """
    spans: list[Span] = []
    position = 0
    for surface, words in forms:
        start = text.find(surface, position)
        if start < 0 or text[position:start].strip():
            stats.forms_not_found_in_text += 1
            continue
        end = start + len(surface)
        if len(words) > 1:
            stats.multiword_tokens += 1
            if "".join(words) == surface:
                for word in words:
                    spans.append((start, start + len(word)))
                    start += len(word)
            else:
                stats.multiword_as_one_token += 1
                spans.append((start, end))
        else:
            spans.append((start, end))
        position = end
    return spans


def read_ewt(path: Path) -> tuple[list[Paragraph], list[Paragraph], EwtStats]:
    """Read a CoNLL-U file into paragraphs and into single sentences, each with gold offsets.

    Returns:
        ``(paragraphs, sentences, stats)``.
    """
    stats = EwtStats()
    sentences: list[Paragraph] = []
    paragraph_starts: list[int] = []  # index into sentences where a paragraph begins
    text = ""
    forms: list[tuple[str, list[str]]] = []
    multiword_end = 0
    new_paragraph = True
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("# newpar") or line.startswith("# newdoc"):
            new_paragraph = True
        elif line.startswith("# text = "):
            text = line[len("# text = ") :]
        elif line.startswith("#"):
            continue
        elif not line:
            if forms:
                tokens = align_sentence(text, forms, stats)
                if new_paragraph or not paragraph_starts:
                    paragraph_starts.append(len(sentences))
                    new_paragraph = False
                sentences.append(Paragraph(text, tokens, [len(text)]))
            forms, multiword_end = [], 0
        else:
            columns = line.split("\t")
            identifier, form = columns[0], columns[1]
            if "." in identifier:
                continue  # empty nodes have no surface form
            if "-" in identifier:
                first, last = (int(part) for part in identifier.split("-"))
                forms.append((form, []))
                multiword_end = last
            elif forms and int(identifier) <= multiword_end:
                forms[-1][1].append(form)
            else:
                forms.append((form, [form]))
    stats.sentences = len(sentences)
    stats.paragraphs = len(paragraph_starts)
    stats.tokens = sum(len(sentence.tokens) for sentence in sentences)
    paragraphs = []
    for number, first in enumerate(paragraph_starts):
        last = paragraph_starts[number + 1] if number + 1 < len(paragraph_starts) else len(sentences)
        pieces, tokens, ends, offset = [], [], [], 0
        for sentence in sentences[first:last]:
            if pieces:
                offset += 1  # the space joining two sentences
            pieces.append(sentence.text)
            tokens.extend((start + offset, end + offset) for start, end in sentence.tokens)
            offset += len(sentence.text)
            ends.append(offset)
        paragraphs.append(Paragraph(" ".join(pieces), tokens, ends))
    return paragraphs, sentences, stats


def read_conll(path: Path) -> list[Paragraph]:
    """Read a CoNLL-2003 file: each sentence detokenized into one line with its gold offsets."""
    lines: list[Paragraph] = []
    tokens: list[str] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        word = line.split(" ", 1)[0]
        if word and word != "-DOCSTART-":
            tokens.append(word)
        elif tokens:
            text, spans = detokenize(tokens)
            lines.append(Paragraph(text, spans, [len(text)]))
            tokens = []
    return lines


# --------------------------------------------------------------------------------------------
# Candidates


@dataclass
class Candidate:
    """A tokenizer under test: how to build it and what it is."""

    name: str
    package: str  # distribution name, for its version
    description: str
    build: Callable[[], Splitter]
    setup_code: str  # what a fresh interpreter runs to be ready to tokenize (start-up time)


def build_syntok() -> Splitter:
    from syntok import segmenter

    def split(text: str) -> list[list[Span]]:
        sentences = []
        for paragraph in segmenter.analyze(text):
            for sentence in paragraph:
                spans = [(token.offset, token.offset + len(token.value)) for token in sentence]
                if spans:
                    sentences.append(spans)
        return sentences

    return split


def build_spacy() -> Splitter:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")

    def split(text: str) -> list[list[Span]]:
        sentences = []
        for sentence in nlp(text).sents:
            spans = [(token.idx, token.idx + len(token)) for token in sentence if not token.is_space]
            if spans:
                sentences.append(spans)
        return sentences

    return split


def build_blingfire() -> Splitter:
    import blingfire

    def split(text: str) -> list[list[Span]]:
        if not text.strip():
            return []
        _, sentence_spans = blingfire.text_to_sentences_and_offsets(text)
        _, word_spans = blingfire.text_to_words_with_offsets(text)
        sentences: list[list[Span]] = [[] for _ in sentence_spans]
        number = 0
        for start, end in word_spans:
            while number + 1 < len(sentence_spans) and start >= sentence_spans[number][1]:
                number += 1
            sentences[number].append((start, end))
        return [spans for spans in sentences if spans]

    return split


def build_nltk() -> Splitter:
    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    words = NLTKWordTokenizer()
    punkt = PunktSentenceTokenizer()

    def split(text: str) -> list[list[Span]]:
        sentences = []
        for start, end in punkt.span_tokenize(text):
            try:
                spans = [(start + a, start + b) for a, b in words.span_tokenize(text[start:end])]
            except ValueError:  # its alignment of rewritten quotes can fail: keep the words
                spans = [(start + a, start + b) for a, b in whitespace_spans(text[start:end])]
            if spans:
                sentences.append(spans)
        return sentences

    return split


def whitespace_spans(text: str) -> list[Span]:
    """Offsets of the white-space separated words of ``text``."""
    spans, position = [], 0
    for word in text.split():
        start = text.index(word, position)
        position = start + len(word)
        spans.append((start, position))
    return spans


def build_split_text() -> Splitter:
    from bilstm_tagger.text import segmentation

    segmentation._tokenizers.clear()  # a fresh tokenizer, with nothing cached, as for the others
    segmentation._tokenizer()  # built now, not inside the first timed call
    return segmentation.split_text


CANDIDATES = [
    Candidate(
        "syntok",
        "syntok",
        "syntok segmenter.analyze",
        build_syntok,
        "from syntok import segmenter; list(segmenter.analyze('A b.'))",
    ),
    Candidate(
        "spacy",
        "spacy",
        'spacy.blank("en") + sentencizer',
        build_spacy,
        "import spacy; nlp = spacy.blank('en'); nlp.add_pipe('sentencizer'); nlp('A b.')",
    ),
    Candidate(
        "blingfire",
        "blingfire",
        "blingfire sentences + words with offsets",
        build_blingfire,
        "import blingfire; blingfire.text_to_words_with_offsets('A b.')",
    ),
    Candidate(
        "nltk",
        "nltk",
        "NLTKWordTokenizer + untrained Punkt",
        build_nltk,
        "from nltk.tokenize.destructive import NLTKWordTokenizer; from nltk.tokenize.punkt import"
        " PunktSentenceTokenizer; PunktSentenceTokenizer().span_tokenize('A b.')",
    ),
    Candidate(
        "split_text",
        "bilstm-tagger",
        "bilstm_tagger.text.segmentation.split_text",
        build_split_text,
        "from bilstm_tagger.text.segmentation import split_text; split_text('A b.')",
    ),
]


# --------------------------------------------------------------------------------------------
# Measures


def f1(gold: set, predicted: set) -> dict[str, float]:
    """Precision, recall and F1 (percentages) of a predicted set against a gold set."""
    correct = len(gold & predicted)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(gold) if gold else 0.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * score}


def score(split: Splitter, units: Sequence[Paragraph]) -> tuple[dict[str, float], dict[str, float]]:
    """Token and sentence-boundary scores of a splitter over a corpus of units."""
    gold_tokens, predicted_tokens = set(), set()
    gold_boundaries, predicted_boundaries = set(), set()
    for number, unit in enumerate(units):
        sentences = split(unit.text)
        gold_tokens.update((number, start, end) for start, end in unit.tokens)
        predicted_tokens.update((number, start, end) for sentence in sentences for start, end in sentence)
        gold_boundaries.update((number, end) for end in unit.sentence_ends[:-1])
        predicted_boundaries.update((number, sentence[-1][1]) for sentence in sentences[:-1])
    return f1(gold_tokens, predicted_tokens), f1(gold_boundaries, predicted_boundaries)


@dataclass
class Speed:
    """Gold tokens per second of one splitter over one corpus."""

    cold: float  # first pass of a freshly built tokenizer: nothing cached yet
    warm: float  # second pass: spaCy has cached every word (the others cache nothing)


def throughput(builders: dict[str, Callable[[], Splitter]], texts: list[str], tokens: int, repeats: int) -> dict:
    """Speed of each splitter over ``texts``, side by side, best of ``repeats`` for each pass.

    Each repetition builds every tokenizer afresh and times two passes over the texts: spaCy
    caches the tokenization of every word it has seen, so a second pass over the same text runs
    two to three times faster than text it has not seen, which a stream of new text mostly is.
    """
    cold = dict.fromkeys(builders, float("inf"))
    warm = dict.fromkeys(builders, float("inf"))
    names = list(builders)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:  # rotate the order: no candidate always first
            split = builders[name]()
            for best in (cold, warm):
                start = time.perf_counter()
                for text in texts:
                    split(text)
                best[name] = min(best[name], time.perf_counter() - start)
    return {name: asdict(Speed(tokens / cold[name], tokens / warm[name])) for name in names}


def stream_throughput(
    builders: dict[str, Callable[[], Splitter]], texts: list[str], tokens: int, repeats: int
) -> dict[str, float]:
    """Gold tokens per second of one cold pass of each fresh tokenizer over a long stream, best of ``repeats``."""
    best = dict.fromkeys(builders, float("inf"))
    names = list(builders)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            split = builders[name]()
            start = time.perf_counter()
            for text in texts:
                split(text)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: tokens / best[name] for name in names}


def startup_seconds(code: str, repeats: int = 3) -> float:
    """Seconds a fresh interpreter takes to run ``code``, less a bare interpreter's start."""

    def best(snippet: str) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", snippet], check=True, cwd=ROOT, capture_output=True)
            times.append(time.perf_counter() - start)
        return min(times)

    return max(0.0, best(code) - best("pass"))


def earlier_figures(path: Path) -> dict[str, dict]:
    """Each candidate's figures in an earlier JSON file, if there is one."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["candidates"]
    except (OSError, ValueError, KeyError):
        return {}


def version_of(package: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------------
# Report


def markdown_table(results: dict) -> str:
    """The figures as a markdown table, one row per candidate; speeds also as a ratio to spaCy's."""
    header = (
        "| tokenizer | version | EWT token F1 (paragraphs) | EWT token F1 (sentences) | EWT sentence-boundary F1"
        " | CoNLL token F1 | EWT tokens/s cold (÷ spacy) | EWT tokens/s warm (÷ spacy)"
        " | CoNLL tokens/s cold (÷ spacy) | CoNLL tokens/s warm (÷ spacy) | stream tokens/s cold (÷ spacy)"
        " | start-up s |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    reference = results["candidates"].get("spacy", {})
    rows = []
    for name, figures in results["candidates"].items():
        if "missing" in figures:
            rows.append(f"| {name} | not installed | | | | | | | | | | |")
            continue
        version = figures["version"]
        if figures.get("from_an_earlier_run"):
            version += " (not installed: earlier run)"
        speeds = []
        for corpus in ("ewt_tokens_per_second", "conll_tokens_per_second"):
            for state in ("cold", "warm"):
                value = figures[corpus][state]
                base = reference.get(corpus, {}).get(state)
                speeds.append(f"{value:,.0f} ({value / base:.2f})" if base else f"{value:,.0f}")
        value, base = figures["stream_tokens_per_second_cold"], reference.get("stream_tokens_per_second_cold")
        speeds.append(f"{value:,.0f} ({value / base:.2f})" if base else f"{value:,.0f}")
        rows.append(
            f"| {name} | {version} | {figures['ewt_paragraph_tokens']['f1']:.2f}"
            f" | {figures['ewt_sentence_tokens']['f1']:.2f} | {figures['ewt_sentence_boundaries']['f1']:.2f}"
            f" | {figures['conll_tokens']['f1']:.2f} | {' | '.join(speeds)} | {figures['startup_seconds']:.2f} |"
        )
    return header + "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    """Measure every importable candidate, write the JSON file and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--repeats", type=int, default=5, help="timing repetitions (best-of)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="JSON file to write")
    options = parser.parse_args(argv)

    paragraphs, sentences, stats = read_ewt(options.data / "ud_en_ewt" / "en_ewt-ud-test.conllu")
    conll = read_conll(options.data / "conll2003" / "eng.testb")
    conll_tokens = sum(len(line.tokens) for line in conll)

    splitters: dict[str, Splitter] = {}
    results: dict = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_1min_at_start": os.getloadavg()[0],
        },
        "ewt": {"file": "ud_en_ewt/en_ewt-ud-test.conllu", "raw_text": "paragraphs, sentences joined by one space"}
        | asdict(stats),
        "conll": {"file": "conll2003/eng.testb", "lines": len(conll), "tokens": conll_tokens},
        "repeats": options.repeats,
        "candidates": {},
    }
    earlier = earlier_figures(options.output)
    for candidate in CANDIDATES:
        try:
            split = candidate.build()
        except ImportError as error:
            # Not installed here (only spaCy is a dependency): keep the figures of the run that
            # had it, marked as such, rather than lose them.
            kept = earlier.get(candidate.name, {})
            if "missing" in kept or not kept:
                results["candidates"][candidate.name] = {"missing": str(error)}
            else:
                results["candidates"][candidate.name] = {**kept, "from_an_earlier_run": True}
            continue
        splitters[candidate.name] = split
        paragraph_tokens, boundaries = score(split, paragraphs)
        sentence_tokens, _ = score(split, sentences)
        conll_scores, _ = score(split, conll)
        results["candidates"][candidate.name] = {
            "description": candidate.description,
            "version": version_of(candidate.package),
            "ewt_paragraph_tokens": paragraph_tokens,
            "ewt_sentence_tokens": sentence_tokens,
            "ewt_sentence_boundaries": boundaries,
            "conll_tokens": conll_scores,
        }

    builders = {candidate.name: candidate.build for candidate in CANDIDATES if candidate.name in splitters}
    ewt_speed = throughput(builders, [p.text for p in paragraphs], stats.tokens, options.repeats)
    conll_speed = throughput(builders, [line.text for line in conll], conll_tokens, options.repeats)
    # A stream twenty times longer, as tagger tag reads: CoNLL-2003 training sentences and EWT
    # training paragraphs, one cold pass each; most of its words are new to a fresh tokenizer.
    stream = (
        read_conll(options.data / "conll2003" / "eng.train")
        + read_ewt(options.data / "ud_en_ewt" / "en_ewt-ud-train.conllu")[0]
    )
    stream_tokens = sum(len(unit.tokens) for unit in stream)
    results["stream"] = {
        "files": ["conll2003/eng.train", "ud_en_ewt/en_ewt-ud-train.conllu"],
        "units": len(stream),
        "tokens": stream_tokens,
        "repeats": min(3, options.repeats),
    }
    stream_speed = stream_throughput(builders, [unit.text for unit in stream], stream_tokens, min(3, options.repeats))
    for candidate in CANDIDATES:
        if candidate.name in splitters:
            figures = results["candidates"][candidate.name]
            figures["ewt_tokens_per_second"] = ewt_speed[candidate.name]
            figures["conll_tokens_per_second"] = conll_speed[candidate.name]
            figures["stream_tokens_per_second_cold"] = stream_speed[candidate.name]
            figures["startup_seconds"] = startup_seconds(candidate.setup_code)

    options.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
