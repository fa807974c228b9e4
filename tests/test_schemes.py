"""Tag schemes: detection, conversions both ways, the IOB1 B- rule, allowed transitions."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_tagger.base.schemes import (
    Span,
    allowed_transitions,
    convert,
    detect_scheme,
    spans_to_tags,
    tags_to_spans,
)

# "Anna Berg met Tom Li in Oslo Bergen Airport" with Oslo and Bergen Airport two adjacent LOCs.
SPANS = [Span(0, 2, "PER"), Span(3, 5, "PER"), Span(6, 7, "LOC"), Span(7, 9, "LOC")]
IN_SCHEME = {
    "iob1": ["I-PER", "I-PER", "O", "I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC"],
    "iob2": ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"],
    "iobes": ["B-PER", "E-PER", "O", "B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC"],
    "bilou": ["B-PER", "L-PER", "O", "B-PER", "L-PER", "O", "U-LOC", "B-LOC", "L-LOC"],
}


@pytest.mark.parametrize("scheme", IN_SCHEME)
def test_spans_read_and_written_in_every_scheme(scheme):
    assert tags_to_spans(IN_SCHEME[scheme]) == SPANS
    assert spans_to_tags(9, SPANS, scheme) == IN_SCHEME[scheme]


@pytest.mark.parametrize("source, target", list(itertools.permutations(IN_SCHEME, 2)))
def test_convert_between_every_pair_of_schemes(source, target):
    assert convert(IN_SCHEME[source], source, target) == IN_SCHEME[target]


def test_iob1_uses_b_only_between_adjacent_entities_of_the_same_type():
    # Adjacent entities of different types need no B-: the type change starts the entity.
    spans = [Span(0, 1, "PER"), Span(1, 2, "LOC"), Span(2, 3, "LOC"), Span(4, 5, "LOC")]
    assert spans_to_tags(5, spans, "iob1") == ["I-PER", "I-LOC", "B-LOC", "O", "I-LOC"]
    assert convert(["B-PER", "B-LOC", "B-LOC", "O", "B-LOC"], "iob2", "iob1") == [
        "I-PER",
        "I-LOC",
        "B-LOC",
        "O",
        "I-LOC",
    ]


def test_ill_formed_sequences_are_read_as_conlleval_reads_them():
    # I- after O starts an entity; E- without B- is an entity of one token; B- inside ends the last one.
    assert tags_to_spans(["O", "I-PER", "I-PER"]) == [Span(1, 3, "PER")]
    assert tags_to_spans(["E-ORG", "O"]) == [Span(0, 1, "ORG")]
    assert tags_to_spans(["B-PER", "I-LOC"]) == [Span(0, 1, "PER"), Span(1, 2, "LOC")]
    assert tags_to_spans(["B-PER", "I-PER", "B-PER"]) == [Span(0, 2, "PER"), Span(2, 3, "PER")]


@pytest.mark.parametrize(
    "sequences, expected",
    [
        ([IN_SCHEME["iob1"]], "iob1"),
        ([IN_SCHEME["iob2"]], "iob2"),
        ([IN_SCHEME["iobes"]], "iobes"),
        ([IN_SCHEME["bilou"]], "bilou"),
        ([["NOUN", "VERB", "PUNCT"]], "plain"),
        ([["B-NP", "I-NP"], ["NN", "O"]], "plain"),
        ([["O", "O"]], "iob2"),
        ([["O", "B-LOC"], ["I-PER", "O"]], "iob1"),
    ],
)
def test_detect_scheme(sequences, expected):
    assert detect_scheme(sequences) == expected


def test_plain_tags_are_not_converted_to_span_schemes():
    with pytest.raises(ValueError):
        convert(["NOUN"], "plain", "iobes")
    assert convert(["NOUN"], "plain", "plain") == ["NOUN"]


def _is_valid_path(tags, labels, scheme):
    allowed = set(allowed_transitions(labels, scheme))
    indices = [len(labels)] + [labels.index(t) for t in tags] + [len(labels) + 1]
    return all(pair in allowed for pair in zip(indices, indices[1:]))


@pytest.mark.parametrize("scheme", ["iob2", "iobes", "bilou", "iob1"])
def test_allowed_transitions_accept_exactly_the_well_formed_sequences(scheme):
    """Brute force: a sequence is allowed iff writing its spans back in the scheme gives it again."""
    letters = {"iob1": "BI", "iob2": "BI", "iobes": "BIES", "bilou": "BILU"}[scheme]
    labels = ["O"] + [f"{letter}-{kind}" for kind in ("PER", "LOC") for letter in letters]
    for length in range(1, 5):
        for tags in itertools.product(labels, repeat=length):
            canonical = spans_to_tags(length, tags_to_spans(list(tags)), scheme)
            assert _is_valid_path(tags, labels, scheme) == (list(tags) == canonical), tags


def test_plain_allows_every_transition():
    labels = ["NOUN", "VERB"]
    assert len(allowed_transitions(labels, "plain")) == (len(labels) + 1) ** 2


span_lists = st.lists(
    st.tuples(st.integers(1, 3), st.integers(0, 2), st.sampled_from(["PER", "LOC", "ORG"])), max_size=6
)


@given(span_lists)
def test_round_trip_through_every_scheme(pieces):
    """Any set of non-overlapping spans survives tags → spans → tags in every scheme."""
    spans, position = [], 0
    for length, gap, label in pieces:
        position += gap
        spans.append(Span(position, position + length, label))
        position += length
    total = position + 1
    for scheme in IN_SCHEME:
        tags = spans_to_tags(total, spans, scheme)
        assert tags_to_spans(tags) == spans
        for other in IN_SCHEME:
            assert convert(convert(tags, scheme, other), other, scheme) == tags


@given(
    st.lists(
        st.sampled_from(["O", "B-PER", "I-PER", "E-PER", "S-PER", "I-LOC", "B-LOC", "L-LOC", "U-LOC"]), max_size=12
    )
)
def test_any_tag_sequence_converts_without_error_and_keeps_its_spans(tags):
    spans = tags_to_spans(tags)
    for scheme in IN_SCHEME:
        assert tags_to_spans(convert(tags, "iob2", scheme)) == spans


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]), max_size=12
    )
)
def test_a_tagged_sentence_has_the_tags_and_spans_of_a_conversion(tags):
    from bilstm_tagger.tagging.predictions import tagged_sentence

    tokens = [f"w{i}" for i in range(len(tags))]
    for target in ("iob1", "iob2", "iobes", "bilou"):
        sentence = tagged_sentence(tokens, tags, "iobes", target)
        assert sentence.tags == convert(tags, "iobes", target)
        assert sentence.spans == tags_to_spans(sentence.tags)
    assert tagged_sentence(tokens, tags, "plain", "plain").spans == []
