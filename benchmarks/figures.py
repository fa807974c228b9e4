"""The benchmark figures the docs quote, rendered from ``results.json`` and ``speed.json``.

    python benchmarks/figures.py [--check]

Figures in the docs are never typed by hand where they can be generated: each block between
``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` in README.md, benchmarks/README.md and
benchmarks/RESULTS.md (:func:`rendered_blocks` says which) is rendered here from the JSON files, as is the top of RESULTS.md (above
its notes marker). ``speed.py`` and ``accuracy.py`` call :func:`refresh_docs` after writing their
JSON; run this file to re-render every block by hand, or with ``--check`` to only report what
differs. Hand-written prose that repeats a figure is listed in :func:`quotes`, which the tests
(and this script) check against the JSON, so a new benchmark run shows which sentences to update.

No torch here: the tests import this module.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bilstm_tagger.model.config import TrainingConfig

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
RESULTS_JSON = BENCHMARKS / "results.json"
SPEED_JSON = BENCHMARKS / "speed.json"
# The raw-text and --confidence runs, kept apart: measured on a day the machine ran at half speed.
RAW_TEXT_SPEED_JSON = BENCHMARKS / "speed-raw-text.json"
README = ROOT / "README.md"
TRAINING_MD = ROOT / "docs" / "training.md"  # the presets and embeddings: prose that quotes results.json
BENCHMARKS_README = BENCHMARKS / "README.md"
RESULTS_MD = BENCHMARKS / "RESULTS.md"
# Every page that shows a benchmark figure, as a generated block or as a quote.
DOCS = (README, TRAINING_MD, BENCHMARKS_README, RESULTS_MD)
NOTES_MARKER = "<!-- Written by hand below this line: the benchmark keeps it when it rewrites the file. -->"
BLOCK = re.compile(r"<!-- figures:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n<!-- /figures:(?P=name) -->", re.DOTALL)

# speed.json entries written before the batch size was recorded were measured at the default.
DEFAULT_BATCH_SIZE = TrainingConfig().batch_size
SPEED_LABELS = {"ner-preset": "NER preset (GloVe)", "ncrfpp-sized": "NCRF++-sized"}
ACCURACY_LABELS = {
    ("conll2003", "glove-6b-50d"): "CoNLL-2003, `--preset ner` (GloVe 6B 50d)",
    ("conll2003", "random"): "CoNLL-2003, `--preset ner --embeddings none`",
    ("ud_en_ewt", "glove-6b-50d"): "UD English EWT UPOS, `--preset pos` (GloVe 6B 50d)",
}
# NCRF++ on the same kind of machine, as measured in the speed issue (it is not run here).
NCRFPP_TRAIN_SENTENCES_PER_SECOND = 125  # batch 10
NCRFPP_TAG_TOKENS_PER_SECOND = 6_700
# The accuracy targets of issue 3 (percentages, minutes, MB).
CONLL_TARGET_MEAN, CONLL_TARGET_MIN = 91.0, 90.5
UD_TARGET_MEAN = 95.5
RUN_MINUTES_LIMIT = 30
ACCURACY_MEMORY_LIMIT_MB = 3 * 1024


# --- formatting ------------------------------------------------------------------------------


def whole(value: float) -> str:
    """A count or rate without decimals, with thousands separators: 1,546."""
    return f"{value:,.0f}"


def thousands(value: float) -> str:
    """A rate rounded to thousands, for prose: 122,000."""
    return f"{round(value, -3):,.0f}"


def spread(figure: dict, digits: int = 0) -> str:
    """A speed.json summary as its median with the range of its runs: 1,420 (1,373–1,461)."""
    return f"{figure['median']:,.{digits}f} ({figure['min']:,.{digits}f}–{figure['max']:,.{digits}f})"


def times(ratio: float) -> str:
    """How many times faster, to two significant figures below 10: 6.7×, 12×."""
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×"


def ordinal(number: int) -> str:
    """71st, 75th, 97th, 112th."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def seeds(count: int) -> str:
    """'1 seed', '3 seeds'."""
    return f"{count} seed{'' if count == 1 else 's'}"


def in_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def duration(minutes: float) -> str:
    """A duration rounded to the half hour, in words: 'an hour and a half'."""
    halves = max(1, round(minutes / 30))
    hours, half = divmod(halves, 2)
    if hours == 0:
        return "half an hour"
    named = "an hour" if hours == 1 else f"{hours} hours"
    return named + (" and a half" if half else "")


def machine_name(machine: dict | None, *, threads: bool = False, python: bool = False) -> str:
    """The machine a figure was measured on, as the docs name it."""
    if not machine:
        return "an unrecorded machine"
    parts = [machine["cpu"], f"{machine['cores']} cores", f"torch {machine['torch']}"]
    if threads:
        parts.append(f"{machine['threads']} threads")
    if python:
        parts.append(f"Python {machine['python']}")
    return ", ".join(parts)


# --- reading the JSON ------------------------------------------------------------------------


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def benchmark_runs(results: dict, row: dict) -> list[dict]:
    """The runs (one per seed, in seed order) behind a summary row of results.json."""
    runs = [r for r in results["runs"] if (r["dataset"], r["embeddings"]) == (row["dataset"], row["embeddings"])]
    return sorted(runs, key=lambda run: run["seed"])


def summary_row(results: dict, dataset: str, embeddings: str) -> dict:
    return next(r for r in results["summary"] if (r["dataset"], r["embeddings"]) == (dataset, embeddings))


