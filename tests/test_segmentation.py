"""Raw text into sentences and tokens: offsets that slice the text back, CoNLL-2003 conventions.

The invariants, for any text: sentences are non-empty; tokens are ``(start, end)`` slices of the
text, in order, disjoint, non-empty, without white space, each holding a visible character; what
lies between them is white space, U+200B, U+FEFF or invisible format characters. Together with
"the text and the joined tokens have the same visible characters", nothing is lost or reordered.
"""

import functools
import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_tagger.text import rule_tokenizer, segmentation
from bilstm_tagger.text.corpus import VISIBLE_FORMAT_CHARACTERS, CorpusReading, read_corpus
from bilstm_tagger.text.segmentation import split_text
from bilstm_tagger.text.sentence_rules import sentence_rules

from conftest import SHARED_DATA

SEPARATORS = "\u200b\ufeff"  # invisible, but white space for split_text


def is_separator(character: str) -> bool:
    return character.isspace() or character in SEPARATORS


def is_invisible(character: str) -> bool:
    return unicodedata.category(character) == "Cf" and character not in VISIBLE_FORMAT_CHARACTERS


def visible(text: str) -> str:
    """The text less white space, U+200B, U+FEFF and invisible format characters."""
    return "".join(c for c in text if not is_separator(c) and not is_invisible(c))


def tokens_of(text: str) -> list[list[str]]:
    """The sentences of ``text`` as lists of token strings, after checking every invariant."""
    sentences = split_text(text)
    check_invariants(text, sentences)
    return [[text[start:end] for start, end in sentence] for sentence in sentences]


def check_invariants(text: str, sentences: list[list[tuple[int, int]]]) -> None:
    spans = [span for sentence in sentences for span in sentence]
    assert all(sentence for sentence in sentences), "an empty sentence"
    position = 0
    for start, end in spans:
        assert isinstance(start, int) and isinstance(end, int)
        assert position <= start < end <= len(text), f"span {(start, end)} after {position} in {len(text)}"
        gap = text[position:start]
        assert all(is_separator(c) or is_invisible(c) for c in gap), f"{gap!r} between tokens"
        token = text[start:end]
        assert not any(is_separator(c) for c in token), f"white space in {token!r}"
        assert visible(token), f"{token!r} holds no visible character"
        position = end
    assert all(is_separator(c) or is_invisible(c) for c in text[position:]), "text after the last token"
    assert visible("".join(text[start:end] for start, end in spans)) == visible(text)


# -- properties ------------------------------------------------------------------------------

ANY_CHARACTER = st.characters(blacklist_categories=("Cs",))  # no surrogates in text decoded from UTF-8
# Pieces that reach spaCy's special cases, prefixes, suffixes, infixes and the post-processing.
PIECES = st.sampled_from(
    [" ", "  ", "\t", "\n", "\r", "\u00a0", "\u2028", "\u200b", "\ufeff", "\u200d", "\u2060", "\u200e", "\u00ad"]
    + [".", ",", "!", "?", "...", "(", ")", '"', "'", "'s", "n't", "-", "–", "--", "%", "$", "#", "@", ":)", "8)"]
    + ["U.S.", "Mr.", "don't", "Merkel's", "3.5", "1,000", "10.", "e.g.", "word", "Berlin", "x-ray", "15-2"]
    + [
        "e\u0301",
        "\u0301",
        "👨\u200d👩\u200d👧",
        "🇩🇪",
        "🇩",
        "👍🏽",
        "مرحبا",
        "שלום",
        "日本語。",
        "\x00",
        "\x7f",
        "\x1c",
    ]
    + ["https://example.com/a?b=1", "maria@example.org", "(" * 70, "a" * 70, "a." * 40]
)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ANY_CHARACTER, max_size=80))
def test_any_text_keeps_the_invariants(text):
    check_invariants(text, split_text(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES | st.text(alphabet=ANY_CHARACTER, max_size=3), max_size=30).map("".join))
