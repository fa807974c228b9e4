"""Reading and writing corpora: CoNLL column files and CoNLL-U.

Every reader works on a stream of numbered lines, so that a malformed line is reported as
``FILE:LINE: what is wrong`` (an :class:`~bilstm_tagger.base.errors.InputError`) and so that
big inputs can be processed as they arrive instead of being loaded whole.

Formats:

* ``conll``: one token per line, columns separated by spaces or tabs, a blank line between
  sentences, ``-DOCSTART-`` lines between documents. Any number of columns; the word and the
  tag columns are chosen by index (negative indices count from the end).
* ``conllu``: the Universal Dependencies format: 10 tab-separated columns, ``#`` comment
  lines, multi-word token ranges (``3-4``) and empty nodes (``5.1``), which are skipped.
  The tag column is ``upos`` by default, or ``xpos``, or a column index.

Tagging also reads raw text and pre-tokenised lines: :mod:`bilstm_tagger.text.documents`.

In ``conll`` and ``conllu`` files a line of only invisible characters (:func:`invisible_characters`)
is a blank line, with an :class:`~bilstm_tagger.base.errors.InputWarning` naming it: corpora are
distributed with stray byte-order marks and zero-width spaces on lines of their own.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Literal

from bilstm_tagger.base.errors import InputError, InputWarning
from bilstm_tagger.text.languages import DEFAULT_LANGUAGE, check_language

CorpusFormat = Literal["conll", "conllu"]
CORPUS_FORMATS: tuple[str, ...] = ("conll", "conllu")

DOCSTART = "-DOCSTART-"
CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")


@dataclass
class Sentence:
    """One sentence of a corpus.

    Attributes:
        tokens: the words, in order.
        tags: the gold tags, one per token, or ``None`` when the input has none.
        line: 1-based line number of the sentence's first line in its file.
        source_lines: the raw lines of the sentence's block (comments, multi-word ranges and
            empty nodes included, line ends removed), for writing the input back with a
            predicted column appended. Empty for text input.
        token_rows: for each token, the index of its line in ``source_lines``.
        document_header: the ``-DOCSTART-`` line that precedes this sentence, if any.
    """

    tokens: list[str]
    tags: list[str] | None = None
    line: int = 0
    source_lines: list[str] = field(default_factory=list)
    token_rows: list[int] = field(default_factory=list)
    document_header: str | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def starts_document(self) -> bool:
        """Whether a document starts here: after a ``-DOCSTART-`` line, or with a CoNLL-U ``# newdoc`` comment."""
        if self.document_header is not None:
            return True
        for line in self.source_lines:  # CoNLL-U comments come before the token lines: stop at the first of those
            if not line.startswith("#"):
                return False
            if line.startswith("# newdoc"):
                return True
        return False


# ---------------------------------------------------------------------------------------------
# Lines