def row_machine(results: dict, row: dict, **detail) -> str:
    """The machine(s) a summary row's runs ran on; a benchmark's seeds run in one invocation, so one."""
    names = dict.fromkeys(machine_name(run.get("machine"), **detail) for run in benchmark_runs(results, row))
    return " / ".join(names)


def shared_machine(names: list[str]) -> str | None:
    """The one machine all entries ran on, or None where they differ (then each entry names its own)."""
    return names[0] if len(set(names)) == 1 else None


def default_batch(config: dict) -> int:
    return config["train_default_batch"].get("batch_size", DEFAULT_BATCH_SIZE)


def config_machine(config: dict) -> str:
    return machine_name(config.get("machine"), threads=True)


# --- accuracy blocks -------------------------------------------------------------------------


def results_report(results: dict) -> str:
    """The generated top of RESULTS.md: machine, summary table, every run with its exact commands."""
    machines = [row_machine(results, row, python=True) for row in results["summary"]]
    shared = shared_machine(machines)
    produced = "Produced by `make bench-accuracy` (`python benchmarks/accuracy.py`)."
    lines = ["# Accuracy benchmark results", ""]
    if shared:
        lines.append(f"Machine: {shared}. {produced}")
    else:
        lines.append(f"Machines differ between the benchmarks: each row names the one its runs ran on. {produced}")
    header = "| dataset | embeddings | metric | seeds | test mean ± std | test min | dev mean | epochs | train min | sent/s | peak MB |"
    rule = "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    lines += ["", header + ("" if shared else " machine |"), rule + ("" if shared else "---|")]
    for row, machine in zip(results["summary"], machines):
        lines.append(
            f"| {row['dataset']} | {row['embeddings']} | {row['metric']} | {row['seeds']} | "
            f"{row['test_mean']:.2f} ± {row['test_std']:.2f} | {row['test_min']:.2f} | {row['dev_mean']:.2f} | "
            f"{row['epochs_mean']} | {row['train_minutes_mean']} | {row['sentences_per_second_mean']} | {row['peak_rss_mb']} |"
            + ("" if shared else f" {machine} |")
        )
    lines += ["", "## Runs and their exact commands", ""]
    for run in results["runs"]:
        lines.append(
            f"- {run['name']} seed {run['seed']}: test {run['test']:.2f}, dev {run['dev']:.2f} "
            f"(best epoch {run['best_epoch']} of {run['epochs']}), {run['train_minutes']:.1f} min"
        )
        lines += [f"  - `tagger {command}`" for command in run["commands"]]
    return "\n".join(lines) + "\n\n"


def accuracy_score(row: dict, full_seeds: int) -> str:
    """'90.87 ± 0.14 F1', '95.66 ± 0.08% accuracy', '85.05 F1 (1 seed)'."""
    unit = " F1" if row["metric"] == "f1" else "% accuracy"
    score = f"{row['test_mean']:.2f}" + (f" ± {row['test_std']:.2f}" if row["seeds"] > 1 else "") + unit
    if row["seeds"] != full_seeds:
        score += f" ({seeds(row['seeds'])})"
    return score


