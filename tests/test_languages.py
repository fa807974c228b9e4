"""Raw text in every language spaCy's rules cover: the rules files, the tokens, where sentences end,
NFC and NFD, the languages refused, and a model's language from ``tagger train`` to ``tagger tag``.

The English tokens are held to spaCy's in test_segmentation.py (all of EWT and CoNLL-2003); here every
shipped language is, on random strings built from its own exceptions, and German on UD German GSD.
"""

import functools
import json
import random
import shutil
import unicodedata

import pytest

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.text import rule_tokenizer, segmentation
from bilstm_tagger.text.corpus import CorpusReading
from bilstm_tagger.text.documents import raw_text
from bilstm_tagger.text.languages import SEGMENTERS, check_language, shipped_languages
from bilstm_tagger.text.segmentation import split_text

from conftest import DATA, SHARED_DATA, assert_one_line_error, record_tokens, tagger_in_process

LANGUAGES = shipped_languages()


@functools.cache
def spacy_tokenizer(language: str):
    """spaCy's own tokenizer of a language, with the special cases the rules keep."""
    import spacy

    tokenizer = spacy.blank(language).tokenizer
    tokenizer.rules = {
        orth: pieces for orth, pieces in tokenizer.rules.items() if rule_tokenizer.keeps_special_case(orth, language)
    }
    return tokenizer


def spacy_spans(language: str, text: str) -> list[tuple[int, int]]:
    return [
        (token.idx, token.idx + len(token)) for token in spacy_tokenizer(language)(text) if not token.text.isspace()
    ]


@functools.cache
def port(language: str) -> rule_tokenizer.RuleTokenizer:
    return rule_tokenizer.RuleTokenizer.load(language)


def words(text: str, sentences) -> list[list[str]]:
    return [[text[start:end] for start, end in sentence] for sentence in sentences]


# -- the rules files ---------------------------------------------------------------------------


def test_the_languages_shipped_are_those_spacy_splits_by_rules():
    assert LANGUAGES == tuple(rule_tokenizer.spacy_rule_languages())
    assert {"en", "de", "fr", "nl", "es", "it", "pt", "ru", "xx"} <= set(LANGUAGES)
    assert not set(SEGMENTERS) & set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_rules_file_is_what_the_installed_spacy_gives(language):
    written = rule_tokenizer.rules_file(language).read_text(encoding="utf-8")
    assert written == rule_tokenizer.rules_text(language), (
        f"spaCy's {language} rules changed: rule_tokenizer.write_rules([{language!r}]) writes them again"
    )


def test_write_rules_writes_one_file_per_language(tmp_path):
    paths = rule_tokenizer.write_rules(["de", "en"], tmp_path)
    assert paths == [tmp_path / "de.json", tmp_path / "en.json"]
    assert json.loads(paths[0].read_text(encoding="utf-8"))["name"] == "German"
    assert rule_tokenizer.RuleTokenizer.load("de", paths[0]).special_cases["z.B."] == ["z.B."]


def test_a_language_s_rules_are_read_only_when_it_is_used(monkeypatch):
    monkeypatch.setattr(segmentation, "_tokenizers", {})
    split_text("Maria lebt in Köln.", "de")
    assert set(segmentation._tokenizers) == {"de"}


# -- the same tokens as spaCy ----------------------------------------------------------------------