def test_text_made_of_tricky_pieces_keeps_the_invariants(text):
    check_invariants(text, split_text(text))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cf")), max_size=80))
def test_without_format_characters_the_tokens_are_the_text_less_white_space(text):
    tokens = [text[start:end] for sentence in split_text(text) for start, end in sentence]
    assert "".join(tokens) == "".join(text.split())


PLAIN_WORDS = st.from_regex(r"[A-Za-z]{1,8}|[0-9]{1,6}", fullmatch=True) | st.sampled_from(
    ["cannot", "Cannot", "Im", "gonna", "dont", "Its", "its", "Hes", "Id", "ill", "well", "wont", "lets"]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(PLAIN_WORDS, max_size=20), st.sampled_from([" ", "  ", " \t"]))
def test_plain_words_are_tokenized_as_spacy_does(words, space):
    # split_text takes ASCII-letter and digit-only words past spaCy, as one token each (and
    # drops spaCy's special cases for such words): it must come to what its spaCy makes of them.
    text = space.join(words)
    expected = [text[start:end] for start, end in spacy_spans(text.replace("\t", " "))]
    assert [token for sentence in tokens_of(text) for token in sentence] == expected


def test_a_token_of_only_invisible_characters_is_left_out():
    assert split_text("\u200d\u2060\u200e \ufeff\u200b") == []
    assert tokens_of("a \u2060 b") == [["a", "b"]]
    # Inside a token they stay: a direction mark before a word, a soft hyphen, an emoji sequence.
    assert tokens_of("\u200eHello co\u00adop") == [["\u200eHello", "co\u00adop"]]


# -- hostile inputs --------------------------------------------------------------------------

