"""spaCy's rule-based tokenizer of a language, run in plain Python from its rules, without importing spaCy.

Importing spaCy takes about half a second (and its thinc would import torch), as long as the
whole of ``tagger tag`` on one sentence otherwise; its tokenizer itself is a few regular
expressions and a table of special cases, one set per language (``spacy/lang/<code>/``).
:class:`RuleTokenizer` runs the algorithm of its compiled ``Tokenizer`` (``_split_affixes``,
``_attach_tokens``, ``_apply_special_cases``; its ``explain`` differs from it in a few cases) over
the rules of the installed spaCy, written once per language to ``rules/<code>.json`` by
:func:`write_rules` and read only for the language in use (:func:`load`):

* ``prefix``, ``suffix``, ``infix``, ``url``: the patterns of ``spacy.blank(code).tokenizer``, and
  ``token_match`` where the language has one (French, Hungarian, Turkish: words kept whole);
* ``special_cases``: its exceptions (``don't`` → ``do`` ``n't``, ``U.S.``, ``z.B.``), less those
  :func:`keeps_special_case` drops (emoticons, words of ASCII letters only), as their pieces;
* ``matched``: the exceptions that spaCy also looks for in the tokens the affixes leave
  (``10a.m.`` split as ``10a.m`` ``.``), each with those tokens;
* ``sentence_final``: the characters that end a sentence for spaCy's rule-based sentencizer.

Which languages there are is :mod:`bilstm_tagger.text.languages`' business. ``tests/test_rule_tokenizer.py``
holds every file equal to what the installed spaCy gives and the tokens equal to spaCy's (UD text,
CoNLL-2003, random strings); :func:`write_rules` writes the files again (needs spaCy):
``python -c "from bilstm_tagger.text.rule_tokenizer import write_rules; write_rules()"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

RULES_DIRECTORY = Path(__file__).with_name("rules")
# spaCy's emoticon exceptions (":)", "(8", "-_-") contain one of these; none of its word exceptions do.
_EMOTICON = re.compile(r"[()\[\]{}<>:;=_^*|\\/@¬]")
_LETTERS_OR_DIGITS = re.compile(r"[A-Za-z]+|[0-9]+")
# The emoticons of spaCy's that languages other than English keep (see keeps_special_case): eyes first, no digit.
EMOTICONS_KEPT = frozenset(
    ":( :(( :((( :() :) :)) :))) :* :-( :-(( :-((( :-) :-)) :-))) :-* :-/ :-> :-D :-O :-P :-X :-] :-o :-p "
    ":-x :-| :-} :/ :> :D :O :P :X :] :o :o) :p :x :| :} ;) ;-) ;-D ;D ;_; =( =) =/ =D =[ =] =| :'( :') "
    ":'-( :'-)".split()
)
# A prefix alternative made of ASCII letters or digits only, as in "^Rp".
_LITERAL_PREFIX = re.compile(r"\^([A-Za-z0-9]+)")
MAX_CACHED = 100_000  # runs whose tokens are kept, as spaCy keeps them; the cache starts anew past this


def rules_file(language: str) -> Path:
    """Where the rules of a language are: ``rules/<code>.json`` beside this module."""
    return RULES_DIRECTORY / f"{language}.json"


@dataclass
class RuleTokenizer:
    """The tokenizer of one language: :meth:`spans` gives the token offsets of a text whose only white space is ``" "``.

    ``token_match`` is ``None`` for most languages; where it is set, a run it matches whole is one
    token (spaCy checks it before the special cases, at every step of the affix loop).
    """

    language: str
    prefix: re.Pattern
    suffix: re.Pattern
    infix: re.Pattern
    url: re.Pattern
    token_match: re.Pattern | None
    special_cases: dict[str, list[str]]
    matched: dict[tuple[str, ...], str]  # the tokens an exception is found as → the exception
    longest_match: int
    sentence_final: frozenset[str]
    match_starts: frozenset[str] = frozenset()  # the first tokens of ``matched``: where a match can begin
    cache: dict[str, list[str]] = field(default_factory=dict)

    @property
    def letter_prefixes(self) -> tuple[str, ...]:
        """The prefixes of ASCII letters or digits the rules split off (Indonesian and Malay ``Rp``,
        ``USD``: ``Rp5000``, and ``Rpx`` too): the words of letters only that may not stay whole."""
        return tuple(
            match.group(1) for part in self.prefix.pattern.split("|") if (match := _LITERAL_PREFIX.fullmatch(part))
        )

    @classmethod
    def load(cls, language: str = "en", path: Path | None = None) -> RuleTokenizer:
        """The tokenizer of ``language`` from its rules file (``path``, else the shipped ``rules/<code>.json``)."""
        rules = json.loads((path or rules_file(language)).read_text(encoding="utf-8"))
        matched = {tuple(tokens): orth for orth, tokens in rules["matched"].items()}
        token_match = rules.get("token_match")
        return cls(
            rules.get("language", language),
            re.compile(rules["prefix"]),
            re.compile(rules["suffix"]),
            re.compile(rules["infix"]),
            re.compile(rules["url"]),
            re.compile(token_match) if token_match else None,
            rules["special_cases"],
            matched,
            max(map(len, matched), default=0),
            frozenset(rules["sentence_final"]),
            frozenset(tokens[0] for tokens in matched),
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The ``(start, end)`` offsets of the tokens of ``text``, in order, spaces left out."""
        spans: list[tuple[int, int]] = []
        # spaCy keeps one space after a token to itself and makes a token of any further spaces (or of
        # spaces that open the text): no exception is found across such a token.
        separated: list[int] = []  # indices of the tokens that such a token of spaces precedes
        previous_end = None
        for chunk in re.finditer(r"[^ ]+", text):
            position = chunk.start()
            if position - (0 if previous_end is None else previous_end + 1) > 0:
                separated.append(len(spans))
            for token in self._cached_tokens(chunk.group()):
                spans.append((position, position + len(token)))
                position += len(token)
            previous_end = position
        return self._apply_matched(text, spans, set(separated))

    def _cached_tokens(self, run: str) -> list[str]:
        tokens = self.cache.get(run)
        if tokens is None:
            if len(self.cache) >= MAX_CACHED:  # a stream of new words must not grow it for ever
                self.cache.clear()
            tokens = self.cache[run] = self._chunk_tokens(run)
        return tokens

    def _chunk_tokens(self, string: str) -> list[str]:
        """The tokens of one run without spaces, concatenating to it (spaCy's ``_split_affixes`` and ``_attach_tokens``)."""
        special_cases = self.special_cases
        if string in special_cases:
            return list(special_cases[string])
        prefixes: list[str] = []
        suffixes: list[str] = []
        last_size = 0
        token_match = self.token_match
        while string and len(string) != last_size:
            if token_match is not None and token_match.match(string):
                break
            if string in special_cases:
                break
            last_size = len(string)
            found = self.prefix.search(string)
            prefix_length = found.end() - found.start() if found else 0
            if prefix_length:
                prefix, without_prefix = string[:prefix_length], string[prefix_length:]
                if without_prefix and without_prefix in special_cases:
                    string = without_prefix
                    prefixes.append(prefix)
                    break
            found = self.suffix.search(string[prefix_length:])
            suffix_length = found.end() - found.start() if found else 0
            if suffix_length:
                suffix, without_suffix = string[-suffix_length:], string[:-suffix_length]
                if without_suffix and without_suffix in special_cases:
                    string = without_suffix
                    suffixes.append(suffix)
                    break
            if prefix_length and suffix_length and prefix_length + suffix_length <= len(string):
                string = string[prefix_length:-suffix_length]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif prefix_length:
                string = without_prefix
                prefixes.append(prefix)
            elif suffix_length:
                string = without_suffix
                suffixes.append(suffix)
        tokens = prefixes
        if string in special_cases:
            tokens.extend(special_cases[string])
        elif string and ((token_match is not None and token_match.match(string)) or self.url.match(string)):
            tokens.append(string)
        elif string:
            start = 0
            for match in self.infix.finditer(string):
                if match.start() == 0:
                    continue
                if match.start() != start:
                    tokens.append(string[start : match.start()])
                if match.group():
                    tokens.append(match.group())
                start = match.end()
            if string[start:]:
                tokens.append(string[start:])
        tokens.extend(reversed(suffixes))
        return tokens

    def _apply_matched(self, text: str, spans: list[tuple[int, int]], separated: set[int]) -> list[tuple[int, int]]:
        """spaCy's second pass (``_apply_special_cases``): exceptions found among the tokens become their own
        pieces where their tokens touch. Longest first, then first; a match is dropped when its first or
        last token is in one taken or dropped before it."""
        if not self.matched:
            return spans
        words = [text[start:end] for start, end in spans]
        found = []
        for start in range(len(words)):
            if words[start] not in self.match_starts:  # most tokens: no exception begins with them
                continue
            for length in range(1, min(self.longest_match, len(words) - start) + 1):
                if start + length - 1 in separated and length > 1:
                    break  # a token of spaces lies between
                if tuple(words[start : start + length]) in self.matched:
                    found.append((start, start + length))
        if not found:
            return spans
        found.sort(key=lambda match: (match[1] - match[0], -match[0]), reverse=True)
        seen: set[int] = set()
        kept = {}
        for start, end in found:
            if start not in seen and end - 1 not in seen:
                kept[start] = end
            seen.update(range(start, end))
        result: list[tuple[int, int]] = []
        index = 0
        while index < len(spans):
            if index in kept:
                end = kept[index]
                first, last = spans[index][0], spans[end - 1][1]
                pieces = self.special_cases.get(text[first:last])
                if pieces is not None:
                    position = first
                    for piece in pieces:
                        result.append((position, position + len(piece)))
                        position += len(piece)
                else:
                    result.extend(spans[index:end])
                index = end
                continue
            result.append(spans[index])
            index += 1
        return result


