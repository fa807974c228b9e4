"""Scores: the headline F1 is conlleval's, checked on a hand-worked example."""

import random

import pytest

from bilstm_tagger.base.schemes import tags_to_spans
from bilstm_tagger.scoring.metrics import evaluate

# Three sentences in CoNLL-2003's IOB1 scheme, gold and predicted:
#   Anna Berg met Tom at Oslo Airport .   (predicted: Tom as ORG, Airport left out)
#   Kenya beat Uganda in Nairobi          (all right)
#   Paris Rome flights                    (two adjacent LOCs predicted as one)
GOLD = [
    ["I-PER", "I-PER", "O", "I-PER", "O", "I-LOC", "I-LOC", "O"],
    ["I-ORG", "O", "I-ORG", "O", "I-LOC"],
    ["I-LOC", "B-LOC", "O"],
]
PREDICTED = [
    ["I-PER", "I-PER", "O", "I-ORG", "O", "I-LOC", "O", "O"],
    ["I-ORG", "O", "I-ORG", "O", "I-LOC"],
    ["I-LOC", "I-LOC", "O"],
]
# What conlleval prints for these 16 tokens (worked out by hand: 8 gold phrases, 7 found, 4 correct):
#   accuracy:  81.25%; precision:  57.14%; recall:  50.00%; FB1:  53.33
#                 LOC: precision:  33.33%; recall:  25.00%; FB1:  28.57  3
#                 ORG: precision:  66.67%; recall: 100.00%; FB1:  80.00  3
#                 PER: precision: 100.00%; recall:  50.00%; FB1:  66.67  1
CONLLEVAL = {
    "LOC": (33.33, 25.00, 28.57),
    "ORG": (66.67, 100.00, 80.00),
    "PER": (100.00, 50.00, 66.67),
}


def test_span_scores_match_conlleval_on_a_hand_worked_example():
    report = evaluate(GOLD, PREDICTED, "iob1")
    assert report.metric == "f1"
    assert round(report.accuracy, 2) == 81.25
    assert (round(report.precision, 2), round(report.recall, 2), round(report.f1, 2)) == (57.14, 50.00, 53.33)
    assert report.score == report.f1
    rows = {row.label: (round(row.precision, 2), round(row.recall, 2), round(row.f1, 2)) for row in report.per_label}
    assert rows == CONLLEVAL
    assert {row.label: row.support for row in report.per_label} == {"LOC": 4, "ORG": 2, "PER": 2}


def test_scores_do_not_depend_on_the_scheme_they_are_given_in():
    from bilstm_tagger.base.schemes import convert

    base = evaluate(GOLD, PREDICTED, "iob1")
    for scheme in ("iob2", "iobes", "bilou"):
        gold = [convert(tags, "iob1", scheme) for tags in GOLD]
        predicted = [convert(tags, "iob1", scheme) for tags in PREDICTED]
        assert evaluate(gold, predicted, scheme).f1 == pytest.approx(base.f1)


def test_micro_f1_equals_a_direct_count_of_spans_on_random_sequences():
    rng = random.Random(7)
    labels = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [[rng.choice(labels) for _ in range(rng.randint(1, 12))] for _ in range(200)]
    predicted = [[t if rng.random() < 0.7 else rng.choice(labels) for t in tags] for tags in gold]
    gold_spans = {(i, span) for i, tags in enumerate(gold) for span in tags_to_spans(tags)}
    found_spans = {(i, span) for i, tags in enumerate(predicted) for span in tags_to_spans(tags)}
    correct = len(gold_spans & found_spans)
    precision, recall = correct / len(found_spans), correct / len(gold_spans)
    expected = 100 * 2 * precision * recall / (precision + recall)
    assert evaluate(gold, predicted, "iob2").f1 == pytest.approx(expected)


def test_plain_tags_are_scored_by_accuracy_with_per_tag_figures():
    gold = [["PRON", "VERB", "NOUN"], ["VERB"]]
    predicted = [["PRON", "NOUN", "NOUN"], ["VERB"]]
    report = evaluate(gold, predicted, "plain", known_labels=["PRON", "VERB", "NOUN"])
    assert report.metric == "accuracy"
    assert report.score == pytest.approx(75.0)
    rows = {row.label: row for row in report.per_label}
    assert rows["NOUN"].precision == pytest.approx(50.0) and rows["NOUN"].recall == pytest.approx(100.0)
    assert rows["VERB"].recall == pytest.approx(50.0) and rows["VERB"].support == 2
    assert report.unknown_labels == []


def test_gold_labels_the_model_does_not_know_are_reported():
    report = evaluate([["ADJ", "NOUN"]], [["NOUN", "NOUN"]], "plain", known_labels=["NOUN", "VERB"])
    assert report.unknown_labels == ["ADJ"]
    assert report.score == pytest.approx(50.0)
    # Hand-worked: gold has PER (found) and EVENT (which the model cannot predict), predicted has PER and a
    # wrong LOC. Precision 1/2, recall 1/2: the unseen EVENT span counts in recall's denominator.
    gold = [["B-PER", "I-PER", "O", "B-EVENT", "I-EVENT"]]
    predicted = [["B-PER", "I-PER", "O", "B-LOC", "O"]]
    report = evaluate(gold, predicted, "iob2", known_labels=["O", "S-PER", "B-LOC"])
    assert report.unknown_labels == ["EVENT"]
    assert (report.precision, report.recall, report.f1) == (50.0, 50.0, 50.0)
    rows = {row.label: (row.precision, row.recall, row.support) for row in report.per_label}
    assert rows == {"EVENT": (0.0, 0.0, 1), "LOC": (0.0, 0.0, 0), "PER": (100.0, 100.0, 1)}