PIECES = list("aAzZ09.,;:!?'\"()[]{}-–—/\\@#$%&*+=<>_~`^|’‘“”„‚…«»§°€") + [
    " ",
    "  ",
    "é",
    "ß",
    "ç",
    "ø",
    "ł",
    "中",
    "😀",
    "\u0301",
    "3.",
    "1990",
    "km",
    "d'",
    "l'",
    "'s",
    "n't",
    "Rp",
    "http://x.org/a?b=1",
    "mail@x.org",
    ":-)",
    "(8)",
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_tokens_are_spacys_on_random_strings(language):
    # Pieces of punctuation, letters and spaces, and the language's own exceptions (z.B., aujourd'hui).
    rng = random.Random(language)
    exceptions = sorted(port(language).special_cases)
    texts = [
        "".join(
            rng.choice(exceptions) if exceptions and rng.random() < 0.3 else rng.choice(PIECES)
            for _ in range(rng.randint(1, 20))
        )
        for _ in range(60)
    ]
    differing = [text for text in texts if port(language).spans(text) != spacy_spans(language, text)]
    assert differing == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_words_that_skip_the_rules_are_whole_in_spacy_too(language):
    # split_text takes words of ASCII letters or digits past the rules, unless a prefix of letters splits them.
    rng = random.Random(language)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    plain = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 7))) for _ in range(200)]
    plain += [str(rng.randint(0, 10**6)) for _ in range(50)] + ["Rp5000", "Rpx", "USD", "RM", "cannot"]
    text = " ".join(plain)
    assert segmentation._token_spans(text, segmentation._tokenizer(language)) == spacy_spans(language, text)


@functools.cache
def gsd_texts() -> list[str]:
    path = SHARED_DATA / "ud_de_gsd" / "de_gsd-ud-test.conllu"
    return [line[9:].rstrip("\n") for line in open(path, encoding="utf-8") if line.startswith("# text = ")]


def test_the_tokens_are_spacys_on_german_gsd_text():
    texts = [segmentation._SEPARATOR.sub(" ", text) for text in gsd_texts()]
    assert len(texts) > 900
    differing = [text for text in texts if port("de").spans(text) != spacy_spans("de", text)]
    assert differing == []


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "de",
            "Das gilt z.B. für Nr. 5, vgl. S. 3.",
            ["Das", "gilt", "z.B.", "für", "Nr.", "5", ",", "vgl.", "S.", "3", "."],
        ),
        ("de", "Er geht’s an, „so“ sagt sie.", ["Er", "geht", "’s", "an", ",", "„", "so", "“", "sagt", "sie", "."]),
        ("fr", "Aujourd'hui, l'homme est là.", ["Aujourd'hui", ",", "l'", "homme", "est", "là", "."]),
        ("fr", "« Oui », dit-il.", ["«", "Oui", "»", ",", "dit", "-il", "."]),
        ("nl", "Het is 's avonds, d.w.z. laat.", ["Het", "is", "'s", "avonds", ",", "d.w.z.", "laat", "."]),
        ("es", "¿Qué tal? ¡Bien!", ["¿", "Qué", "tal", "?", "¡", "Bien", "!"]),
        ("it", "L'anno dell'Italia.", ["L'", "anno", "dell'", "Italia", "."]),
    ],
)
def test_each_language_splits_by_its_own_rules(language, text, expected):
    assert [token for sentence in words(text, split_text(text, language)) for token in sentence] == expected


# -- where sentences end ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Ordinals and dates go on; a year and its period before a capital end the sentence.
        (
            "Am 3. Oktober 1990 kam die Einheit. Das war im Jahr 1990. Danach kam der 2. Weltkrieg nicht wieder.",
            [
                ["Am", "3.", "Oktober", "1990", "kam", "die", "Einheit", "."],
                ["Das", "war", "im", "Jahr", "1990", "."],
                ["Danach", "kam", "der", "2.", "Weltkrieg", "nicht", "wieder", "."],
            ],
        ),
        # Abbreviations, with and without the space, end nothing.
        ("Er kam z. B. am 1. Mai, vgl. Nr. 5 und S. 3 ab.", None),
        # A number ending the text: its period ends the sentence, split off.
        ("Sie kam bis zum 3.", [["Sie", "kam", "bis", "zum", "3", "."]]),
        # German quotes close with “: a lower-case word after it goes on.
        (
            "„Warum?“ fragte sie. Dann ging sie.",
            [["„", "Warum", "?", "“", "fragte", "sie", "."], ["Dann", "ging", "sie", "."]],
        ),
        # An ellipsis before a capital ends a sentence; a bracket closed before a lower-case word does not.
        (
            "Es war toll... Wir kommen (ganz sicher!) und bleiben.",
            [["Es", "war", "toll", "..."], ["Wir", "kommen", "(", "ganz", "sicher", "!", ")", "und", "bleiben", "."]],
        ),
    ],
)
def test_german_sentences_end_by_german_rules(text, expected):
    sentences = words(text, split_text(text, "de"))
    if expected is None:
        assert len(sentences) == 1, sentences
    else:
        assert sentences == expected