def rules_from_spacy(language: str = "en", keep=None) -> dict:
    """The rules of the installed spaCy's ``spacy.blank(language).tokenizer``, the special cases that
    ``keep(orth)`` accepts (default: :func:`keeps_special_case` for the language).

    Raises:
        ValueError: the language's tokenizer is not spaCy's rule-based one (a word segmenter), or
            one of its patterns has flags a plain ``re.compile`` of the pattern would not give.
    """
    import spacy
    from spacy.attrs import ORTH
    from spacy.pipeline.sentencizer import Sentencizer
    from spacy.tokenizer import Tokenizer

    keep = keep or (lambda orth: keeps_special_case(orth, language))
    nlp = spacy.blank(language)
    tokenizer = nlp.tokenizer
    if type(tokenizer) is not Tokenizer:
        raise ValueError(f"spaCy's {language!r} tokenizer is {type(tokenizer).__name__}, not its rule-based Tokenizer")
    special_cases = {
        orth: [piece[ORTH] for piece in pieces]
        for orth, pieces in sorted(tokenizer.rules.items())
        if keep(orth) and not orth.isspace()
    }
    bare = spacy.blank(language).tokenizer
    bare.rules = {}
    matched = {}
    for orth in special_cases:
        # spaCy's tokenizer looks for these among the tokens too (its faster heuristics: those with an affix).
        if tokenizer.find_prefix(orth) or tokenizer.find_suffix(orth) or tokenizer.find_infix(orth):
            matched[orth] = [token.text for token in bare(orth)]
    patterns = {
        "prefix": tokenizer.prefix_search,
        "suffix": tokenizer.suffix_search,
        "infix": tokenizer.infix_finditer,
        "url": tokenizer.url_match,
        "token_match": tokenizer.token_match,
    }
    for name, method in patterns.items():
        if method is not None and method.__self__.flags != re.compile(method.__self__.pattern).flags:
            raise ValueError(f"spaCy's {language!r} {name} pattern has flags of its own")
    return {
        "language": language,
        "name": type(nlp).__name__,  # German, French, MultiLanguage: spaCy's class for it
        "spacy_version": spacy.__version__,
        **{name: method.__self__.pattern if method is not None else None for name, method in patterns.items()},
        "special_cases": special_cases,
        "matched": matched,
        "sentence_final": sorted(Sentencizer.default_punct_chars),
    }


