"""Readers: CoNLL and CoNLL-U layouts, and every malformed input ending in FILE:LINE errors."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.text.corpus import CorpusReading, detect_format, iter_lines, read_corpus, write_predictions
from bilstm_tagger.text.documents import read_inputs

CONLL = """-DOCSTART- -X- -X- O

Anna NNP I-NP I-PER
Berg NNP I-NP I-PER
sings VBZ I-VP O

Oslo NNP I-NP I-LOC
. . O O
"""

CONLLU = """# sent_id = 1
# text = We don't stop.
1\tWe\twe\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
3.1\tsay\tsay\tVERB\tVB\t_\t_\t_\t0:root\t_
4\tstop\tstop\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

"""


def write(tmp_path, text, name="corpus.txt", mode="w"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def error_of(path, **options):
    with pytest.raises(InputError) as caught:
        read_corpus(path, CorpusReading(**options))
    return str(caught.value)


def test_reads_conll_sentences_skipping_docstart(tmp_path):
    sentences = read_corpus(write(tmp_path, CONLL))
    assert [s.tokens for s in sentences] == [["Anna", "Berg", "sings"], ["Oslo", "."]]
    assert [s.tags for s in sentences] == [["I-PER", "I-PER", "O"], ["I-LOC", "O"]]
    assert [s.line for s in sentences] == [3, 7]
    assert sentences[0].document_header == "-DOCSTART- -X- -X- O"


def test_crlf_tabs_and_missing_final_newline_are_fine(tmp_path):
    text = CONLL.replace("\n", "\r\n").replace(" NNP ", "\tNNP\t").rstrip("\r\n")
    sentences = read_corpus(write(tmp_path, text))
    assert [s.tags for s in sentences] == [["I-PER", "I-PER", "O"], ["I-LOC", "O"]]
    assert sentences[1].tokens == ["Oslo", "."]


def test_word_and_tag_columns_are_selectable(tmp_path):
    sentences = read_corpus(write(tmp_path, CONLL), CorpusReading(word_column=0, tag_column=1))
    assert sentences[0].tags == ["NNP", "NNP", "VBZ"]
    sentences = read_corpus(write(tmp_path, CONLL), CorpusReading(word_column="-2", tag_column="1"))
    assert sentences[0].tokens == ["I-NP", "I-NP", "I-VP"]
    assert sentences[0].tags == ["NNP", "NNP", "VBZ"]


def test_reads_conllu_upos_skipping_comments_ranges_and_empty_nodes(tmp_path):
    path = write(tmp_path, CONLLU, "sample.conllu")
    assert detect_format(path) == "conllu"
    (sentence,) = read_corpus(path)
    assert sentence.tokens == ["We", "do", "n't", "stop", "."]
    assert sentence.tags == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    (sentence,) = read_corpus(path, CorpusReading(tag_column="xpos"))
    assert sentence.tags == ["PRP", "VBP", "RB", "VB", "."]


def test_conllu_is_detected_by_content_too(tmp_path):
    assert detect_format(write(tmp_path, CONLLU, "sample.txt")) == "conllu"
    assert detect_format(write(tmp_path, CONLL, "other.conll")) == "conll"


def test_a_line_with_another_column_count_is_an_error(tmp_path):
    path = write(tmp_path, CONLL.replace("sings VBZ I-VP O", "sings VBZ O"))
    assert error_of(path) == f"{path}:5: expected 4 columns as on line 3, found 3"


def test_truncated_file_is_an_error_at_its_last_line(tmp_path):
    path = write(tmp_path, CONLL[: CONLL.index("Oslo NNP") + len("Oslo NNP")])
    assert error_of(path) == f"{path}:7: expected 4 columns as on line 3, found 2"


def test_missing_tag_column_is_an_error(tmp_path):
    path = write(tmp_path, "Anna\nBerg\n")
    assert error_of(path).startswith(f"{path}:1: missing tag column")


def test_invalid_utf8_names_the_line(tmp_path):
    path = write(tmp_path, CONLL.encode() + b"Caf\xe9 NN I-NP O\n")
    assert error_of(path).startswith(f"{path}:9: invalid UTF-8")
    # ... unless replacement is asked for
    sentences = read_corpus(path, CorpusReading(encoding_errors="replace"))
    assert sentences[-1].tokens == ["Oslo", ".", "Caf\ufffd"]


def test_binary_files_are_rejected(tmp_path):
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    message = error_of(path)
    assert message.startswith(f"{path}:")
    assert "binary" in message


def test_empty_and_blank_files_are_rejected(tmp_path):
    for text in ("", "\n\n  \n", "-DOCSTART- -X- -X- O\n\n"):
        path = write(tmp_path, text)
        assert error_of(path) == f"{path}:1: no sentences found (the file is empty or has only blank lines)"


def test_missing_file_and_directory_are_input_errors(tmp_path):
    assert error_of(tmp_path / "nope.txt").startswith(f"{tmp_path / 'nope.txt'}: cannot read")
    assert "directory" in error_of(tmp_path)


def test_conllu_errors(tmp_path):
    path = write(tmp_path, CONLLU.replace("4\tstop\tstop\tVERB", "4\tstop\tstop"), "bad.conllu")
    assert error_of(path) == f"{path}:8: expected 10 tab-separated CoNLL-U columns, found 9"
    path = write(tmp_path, CONLLU.replace("1\tWe", "x\tWe"), "bad.conllu")
    assert error_of(path) == f"{path}:3: invalid token ID 'x'"
    path = write(tmp_path, CONLLU.replace("PRON\tPRP", "_\tPRP"), "bad.conllu")
    assert error_of(path).startswith(f"{path}:3: missing tag")


def test_bad_column_names_are_errors(tmp_path):
    path = write(tmp_path, CONLL)
    assert "invalid tag column 'upos'" in error_of(path, tag_column="upos")
    assert error_of(path, tag_column="7") == f"{path}:3: no tag column 7: the line has 4 column(s)"


def test_predictions_are_appended_to_the_input_lines(tmp_path):
    sentences = read_corpus(write(tmp_path, CONLL))
    output = tmp_path / "predictions.txt"
    write_predictions(output, sentences, [["I-PER", "I-PER", "O"], ["I-ORG", "O"]], "conll")
    assert output.read_text().splitlines() == [
        "-DOCSTART- -X- -X- O O",
        "",
        "Anna NNP I-NP I-PER I-PER",
        "Berg NNP I-NP I-PER I-PER",
        "sings VBZ I-VP O O",
        "",
        "Oslo NNP I-NP I-LOC I-ORG",
        ". . O O O",
        "",
    ]


def test_conllu_predictions_keep_comments_and_ranges(tmp_path):
    sentences = read_corpus(write(tmp_path, CONLLU, "s.conllu"))
    output = tmp_path / "predictions.conllu"
    write_predictions(output, sentences, [["PRON", "AUX", "PART", "VERB", "PUNCT"]], "conllu")
    lines = output.read_text().splitlines()
    assert lines[0] == "# sent_id = 1"
    assert lines[3].endswith("\t_") and lines[3].startswith("2-3\t")
    assert lines[4].endswith("\tAUX")
    assert lines[6].startswith("3.1\t") and lines[6].endswith("\t_")


def test_a_byte_order_mark_is_ignored(tmp_path):
    (sentence,) = read_corpus(write(tmp_path, b"\xef\xbb\xbf" + CONLLU.encode(), "bom.conllu"))
    assert sentence.tokens[0] == "We"
    sentences = read_corpus(write(tmp_path, b"\xef\xbb\xbf" + CONLL.encode()))
    assert sentences[0].tokens == ["Anna", "Berg", "sings"]


def test_predictions_of_tab_separated_files_are_space_separated_for_conlleval(tmp_path):
    sentences = read_corpus(write(tmp_path, "Anna\tNNP  I-PER\nsings\tVBZ\tO\n"))
    output = tmp_path / "predictions.txt"
    write_predictions(output, sentences, [["I-PER", "O"]], "conll")
    assert output.read_text().splitlines() == ["Anna NNP I-PER I-PER", "sings VBZ O O", ""]


# Property-based: any corpus we can write, we read back; any bytes give sentences or an InputError.
tokens = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff").filter(
        lambda char: not char.isspace()
    ),
    min_size=1,
    max_size=12,
).filter(lambda token: not token.startswith(("-DOCSTART-", "#")))
tags = st.sampled_from(["O", "I-PER", "B-PER", "I-LOC", "NOUN", "VERB"])
sentences = st.lists(st.lists(st.tuples(tokens, tags, tags), min_size=1, max_size=8), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(sentences, st.sampled_from([" ", "\t", "  ", " \t"]), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_conll_round_trip(tmp_path_factory, corpus, separator, newline, final_newline):
    text = (newline * 2).join(newline.join(separator.join(columns) for columns in sentence) for sentence in corpus) + (
        newline if final_newline else ""
    )
    path = tmp_path_factory.mktemp("round-trip") / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    read = read_corpus(path, CorpusReading(format="conll"))
    assert [s.tokens for s in read] == [[token for token, _, _ in sentence] for sentence in corpus]
    assert [s.tags for s in read] == [[tag for _, _, tag in sentence] for sentence in corpus]
    assert [s.tags for s in read_corpus(path, CorpusReading(format="conll", tag_column=1))] == [
        [tag for _, tag, _ in sentence] for sentence in corpus
    ]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["auto", "conll", "conllu"]))
def test_any_bytes_give_sentences_or_an_input_error(tmp_path_factory, data, corpus_format):
    path = tmp_path_factory.mktemp("fuzz") / "corpus.txt"
    path.write_bytes(data)
    try:
        read = read_corpus(path, CorpusReading(format=corpus_format))
    except InputError as error:
        assert str(error).startswith(f"{path}:")
        assert "\n" not in str(error)
    else:
        assert read and all(s.tokens and len(s.tokens) == len(s.tags) for s in read)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_tokens_input_gives_one_sentence_per_line(text):
    lines = list(iter_lines(io.BytesIO(text.encode("utf-8", "surrogatepass")), "<text>", "replace"))
    records = list(read_inputs(lines, "<text>", CorpusReading("tokens")))
    assert [[t for s in r.sentence_tokens() for t in s] for r in records] == [line.split() for _, line in lines]
    assert [r.text for r in records] == [" ".join(line.split()) for _, line in lines]
    assert len(lines) == text.encode("utf-8", "surrogatepass").count(b"\n") + (
        0 if text.endswith("\n") or not text else 1
    )
