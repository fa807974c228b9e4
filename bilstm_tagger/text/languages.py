"""The languages raw text can be split in: one rules file each, and those that need a word segmenter.

A model has a language (``tagger train --language``, kept with how its corpus was read:
:class:`~bilstm_tagger.text.corpus.CorpusReading`); raw text given to it is split by that
language's rules (:mod:`bilstm_tagger.text.rule_tokenizer`) unless ``--language`` says otherwise
when tagging. A language is shipped when spaCy's own tokenizer for it is its rule-based
``Tokenizer`` with nothing more to install: its rules are written to ``rules/<code>.json``, and the
files there are the list (:func:`shipped_languages`), so that a language is added by writing its
file and nothing else. The languages that spaCy splits with a word segmenter (Chinese, Japanese,
Korean, Thai, Vietnamese: no spaces between words, or spaces between syllables) cannot be split by
rules; they are refused with one line naming the package spaCy would need.
"""

from __future__ import annotations

import functools

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.text.rule_tokenizer import RULES_DIRECTORY

DEFAULT_LANGUAGE = "en"  # a model trained before languages, or without --language

# What spaCy needs to split these (its error messages name the same packages).
SEGMENTERS: dict[str, str] = {
    "ja": "SudachiPy and SudachiDict-core (a Japanese morphological analyser)",
    "ko": "mecab-ko and mecab-ko-dic, through natto-py (a Korean morphological analyser)",
    "th": "PyThaiNLP (a Thai word segmenter)",
    "vi": "pyvi (a Vietnamese word segmenter)",
    "zh": "jieba or spacy-pkuseg (a Chinese word segmenter)",
}


@functools.cache
def shipped_languages() -> tuple[str, ...]:
    """The codes of the languages whose rules are shipped, in order."""
    return tuple(sorted(path.stem for path in RULES_DIRECTORY.glob("*.json")))


def check_language(language: str) -> str:
    """The language code if its rules are shipped.

    Raises:
        InputError: a language that needs a word segmenter (naming it), or an unknown code.
    """
    code = language.strip().lower()
    if code in shipped_languages():
        return code
    if code in SEGMENTERS:
        raise InputError(
            f"language {code!r} needs a word segmenter, not rules: {SEGMENTERS[code]}, which bilstm-tagger "
            "does not run; text in it can only be tagged pre-tokenised (tagger tag --input-format tokens or conll)"
        )
    raise InputError(
        f"unknown language {language!r}: raw text can be split in {', '.join(shipped_languages())} (docs/languages.md)"
    )