def keeps_special_case(orth: str, language: str = "en") -> bool:
    """Whether a special case of spaCy's is kept for a language.

    * English drops the emoticons (special cases holding one of ``()[]{}<>:;=_^*|\\/@¬``), so that ``(8)`` is ``(`` ``8`` ``)`` and ``):`` two tokens, as
      CoNLL-2003 writes them. The other languages, whose corpora (UD) keep ``:-)`` whole, drop only
      the emoticons that text without one is made of too: all but those that start with their eyes
      (``:`` ``;`` ``=``) and hold no digit; ``(8``, ``8)``, ``):``, ``0.0`` and ``xD`` go.
    * Every language drops the special cases for words of ASCII letters only: contractions written
      without an apostrophe (cannot, dont, gonna, Im), which CoNLL-2003 keeps whole ("cannot" 11 times
      in eng.train, "can not" never). A word of ASCII letters or digits is then one token in every
      language, which is what lets :mod:`bilstm_tagger.text.segmentation` take such words past the rules.
    * Every language drops the exceptions that hold a space (Spanish ``EE. UU.``, Russian
      ``в т.ч.``), which spaCy makes one token across it: a token never holds white space here; their
      words are split on their own.
    """
    if _LETTERS_OR_DIGITS.fullmatch(orth) or " " in orth:
        return False
    if language == "en":
        return not _EMOTICON.search(orth)
    from spacy.lang.tokenizer_exceptions import emoticons  # only when rules are written or tested

    return orth not in emoticons or orth in EMOTICONS_KEPT


def rules_text(language: str) -> str:
    """The text of ``rules/<code>.json`` as :func:`write_rules` writes it (needs spaCy)."""
    return json.dumps(rules_from_spacy(language), ensure_ascii=False, indent=0) + "\n"


def write_rules(languages: Iterable[str] | None = None, directory: Path = RULES_DIRECTORY) -> list[Path]:
    """Write the installed spaCy's rules of ``languages`` (default: every rule-based language,
    :func:`spacy_rule_languages`), one ``<code>.json`` each in ``directory``; return the paths."""
    paths = []
    for language in languages or spacy_rule_languages():
        path = directory / f"{language}.json"
        path.write_text(rules_text(language), encoding="utf-8")
        paths.append(path)
    return paths


def spacy_rule_languages() -> list[str]:
    """The languages of the installed spaCy whose tokenizer is its rule-based one with nothing more to
    install (needs spaCy). The others need a word segmenter: their ``spacy.blank`` fails for want of
    it (Japanese, Korean, Thai, Vietnamese) or gives another tokenizer class (Chinese)."""
    import pkgutil

    import spacy
    import spacy.lang
    from spacy.tokenizer import Tokenizer

    codes = []
    for module in pkgutil.iter_modules(spacy.lang.__path__):
        if not module.ispkg:
            continue
        try:
            tokenizer = spacy.blank(module.name).tokenizer
        except ImportError:
            continue
        if type(tokenizer) is Tokenizer:
            codes.append(module.name)
    return sorted(codes)