def test_english_keeps_its_list_numbers_and_ends_at_numbers():
    assert words("10. Michael van der Wolf", split_text("10. Michael van der Wolf", "en")) == [
        ["10.", "Michael", "van", "der", "Wolf"]
    ]
    text = "He came on the 3. He left."
    assert len(split_text(text, "en")) == 2


def test_danish_ordinals_before_a_month_go_on():
    text = "Han kom den 3. oktober. Så gik han."
    assert len(split_text(text, "da")) == 2


# -- Unicode as people type it -----------------------------------------------------------------------

UNICODE_TEXTS = [
    ("de", "Grüße aus Köln: „Ärger“ über Straßen­bau, z.B. 3. März."),
    ("fr", "L'été à Noël, « déjà » vu ; où ? Là-bas."),
    ("es", "¿Qué pasó en Peñíscola? ¡Mañana!"),
    ("en", "Café résumé naïve coöperate."),
    ("ru", "Ёлка и йод, т.е. всё."),
    ("xx", "Tiếng Việt có dấu."),
    ("xx", "한국어 문장. Ελληνικά ά."),
]


@pytest.mark.parametrize(("language", "text"), UNICODE_TEXTS)
def test_nfc_and_nfd_give_the_same_tokens_at_their_own_offsets(language, text):
    composed = unicodedata.normalize("NFC", text)
    decomposed = unicodedata.normalize("NFD", text)
    assert composed != decomposed
    expected = words(composed, split_text(composed, language))
    sentences = split_text(decomposed, language)
    found = words(decomposed, sentences)
    # The tokens are slices of the text as given (decomposed), the same ones once composed.
    assert [[unicodedata.normalize("NFC", token) for token in sentence] for sentence in found] == expected
    spans = [span for sentence in sentences for span in sentence]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert "".join(decomposed[start:end] for start, end in spans) == "".join(decomposed.split())


def test_the_model_reads_decomposed_tokens_composed():
    text = unicodedata.normalize("NFD", "Grüße aus Köln.")
    record = raw_text(text, "de")
    assert record.text == text
    assert record.network_tokens() == [["Grüße", "aus", "Köln", "."]]
    # What the record shows stays the text as given: offsets slice it back.
    assert [[text[start:end] for start, end in sentence] for sentence in record.sentences] == record.sentence_tokens()
    assert record.sentence_tokens() != record.network_tokens()


# -- the languages refused -------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "package"), [("zh", "jieba"), ("ja", "SudachiPy"), ("th", "PyThaiNLP")])
def test_a_language_that_needs_a_word_segmenter_is_refused_naming_it(language, package):
    with pytest.raises(InputError, match=package):
        split_text("x", language)


def test_an_unknown_language_is_refused_listing_the_known_ones():
    with pytest.raises(InputError, match=r"unknown language 'klingon'.*\bde\b.*\bfr\b"):
        check_language("klingon")
    assert check_language(" DE ") == "de"


# -- a model's language ------------------------------------------------------------------------------


def test_the_reading_keeps_the_language_and_older_models_read_as_english():
    assert CorpusReading.from_json({}).language == "en"
    assert CorpusReading.from_json({"format": "conll"}).language == "en"
    trained = CorpusReading.from_json(CorpusReading("conll", language="de").to_json())
    assert trained.language == "de"
    # The model's language fills a tagging reading that gives none, whatever its format; one given wins.
    assert CorpusReading("text").with_columns_of(trained).language == "de"
    assert CorpusReading("text", language="fr").with_columns_of(trained).language == "fr"
    with pytest.raises(InputError, match="needs a word segmenter"):
        CorpusReading("conll", language="zh")


@pytest.fixture(scope="module")
def german_model(tmp_path_factory):
    """A tiny model trained with --language de, in seconds (what it tags does not matter here)."""
    directory = tmp_path_factory.mktemp("german") / "model"
    tagger_in_process(
        *("train", DATA / "ner" / "train.txt", "--dev", DATA / "ner" / "dev.txt", "--output", directory),
        *("--language", "de", "--word-dim", "8", "--char-dim", "4", "--char-filters", "6", "--hidden-size", "8"),
        *("--max-epochs", "1", "--threads", "1"),
    )
    return directory


