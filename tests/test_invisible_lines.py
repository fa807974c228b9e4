"""Lines of only invisible characters (a stray byte-order mark, zero-width spaces) are blank lines, with a warning.

Corpora are distributed like that: one widely used NER corpus ends its dev file with a line of
nothing but U+FEFF. Each such line is read as a blank line in CoNLL and CoNLL-U files, and
reported once, as ``FILE:LINE``: through :mod:`warnings` in the Python API, as one
``warning: FILE:LINE: ...`` line on standard error in the CLI, which goes on.
"""

import json
import subprocess
import sys
import warnings

import pytest

from bilstm_tagger.base.errors import InputError, InputWarning
from bilstm_tagger.text.corpus import CorpusReading, detect_format, invisible_characters, read_corpus

from conftest import DATA, tagger

CONLL = "Anna B-PER\nsings O\n\nOslo B-LOC\n. O\n"
CONLLU_SENTENCE = "1\tWe\twe\tPRON\tPRP\t_\t2\tnsubj\t_\t_\n2\tsing\tsing\tVERB\tVBP\t_\t0\troot\t_\t_\n"
MESSAGE = "line holds only invisible characters ({}); read as a blank line"
TINY = ["--word-dim", "8", "--hidden-size", "8", "--char-filters", "5", "--max-epochs", "1", "--threads", "1"]


