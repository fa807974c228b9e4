"""``tagger report``: one HTML page that opens from a file, with the charts it promises and every text escaped.

The models are the run's shared ones (conftest.py); the commands run in this process through the console
script's ``main()`` (conftest.tagger_in_process), which prints, writes and exits as the command does.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from bilstm_tagger import Tagger
from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.schemes import tags_to_spans
from bilstm_tagger.scoring.analysis import analyse
from bilstm_tagger.scoring.calibration_metrics import Reliability, reliability
from bilstm_tagger.scoring.metrics import evaluate
from bilstm_tagger.scoring.report import MISSING_MATPLOTLIB, EpochMetrics, ReportContent, read_metrics, render_report
from bilstm_tagger.text.corpus import read_corpus

from conftest import DATA, ROOT, assert_one_line_error, tagger_in_process

TRAIN, DEV, TEST = DATA / "ner" / "train.txt", DATA / "ner" / "dev.txt", DATA / "ner" / "test.txt"
POS_TRAIN, POS_DEV = DATA / "pos" / "train.conllu", DATA / "pos" / "dev.conllu"
NER_CHARTS = ("curves", "scores", "classes", "confusion", "reliability")
# Text that a page must show as text: a tag in a token, an ampersand, quotes, and a tag in a type name.
HOSTILE_TEST_FILE = """\
Visitors\tI-ORG
from\tO
AT&T\tI-ORG
sent\tO
<script>alert("x")</script>\tI-<b>EVIL</b>
to\tO
Paris\tI-LOC
.\tO

Maria\tI-PER
Lopez\tI-PER
lives\tO
in\tO
Berlin\tI-LOC
.\tO
"""


def charts(page: str) -> dict[str, int]:
    """Each chart figure of the page (by its id) and the number of ``<svg`` elements in it."""
    figures = re.findall(r'<figure class="chart" id="([^"]+)">(.*?)</figure>', page, flags=re.DOTALL)
    return {name: body.count("<svg") for name, body in figures}


def reliability_table(page: str) -> list[tuple[float, int, float | None, float | None]]:
    """The reliability table of the page: per bin, its lower bound, count, mean confidence and accuracy."""
    rows = re.findall(r'<tr data-bin="([\d.]+)"><td>[^<]*</td><td>([\d,]+)</td><td>([^<]*)</td><td>([^<]*)</td>', page)
    return [
        (float(lower), int(count.replace(",", "")), *(None if value == "–" else float(value) for value in figures))
        for lower, count, *figures in rows
    ]


def chart_texts(page: str, name: str) -> list[str]:
    """The texts that matplotlib drew in one chart of the page."""
    chart = re.search(rf'id="{name}">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    return re.findall(r"<text [^>]*>([^<]*)</text>", chart)


@pytest.fixture(scope="module")
def ner_model(trained_ner_model):
    """The run's NER model (conftest.py), trained through the command line as a user would."""
    return trained_ner_model


@pytest.fixture(scope="module")
def ner_page(ner_model, tmp_path_factory):
    output = tmp_path_factory.mktemp("reports") / "report.html"
    result = tagger_in_process("report", ner_model, "--test", TEST, "--output", output)
    assert result.stdout == "" and f"Report written to {output}" in result.stderr
    return output.read_text(encoding="utf-8")


def test_the_page_needs_no_network_and_no_script(ner_page):
    for reference in ("http://", "https://", "src=", "<script", "<link", "@import", "<iframe", "<object"):
        assert reference not in ner_page, reference
    assert re.findall(r"url\((?!#)", ner_page) == [], "only references inside the page (clip paths)"
    assert ner_page.startswith("<!DOCTYPE html>") and ner_page.rstrip().endswith("</html>")


def test_the_page_holds_one_svg_per_chart_and_ids_are_unique(ner_page):
    assert charts(ner_page) == {name: 1 for name in NER_CHARTS}
    assert ner_page.count("<svg") == ner_page.count("</svg>") == len(NER_CHARTS)
    ids = re.findall(r'\sid="([^"]+)"', ner_page)
    assert len(ids) == len(set(ids)), "two charts share an id"
    referenced = set(re.findall(r'href="#([^"]+)"', ner_page)) | set(re.findall(r"url\(#([^)]+)\)", ner_page))
    assert referenced <= set(ids)


