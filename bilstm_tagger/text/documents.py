"""What one record of ``tagger tag`` is made of before tagging: a text and its tokens' offsets.

Three input formats give the same kind of record, so that every output format (and every
consumer of ``jsonl``) reads all three alike:

* ``text`` (the default): one line of raw text, split into sentences and tokens by
  :func:`bilstm_tagger.text.segmentation.split_text` in the reading's language (the model's unless
  ``--language`` says otherwise); the record's text is the line as it came.
* ``tokens``: one pre-tokenised sentence per line, tokens separated by white space; the record's
  text is the tokens joined by single spaces.
* ``conll`` / ``conllu``: one sentence per record, its tokens joined by single spaces.

Offsets are Python string indices (code points) into the record's text, ``end`` exclusive.

Each record says whether a document starts with it, for models with document context
(:mod:`bilstm_tagger.model.context`): in ``text`` and ``tokens`` input a blank line ends a
document; in CoNLL input a ``-DOCSTART-`` line starts one, in CoNLL-U a ``# newdoc`` comment. An
input without any of these is one document. No torch here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.text.corpus import CORPUS_FORMATS, CorpusReading, iter_sentences
from bilstm_tagger.text.languages import DEFAULT_LANGUAGE

INPUT_FORMATS: tuple[str, ...] = ("text", "tokens", *CORPUS_FORMATS)


@dataclass(frozen=True)
class TextInput:
    """A text to tag and where its tokens are.

    Attributes:
        text: the record's text.
        sentences: each sentence's token offsets ``(start, end)`` into ``text``; no empty sentence.
        tokens: each sentence's tokens where the input gave them (else they are cut out of ``text``).
        composed: the text is not in composed form (NFC): the network reads its tokens composed.
        starts_document: a document starts with this record (else it continues the one before).
    """

    text: str
    sentences: list[list[tuple[int, int]]]
    tokens: list[list[str]] | None = None
    composed: bool = False
    starts_document: bool = True

    def sentence_tokens(self) -> list[list[str]]:
        """Each sentence's tokens, as strings: what the record shows, slices of the text as given."""
        if self.tokens is not None:
            return self.tokens
        return [[self.text[start:end] for start, end in sentence] for sentence in self.sentences]

    def network_tokens(self) -> list[list[str]]:
        """Each sentence's tokens as the network reads them: composed (NFC), as corpora and vocabularies have words."""
        tokens = self.sentence_tokens()
        if not self.composed:
            return tokens
        return [[unicodedata.normalize("NFC", token) for token in sentence] for sentence in tokens]


def raw_text(text: str, language: str = DEFAULT_LANGUAGE, starts_document: bool = True) -> TextInput:
    """A line of raw text, split into sentences and tokens by the rules of ``language``.

    Text typed in decomposed form (NFD: ``e`` and U+0301) is split as its composed form would be;
    its tokens are slices of the text as given (offsets and records unchanged), and the network
    reads them composed (NFC), as corpora and the model's vocabulary have words, so that both
    forms are tagged alike.
    """
    from bilstm_tagger.text.segmentation import split_text

    sentences = split_text(text, language)
    composed = not (text.isascii() or unicodedata.is_normalized("NFC", text))
    return TextInput(text, sentences, composed=composed, starts_document=starts_document)


def pretokenized(tokens: Sequence[str], starts_document: bool = True) -> TextInput:
    """A tokenised sentence; its text is the tokens joined by single spaces. No tokens: an empty text."""
    if not tokens:
        return TextInput("", [], starts_document=starts_document)
    starts = list(accumulate([len(token) + 1 for token in tokens], initial=0))  # one past each token's space
    offsets = list(zip(starts, [start - 1 for start in starts[1:]]))
    return TextInput(" ".join(tokens), [offsets], [list(tokens)], starts_document=starts_document)


def read_inputs(lines: Iterable[tuple[int, str]], name: str, reading: CorpusReading) -> Iterator[TextInput]:
    """The records of numbered input lines: one per line for ``text`` and ``tokens``, one per sentence otherwise
    (``reading.format``; CoNLL's word column is ``reading.word_column``).

    Raises:
        InputError: an unknown format, or a malformed CoNLL line (after the records before it).
    """
    input_format = reading.format
    if input_format == "text":
        language = reading.text_language
        return (raw_text(line, language, starts) for line, starts in _paragraphs(lines))
    if input_format == "tokens":
        return (pretokenized(line.split(), starts) for line, starts in _paragraphs(lines))
    if input_format in CORPUS_FORMATS:
        sentences = iter_sentences(lines, name, reading, with_tags=False)
        return (
            pretokenized(sentence.tokens, sentence.starts_document or number == 0)
            for number, sentence in enumerate(sentences)
        )
    raise InputError(f"unknown input format {input_format!r} (choose {', '.join(INPUT_FORMATS)})")


def _paragraphs(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str, bool]]:
    """Each line, and whether a document starts with it: the first line, and the first after a blank one."""
    starts = True
    for _, line in lines:
        if line.strip():
            yield line, starts
            starts = False
        else:  # an empty record, and the end of a document
            yield line, False
            starts = True
