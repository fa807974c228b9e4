"""Every benchmark figure the docs quote agrees with the JSON files the benchmarks wrote.

Generated blocks (between ``<!-- figures:NAME -->`` markers) must read exactly as
``benchmarks/figures.py`` renders them from ``benchmarks/results.json`` and ``speed.json``; the
top of RESULTS.md likewise; and each hand-written sentence that repeats a figure must quote it
as the JSON has it. ``python benchmarks/figures.py`` fixes the blocks; the sentences are fixed
by hand.
"""

import copy
import json
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import accuracy  # noqa: E402  (benchmarks/ is not a package)
import figures  # noqa: E402
import speed  # noqa: E402

RESULTS = figures.load(figures.RESULTS_JSON)
SPEED = figures.load(figures.SPEED_JSON)
EXPECTED_BLOCKS = {
    figures.README: ["readme-speed", "readme-raw-text"],
    figures.TRAINING_MD: [],  # quotes only
    figures.BENCHMARKS_README: ["accuracy-table", "speed-table", "speed-comparison", "speed-targets", "raw-text-speed"],
    figures.RESULTS_MD: ["accuracy-targets"],
}
RENDERED = figures.rendered_blocks(RESULTS, SPEED)
OTHER_MACHINE = {"cpu": "Intel Xeon", "cores": 4, "threads": 4, "torch": "2.14.0+cpu", "python": "3.12.1"}