GERMAN = "Am 3. Oktober kam er z. B. nach Köln. Dann ging er."


def test_tagger_tag_splits_raw_text_by_the_model_s_language(german_model):
    assert json.loads((german_model / "config.json").read_text())["corpus"]["language"] == "de"
    result = tagger_in_process("tag", german_model, "-f", "jsonl", input=GERMAN + "\n")
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(record["sentences"]) == 2
    assert record_tokens(record)[:7] == ["Am", "3.", "Oktober", "kam", "er", "z.", "B."]
    # --language overrides the model's: English rules split "3." and end a sentence after it.
    result = tagger_in_process("tag", german_model, "-f", "jsonl", "--language", "en", input=GERMAN + "\n")
    assert len(json.loads(result.stdout)["sentences"]) > 2


def test_worker_processes_split_by_the_model_s_language_too(german_model):
    result = tagger_in_process(
        "tag", german_model, "-f", "jsonl", "--workers", "2", input=GERMAN + "\n" + GERMAN + "\n"
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(record["sentences"]) for record in records] == [2, 2]


def test_tagger_tag_refuses_a_language_in_one_line(german_model):
    result = tagger_in_process("tag", german_model, "--language", "zh", input="x\n", check=False)
    assert_one_line_error(result, "language 'zh' needs a word segmenter")
    result = tagger_in_process(
        *("train", DATA / "ner" / "train.txt", "--dev", DATA / "ner" / "dev.txt", "-o", "unused", "--language", "xy"),
        check=False,
    )
    assert_one_line_error(result, "unknown language 'xy'")


def test_a_resumed_run_keeps_its_language_unless_one_is_given(german_model, tmp_path):
    from bilstm_tagger.training.run import with_saved_language

    assert with_saved_language(CorpusReading("conll"), german_model).language == "de"
    assert with_saved_language(CorpusReading("conll", language="fr"), german_model).language == "fr"
    assert with_saved_language(CorpusReading("conll"), tmp_path).language is None  # no checkpoint yet: en


def test_the_python_api_splits_by_the_model_s_language(german_model, tmp_path):
    from bilstm_tagger import Tagger

    tagger = Tagger.load(german_model)
    assert tagger.language == "de"
    assert len(tagger(GERMAN).sentences) == 2
    assert len(tagger(GERMAN, language="en").sentences) > 2
    # A model written before languages (no "language" in its config) is English.
    older = shutil.copytree(german_model, tmp_path / "older")
    config = json.loads((older / "config.json").read_text())
    del config["corpus"]["language"]
    (older / "config.json").write_text(json.dumps(config))
    assert Tagger.load(older).language == "en"


# -- the page that lists them -----------------------------------------------------------------------


def test_the_languages_page_lists_the_languages_shipped_and_refused():
    import re

    from bilstm_tagger.text.sentence_rules import ORDINAL_PERIOD_LANGUAGES

    from conftest import ROOT

    text = (ROOT / "docs" / "languages.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([a-z]+)` \| ([^|]+) \|$", text, re.MULTILINE)
    shipped = [code for code, what in listed if code not in SEGMENTERS]
    assert shipped == list(LANGUAGES)
    assert {code: what.strip() for code, what in listed if code in SEGMENTERS} == SEGMENTERS
    ordinals = text[text.index("**Ordinals written with a period**") :].split("\n\n")[0]
    assert set(re.findall(r"`([a-z]+)`", ordinals.split(")")[0])) == ORDINAL_PERIOD_LANGUAGES


def test_the_results_sections_are_those_benchmarks_languages_py_renders_from_its_json():
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import languages as benchmark  # benchmarks/languages.py

    results = json.loads((ROOT / "benchmarks" / "languages.json").read_text(encoding="utf-8"))
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    assert benchmark.section(results) in text
    assert benchmark.ner_section(results["wikiann_de"]) in text