MEGABYTE = 1_000_000
# Enough to catch quadratic work: spaCy alone takes half a minute on 16,000 brackets in a row.
PUNCTUATION_LINE = 100_000


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(("lorem ipsum dolor sit amet " * (MEGABYTE // 27)), id="1MB-no-punctuation"),
        pytest.param("a" * MEGABYTE, id="1MB-word"),
        pytest.param("(" * PUNCTUATION_LINE, id="brackets"),
        pytest.param("!?.,;:()[]{}\"'-/*&%$#@ " * (PUNCTUATION_LINE // 24), id="punctuation"),
    ],
)
def test_a_long_line_takes_seconds_not_hours(text):
    start = time.perf_counter()
    sentences = split_text(text)
    elapsed = time.perf_counter() - start
    check_invariants(text, sentences)
    # Quadratic work would take hours; this guards against it and is no benchmark.
    assert elapsed < 60, f"{elapsed:.1f} s"


def test_a_megabyte_line_without_sentence_end_is_one_sentence():
    text = "lorem ipsum dolor " * (MEGABYTE // 18)
    assert len(split_text(text)) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        (" \t\n ", []),
        ("!!! ??? ... ,,, ;;", None),
        ("Visit https://example.com/path?q=1&x=2 now", ["Visit", "https://example.com/path?q=1&x=2", "now"]),
        ("Write to maria.lopez@example.org today", ["Write", "to", "maria.lopez@example.org", "today"]),
        ("#BerlinMarathon @maria", None),
        ("It cost 1,000,000.50 or 3.14", ["It", "cost", "1,000,000.50", "or", "3.14"]),
        ("مرحبا بالعالم", ["مرحبا", "بالعالم"]),
        ("שלום עולם", ["שלום", "עולם"]),
        ("Cafe\u0301 re\u0301sume\u0301", ["Cafe\u0301", "re\u0301sume\u0301"]),
        ("a \u0301 b", None),
        ("family 👨\u200d👩\u200d👧 here", ["family", "👨\u200d👩\u200d👧", "here"]),
        ("flags 🇩🇪🇫🇷", ["flags", "🇩🇪", "🇫🇷"]),
        ("thumbs 👍🏽", ["thumbs", "👍🏽"]),
        ("a\x00b \x01 c\x7f", ["a\x00b", "\x01", "c\x7f"]),
        ("one\rtwo", ["one", "two"]),
        ("\ufeffHello world", ["Hello", "world"]),
        ("one\u2028two\u2029three\x85four\x1cfive", ["one", "two", "three", "four", "five"]),
        ("zero\u200bwidth", ["zero", "width"]),
        ("no\u00a0break", ["no", "break"]),
        ("(" * 70 + "word" + ")" * 70, None),
        ("https://example.com/" + "a" * 100 + ").", ["https://example.com/" + "a" * 100, ")", "."]),
    ],
)
def test_hostile_lines_keep_the_invariants(text, expected):
    sentences = tokens_of(text)
    if expected is not None:
        assert [token for sentence in sentences for token in sentence] == expected


def test_right_to_left_sentences_end_at_their_own_question_mark():
    assert tokens_of("كيف حالك؟ أنا بخير.") == [["كيف", "حالك", "؟"], ["أنا", "بخير", "."]]


@pytest.mark.parametrize(
    "broken",
    [
        [(3, 1), (0, 40)],
        [(0, 40)],
        [(0, 7), (5, 15)],
        [(0, 7), (7, 7), (9, 15), (16, 21)],
        [(0, 7), (16, 21)],
        [(0, 15), (16, 21)],
    ],
    ids=["backwards", "past-the-end", "overlapping", "empty", "missing-a-word", "across-spaces"],
)
def test_a_broken_tokenizer_falls_back_to_the_words(monkeypatch, broken):
    class Broken:
        sentence_final = frozenset(".")
        closing = frozenset(".")
        quotes = frozenset()
        enders = frozenset(".")
        plain_word = segmentation._PLAIN_WORD
        sentence = sentence_rules("en")

        def __init__(self, language="en"):
            pass

        def spans(self, text):
            return list(broken)

    monkeypatch.setattr(segmentation, "_tokenizer", Broken)
    # No plain word: every span comes from the broken tokenizer.
    assert tokens_of("Maria's  (flew) home.") == [["Maria's", "(flew)", "home."]]


def test_the_cache_of_runs_is_bounded(monkeypatch):
    english = segmentation._tokenizer().tokenizer
    monkeypatch.setattr(rule_tokenizer, "MAX_CACHED", 2)
    english.cache.clear()
    assert tokens_of("Merkel's staff (in Germany).") == [["Merkel", "'s", "staff", "(", "in", "Germany", ")", "."]]
    assert len(english.cache) <= 2
    assert tokens_of("Merkel's staff (8):") == [["Merkel", "'s", "staff", "(", "8", ")", ":"]]


# -- the same tokens as spaCy ------------------------------------------------------------------


@functools.cache
def spacy_tokenizer():
    """spaCy's own English tokenizer, with the special cases segmentation keeps."""
    from spacy.lang.en import English

    tokenizer = English().tokenizer
    tokenizer.rules = {
        orth: pieces for orth, pieces in tokenizer.rules.items() if rule_tokenizer.keeps_special_case(orth)
    }
    return tokenizer


port = functools.cache(lambda: rule_tokenizer.RuleTokenizer.load("en"))


def spacy_spans(text: str) -> list[tuple[int, int]]:
    return [(token.idx, token.idx + len(token)) for token in spacy_tokenizer()(text) if not token.text.isspace()]


def test_the_tokens_are_spacys_on_ewt_and_conll_text():
    texts = [
        line[9:].rstrip("\n")
        for line in open(SHARED_DATA / "ud_en_ewt" / "en_ewt-ud-test.conllu", encoding="utf-8")
        if line.startswith("# text = ")
    ]
    sentences = [s.tokens for s in read_corpus(SHARED_DATA / "conll2003" / "eng.testb", CorpusReading("conll"))]
    texts += [" ".join(tokens) for tokens in sentences]  # as CoNLL-2003 writes them: spaces around punctuation
    texts += [
        "".join(token if token in ".,;:!?)'" or token.startswith("'") else " " + token for token in tokens)
        for tokens in sentences
    ]
    assert len(texts) > 5000
    english = port()
    texts = [segmentation._SEPARATOR.sub(" ", text) for text in texts]  # as split_text gives it: spaces only
    differing = [text for text in texts if english.spans(text) != spacy_spans(text)]
    assert differing == []


TRICKY = list("aAzZ09.,;:!?'\"()[]{}-–—/\\@#$%&*+=<>_~`^|’‘“”…«»§°€") + [
    "e.g.",
    "U.S.",
    "a.m.",
    "10p.m.",
    "'s",
    "n't",
    "Jan.",
    "Mr.",
    "can't",
    "8-D",
    "''",
    "'em",
    "http://x.org/a?b=1",
    "mail@x.org",
    "é",
    "中",
    "😀",
    "\u0301",
    " ",
    "  ",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=25))
def test_the_tokens_are_spacys_on_punctuation_heavy_text(pieces):
    text = "".join(pieces)
    assert port().spans(text) == spacy_spans(text)


# -- CoNLL-2003 conventions ------------------------------------------------------------------


def test_the_example_paragraph():
    text = "Maria Lopez flew from Madrid to Berlin. She met Angela Merkel's staff (in Germany)."
    assert tokens_of(text) == [
        ["Maria", "Lopez", "flew", "from", "Madrid", "to", "Berlin", "."],
        ["She", "met", "Angela", "Merkel", "'s", "staff", "(", "in", "Germany", ")", "."],
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("don't", ["do", "n't"]),
        # eng.train has "cannot" 11 times and "can not" never: no apostrophe, no split.
        ("I cannot, dont, gonna", ["I", "cannot", ",", "dont", ",", "gonna"]),
        ("I can't, won't", ["I", "ca", "n't", ",", "wo", "n't"]),
        ("the U.S. economy", ["the", "U.S.", "economy"]),
        ("Mr. Smith met Dr. Jones in Jan. 1996", ["Mr.", "Smith", "met", "Dr.", "Jones", "in", "Jan.", "1996"]),
        # eng.train writes percentages as "4.45 %" (23 times) and never glues the sign on.
        ("rose 3.5% to $5", ["rose", "3.5", "%", "to", "$", "5"]),
        # eng.train keeps hyphenated words, scores and dates whole: 30-year-old, 15-2, 1996-08-22.
        ("a 30-year-old Anglo-Dutch firm won 15-2 on 1996-08-22", None),
        ("players' union", ["players", "'", "union"]),
        ('He said "yes."', ["He", "said", '"', "yes", ".", '"']),
        ("(8) and ):", ["(", "8", ")", "and", ")", ":"]),
    ],
)
def test_conll_conventions(text, expected):
    tokens = [token for sentence in tokens_of(text) for token in sentence]
    assert tokens == (expected if expected is not None else text.split())


def test_a_list_number_opens_its_sentence():
    assert tokens_of("10. Michael van der Wolf (Neths) 2:10.45") == [
        ["10.", "Michael", "van", "der", "Wolf", "(", "Neths", ")", "2:10.45"]
    ]


def test_closing_punctuation_stays_with_its_sentence():
    assert tokens_of('He left. "Why?" she asked.') == [
        ["He", "left", "."],
        ['"', "Why", "?", '"', "she", "asked", "."],
    ]
    assert tokens_of("(He left.) Then") == [["(", "He", "left", ".", ")"], ["Then"]]


def test_offsets_are_code_points_after_astral_characters():
    text = "😀 Berlin."
    assert split_text(text) == [[(0, 1), (2, 8), (8, 9)]]