def relative(path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", list(EXPECTED_BLOCKS), ids=relative)
def test_each_doc_has_its_marked_blocks_once_each_and_no_others(path):
    text = path.read_text(encoding="utf-8")
    assert re.findall(r"^<!-- figures:([\w-]+) -->$", text, re.MULTILINE) == EXPECTED_BLOCKS[path]
    assert re.findall(r"^<!-- /figures:([\w-]+) -->$", text, re.MULTILINE) == EXPECTED_BLOCKS[path]
    assert list(figures.marked_blocks(text)) == EXPECTED_BLOCKS[path], "markers out of order or nested"


@pytest.mark.parametrize(
    ("path", "name"),
    [(path, name) for path, names in EXPECTED_BLOCKS.items() for name in names],
    ids=lambda value: value if isinstance(value, str) else relative(value),
)
def test_each_marked_block_reads_as_rendered_from_the_json(path, name):
    in_file = figures.marked_blocks(path.read_text(encoding="utf-8"))[name]
    assert in_file == RENDERED[path][name], "run `python benchmarks/figures.py` to render it again"


def test_the_top_of_results_md_is_rendered_from_results_json():
    text = figures.RESULTS_MD.read_text(encoding="utf-8")
    assert figures.NOTES_MARKER in text
    assert text[: text.index(figures.NOTES_MARKER)] == figures.results_report(RESULTS)


def test_rendering_the_docs_again_changes_nothing():
    assert figures.update_docs(RESULTS, SPEED, write=False) == []


QUOTES = figures.quotes(RESULTS, SPEED)


@pytest.mark.parametrize("quote", QUOTES, ids=lambda quote: f"{relative(quote.path)}: {quote.phrase[:40]}")
def test_hand_written_prose_quotes_the_json(quote):
    assert figures.normalised(quote.phrase) in figures.normalised(quote.path.read_text(encoding="utf-8"))
    assert quote.holds, f"the JSON no longer bears out: {quote.phrase}"


def test_the_prose_checks_cover_every_doc_with_figures():
    assert set(EXPECTED_BLOCKS) == set(figures.DOCS)
    assert {quote.path for quote in QUOTES} == set(figures.DOCS)
    assert figures.stale_quotes(RESULTS, SPEED) == []


def changed_speed() -> dict:
    """speed.json with the NCRF++-sized training speed (batch 32) and NER tagging range changed."""
    changed = copy.deepcopy(SPEED)
    changed["configs"]["ncrfpp-sized"]["train_default_batch"]["sentences_per_second"]["median"] = 1234.4
    changed["configs"]["ner-preset"]["tagging"]["steady_tokens_per_second"]["min"] = 98_765.4
    return changed


def changed_results() -> dict:
    """results.json with the CoNLL-2003 GloVe mean and one UD EWT seed changed."""
    changed = copy.deepcopy(RESULTS)
    figures.summary_row(changed, "conll2003", "glove-6b-50d")["test_mean"] = 91.23
    next(run for run in changed["runs"] if run["dataset"] == "ud_en_ewt")["test"] = 94.321
    return changed


def test_a_changed_speed_figure_changes_what_is_rendered():
    blocks = figures.rendered_blocks(RESULTS, changed_speed())
    assert "trains at 1,234" in blocks[figures.README]["readme-speed"]
    assert "| 1,234 (1,532–1,590) |" in blocks[figures.BENCHMARKS_README]["speed-table"]
    assert "(98,765–130,432)" in blocks[figures.BENCHMARKS_README]["speed-table"]
    assert "training 1,234 sentences/s" in blocks[figures.BENCHMARKS_README]["speed-targets"]
    assert "not all met" in blocks[figures.BENCHMARKS_README]["speed-targets"]  # 1,234 < 1,500
    assert "≥ 1,500, **missed**" in blocks[figures.BENCHMARKS_README]["speed-targets"]


def test_a_changed_accuracy_figure_changes_what_is_rendered_and_makes_prose_stale():
    changed = changed_results()
    std = f"{figures.summary_row(RESULTS, 'conll2003', 'glove-6b-50d')['test_std']:.2f}"
    ud_runs = figures.benchmark_runs(changed, figures.summary_row(changed, "ud_en_ewt", "glove-6b-50d"))
    ud_tests = "(" + ", ".join(f"{run['test']:.2f}" for run in ud_runs) + ")"
    assert "94.32" in ud_tests
    blocks = figures.rendered_blocks(changed, SPEED)
    assert f"| 91.23 ± {std} F1 |" in blocks[figures.BENCHMARKS_README]["accuracy-table"]
    assert "mean **met**" in blocks[figures.RESULTS_MD]["accuracy-targets"]
    assert ud_tests in blocks[figures.RESULTS_MD]["accuracy-targets"]
    assert "CoNLL-2003 meets 91.0 (91.23" in blocks[figures.BENCHMARKS_README]["speed-targets"]
    assert f"| 91.23 ± {std} |" in figures.results_report(changed)
    stale = {quote.phrase for quote in figures.stale_quotes(changed, SPEED)}
    assert any("91.2 entity F1" in phrase for phrase in stale)  # the README's tour
    assert any("test F1 91.23 ±" in phrase for phrase in stale)  # docs/training.md's presets
    assert any(ud_tests in phrase for phrase in stale)  # RESULTS.md, second round


def test_a_bound_the_json_no_longer_bears_out_is_stale():
    changed = copy.deepcopy(RESULTS)
    next(run for run in changed["runs"] if run["name"] == "conll2003-glove")["best_epoch"] = 30
    stale = figures.stale_quotes(changed, SPEED)
    assert any("40 to 100 epochs" in quote.phrase and not quote.holds for quote in stale)


def test_every_measured_entry_carries_its_machine():
    assert "machine" not in RESULTS and "machine" not in SPEED
    entries = RESULTS["runs"] + list(SPEED["configs"].values())
    for entry in entries:
        assert set(entry["machine"]) == {"cpu", "cores", "threads", "torch", "python"}


def test_a_column_measured_on_another_machine_names_it():
    changed = copy.deepcopy(SPEED)
    changed["configs"]["ner-preset"]["machine"] = OTHER_MACHINE
    table = figures.speed_table(changed)
    assert table.startswith("### Latest figures (each column on the machine named in its last row)")
    assert table.splitlines()[-1] == (
        "| machine | Intel Xeon, 4 cores, torch 2.14.0+cpu, 4 threads | AMD EPYC, 2 cores, torch 2.13.0+cpu, 2 threads |"
    )
    paragraph = figures.readme_speed(changed)
    assert paragraph.startswith("On the CPU (")
    assert "the NER preset's on Intel Xeon, 4 cores, torch 2.14.0+cpu, 4 threads." in paragraph


def test_a_benchmark_run_on_another_machine_names_it():
    changed = copy.deepcopy(RESULTS)
    for run in changed["runs"]:
        if run["dataset"] == "ud_en_ewt":
            run["machine"] = OTHER_MACHINE
    report = figures.results_report(changed)
    assert "Machines differ between the benchmarks" in report
    ud = figures.summary_row(changed, "ud_en_ewt", "glove-6b-50d")
    [ud_line] = [line for line in report.splitlines() if "| ud_en_ewt | glove-6b-50d |" in line]
    assert f"| {ud['test_mean']:.2f} ± {ud['test_std']:.2f} |" in ud_line
    assert ud_line.endswith("| Intel Xeon, 4 cores, torch 2.14.0+cpu, Python 3.12.1 |")
    table = figures.accuracy_table(changed)
    assert "each measured on the machine named in its last column" in table
    assert table.splitlines()[-1].endswith("| Intel Xeon, 4 cores, torch 2.14.0+cpu |")


def test_runs_kept_from_an_earlier_file_keep_their_machine(tmp_path):
    old_style = {
        "machine": OTHER_MACHINE,
        "runs": [{"name": "conll2003-glove", "seed": 1}, {"name": "ud_en_ewt-glove", "seed": 1}],
    }
    (tmp_path / "results.json").write_text(json.dumps(old_style))
    assert accuracy.kept_runs(tmp_path / "results.json", ["conll2003-glove"], [1, 2, 3]) == [
        {"name": "ud_en_ewt-glove", "seed": 1, "machine": OTHER_MACHINE}
    ]
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    kept = accuracy.kept_runs(tmp_path / "results.json", ["conll2003-glove"], [1, 2, 3])
    assert kept == [run for run in RESULTS["runs"] if run["name"] != "conll2003-glove"]
    assert accuracy.kept_runs(tmp_path / "absent.json", ["conll2003-glove"], [1, 2, 3]) == []


def test_a_benchmark_run_again_for_some_seeds_keeps_its_other_seeds(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    kept = accuracy.kept_runs(tmp_path / "results.json", ["conll2003-glove"], [2, 3])
    assert [run["seed"] for run in kept if run["name"] == "conll2003-glove"] == [1]
    assert len(kept) == len(RESULTS["runs"]) - 2
    assert not accuracy.complete([run for run in kept if run["name"] != "ud_en_ewt-glove"])
    assert accuracy.complete(kept)


def test_configurations_kept_from_an_earlier_file_keep_their_machine(tmp_path):
    old_style = {"machine": OTHER_MACHINE, "configs": {"ner-preset": {}, "ncrfpp-sized": {}}}
    (tmp_path / "speed.json").write_text(json.dumps(old_style))
    assert speed.kept_configs(tmp_path / "speed.json", ["ner-preset"]) == {"ncrfpp-sized": {"machine": OTHER_MACHINE}}
    (tmp_path / "speed.json").write_text(json.dumps(SPEED))
    kept = speed.kept_configs(tmp_path / "speed.json", ["ner-preset"])
    assert kept == {"ncrfpp-sized": SPEED["configs"]["ncrfpp-sized"]}


def test_replacing_a_block_leaves_the_rest_of_the_text_alone():
    text = "intro\n<!-- figures:a -->\nold a\n<!-- /figures:a -->\nmiddle\n<!-- figures:b -->\nold b\n<!-- /figures:b -->\n"
    replaced = figures.replace_blocks(text, {"a": "new a\nsecond line"})
    assert replaced == text.replace("old a", "new a\nsecond line")
    assert figures.marked_blocks(replaced) == {"a": "new a\nsecond line", "b": "old b"}
    with pytest.raises(ValueError, match="'c'"):
        figures.replace_blocks(text, {"c": "anything"})


def test_the_docs_wait_for_every_benchmark_they_quote():
    partial_results = {**RESULTS, "summary": RESULTS["summary"][:1]}
    partial_speed = {**SPEED, "configs": {"ner-preset": SPEED["configs"]["ner-preset"]}}
    assert figures.missing_entries(RESULTS, SPEED) == []
    assert figures.missing_entries(partial_results, partial_speed) == [
        "results.json: conll2003 with random",
        "results.json: ud_en_ewt with glove-6b-50d",
        "speed.json: ncrfpp-sized",
    ]


@pytest.mark.parametrize(
    ("minutes", "words"), [(10, "half an hour"), (50, "an hour"), (82.7, "an hour and a half"), (130, "2 hours")]
)
def test_durations_in_words(minutes, words):
    assert figures.duration(minutes) == words


def test_ordinals():
    numbers = (1, 2, 3, 11, 12, 13, 21, 71, 75, 97, 100, 112)
    assert " ".join(figures.ordinal(n) for n in numbers) == "1st 2nd 3rd 11th 12th 13th 21st 71st 75th 97th 100th 112th"


def test_a_changed_ablation_or_training_speed_figure_makes_prose_stale():
    changed = copy.deepcopy(RESULTS)
    next(r for r in changed["ablation"]["summary"] if r["variant"] == "lm" and r["dataset"] == "conll2003")[
        "test_mean"
    ] = 91.11
    assert not figures.stale_quotes(RESULTS, SPEED)
    assert any("**91.11 ±" in quote.phrase for quote in figures.stale_quotes(changed, SPEED))
    next(r for r in changed["ablation"]["summary"] if r["variant"] == "document" and r["dataset"] == "ud_en_ewt")[
        "test_mean"
    ] = 95.95
    assert any("windows 95.95 ±" in quote.phrase for quote in figures.stale_quotes(changed, SPEED))
    training_speed = figures.load(figures.BENCHMARKS / "training_speed.json")
    training_speed["ratio"] = 1.23
    [quote] = figures.training_speed_quotes(training_speed)
    assert "1.23 times as fast" in quote.phrase
    assert normalised_phrase_missing(quote)


def normalised_phrase_missing(quote) -> bool:
    return figures.normalised(quote.phrase) not in figures.normalised(quote.path.read_text(encoding="utf-8"))


def test_an_ablation_claim_the_runs_no_longer_bear_out_is_stale():
    changed = copy.deepcopy(RESULTS)
    next(r for r in changed["ablation"]["summary"] if r["variant"] == "document-lm")["test_mean"] = 90.40
    next(r for r in changed["runs"] if r["name"] == "ud_en_ewt-glove" and r["seed"] == 2)["test"] = 95.10
    stale = [quote.phrase for quote in figures.stale_quotes(changed, SPEED) if not quote.holds]
    assert any("below each part alone on average" in phrase for phrase in stale)
    assert any("At no seed did either design beat the preset" in phrase for phrase in stale)
    assert not any(not quote.holds for quote in figures.stale_quotes(RESULTS, SPEED))