def accuracy_table(results: dict) -> str:
    """benchmarks/README.md: how long the whole benchmark takes and one row per benchmark."""
    machines = [row_machine(results, row) for row in results["summary"]]
    shared = shared_machine(machines)
    # The column names the full count; a benchmark run with fewer seeds (the contrast) says so in its cell.
    full_seeds = max(row["seeds"] for row in results["summary"])
    total = duration(sum(run["train_minutes"] for run in results["runs"]))
    where = f"measured on {shared}" if shared else "each measured on the machine named in its last column"
    lines = [
        f"The whole run takes about {total}. Latest figures (all of them, with the exact commands and",
        "how the recipe was chosen, in [RESULTS.md](RESULTS.md)),",
        f"{where}:",
        "",
        f"| benchmark | test, mean ± std of {seeds(full_seeds)} | dev | minutes per run | peak memory |"
        + ("" if shared else " machine |"),
        "|---|---:|---:|---:|---:|" + ("" if shared else "---|"),
    ]
    for row, machine in zip(results["summary"], machines):
        label = ACCURACY_LABELS.get((row["dataset"], row["embeddings"]), f"{row['dataset']}, {row['embeddings']}")
        lines.append(
            f"| {label} | {accuracy_score(row, full_seeds)} | {row['dev_mean']:.2f} | "
            f"{row['train_minutes_mean']:.1f} | {whole(row['peak_rss_mb'])} MB |" + ("" if shared else f" {machine} |")
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One row of an issue's targets: the target, what was reached, and the verdict."""

    name: str
    reached: str
    verdict: str


def mean_verdict(mean: float, target: float) -> str:
    return "**met**" if mean >= target else f"**missed** by {target - mean:.2f}"


def met(holds: bool) -> str:
    return "met" if holds else "**missed**"


def accuracy_targets(results: dict) -> list[Target]:
    """Issue 3's targets: CoNLL-2003 and UD EWT accuracy, minutes a run, peak memory."""
    conll = summary_row(results, "conll2003", "glove-6b-50d")
    ud = summary_row(results, "ud_en_ewt", "glove-6b-50d")
    ud_seeds = ", ".join(f"{run['test']:.2f}" for run in benchmark_runs(results, ud))
    # The random-embedding contrast is not a recipe the targets are about, so its time is given apart.
    minutes = [run["train_minutes"] for run in results["runs"] if run["embeddings"] != "random"]
    contrast = [run["train_minutes"] for run in results["runs"] if run["embeddings"] == "random"]
    reached_minutes = f"at most {max(minutes):.1f} minutes"
    if contrast:
        reached_minutes += f" ({max(contrast):.1f} for the random-embedding contrast)"
    peak = max(run["peak_rss_mb"] for run in results["runs"])
    return [
        Target(
            f"CoNLL-2003 test F1, GloVe 50d: mean of 3 seeds ≥ {CONLL_TARGET_MEAN}, no seed below {CONLL_TARGET_MIN}",
            f"{conll['test_mean']:.2f} ± {conll['test_std']:.2f}, lowest {conll['test_min']:.2f}",
            f"mean {mean_verdict(conll['test_mean'], CONLL_TARGET_MEAN)}; "
            f"no seed below {CONLL_TARGET_MIN} {met(conll['test_min'] >= CONLL_TARGET_MIN)}",
        ),
        Target(
            f"UD EWT test UPOS accuracy, GloVe 50d: mean ≥ {UD_TARGET_MEAN}",
            f"{ud['test_mean']:.2f} ± {ud['test_std']:.2f} ({ud_seeds})",
            mean_verdict(ud["test_mean"], UD_TARGET_MEAN),
        ),
        Target(
            f"each run ≤ {RUN_MINUTES_LIMIT} minutes of wall time on 2 cores",
            reached_minutes,
            met(max(minutes + contrast) <= RUN_MINUTES_LIMIT),
        ),
        Target("peak memory < 3 GB", f"at most {whole(peak)} MB", met(peak < ACCURACY_MEMORY_LIMIT_MB)),
    ]


def accuracy_targets_table(results: dict) -> str:
    """RESULTS.md: the table of issue 3's targets."""
    lines = ["| target | reached | |", "|---|---|---|"]
    lines += [f"| {t.name} | {t.reached} | {t.verdict} |" for t in accuracy_targets(results)]
    return "\n".join(lines)


# --- speed blocks ----------------------------------------------------------------------------


SPEED_ROWS: list[tuple[str, Callable[[dict], str]]] = [
    (
        "training, sentences/s, batch {batch} (default)",
        lambda c: spread(c["train_default_batch"]["sentences_per_second"]),
    ),
    ("training, tokens/s, batch {batch}", lambda c: whole(c["train_default_batch"]["tokens_per_second"]["median"])),
    ("training, sentences/s, batch 10", lambda c: spread(c["train_batch_10"]["sentences_per_second"])),
    ("training, peak memory", lambda c: f"{whole(c['train_default_batch']['peak_rss_mb']['median'])} MB"),
    ("tagging, tokens/s, steady", lambda c: spread(c["tagging"]["steady_tokens_per_second"])),
    ("tagging, sentences/s, steady", lambda c: whole(c["tagging"]["steady_sentences_per_second"]["median"])),
    ("tagging, tokens/s, end to end", lambda c: whole(c["tagging"]["end_to_end_tokens_per_second"]["median"])),
    ("tagging, peak memory", lambda c: f"{whole(c['tagging']['peak_rss_mb']['median'])} MB"),
    ("`tagger tag`, one sentence", lambda c: f"{c['startup']['tag_one_sentence_seconds']['median']:.2f} s"),
    ("`tagger --help`", lambda c: f"{c['startup']['help_seconds']['median']:.2f} s"),
]


def speed_table(speed: dict) -> str:
    """benchmarks/README.md: the heading naming the machine, and one column per configuration."""
    configs = speed["configs"]
    machines = [config_machine(config) for config in configs.values()]
    shared = shared_machine(machines)
    batch = in_words(list(dict.fromkeys(str(default_batch(config)) for config in configs.values())))
    lines = [
        f"### Latest figures ({shared or 'each column on the machine named in its last row'})",
        "",
        "| measure | " + " | ".join(SPEED_LABELS.get(name, name) for name in configs) + " |",
        "|---|" + "---:|" * len(configs),
    ]
    for label, cell in SPEED_ROWS:
        lines.append(f"| {label.format(batch=batch)} | " + " | ".join(cell(c) for c in configs.values()) + " |")
    if not shared:
        lines.append("| machine | " + " | ".join(machines) + " |")
    return "\n".join(lines)


def speed_comparison(speed: dict) -> str:
    """benchmarks/README.md: torch's share of start-up, and the NCRF++-sized model against NCRF++."""
    config = speed["configs"]["ncrfpp-sized"]
    startup = config["startup"]
    batch_10 = config["train_batch_10"]["sentences_per_second"]["median"]
    default = config["train_default_batch"]["sentences_per_second"]["median"]
    tagging = config["tagging"]["steady_tokens_per_second"]["median"]
    return (
        f"Importing torch took {startup['torch_import_seconds']:.2f} s in the NCRF++-sized run, "
        f"{100 * startup['torch_import_share_of_tag']:.0f}% of tagging one sentence; `tagger --help`\n"
        "never imports it. For comparison, the issue's measurements of NCRF++ on the same kind of machine:\n"
        f"about {whole(NCRFPP_TRAIN_SENTENCES_PER_SECOND)} sentences/s in training (batch 10) and "
        f"{whole(NCRFPP_TAG_TOKENS_PER_SECOND)} tokens/s in decoding. The same-sized model\n"
        f"here is {times(batch_10 / NCRFPP_TRAIN_SENTENCES_PER_SECOND)} faster at NCRF++'s batch of 10, "
        f"{times(default / NCRFPP_TRAIN_SENTENCES_PER_SECOND)} at our default of {default_batch(config)}, "
        f"and {times(tagging / NCRFPP_TAG_TOKENS_PER_SECOND)} faster in tagging."
    )


def missed(met: bool) -> str:
    """Nothing beside a target that was met; a mark beside one that was not."""
    return "" if met else ", **missed**"


def speed_targets(speed: dict, results: dict) -> str:
    """benchmarks/README.md: issue 4's speed and memory targets, then where the accuracy ones stand."""
    ncrfpp, ner = speed["configs"]["ncrfpp-sized"], speed["configs"]["ner-preset"]
    train = ncrfpp["train_default_batch"]["sentences_per_second"]["median"]
    ner_train = ner["train_default_batch"]["sentences_per_second"]["median"]
    tagging = ncrfpp["tagging"]["steady_tokens_per_second"]["median"]
    ner_tagging = ner["tagging"]["steady_tokens_per_second"]["median"]
    help_seconds = ncrfpp["startup"]["help_seconds"]["median"]
    one_sentence = ncrfpp["startup"]["tag_one_sentence_seconds"]["median"]
    tag_peaks = [c["tagging"]["peak_rss_mb"]["median"] for c in (ncrfpp, ner)]
    train_peaks = [c["train_default_batch"]["peak_rss_mb"]["median"] for c in (ncrfpp, ner)]
    meets = {
        "train": train >= 1_500,
        "tagging": tagging >= 100_000,
        "ner_tagging": ner_tagging >= 50_000,
        "help": help_seconds <= 0.5,
        "one_sentence": one_sentence <= 2.5,
        "tag_peak": max(tag_peaks) <= 600,
        "train_peak": max(train_peaks) <= 3 * 1024,
    }
    return (
        f"Against the targets of issue 4, {'all met' if all(meets.values()) else 'not all met'}: training "
        f"{whole(train)} sentences/s at the default batch size\n(NCRF++-sized; ≥ 1,500{missed(meets['train'])}), "
        f"{whole(ner_train)} with the NER preset; tagging {whole(tagging)} tokens/s "
        f"(≥ 100,000{missed(meets['tagging'])}) and\n{whole(ner_tagging)} with the NER preset "
        f"(≥ 50,000{missed(meets['ner_tagging'])}); `tagger --help` {help_seconds:.2f} s "
        f"(≤ 0.5{missed(meets['help'])}); `tagger tag` on one\nsentence {one_sentence:.2f} s "
        f"(≤ 2.5{missed(meets['one_sentence'])}); peak memory {' / '.join(whole(p) for p in tag_peaks)} MB tagging "
        f"(≤ 600{missed(meets['tag_peak'])}) and {' / '.join(whole(p) for p in train_peaks)} MB training\n"
        f"(≤ 3 GB{missed(meets['train_peak'])}). The accuracy targets are in [RESULTS.md](RESULTS.md): "
        f"{accuracy_verdicts(results)}."
    )


def accuracy_verdicts(results: dict) -> str:
    """'UD EWT meets 95.5 (95.66) and CoNLL-2003 misses 91.0 by 0.13 (90.87, no seed below 90.5)'."""
    conll = summary_row(results, "conll2003", "glove-6b-50d")
    ud = summary_row(results, "ud_en_ewt", "glove-6b-50d")

    def verdict(name: str, mean: float, target: float) -> str:
        return f"{name} meets {target}" if mean >= target else f"{name} misses {target} by {target - mean:.2f}"

    lowest = (
        f"no seed below {CONLL_TARGET_MIN}"
        if conll["test_min"] >= CONLL_TARGET_MIN
        else f"lowest seed {conll['test_min']:.2f}"
    )
    return (
        f"{verdict('UD EWT', ud['test_mean'], UD_TARGET_MEAN)} ({ud['test_mean']:.2f}) and\n"
        f"{verdict('CoNLL-2003', conll['test_mean'], CONLL_TARGET_MEAN)} ({conll['test_mean']:.2f}, {lowest})"
    )


def readme_speed(speed: dict) -> str:
    """README.md's Speed paragraph: the default model and the NER preset, start-up times."""
    ncrfpp, ner = speed["configs"]["ncrfpp-sized"], speed["configs"]["ner-preset"]
    shared = shared_machine([config_machine(ncrfpp), config_machine(ner)])
    where = f"On {ncrfpp['machine']['cores']} CPU cores" if shared and ncrfpp.get("machine") else "On the CPU"
    startup = ncrfpp["startup"]
    text = (
        f"{where} (`make bench-speed`; method, profiles and all figures in\n"
        f"[benchmarks/README.md](benchmarks/README.md)), the default model (NCRF++'s size) trains at "
        f"{whole(ncrfpp['train_default_batch']['sentences_per_second']['median'])}\n"
        f"sentences/s at the default batch of {default_batch(ncrfpp)} "
        f"({whole(ncrfpp['train_batch_10']['sentences_per_second']['median'])} at batch 10) and tags "
        f"{thousands(ncrfpp['tagging']['steady_tokens_per_second']['median'])} tokens/s; with\n"
        f"`--preset ner` (GloVe) it trains at {whole(ner['train_default_batch']['sentences_per_second']['median'])} "
        f"sentences/s and tags {thousands(ner['tagging']['steady_tokens_per_second']['median'])} tokens/s. "
        f"`tagger --help`\ntakes {startup['help_seconds']['median']:.2f} s and `tagger tag` on one sentence "
        f"{startup['tag_one_sentence_seconds']['median']:.2f} s, "
        f"{100 * startup['torch_import_share_of_tag']:.0f}% of it importing torch."
    )
    if not shared:
        text += (
            f"\nThe default model's figures were measured on {config_machine(ncrfpp)}, "
            f"the NER preset's on {config_machine(ner)}."
        )
    return text


def raw_text_runs(raw_text_speed: dict) -> tuple[dict, dict, dict]:
    """The NER preset's pre-tokenised, raw-text and --confidence tagging runs of speed-raw-text.json."""
    ner = raw_text_speed["configs"]["ner-preset"]
    return ner["tagging"], ner["tagging_raw_text"], ner["tagging_confidence"]


def raw_text_table(raw_text_speed: dict, speed: dict) -> str:
    """benchmarks/README.md: raw text and confidences against pre-tokenised tagging, in one run."""
    plain, raw, confidence = raw_text_runs(raw_text_speed)
    ner, usual = raw_text_speed["configs"]["ner-preset"], speed["configs"]["ner-preset"]

    def steady(run: dict) -> float:
        return run["steady_tokens_per_second"]["median"]

    return "\n".join(
        [
            f"That day torch took {ner['startup']['torch_import_seconds']:.2f} s to import "
            f"({usual['startup']['torch_import_seconds']:.2f} s in `speed.json`), training ran at "
            f"{whole(ner['train_default_batch']['sentences_per_second']['median'])} sentences/s "
            f"({whole(usual['train_default_batch']['sentences_per_second']['median'])}) and pre-tokenised tagging at "
            f"{whole(steady(plain))} tokens/s ({whole(steady(usual['tagging']))}). NER preset, tokens/s:",
            "",
            "| run (one after the other, same run) | steady | end to end (whole command) | peak memory |",
            "|---|---:|---:|---:|",
            f"| pre-tokenised, `--input-format tokens` | {spread(plain['steady_tokens_per_second'])} | "
            f"{whole(plain['end_to_end_tokens_per_second']['median'])} | {whole(plain['peak_rss_mb']['median'])} MB |",
            f"| raw text, `--input-format text` (tokenizer included) | {spread(raw['steady_tokens_per_second'])} "
            f"({steady(raw) / steady(plain):.2f}×) | {whole(raw['end_to_end_tokens_per_second']['median'])} | "
            f"{whole(raw['peak_rss_mb']['median'])} MB |",
            f"| pre-tokenised with `--confidence` | {spread(confidence['steady_tokens_per_second'])} "
            f"(cost {steady(plain) / steady(confidence):.2f}×) | "
            f"{whole(confidence['end_to_end_tokens_per_second']['median'])} | "
            f"{whole(confidence['peak_rss_mb']['median'])} MB |",
        ]
    )


def readme_raw_text(raw_text_speed: dict) -> str:
    """README.md: raw text and confidences, as ratios to pre-tokenised tagging in the same run."""
    plain, raw, confidence = raw_text_runs(raw_text_speed)
    plain_speed = plain["steady_tokens_per_second"]["median"]
    return (
        f"Raw text, tokenizer included, is tagged at {raw['steady_tokens_per_second']['median'] / plain_speed:.2f}× "
        "the speed of the same sentences pre-tokenised, and\n"
        "confidences cost "
        f"{plain_speed / confidence['steady_tokens_per_second']['median']:.2f}× the time of plain tagging "
        "(`benchmarks/speed-raw-text.json`; figures and profile in\n"
        "[benchmarks/README.md](benchmarks/README.md#where-the-time-goes-and-what-was-changed))."
    )


# --- the blocks of each file -----------------------------------------------------------------


def rendered_blocks(results: dict, speed: dict, raw_text_speed: dict | None = None) -> dict[Path, dict[str, str]]:
    """Every generated block, by file and marker name."""
    raw_text_speed = raw_text_speed if raw_text_speed is not None else load(RAW_TEXT_SPEED_JSON)
    return {
        README: {"readme-speed": readme_speed(speed), "readme-raw-text": readme_raw_text(raw_text_speed)},
        BENCHMARKS_README: {
            "accuracy-table": accuracy_table(results),
            "speed-table": speed_table(speed),
            "speed-comparison": speed_comparison(speed),
            "speed-targets": speed_targets(speed, results),
            "raw-text-speed": raw_text_table(raw_text_speed, speed),
        },
        RESULTS_MD: {"accuracy-targets": accuracy_targets_table(results)},
    }


def replace_section(path: Path, begin: str, end: str, text: str) -> None:
    """Put ``text`` (which starts with ``begin`` and ends with ``end``) in place of the file's section
    between those markers, or at its end if it has none: a benchmark script's own part of RESULTS.md."""
    current = path.read_text(encoding="utf-8")
    if begin in current:
        before, rest = current.split(begin, 1)
        path.write_text(before + text + rest.split(end, 1)[1], encoding="utf-8")
    else:
        path.write_text(current.rstrip("\n") + "\n\n" + text + "\n", encoding="utf-8")


def publish(results: dict, output: Path, own: str, text: str, page: Path, begin: str, end: str) -> None:
    """A benchmark's end: its results written to ``output`` (JSON) and its section ``text`` printed;
    the section put in ``page`` between ``begin`` and ``end`` only when ``output`` is the benchmark's
    own file, ``benchmarks/OWN`` (a trial run written elsewhere leaves the pages alone)."""
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    if output.resolve() == (BENCHMARKS / own).resolve():
        replace_section(page, begin, end, text)


def marked_blocks(text: str) -> dict[str, str]:
    """The body of each marked block of a Markdown text, by name."""
    return {match["name"]: match["body"] for match in BLOCK.finditer(text)}


def replace_blocks(text: str, blocks: dict[str, str]) -> str:
    """The text with each named block's body replaced; a name without its markers is an error."""
    missing = set(blocks) - set(marked_blocks(text))
    if missing:
        raise ValueError(f"no <!-- figures:NAME --> … <!-- /figures:NAME --> markers for {sorted(missing)}")

    def body(match: re.Match) -> str:
        name = match["name"]
        new = blocks.get(name, match["body"])
        return f"<!-- figures:{name} -->\n{new}\n<!-- /figures:{name} -->"

    return BLOCK.sub(body, text)


def results_markdown(results: dict, previous: str | None) -> str:
    """RESULTS.md: the generated top, then the previous file's hand-written notes with their blocks re-rendered."""
    notes = NOTES_MARKER + "\n"
    if previous and NOTES_MARKER in previous:
        notes = previous[previous.index(NOTES_MARKER) :]
    # A RESULTS.md written elsewhere (--output) may have notes without the targets table.
    blocks = {"accuracy-targets": accuracy_targets_table(results)}
    present = {name: body for name, body in blocks.items() if name in marked_blocks(notes)}
    return results_report(results) + replace_blocks(notes, present)


def write_results_markdown(results: dict, path: Path) -> None:
    """Rewrite RESULTS.md from results, keeping whatever an earlier version had below NOTES_MARKER."""
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    path.write_text(results_markdown(results, previous), encoding="utf-8")


def rendered_file(path: Path, text: str, results: dict, speed: dict) -> str:
    """What a doc file's text should read, its generated figures rendered from the JSON."""
    if path == RESULTS_MD:
        return results_markdown(results, text)
    return replace_blocks(text, rendered_blocks(results, speed)[path])


def update_docs(results: dict | None = None, speed: dict | None = None, *, write: bool = True) -> list[Path]:
    """Re-render every generated figure from the JSON files (or the dicts given); return the files that differed."""
    results = results if results is not None else load(RESULTS_JSON)
    speed = speed if speed is not None else load(SPEED_JSON)
    differing = []
    for path in rendered_blocks(results, speed):
        old = path.read_text(encoding="utf-8")
        new = rendered_file(path, old, results, speed)
        if new != old:
            differing.append(path)
            if write:
                path.write_text(new, encoding="utf-8")
    return differing


def missing_entries(results: dict, speed: dict) -> list[str]:
    """The benchmarks the docs quote that the JSON files do not hold yet (a first, partial run)."""
    have = {(row["dataset"], row["embeddings"]) for row in results["summary"]}
    missing = [
        f"results.json: {dataset} with {embeddings}"
        for dataset, embeddings in ACCURACY_LABELS
        if (dataset, embeddings) not in have
    ]
    return missing + [f"speed.json: {name}" for name in SPEED_LABELS if name not in speed["configs"]]


def refresh_docs(results: dict | None = None, speed: dict | None = None, *, report: bool = True) -> None:
    """What a benchmark calls after writing its JSON: re-render the docs' figures, then name stale prose.

    Until both JSON files hold every benchmark the docs quote, the docs are left as they are:
    a benchmark must never stop on them after it has measured.
    """
    results = results if results is not None else load(RESULTS_JSON)
    speed = speed if speed is not None else load(SPEED_JSON)
    missing = missing_entries(results, speed)
    if missing:
        print(f"figures in the docs left as they are until the JSON files hold {in_words(missing)}", file=sys.stderr)
        return
    for path in update_docs(results, speed):
        print(f"{path.relative_to(ROOT)}: figures rendered again")
    if report:
        report_stale_quotes(results, speed)


# --- hand-written prose that repeats a figure ------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """A phrase of hand-written prose that must appear (whitespace aside) and, for a bound, hold."""

    path: Path
    phrase: str
    holds: bool = True


def normalised(text: str) -> str:
    return " ".join(text.split())


def accuracy_quotes(results: dict) -> list[Quote]:
    conll = summary_row(results, "conll2003", "glove-6b-50d")
    contrast = summary_row(results, "conll2003", "random")
    ud = summary_row(results, "ud_en_ewt", "glove-6b-50d")
    conll_runs, ud_runs = benchmark_runs(results, conll), benchmark_runs(results, ud)
    cores = conll_runs[0]["machine"]["cores"]
    conll_tests = ", ".join(f"{run['test']:.2f}" for run in conll_runs)
    ud_tests = ", ".join(f"{run['test']:.2f}" for run in ud_runs)
    best_epochs = [run["best_epoch"] for run in conll_runs]
    preset_minutes = max(run["train_minutes"] for run in conll_runs + ud_runs)
    return [
        Quote(
            README,
            f"trains in about {round(conll['train_minutes_mean'])} minutes on {cores} cores and scores "
            f"{conll['test_mean']:.1f} entity F1 on `eng.testb` (mean of {seeds(conll['seeds'])};",
        ),
        Quote(
            TRAINING_MD,
            f"This takes about {round(ud['train_minutes_mean'])} minutes on {cores} cores and gives "
            f"{ud['test_mean']:.2f}% UPOS accuracy on the test set (mean of {seeds(ud['seeds'])};",
        ),
        Quote(TRAINING_MD, f"within about 20 minutes on {cores} cores", holds=preset_minutes <= 20),
        Quote(
            TRAINING_MD,
            "Its dev score creeps up for 40 to 100 epochs",
            holds=40 <= min(best_epochs) and max(best_epochs) <= 100,
        ),
        Quote(
            TRAINING_MD,
            f"CoNLL-2003 test F1 {conll['test_mean']:.2f} ± {conll['test_std']:.2f} (dev {conll['dev_mean']:.2f}) "
            f"in {round(conll['train_minutes_mean'])} minutes",
        ),
        Quote(TRAINING_MD, f"UD EWT test accuracy {ud['test_mean']:.2f} against"),
        Quote(
            TRAINING_MD,
            f"CoNLL-2003 test F1 {conll['test_mean']:.2f} ± {conll['test_std']:.2f} (dev {conll['dev_mean']:.2f}) "
            f"against 90.87 ± 0.14 (dev 94.69) before, UD EWT {ud['test_mean']:.2f} ± {ud['test_std']:.2f} "
            f"(dev {ud['dev_mean']:.2f})",
        ),
        Quote(
            TRAINING_MD,
            f"GloVe lifts test F1 from {contrast['test_mean']:.2f} to {conll['test_mean']:.2f} (`--preset ner` "
            f"with and without `--embeddings none`; {conll['seeds']} seeds with GloVe, {contrast['seeds']} without)",
        ),
        Quote(
            RESULTS_MD,
            f"the current benchmark's best epochs are the {in_words([ordinal(epoch) for epoch in best_epochs])}",
        ),
        Quote(
            RESULTS_MD,
            f"**{conll['test_mean']:.2f} ± {conll['test_std']:.2f}** ({conll_tests}; dev {conll['dev_mean']:.2f}; "
            f"best epochs {in_words([str(epoch) for epoch in best_epochs])}), in {conll['train_minutes_mean']} "
            "minutes a run",
        ),
        Quote(RESULTS_MD, f"to {contrast['test_mean']:.2f} test F1 but from 90.85 to {contrast['dev_mean']:.2f} dev"),
        Quote(RESULTS_MD, f"lifts UD EWT**: {ud['test_mean']:.2f} ± {ud['test_std']:.2f} ({ud_tests}) against"),
        Quote(RESULTS_MD, "random-embedding contrast has one seed", holds=contrast["seeds"] == 1),
    ]


def speed_quotes(speed: dict) -> list[Quote]:
    configs = speed["configs"]
    repeats = {len(c["train_default_batch"]["sentences_per_second"]["runs"]) for c in configs.values()}
    tokens = {c["tagging"]["tokens"] for c in configs.values()}
    ner, ncrfpp = configs["ner-preset"]["startup"], configs["ncrfpp-sized"]["startup"]
    return [
        Quote(BENCHMARKS_README, f"median of {min(repeats)} fresh processes", holds=len(repeats) == 1),
        Quote(BENCHMARKS_README, f"repeated to {whole(min(tokens))} tokens", holds=len(tokens) == 1),
        Quote(
            BENCHMARKS_README,
            f"importing torch took {ner['torch_import_seconds']:.2f} s instead of {ncrfpp['torch_import_seconds']:.2f} s",
        ),
    ]


def ablation_quotes(results: dict) -> list[Quote]:
    """RESULTS.md's hand-written summary of the ablation runs of issue 29 (results.json's ``ablation``)."""
    if "ablation" not in results:
        return []
    # The variants with the preset's recipe; the Adam screen's rows share their names but not their options.
    summary = [row for row in results["ablation"]["summary"] if "--optimizer adam" not in row["options"]]
    runs = sorted(
        (run for run in results["ablation"]["runs"] if "--optimizer adam" not in run["options"]),
        key=lambda run: run["seed"],
    )
    rows = {(row["dataset"], row["variant"]): row for row in summary}
    presets = {dataset: summary_row(results, dataset, "glove-6b-50d") for dataset in ("conll2003", "ud_en_ewt")}
    tests = {  # (dataset, variant) → {seed: test score}; "preset" is the accuracy benchmark's run
        **{(dataset, "preset"): by_seed(benchmark_runs(results, row)) for dataset, row in presets.items()},
        **{key: by_seed(run for run in runs if (run["dataset"], run["variant"]) == key) for key in rows},
    }
    lm, document, combination = (rows["conll2003", variant] for variant in ("lm", "document", "document-lm"))
    later_lm = [run for run in runs if (run["dataset"], run["variant"]) == ("conll2003", "lm") and run["seed"] > 1]
    combined = [run for run in runs if (run["dataset"], run["variant"]) == ("conll2003", "document-lm")]

    def listed(chosen: list[dict], key: str) -> str:
        return in_words([f"{r[key]:.2f}" if isinstance(r[key], float) else str(r[key]) for r in chosen])

    return [
        Quote(
            RESULTS_MD,
            f"test {listed(later_lm, 'test')} (dev {listed(later_lm, 'dev')}, best epochs {listed(later_lm, 'best_epoch')}): "
            f"**{lm['test_mean']:.2f} ± {lm['test_std']:.2f}** over the three seeds (dev {lm['dev_mean']:.2f})",
            holds=lm["seeds"] == [1, 2, 3],
        ),
        Quote(
            RESULTS_MD,
            f"test {listed(combined, 'test')} (dev {listed(combined, 'dev')}): **{combination['test_mean']:.2f} ± "
            f"{combination['test_std']:.2f}** (dev {combination['dev_mean']:.2f}), below each part alone on "
            f"average (document {document['test_mean']:.2f}, language model {lm['test_mean']:.2f}; per seed, "
            f"document {scores_in_words(tests['conll2003', 'document'])}, language model "
            f"{scores_in_words(tests['conll2003', 'lm'])}) and below the preset",
            holds=combination["seeds"] == [1, 2, 3]
            and combination["test_mean"]
            < min(document["test_mean"], lm["test_mean"], presets["conll2003"]["test_mean"]),
        ),
        ewt_document_quote(rows, tests, presets["ud_en_ewt"]),
        issue_29_targets_quote(rows, tests, presets),
    ]


def by_seed(runs) -> dict[int, float]:
    """Each seed's test score among ``runs``."""
    return {run["seed"]: run["test"] for run in runs}


def scores_in_words(scores: dict[int, float]) -> str:
    """A seed → score mapping's scores in seed order: '90.59, 89.98 and 90.18'."""
    return in_words([f"{scores[seed]:.2f}" for seed in sorted(scores)])


def ewt_document_quote(rows: dict, tests: dict, preset: dict) -> Quote:
    """RESULTS.md's sentences on document context on UD EWT against the ``pos`` preset (``preset``, its summary row)."""
    document, mentions = rows["ud_en_ewt", "document"], rows["ud_en_ewt", "mentions"]
    preset_tests = tests["ud_en_ewt", "preset"]

    def mean(row: dict) -> str:
        return f"{row['test_mean']:.2f} ± {row['test_std']:.2f} (dev {row['dev_mean']:.2f})"

    never_above = all(
        score <= preset_tests[seed]
        for variant in ("document", "mentions")
        for seed, score in tests["ud_en_ewt", variant].items()
    )
    return Quote(
        RESULTS_MD,
        f"windows {mean(document)}, windows with mentions {mean(mentions)}, against the sentence-level preset's "
        f"{mean(preset)} on the same code. Test per seed: windows {scores_in_words(tests['ud_en_ewt', 'document'])}; "
        f"with mentions {scores_in_words(tests['ud_en_ewt', 'mentions'])}; the preset {scores_in_words(preset_tests)}. "
        "At no seed did either design beat the preset on test, and both dev means are below the preset's",
        holds=document["seeds"] == mentions["seeds"] == sorted(preset_tests) == [1, 2, 3]
        and never_above
        and max(document["dev_mean"], mentions["dev_mean"]) < preset["dev_mean"],
    )


def issue_29_targets_quote(rows: dict, tests: dict, presets: dict) -> Quote:
    """RESULTS.md's paragraph on issue 29's accuracy targets: the best CoNLL-2003 mean and run, and UD EWT's figures."""
    conll, ud = presets["conll2003"], presets["ud_en_ewt"]
    three_seed_means = [
        row["test_mean"] for (dataset, _), row in rows.items() if dataset == "conll2003" and len(row["seeds"]) == 3
    ]
    best_score, best_variant, best_seed = max(
        (score, variant, seed)
        for (dataset, variant), scores in tests.items()
        if dataset == "conll2003"
        for seed, score in scores.items()
    )
    return Quote(
        RESULTS_MD,
        f"sentence-level preset's {conll['test_mean']:.2f}, and the best single run of the benchmark and the ablation "
        f"{best_score:.2f} (`{best_variant}`, seed {best_seed}). UD EWT accuracy of 95.9 was not reached with document "
        f"context ({rows['ud_en_ewt', 'document']['test_mean']:.2f} and {rows['ud_en_ewt', 'mentions']['test_mean']:.2f}) "
        f"or without it ({ud['test_mean']:.2f}; {rows['ud_en_ewt', 'lm']['test_mean']:.2f} with the language model)",
        holds=conll["test_mean"] >= max(three_seed_means) and conll["test_mean"] < 91.5 and ud["test_mean"] < 95.9,
    )


def training_speed_quotes(training_speed: dict) -> list[Quote]:
    """docs/training.md's figures of ``benchmarks/training_speed.py``'s latest run."""
    median = training_speed["median"]
    return [
        Quote(
            TRAINING_MD,
            f"{median['this']:,.0f} sentences/s against {median['baseline']:,.0f} in the latest side-by-side "
            f"run, {training_speed['ratio']:.2f} times as fast",
        )
    ]


def quotes(results: dict, speed: dict) -> list[Quote]:
    """Every hand-written phrase that repeats a benchmark figure, as the JSON says it should read."""
    return (
        accuracy_quotes(results)
        + ablation_quotes(results)
        + speed_quotes(speed)
        + training_speed_quotes(load(BENCHMARKS / "training_speed.json"))
    )


def stale_quotes(results: dict, speed: dict) -> list[Quote]:
    """The quotes whose phrase is missing from their file, or whose bound no longer holds."""
    texts = {path: normalised(path.read_text(encoding="utf-8")) for path in DOCS}
    return [q for q in quotes(results, speed) if not q.holds or normalised(q.phrase) not in texts[q.path]]


def report_stale_quotes(results: dict | None = None, speed: dict | None = None) -> bool:
    """Print the hand-written sentences a new measurement made stale; True when there are none."""
    results = results if results is not None else load(RESULTS_JSON)
    speed = speed if speed is not None else load(SPEED_JSON)
    stale = stale_quotes(results, speed)
    for quote in stale:
        problem = "no longer holds" if not quote.holds else "not found; update the sentence to read"
        print(f"{quote.path.relative_to(ROOT)}: {problem}: {quote.phrase}", file=sys.stderr)
    return not stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 where a figure differs")
    args = parser.parse_args()
    results, speed = load(RESULTS_JSON), load(SPEED_JSON)
    differing = update_docs(results, speed, write=not args.check)
    for path in differing:
        print(f"{path.relative_to(ROOT)}: {'differs from' if args.check else 'rewritten from'} the JSON")
    quotes_agree = report_stale_quotes(results, speed)
    if args.check and (differing or not quotes_agree):
        sys.exit(1)


if __name__ == "__main__":
    main()