def test_the_page_names_the_model_the_test_file_and_the_time(ner_page, ner_model):
    assert f"<code>{ner_model}</code>" in ner_page
    assert f"<code>{TEST}</code>" in ner_page
    assert re.search(r"<dt>Written</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d", ner_page)


def test_the_saved_epoch_is_marked(ner_page, ner_model):
    records = [json.loads(line) for line in (ner_model / "metrics.jsonl").read_text().splitlines()]
    saved = [record for record in records if record["best"]][-1]
    assert f"the one of epoch {saved['epoch']} (dev F1 {saved['dev_score']:.2f})" in ner_page
    curves = re.search(r'id="curves">(.*?)</figure>', ner_page, flags=re.DOTALL).group(1)
    assert f"saved: epoch {saved['epoch']}, dev F1 {saved['dev_score']:.2f}" in curves


def test_the_scores_per_type_are_those_of_tagger_evaluate(ner_page, ner_model):
    expected = json.loads(tagger_in_process("evaluate", ner_model, TEST, "--json").stdout)
    rows = re.findall(
        r'<tr data-label="([^"]+)"><td>[^<]*</td><td>([\d.]+)</td><td>([\d.]+)</td><td>([\d.]+)</td>', ner_page
    )
    assert rows == [
        (row["label"], f"{row['precision']:.2f}", f"{row['recall']:.2f}", f"{row['f1']:.2f}")
        for row in expected["per_label"]
    ]
    assert {row["label"] for row in expected["per_label"]} == {"LOC", "MISC", "ORG", "PER"}
    assert f"Entity F1 <b>{expected['f1']:.2f}</b>" in ner_page


def test_the_errors_are_classified_and_shown_in_their_sentences(ner_page):
    for name in ("correct", "wrong type", "wrong boundaries", "wrong both", "missed", "spurious"):
        assert f"<dt>{name}</dt>" in ner_page
    assert "<h3>Most confused pairs</h3>" in ner_page
    examples = re.findall(r'<div class="example (\w+)">', ner_page)
    assert 1 <= len(examples) <= 10
    assert set(examples) <= {"wrong_type", "wrong_boundaries", "wrong_both", "missed", "spurious"}
    assert '<mark class="gold focus"' in ner_page or '<mark class="predicted focus"' in ner_page


def test_the_reliability_diagram_bins_every_entity_the_model_predicts_on_the_test_file(ner_page, ner_model):
    assert "does not compute confidences" not in ner_page
    table = reliability_table(ner_page)
    assert [lower for lower, *_ in table] == pytest.approx([i / 10 for i in range(10)])
    # Against tagger evaluate: every predicted entity is in one bin, and the bins' right ones are its true positives.
    scores = json.loads(tagger_in_process("evaluate", ner_model, TEST, "--json").stdout)
    gold_total = sum(row["support"] for row in scores["per_label"])
    true_positives = round(scores["recall"] / 100 * gold_total)
    predicted = round(true_positives / (scores["precision"] / 100))
    assert true_positives > 0
    assert sum(count for _, count, *_ in table) == predicted
    assert round(sum(count * accuracy for _, count, _, accuracy in table if count)) == true_positives
    assert f"the {predicted:,} predicted entities" in ner_page
    # Against the Python API's calibrated entity confidences, binned here by hand.
    sentences = read_corpus(TEST)
    tagged = Tagger.load(ner_model).tag([s.tokens for s in sentences], confidence=True)
    outcomes = [
        (score, span in tags_to_spans(sentence.tags))
        for sentence, prediction in zip(sentences, tagged)
        for span, score in zip(prediction.spans, prediction.span_scores)
    ]
    assert len(outcomes) == predicted
    for lower, count, mean, accuracy in table:
        members = [(p, ok) for p, ok in outcomes if lower <= p < lower + 0.1 or (lower == 0.9 and p == 1.0)]
        assert count == len(members), lower
        if count:
            assert mean == pytest.approx(sum(p for p, _ in members) / count, abs=1e-4)
            assert accuracy == pytest.approx(sum(ok for _, ok in members) / count, abs=1e-4)
    ece = sum(count / predicted * abs(mean - accuracy) for _, count, mean, accuracy in table if count)
    shown = float(re.search(r"predicted entities is <b>([\d.]+)</b>", ner_page).group(1))
    assert shown == pytest.approx(ece, abs=2e-4)
    # The temperature is the one of calibration.json, which training fitted on the dev set.
    stored = json.loads((ner_model / "calibration.json").read_text())
    assert f"temperature <b>{stored['temperature']:.3f}</b> of <code>calibration.json</code>" in ner_page
    assert f"(temperature {stored['temperature']:.3f}, 10 bins of entity confidence" in ner_page
    # The chart: the diagonal, and each bin's count written on its bar.
    texts = chart_texts(ner_page, "reliability")
    assert "confidence = accuracy" in texts and "confidence (10 bins)" in texts
    assert {f"{count:,}" for _, count, *_ in table if count} <= set(texts)