def write(tmp_path, text, name="corpus.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def read_warning_lines(path, **options):
    """The sentences (tokens only) and the messages of the InputWarnings raised while reading ``path``."""
    with pytest.warns(InputWarning) as caught:
        sentences = read_corpus(path, CorpusReading(**options))
    assert all(issubclass(warning.category, InputWarning) for warning in caught)
    return [s.tokens for s in sentences], [str(warning.message) for warning in caught]


# --- Python API ---------------------------------------------------------------------------------------------


def test_a_final_byte_order_mark_line_is_a_blank_line_with_a_warning(tmp_path):
    path = write(tmp_path, CONLL + "\ufeff\n")
    tokens, messages = read_warning_lines(path)
    assert tokens == [["Anna", "sings"], ["Oslo", "."]]
    assert messages == [f"{path}:6: " + MESSAGE.format("U+FEFF")]


def test_zero_width_spaces_and_spaces_between_sentences_break_them(tmp_path):
    path = write(
        tmp_path, "Anna B-PER\nsings O\n \u200b \u200b\t\nOslo B-LOC\n\u2060\n\u00ad\u200c\u200d\ufeff\u200e\n. O\n"
    )
    tokens, messages = read_warning_lines(path)
    assert tokens == [["Anna", "sings"], ["Oslo"], ["."]]
    assert messages == [
        f"{path}:3: " + MESSAGE.format("U+200B"),
        f"{path}:5: " + MESSAGE.format("U+2060"),
        f"{path}:6: " + MESSAGE.format("U+00AD, U+200C, U+200D, U+FEFF, ..."),
    ]


def test_conllu_lines_of_invisible_characters_break_sentences_and_leave_detection_alone(tmp_path):
    path = write(tmp_path, "\ufeff\u200b\n" + CONLLU_SENTENCE + "\u2060\t\n# sent_id = 2\n" + CONLLU_SENTENCE)
    assert detect_format(path) == "conllu"
    tokens, messages = read_warning_lines(path)
    assert tokens == [["We", "sing"], ["We", "sing"]]
    assert messages == [f"{path}:1: " + MESSAGE.format("U+200B"), f"{path}:4: " + MESSAGE.format("U+2060")]


@pytest.mark.parametrize("line", ["Oslo", "\u200bOslo", "Oslo\ufeff", "\u06dd"])
def test_a_real_one_column_line_is_still_a_column_error(tmp_path, line):
    """Invisible characters beside a visible one, or a format character that is drawn (U+06DD), make a token line."""
    path = write(tmp_path, CONLL + "\n" + line + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)  # and no warning
        with pytest.raises(InputError) as caught:
            read_corpus(path)
    assert str(caught.value) == f"{path}:7: expected 2 columns as on line 1, found 1"


def test_white_space_lines_stay_silent_and_invisible_words_are_tokens(tmp_path):
    """Unicode white space alone was always a blank line; a token line whose word is invisible keeps its token."""
    path = write(tmp_path, "Anna B-PER\n\u00a0\u3000 \t\n\u200b O\nOslo B-LOC\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        sentences = read_corpus(path)
    assert [s.tokens for s in sentences] == [["Anna"], ["\u200b", "Oslo"]]


@pytest.mark.parametrize(
    "line, characters",
    [
        ("\ufeff", ["\ufeff"]),
        (" \u200b\u200b \u200c\t", ["\u200b", "\u200c"]),
        ("\u00ad", ["\u00ad"]),
        ("\u2060\u180e\u202a\u2066\U000e0001", ["\u2060", "\u180e", "\u202a", "\u2066", "\U000e0001"]),
        ("", []),
        ("  \t\u00a0", []),
        ("\u0600", []),
        ("\u06dd", []),
        ("\u200bx", []),
        ("x\u200b", []),
        ("Anna B-PER", []),
    ],
)
def test_invisible_characters_are_format_characters_that_draw_nothing(line, characters):
    assert invisible_characters(line) == characters


def test_every_reading_warns_again_outside_pytest(tmp_path):
    """The "always" filter: a program that reads a file twice hears of its line twice (the default shows it once)."""
    path = write(tmp_path, CONLL + "\ufeff\n")
    code = f"from bilstm_tagger.text.corpus import read_corpus\nfor _ in range(2):\n    read_corpus({str(path)!r})\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.count(f"InputWarning: {path}:6: " + MESSAGE.format("U+FEFF")) == 2, result.stderr


# --- CLI ------------------------------------------------------------------------------------------------------


def conll_sentences(output):
    """The words of each sentence of ``conll`` output (token TAB tag, a blank line after each sentence)."""
    return [[line.split("\t")[0] for line in block.splitlines()] for block in output.split("\n\n") if block.strip()]


def warning_lines(result):
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch model trained on files that end in a byte-order mark line, and what train said."""
    directory = tmp_path_factory.mktemp("invisible")
    # Whole sentences of the samples: the train file ends in a byte-order mark line, the dev file in a zero-width space.
    train_text = (DATA / "ner" / "train.txt").read_text()[:8000].rsplit("\n\n", 1)[0]
    train = write(directory, train_text + "\n\n\ufeff\n", "train.txt")
    dev_text = (DATA / "ner" / "dev.txt").read_text()[:2000].rsplit("\n\n", 1)[0]
    dev = write(directory, dev_text + "\n\u200b \n", "dev.txt")
    result = tagger("train", train, "--dev", dev, "--output", directory / "model", *TINY, check=False)
    return directory, train, dev, result


def test_train_reads_on_with_one_warning_for_each_file(trained):
    _, train, dev, result = trained
    assert result.returncode == 0, result.stderr
    train_line = len(train.read_text().splitlines())
    dev_line = len(dev.read_text().splitlines())
    assert warning_lines(result) == [
        f"warning: {train}:{train_line}: " + MESSAGE.format("U+FEFF"),
        f"warning: {dev}:{dev_line}: " + MESSAGE.format("U+200B"),
    ]


def test_evaluate_and_tag_conll_read_on_with_one_warning(trained):
    directory, _, dev, _ = trained
    warning = f"warning: {dev}:{len(dev.read_text().splitlines())}: " + MESSAGE.format("U+200B")
    evaluated = tagger("evaluate", directory / "model", dev, "--json", check=False)
    assert evaluated.returncode == 0, evaluated.stderr
    assert warning_lines(evaluated) == [warning]
    with pytest.warns(InputWarning):
        sentences = len(read_corpus(dev))
    assert json.loads(evaluated.stdout)["sentences"] == sentences
    tagged = tagger("tag", directory / "model", "--input", dev, "--input-format", "conll", "-f", "conll", check=False)
    assert tagged.returncode == 0, tagged.stderr
    assert warning_lines(tagged) == [warning]
    assert len(conll_sentences(tagged.stdout)) == sentences


def test_tag_conllu_from_standard_input_warns_with_its_name(trained):
    directory = trained[0]
    text = CONLLU_SENTENCE + "\ufeff\n" + CONLLU_SENTENCE
    result = tagger("tag", directory / "model", "--input-format", "conllu", "-f", "conll", input=text, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["warning: <stdin>:3: " + MESSAGE.format("U+FEFF")]
    assert conll_sentences(result.stdout) == [["We", "sing"]] * 2


def test_a_real_column_error_after_a_warning_is_still_one_error_line_and_exit_2(trained, tmp_path):
    """The warning of the lines read before it, then the error: no traceback, exit 2."""
    broken = write(tmp_path, CONLL + "\ufeff\n\u200bOslo\n")
    result = tagger("evaluate", trained[0] / "model", broken, check=False)
    assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {broken}:6: " + MESSAGE.format("U+FEFF"),
        f"{broken}:7: expected 2 columns as on line 1, found 1",
    ]
