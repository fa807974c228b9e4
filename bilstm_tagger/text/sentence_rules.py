"""Where sentences end, per language: the quotes that close them, and numbers written with a period.

:mod:`bilstm_tagger.text.segmentation` ends a sentence after a token of one sentence-final
character (``.`` ``!`` ``?`` and their equivalents in other scripts, spaCy's sentencizer's list),
and keeps in it the closing punctuation written right after it. Abbreviations need no rule of
their own: spaCy's exceptions of each language (``z.B.``, ``Nr.``, ``vgl.``, ``etc.``, ``Jan.``)
keep their period inside the token, which is then no sentence-final token. Two things differ
between languages, and are here:

* the quotes that close a quotation: ``”`` and ``’`` in English, but ``“`` and ``‘`` in German
  (``„Warum?“ fragte sie``) and ``«`` where ``»…«`` is written (Danish, and German books);
* ordinal numbers written with a period (German ``am 3. Oktober``, ``der 2. Weltkrieg``; also
  Danish, Norwegian, Finnish, Icelandic, Czech, Slovak, Slovene, Croatian, Serbian, Hungarian,
  Estonian, Latvian, Turkish...). spaCy's rules for these languages keep ``3.`` one token, so a
  sentence that ends with a number (``im Jahr 1990.``) would not end at all. A number with a
  period ends its sentence when the text ends after it, or when the next word starts with a
  capital letter and is no month name of the language, unless the number has one or two digits
  and that word is a noun the ordinal may qualify: which German, capitalising every noun, does
  not tell apart. So there: a number of one or two digits and a period is an ordinal unless the
  text ends after it, one of three or more digits (a year) ends the sentence before a capital.
  Measured against UD German GSD's gold sentences by ``benchmarks/languages.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Languages whose ordinal numbers are written with a period (CLDR's ordinal formats; the
# grammars of Danish, Norwegian and the others), among those whose rules are shipped.
ORDINAL_PERIOD_LANGUAGES = frozenset("cs da de dsb et fi fo hr hsb hu is lb lv nb nn sk sl sq sr tr".split())
# Closing quotes beyond those every language has (segmentation's ``"'”’»›``).
CLOSING_QUOTES: dict[str, str] = {
    "de": "“‘«",  # „so“ and ‚so‘, and »so« in books: « closes
    "lb": "“‘«",
    "dsb": "“‘",
    "hsb": "“‘",
    "cs": "“‘",
    "sk": "“‘",
    "sl": "“‘«",
    "hr": "“‘«",
    "sr": "“‘",
    "bg": "“‘",
    "mk": "“‘",
    "lt": "“‘",
    "et": "“‘",
    "is": "“‘",
    "ka": "“‘",
    "da": "«",
    "sv": "",
    "fi": "",
    "hu": "«",
    "pl": "«",
    "ro": "«",
}
# Month names (and their abbreviations with a period) after which a number with a period is a date.
MONTHS: dict[str, str] = {
    "de": "Januar Jänner Februar Feber März April Mai Juni Juli August September Oktober November Dezember "
    "Jan. Feb. Mär. Mrz. Apr. Jun. Jul. Aug. Sep. Sept. Okt. Nov. Dez.",
    "da": "januar februar marts april maj juni juli august september oktober november december",
    "nb": "januar februar mars april mai juni juli august september oktober november desember",
    "nn": "januar februar mars april mai juni juli august september oktober november desember",
    "fi": "tammikuuta helmikuuta maaliskuuta huhtikuuta toukokuuta kesäkuuta heinäkuuta elokuuta syyskuuta "
    "lokakuuta marraskuuta joulukuuta",
    "cs": "ledna února března dubna května června července srpna září října listopadu prosince",
    "hu": "január február március április május június július augusztus szeptember október november december",
}
_NUMBER_WITH_PERIOD = re.compile(r"([0-9]+)\.")


@dataclass(frozen=True)
class SentenceRules:
    """How sentences end in one language (see the module docstring).

    Attributes:
        language: its code.
        closing_quotes: quotes that close a quotation there, beyond ``"'”’»›``.
        ordinal_period: whether ordinal numbers are written with a period (``3.``).
        months: its month names, in lower case: after them a number with a period is a date.
    """

    language: str
    closing_quotes: frozenset[str] = frozenset()
    ordinal_period: bool = False
    months: frozenset[str] = frozenset()

    def ends_after_number(self, word: str, following: str | None) -> bool:
        """Whether a token ``word`` of digits and a period ends its sentence, the next word being ``following``
        (``None`` at the end of the text); always ``False`` for other tokens and in other languages."""
        if not self.ordinal_period:
            return False
        match = _NUMBER_WITH_PERIOD.fullmatch(word)
        if match is None:
            return False
        if following is None:
            return True
        if not following[0].isupper() or following.lower() in self.months:
            return False
        return len(match.group(1)) > 2


def sentence_rules(language: str) -> SentenceRules:
    """The sentence rules of a language (a shipped code)."""
    return SentenceRules(
        language,
        frozenset(CLOSING_QUOTES.get(language, "")),
        language in ORDINAL_PERIOD_LANGUAGES,
        frozenset(month.lower() for month in MONTHS.get(language, "").split()),
    )