def test_the_reliability_diagram_of_known_confidences():
    confidences = [0.95] * 8 + [0.55] * 4 + [0.15, 1.0]
    correct = [True] * 7 + [False] + [True, True, False, False] + [False, True]
    bins = reliability(confidences, correct)
    content = ReportContent("m", "a model.", "f1", EPOCHS, WRITTEN, "t", reliability=Reliability("entity", 1.5, bins))
    page = render_report(content)
    assert charts(page) == {"curves": 1, "reliability": 1}
    table = reliability_table(page)
    assert [count for _, count, *_ in table] == [0, 1, 0, 0, 0, 4, 0, 0, 0, 9]
    assert table[1][2:] == (0.15, 0.0) and table[5][2:] == (0.55, 0.5)
    assert table[9][2:] == (pytest.approx((0.95 * 8 + 1.0) / 9, abs=1e-4), pytest.approx(8 / 9, abs=1e-4))
    assert table[0][2:] == (None, None), "an empty bin has no mean confidence nor accuracy"
    ece = (1 * 0.15 + 4 * 0.05 + 9 * abs((0.95 * 8 + 1.0) / 9 - 8 / 9)) / 14
    assert f"the 14 predicted entities is <b>{ece:.4f}</b> (temperature 1.500" in page
    assert {"1", "4", "9", "confidence = accuracy"} <= set(chart_texts(page, "reliability"))
    assert "No <code>calibration.json</code>" in page
    calibration = {"temperature": 1.5, "ece_before": 0.1, "ece_after": 0.02, "predictions": 40, "data": "d<ev>"}
    page = render_report(replace(content, calibration=calibration))
    assert (
        "temperature <b>1.500</b> of <code>calibration.json</code>, fitted on <code>d&lt;ev&gt;</code>, where it took "
        "the expected calibration error of its 40 predictions from 0.1000 to 0.0200."
    ) in page


def test_no_prediction_and_no_data_give_one_sentence_and_no_diagram():
    empty = Reliability("entity", 1.0, reliability([], []))
    page = render_report(ReportContent("m", "a model.", "f1", EPOCHS, WRITTEN, "t", reliability=empty))
    assert "reliability" not in charts(page)
    assert "The model predicted no entity on the test file: no reliability diagram." in page
    page = render_report(ReportContent("m", "a model.", "f1", EPOCHS, WRITTEN))
    confidence = page[page.index("<h2>Confidence</h2>") :]
    assert re.fullmatch(
        r'<h2>Confidence</h2>\n<p class="note">No calibration data [^\n]*</p>\n</body>\n</html>\n', confidence
    )
    assert "need a test file (--test FILE)" in confidence