def iter_lines(stream: BinaryIO, name: str, encoding_errors: str = "strict") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a binary stream, line ends removed.

    Lines end at ``\\n``; a ``\\r`` before it (CRLF files) is dropped too. A missing final newline
    is fine. Invalid UTF-8 and NUL bytes (binary files) raise :class:`InputError` naming the line,
    unless ``encoding_errors`` is ``"replace"``, which substitutes U+FFFD for undecodable bytes.
    """
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[3:]  # a UTF-8 byte-order mark, as some editors write
        yield number, decode_line(raw, name, number, encoding_errors)


UTF8_BOM = b"\xef\xbb\xbf"


def decode_line(raw: bytes, name: str, number: int | None, encoding_errors: str = "strict") -> str:
    """One line's bytes as text, its line end (``\\n``, ``\\r\\n``) removed, as :func:`iter_lines` reads it.

    Raises:
        InputError: invalid UTF-8 or a NUL byte (unless ``encoding_errors`` is ``"replace"``), naming
            ``name`` and ``number`` (the line's number, or ``None`` where it is not known).
    """
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8", errors=encoding_errors)
    except UnicodeDecodeError as error:
        raise InputError(
            f"invalid UTF-8 (byte {error.start + 1} of the line); is this a binary file?", name, number
        ) from None
    if encoding_errors == "strict":
        check_no_nul(text, name, number)
    return text


def check_no_nul(text: str, name: str, number: int | None) -> None:
    """Refuse a NUL character: text with one is a binary file's, not a corpus's."""
    if "\x00" in text:
        raise InputError("NUL byte: this looks like a binary file, not a text corpus", name, number)


# Format characters (category Cf) that are drawn, not invisible: the prepended concatenation
# marks (Arabic number sign, end of ayah, ...), which a one-column file can hold as tokens.
VISIBLE_FORMAT_CHARACTERS = frozenset(
    "\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd"
)
NAMED_INVISIBLE_CHARACTERS = 4  # how many of a line's invisible characters a warning names


def _is_invisible_format_character(char: str) -> bool:
    return unicodedata.category(char) == "Cf" and char not in VISIBLE_FORMAT_CHARACTERS


def invisible_characters(line: str) -> list[str]:
    """The format characters of a line that holds nothing else but white space, in order, each once.

    Format characters (Unicode category Cf) draw nothing: the byte-order mark U+FEFF, zero-width
    space U+200B, (non-)joiners U+200C/U+200D, word joiner U+2060, direction marks and isolates,
    the soft hyphen U+00AD (drawn only where a line breaks). The few that are drawn
    (:data:`VISIBLE_FORMAT_CHARACTERS`) do not count. A line of them and white space looks blank
    and is meant as one. Returns ``[]`` for any other line: blank, or holding a visible character.
    """
    if line.isascii():
        return []  # most lines, in no time: ASCII has no format characters
    content = line.strip()
    if not content or not _is_invisible_format_character(content[0]):
        return []  # its first character decides, at the cost of one look-up
    found: list[str] = []
    for char in content:
        if char.isspace():
            continue
        if not _is_invisible_format_character(char):
            return []
        if char not in found:
            found.append(char)
    return found


def _warn_invisible_line(characters: list[str], name: str, number: int) -> None:
    named = ", ".join(f"U+{ord(char):04X}" for char in characters[:NAMED_INVISIBLE_CHARACTERS])
    if len(characters) > NAMED_INVISIBLE_CHARACTERS:
        named += ", ..."
    warnings.warn(
        InputWarning(f"line holds only invisible characters ({named}); read as a blank line", name, number),
        stacklevel=3,  # the caller of the reader, for whoever filters warnings by module
    )


# ---------------------------------------------------------------------------------------------
# Format detection and column selection


STDIN = "-"  # the file name that means standard input, as in most command-line tools


@functools.cache
def _standard_input() -> bytes:
    # Read once: detecting the format and reading the corpus both need the same bytes.
    return sys.stdin.buffer.read()


def open_corpus(path: str | os.PathLike) -> BinaryIO:
    """A binary stream of a corpus file, or of standard input for ``-`` (read whole, then served from memory).

    Raises:
        OSError: the file cannot be opened.
    """
    if str(path) == STDIN:
        return io.BytesIO(_standard_input())
    return open(path, "rb")


def corpus_name(path: str | os.PathLike) -> str:
    """How messages name a corpus: its path, or ``<stdin>``."""
    return "<stdin>" if str(path) == STDIN else str(path)


def detect_format(path: str | os.PathLike) -> CorpusFormat:
    """Guess a corpus file's format from its extension, then from its first token line.

    ``.conllu`` files are CoNLL-U; otherwise a first token line of exactly 10 tab-separated
    fields whose first field is a token ID (``1``, ``3-4``, ``5.1``) means CoNLL-U, anything
    else CoNLL.
    """
    if Path(path).suffix.lower() == ".conllu":
        return "conllu"
    try:
        with open_corpus(path) as stream:
            for _, line in iter_lines(stream, corpus_name(path), encoding_errors="replace"):
                if not line.strip() or invisible_characters(line) or line.startswith("#"):
                    continue
                fields = line.split("\t")
                if len(fields) == 10 and _is_token_id(fields[0]):
                    return "conllu"
                return "conll"
    except OSError:
        pass  # reported with a proper message when the file is read
    return "conll"


def _is_token_id(text: str) -> bool:
    return text.replace("-", "", 1).replace(".", "", 1).isdigit()


def resolve_column(column: str | int, corpus_format: CorpusFormat, role: str) -> int:
    """Turn a ``--word-column``/``--tag-column`` value into a column index.

    Numbers (possibly negative, as text or int) are used as they are; for CoNLL-U the column
    names ``form``, ``lemma``, ``upos``, ``xpos`` and the others are accepted too.
    """
    text = str(column).strip().lower()
    try:
        return int(text)
    except ValueError:
        pass
    if corpus_format == "conllu" and text in CONLLU_COLUMNS:
        return CONLLU_COLUMNS.index(text)
    names = ", ".join(CONLLU_COLUMNS) if corpus_format == "conllu" else "none for CoNLL files"
    raise InputError(f"invalid {role} column {column!r}: give a number (column names: {names})")


def default_columns(corpus_format: CorpusFormat) -> tuple[int, int]:
    """The ``(word_column, tag_column)`` used when the user names none: FORM/UPOS or first/last."""
    return (1, 3) if corpus_format == "conllu" else (0, -1)


@dataclass(frozen=True)
class CorpusReading:
    """How a corpus is read: its format, the columns of the words and the tags, invalid UTF-8, and
    the language of its text.

    What ``--format``, ``--word-column``, ``--tag-column``, ``--encoding-errors`` and ``--language``
    say, as one value from the CLI to the run, the report, tagging and calibration. A model keeps
    its training data's (:meth:`to_json`, in ``config.json``), so that a file of the same format is
    read with the same columns unless others are given, and raw text is split in the model's
    language unless another is given (:meth:`with_columns_of`).

    Attributes:
        format: ``auto`` (each file's own: :func:`detect_format`), ``conll`` or ``conllu``; for
            ``tagger tag``'s input also ``text`` or ``tokens`` (:mod:`bilstm_tagger.text.documents`).
        word_column, tag_column: an index (negative from the end) or a CoNLL-U column name;
            ``None`` for the format's default (:func:`default_columns`).
        encoding_errors: ``strict`` (invalid UTF-8 is an error naming its line) or ``replace``.
        language: the code of the text's language, whose rules split raw text
            (:mod:`bilstm_tagger.text.languages`); ``None`` when tagging: the model's. A model
            trained before languages reads as English.
    """

    format: str = "auto"
    word_column: str | int | None = None
    tag_column: str | int | None = None
    encoding_errors: str = "strict"
    language: str | None = None

    def __post_init__(self) -> None:
        if self.language is not None:
            # Checked here, where the CLI's options become a value: before a training of hours starts.
            object.__setattr__(self, "language", check_language(self.language))

    @property
    def text_language(self) -> str:
        """The language raw text is split in: the one given, else English."""
        return self.language or DEFAULT_LANGUAGE

    def resolved(self, path: str | os.PathLike) -> CorpusReading:
        """The same reading with ``auto`` decided for ``path`` (:func:`resolve_format`)."""
        return replace(self, format=resolve_format(path, self.format))

    def with_columns_of(self, trained: CorpusReading) -> CorpusReading:
        """The columns a model was ``trained`` with fill the ones not given here, if the formats are the
        same; its language fills a language not given here, whatever the formats."""
        if self.language is None and trained.language is not None:
            self = replace(self, language=trained.language)
        if trained.format != self.format:
            return self
        return replace(
            self,
            word_column=trained.word_column if self.word_column is None else self.word_column,
            tag_column=trained.tag_column if self.tag_column is None else self.tag_column,
        )

    def to_json(self) -> dict:
        """The checkpoint's record of how the training data was read (its encoding errors are not kept)."""
        return {
            "format": self.format,
            "word_column": self.word_column,
            "tag_column": self.tag_column,
            "language": self.text_language,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> CorpusReading:
        """Read :meth:`to_json`'s record; a model without one (``{}``) has no columns of its own, and a
        model without a language (trained before languages) is English."""
        data = data or {}
        return cls(
            data.get("format", "auto"),
            data.get("word_column"),
            data.get("tag_column"),
            language=data.get("language", DEFAULT_LANGUAGE),
        )


# ---------------------------------------------------------------------------------------------
# Readers


def read_corpus(
    path: str | os.PathLike, reading: CorpusReading = CorpusReading(), with_tags: bool = True
) -> list[Sentence]:
    """Read a whole labelled (or, with ``with_tags=False``, unlabelled) corpus file.

    Args:
        path: the file, or ``-`` for standard input.
        reading: its format, columns and what to do with invalid UTF-8.
        with_tags: whether every token must have a tag.

    Raises:
        InputError: unreadable file, malformed line, or a file without any sentence.
    """
    name = corpus_name(path)
    reading = reading.resolved(path)
    try:
        stream = open_corpus(path)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", name) from None
    with stream:
        sentences = list(iter_sentences(iter_lines(stream, name, reading.encoding_errors), name, reading, with_tags))
    if not sentences:
        raise InputError("no sentences found (the file is empty or has only blank lines)", name, 1)
    return sentences


def resolve_format(path: str | os.PathLike, corpus_format: str) -> CorpusFormat:
    """``auto`` → :func:`detect_format`; otherwise check the name and return it."""
    if corpus_format == "auto":
        return detect_format(path)
    if corpus_format not in CORPUS_FORMATS:
        raise InputError(f"unknown corpus format {corpus_format!r} (choose conll, conllu or auto)")
    return corpus_format  # type: ignore[return-value]


def iter_sentences(
    lines: Iterable[tuple[int, str]], name: str, reading: CorpusReading, with_tags: bool = True
) -> Iterator[Sentence]:
    """Parse numbered lines of a CoNLL or CoNLL-U file (``reading.format``, resolved) into sentences, one
    block at a time.

    A line of only invisible characters ends a sentence as a blank line does, with an
    :class:`~bilstm_tagger.base.errors.InputWarning` (``FILE:LINE: line holds only invisible characters
    (U+FEFF); read as a blank line``).
    """
    corpus_format = reading.format
    default_word, default_tag = default_columns(corpus_format)
    word_index = (
        default_word if reading.word_column is None else resolve_column(reading.word_column, corpus_format, "word")
    )
    tag_index = default_tag if reading.tag_column is None else resolve_column(reading.tag_column, corpus_format, "tag")
    parse = _ConllUBlockParser if corpus_format == "conllu" else _ConllBlockParser
    parser = parse(name, word_index, tag_index if with_tags else None)

    block: list[tuple[int, str]] = []
    document_header: str | None = None
    for number, line in lines:
        if invisible := invisible_characters(line):
            _warn_invisible_line(invisible, name, number)
            line = ""
        if line.strip():
            if corpus_format == "conll" and line.lstrip().startswith(DOCSTART):
                if block:
                    yield parser.parse(block, document_header)
                    block, document_header = [], None
                document_header = line
                continue
            block.append((number, line))
        elif block:
            sentence = parser.parse(block, document_header)
            block, document_header = [], None
            if sentence.tokens:
                yield sentence
    if block:
        sentence = parser.parse(block, document_header)
        if sentence.tokens:
            yield sentence


class _ConllBlockParser:
    """Turns the lines of one CoNLL sentence into a :class:`Sentence`.

    Every token line of a file must have as many columns as the first one: a line with
    fewer or more is the usual sign of a truncated or mis-columned file.
    """

    def __init__(self, name: str, word_index: int, tag_index: int | None):
        self.name = name
        self.word_index = word_index
        self.tag_index = tag_index
        self.columns: int | None = None
        self.columns_line = 0

    def parse(self, block: list[tuple[int, str]], document_header: str | None) -> Sentence:
        tokens: list[str] = []
        tags: list[str] | None = [] if self.tag_index is not None else None
        for number, line in block:
            fields = line.split()
            if self.columns is None:
                self._check_columns(len(fields), number)
                self.columns, self.columns_line = len(fields), number
            elif len(fields) != self.columns:
                raise InputError(
                    f"expected {self.columns} columns as on line {self.columns_line}, found {len(fields)}",
                    self.name,
                    number,
                )
            tokens.append(fields[self.word_index])
            if tags is not None:
                tags.append(fields[self.tag_index])
        return Sentence(
            tokens=tokens,
            tags=tags,
            line=block[0][0],
            source_lines=[line for _, line in block],
            token_rows=list(range(len(block))),
            document_header=document_header,
        )

    def _check_columns(self, count: int, number: int) -> None:
        needed = [("word", self.word_index)]
        if self.tag_index is not None:
            needed.append(("tag", self.tag_index))
            if _normalise_index(self.word_index, count) == _normalise_index(self.tag_index, count):
                raise InputError(
                    f"missing tag column: the line has {count} column(s) and the word column "
                    f"({self.word_index}) is also the tag column ({self.tag_index})",
                    self.name,
                    number,
                )
        for role, index in needed:
            if not -count <= index < count:
                raise InputError(f"no {role} column {index}: the line has {count} column(s)", self.name, number)


def _normalise_index(index: int, count: int) -> int:
    return index + count if index < 0 else index


class _ConllUBlockParser:
    """Turns the lines of one CoNLL-U sentence into a :class:`Sentence`."""

    def __init__(self, name: str, word_index: int, tag_index: int | None):
        self.name = name
        self.word_index = word_index
        self.tag_index = tag_index
        for role, index in (("word", word_index), ("tag", tag_index)):
            if index is not None and not -10 <= index < 10:
                raise InputError(f"no {role} column {index}: CoNLL-U files have 10 columns", name)

    def parse(self, block: list[tuple[int, str]], document_header: str | None) -> Sentence:
        tokens: list[str] = []
        tags: list[str] | None = [] if self.tag_index is not None else None
        rows: list[int] = []
        for row, (number, line) in enumerate(block):
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 10:
                raise InputError(f"expected 10 tab-separated CoNLL-U columns, found {len(fields)}", self.name, number)
            token_id = fields[0]
            if not token_id.isdigit():
                if _is_token_id(token_id):
                    continue  # multi-word range (3-4) or empty node (5.1): not a token to tag
                raise InputError(f"invalid token ID {token_id!r}", self.name, number)
            tokens.append(fields[self.word_index])
            if tags is not None:
                tag = fields[self.tag_index]
                if tag in ("", "_"):
                    raise InputError(
                        f"missing tag: column {self.tag_index} ({CONLLU_COLUMNS[self.tag_index]}) is {tag!r}",
                        self.name,
                        number,
                    )
                tags.append(tag)
            rows.append(row)
        return Sentence(
            tokens=tokens,
            tags=tags,
            line=block[0][0],
            source_lines=[line for _, line in block],
            token_rows=rows,
            document_header=document_header,
        )


# ---------------------------------------------------------------------------------------------
# Writers


def format_with_predictions(sentence: Sentence, predicted: list[str], separator: str) -> Iterator[str]:
    """The sentence's source lines with a predicted-tag column appended, then a blank line.

    CoNLL columns are joined by single spaces, as the ``conlleval`` script splits them; CoNLL-U
    keeps its tabs. Lines that carry no token (multi-word ranges, empty nodes) get ``_``; comment
    lines are kept as they are; a ``-DOCSTART-`` header gets ``O`` so that every line keeps the
    same number of columns.
    """
    if sentence.document_header is not None:
        yield separator.join([*sentence.document_header.split(), "O"])
        yield ""
    prediction_of_row = dict(zip(sentence.token_rows, predicted))
    for row, line in enumerate(sentence.source_lines):
        if line.startswith("#"):
            yield line
            continue
        fields = line.split(separator) if separator == "\t" else line.split()
        fields.append(prediction_of_row.get(row, "_"))
        yield separator.join(fields)
    yield ""


def write_predictions(
    path: str | os.PathLike, sentences: list[Sentence], predictions: list[list[str]], corpus_format: CorpusFormat
) -> None:
    """Write ``sentences`` as read, each token line with its predicted tag appended (atomically).

    Columns are separated by a space for CoNLL files (as ``conlleval`` expects) and by a tab for
    CoNLL-U files.
    """
    from bilstm_tagger.base.files import atomic_write

    separator = "\t" if corpus_format == "conllu" else " "
    lines: list[str] = []
    for sentence, tags in zip(sentences, predictions):
        lines.extend(format_with_predictions(sentence, tags, separator))
    try:
        atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"))
    except OSError as error:
        raise InputError(f"cannot write predictions: {error.strerror}", path) from None
