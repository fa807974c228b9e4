"""Error analysis: every span in exactly one class, checked by hand and on random sequences."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_tagger.base.schemes import Span, spans_to_tags, tags_to_spans
from bilstm_tagger.scoring.analysis import GOLD_CLASSES, PREDICTED_CLASSES, SPAN_CLASSES, analyse

WORDS = "Anna Berg met Tom in New York City with Nordbank and the Expo at Oslo Central today".split()
GOLD = [Span(0, 2, "PER"), Span(3, 4, "PER"), Span(5, 8, "LOC"), Span(9, 10, "ORG"), Span(14, 16, "LOC")]
PREDICTED = [
    Span(0, 2, "PER"),  # correct
    Span(3, 4, "ORG"),  # same boundaries, wrong type
    Span(5, 7, "LOC"),  # same type, wrong boundaries ("New York" for "New York City")
    Span(12, 13, "MISC"),  # spurious; Nordbank (ORG) is missed
    Span(15, 17, "PER"),  # overlaps "Oslo Central" (LOC): wrong both
]


def hand_worked():
    gold = spans_to_tags(len(WORDS), GOLD, "iob2")
    predicted = spans_to_tags(len(WORDS), PREDICTED, "iob2")
    return analyse([WORDS], [gold], [predicted], "iob2")


def test_each_span_of_a_hand_worked_sentence_is_in_its_class():
    result = hand_worked()
    assert result.gold_counts == {
        "correct": 1, "wrong_type": 1, "wrong_boundaries": 1, "wrong_both": 1, "missed": 1,
    }  # fmt: skip
    assert result.predicted_counts == {
        "correct": 1, "wrong_type": 1, "wrong_boundaries": 1, "wrong_both": 1, "spurious": 1,
    }  # fmt: skip
    assert result.per_type == {
        "LOC": {"correct": 0, "wrong_type": 0, "wrong_boundaries": 1, "wrong_both": 1, "missed": 0, "spurious": 0},
        "MISC": {"correct": 0, "wrong_type": 0, "wrong_boundaries": 0, "wrong_both": 0, "missed": 0, "spurious": 1},
        "ORG": {"correct": 0, "wrong_type": 0, "wrong_boundaries": 0, "wrong_both": 0, "missed": 1, "spurious": 0},
        "PER": {"correct": 1, "wrong_type": 1, "wrong_boundaries": 0, "wrong_both": 0, "missed": 0, "spurious": 0},
    }


def test_the_confusion_matrix_of_the_hand_worked_sentence():
    result = hand_worked()
    assert result.labels == ["LOC", "MISC", "ORG", "PER", "O"]
    cells = {
        (gold, predicted): result.confusion[i][j]
        for i, gold in enumerate(result.labels)
        for j, predicted in enumerate(result.labels)
        if result.confusion[i][j]
    }
    assert cells == {
        ("PER", "PER"): 1,
        ("PER", "ORG"): 1,
        ("LOC", "LOC"): 1,  # New York City found as New York: the type is right
        ("LOC", "PER"): 1,
        ("ORG", "O"): 1,
        ("O", "MISC"): 1,
    }
    assert result.confused_pairs == [("LOC", "PER", 1), ("O", "MISC", 1), ("ORG", "O", 1), ("PER", "ORG", 1)]


def test_examples_carry_their_sentence_and_spans_most_frequent_first():
    sentence = ["Tom", "saw", "Tom", "."]
    gold = [["B-PER", "O", "B-PER", "O"]] * 3 + [["O", "O", "B-PER", "O"]]
    predicted = [["B-ORG", "O", "B-ORG", "O"]] * 3 + [["O", "O", "O", "O"]]
    result = analyse([sentence] * 4, gold, predicted, "iob2", max_examples=2)
    first, second = result.examples
    assert (first.kind, first.count, first.gold_span, first.predicted_span) == (
        "wrong_type",
        6,
        Span(0, 1, "PER"),
        Span(0, 1, "ORG"),
    )
    assert (second.kind, second.count, second.predicted_span) == ("missed", 1, None)
    assert first.tokens == sentence and first.gold == [Span(0, 1, "PER"), Span(2, 3, "PER")]
    assert result.to_json()["examples"][0]["gold"] == {"start": 0, "end": 1, "type": "PER", "text": "Tom"}


def test_plain_tags_get_a_tag_confusion_matrix_and_the_most_confused_pairs():
    gold = [["PRON", "VERB", "NOUN"], ["PRON", "VERB", "ADJ"]]
    predicted = [["PRON", "NOUN", "NOUN"], ["PRON", "NOUN", "NOUN"]]
    result = analyse([["We", "fish", "fish"], ["We", "swim", "fast"]], gold, predicted, "plain")
    assert result.metric == "accuracy" and result.gold_counts == {} and result.labels == ["ADJ", "NOUN", "PRON", "VERB"]
    assert result.confusion == [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 2, 0, 0]]
    assert result.confused_pairs == [("VERB", "NOUN", 2), ("ADJ", "NOUN", 1)]
    assert result.examples[0].kind == "tag" and result.examples[0].gold_span == Span(1, 2, "VERB")


TAGS = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(TAGS, TAGS), min_size=1, max_size=12), min_size=1, max_size=4))
def test_the_classes_sum_to_the_gold_and_predicted_totals(sentences):
    gold = [[g for g, _ in sentence] for sentence in sentences]
    predicted = [[p for _, p in sentence] for sentence in sentences]
    words = [[f"w{i}" for i in range(len(sentence))] for sentence in sentences]
    result = analyse(words, gold, predicted, "iob2")
    gold_spans = [tags_to_spans(tags) for tags in gold]
    predicted_spans = [tags_to_spans(tags) for tags in predicted]
    assert set(result.gold_counts) == set(GOLD_CLASSES) and set(result.predicted_counts) == set(PREDICTED_CLASSES)
    assert sum(result.gold_counts.values()) == sum(map(len, gold_spans))
    assert sum(result.predicted_counts.values()) == sum(map(len, predicted_spans))
    exact = sum(len(set(g) & set(p)) for g, p in zip(gold_spans, predicted_spans))
    assert result.gold_counts["correct"] == result.predicted_counts["correct"] == exact
    by_type = {label: sum(s.label == label for spans in gold_spans for s in spans) for label in result.per_type}
    for label, counts in result.per_type.items():
        assert list(counts) == list(SPAN_CLASSES)
        assert sum(counts[name] for name in GOLD_CLASSES) == by_type[label]
        row = result.confusion[result.labels.index(label)]
        assert sum(row) == by_type[label]  # each gold span once
    assert sum(result.confusion[-1]) == result.predicted_counts["spurious"]  # the O row
    missed = sum(result.confusion[i][-1] for i in range(len(result.labels) - 1))
    assert missed == result.gold_counts["missed"]