def test_every_text_from_the_test_file_is_escaped(ner_model, tmp_path):
    test_file = tmp_path / "a<b>&c.txt"
    test_file.write_text(HOSTILE_TEST_FILE, encoding="utf-8")
    output = tmp_path / "report.html"
    tagger_in_process("report", ner_model, "--test", test_file, "-o", output)
    page = output.read_text(encoding="utf-8")
    assert "<script" not in page and "<b>EVIL" not in page and "a<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # in the example sentence
    assert "AT&amp;T" in page
    assert "<code>" + str(tmp_path) + "/a&lt;b&gt;&amp;c.txt</code>" in page
    # The type nobody can predict is a sure error, so its sentence is among the examples; and its
    # name, drawn by matplotlib in the charts, is escaped there too.
    assert '<mark class="gold focus" title="gold &lt;b&gt;EVIL&lt;/b&gt;">' in page
    assert re.search(r"<text [^>]*>&lt;b&gt;EVIL&lt;/b&gt;</text>", page)


def test_a_part_of_speech_model_gets_the_tag_confusion_heat_map(trained_pos_model, tmp_path):
    output = tmp_path / "pos.html"
    tagger_in_process("report", trained_pos_model, "--test", POS_DEV, "--output", output)
    page = output.read_text(encoding="utf-8")
    assert charts(page) == {"curves": 1, "scores": 1, "confusion": 1, "reliability": 1}, "no span error classes"
    table = reliability_table(page)
    tokens = sum(len(sentence.tokens) for sentence in read_corpus(POS_DEV))
    assert sum(count for _, count, *_ in table) == tokens, "one token confidence per token"
    assert f"the {tokens:,} predicted tokens is <b>" in page
    assert "dev accuracy" in page and "Token accuracy <b>" in page
    heat_map = re.search(r'id="confusion">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    for tag in ("NOUN", "VERB", "DET"):
        assert re.search(rf"<text [^>]*>{tag}</text>", heat_map), tag
    assert "<h3>Most confused pairs</h3>" in page
    assert 'class="example tag"' in page and "<b>wrong tag</b>" in page


def test_without_a_test_file_the_page_has_the_curves_and_says_what_a_test_file_adds(ner_model, tmp_path):
    output = tmp_path / "report.html"
    tagger_in_process("report", ner_model, "-o", output)
    page = output.read_text(encoding="utf-8")
    assert charts(page) == {"curves": 1}
    assert "<dt>Test file</dt><dd>none</dd>" in page
    assert "need a test file (--test FILE)" in page
    stored = json.loads((ner_model / "calibration.json").read_text())
    assert f"temperature <b>{stored['temperature']:.3f}</b> of <code>calibration.json</code>" in page


def test_without_matplotlib_the_command_says_how_to_install_it(ner_model, tmp_path):
    output = tmp_path / "report.html"
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        f"sys.argv = ['tagger', 'report', {str(ner_model)!r}, '--test', {str(TEST)!r}, '-o', {str(output)!r}]; "
        "from bilstm_tagger.cli.commands import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert_one_line_error(result, MISSING_MATPLOTLIB)
    assert result.stderr.strip() == MISSING_MATPLOTLIB
    assert not output.exists()


def test_a_model_directory_without_metrics_is_a_one_line_error_and_the_old_page_stays(ner_model, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(ner_model, copy)
    (copy / "metrics.jsonl").unlink()
    output = tmp_path / "report.html"
    output.write_text("the previous page")
    result = tagger_in_process("report", copy, "-o", output, check=False)
    assert_one_line_error(result, f"{copy / 'metrics.jsonl'}: missing file: no training record")
    assert output.read_text() == "the previous page"


def test_not_a_model_directory_and_an_unreadable_test_file_are_one_line_errors(ner_model, tmp_path):
    result = tagger_in_process("report", tmp_path, "-o", tmp_path / "report.html", check=False)
    assert_one_line_error(result, f"{tmp_path}: not a bilstm-tagger model directory (no config.json)")
    missing = tmp_path / "missing.txt"
    result = tagger_in_process("report", ner_model, "--test", missing, "-o", tmp_path / "report.html", check=False)
    assert_one_line_error(result, f"{missing}: cannot read")


def test_a_damaged_metrics_line_is_named_by_its_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 2.0}\n')
    with pytest.raises(InputError, match=r"metrics.jsonl:1: not a training record \(no 'learning_rate'\)"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(InputError, match="no epoch recorded"):
        read_metrics(tmp_path)


WRITTEN = datetime(2024, 5, 6, 7, 8, tzinfo=timezone.utc)
EPOCHS = [EpochMetrics(1, 3.0, 0.01, 80.0, True), EpochMetrics(2, 2.0, 0.01, 85.0, True)]


def tag_report(gold, predicted, max_examples=10) -> str:
    """The page of a plain-tag model scored on ``gold`` (one-word sentences)."""
    tokens = [["w"] * len(tags) for tags in gold]
    evaluation = evaluate(gold, predicted, "plain")
    analysis = analyse(tokens, gold, predicted, "plain", max_examples)
    return render_report(ReportContent("m", "a model.", "accuracy", EPOCHS, WRITTEN, "t", evaluation, analysis))


def test_many_tags_give_charts_of_the_20_most_frequent_and_the_page_says_so():
    tags = [f"T{i:02d}" for i in range(25)]
    gold = [[tag] * (30 - i) for i, tag in enumerate(tags)]  # T00 the most frequent
    predicted = [[tags[(i + 1) % 25]] + tag_list[1:] for i, tag_list in enumerate(gold)]
    page = tag_report(gold, predicted)
    heat_map = re.search(r'id="confusion">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    shown = set(re.findall(r"<text [^>]*>(T\d\d)</text>", heat_map))
    assert shown == set(tags[:20])
    assert "The heat map shows the 20 most frequent tags; 5 rarer ones are left out." in page
    assert "The 5 least frequent tags are left out of the chart; the table has them all." in page
    assert len(re.findall(r'<tr data-label="T\d\d">', page)) == 25


def test_a_page_without_errors_says_so_and_one_without_examples_says_nothing_false():
    gold = [["A", "B"], ["B"]]
    assert "<p>No errors on the test file.</p>" in tag_report(gold, gold)
    without_examples = tag_report(gold, [["B", "B"], ["B"]], max_examples=0)
    assert "No errors" not in without_examples and "Most frequent errors" not in without_examples
    assert "<td>A</td><td>B</td><td>1</td>" in without_examples  # the confused pair


def test_the_saved_epoch_is_the_last_one_marked_best():
    # A resumed run may mark several epochs best; the directory holds the last of them, not the highest score.
    scores = [(1, 40.0, True), (2, 60.0, True), (3, 55.0, False), (4, 61.5, True), (5, 58.0, False)]
    epochs = [EpochMetrics(epoch, 5.0 / epoch, 0.01, score, best) for epoch, score, best in scores]
    content = ReportContent("models/x", "a model.", "f1", epochs, WRITTEN)
    assert content.saved_epoch.epoch == 4
    page = render_report(content)
    assert "the one of epoch 4 (dev F1 61.50)" in page and "saved: epoch 4, dev F1 61.50" in page
    assert "<dt>Written</dt><dd>2024-05-06 07:08 UTC</dd>" in page
    assert render_report(content) == page, "the same content gives the same page"


def test_the_readme_commands_run_as_written_and_the_screenshot_is_small(ner_model, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n### Report\n") : readme.index("\n## Python API\n")]
    commands = [line.split("  #")[0].strip() for line in section.split("```bash\n")[1].split("```")[0].splitlines()]
    assert [command.split()[:2] for command in commands] == [["tagger", "report"]] * 2
    (tmp_path / "data").symlink_to(DATA)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sample").symlink_to(ner_model)
    environment = {**os.environ, "PATH": f"{os.path.dirname(shutil.which('tagger'))}:{os.environ['PATH']}"}
    for command in commands:
        result = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=600
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
    assert charts((tmp_path / "report.html").read_text(encoding="utf-8")) == {name: 1 for name in NER_CHARTS}
    picture = ROOT / "docs" / "report.png"
    assert f"]({picture.relative_to(ROOT)})" in section
    assert picture.read_bytes().startswith(b"\x89PNG") and picture.stat().st_size < 150_000
