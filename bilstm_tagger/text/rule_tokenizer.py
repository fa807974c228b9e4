"""spaCy's rule-based English tokenizer, run in plain Python from its rules, without importing spaCy.

Importing spaCy takes about half a second (and its thinc would import torch), as long as the
whole of ``tagger tag`` on one sentence otherwise; its tokenizer itself is a few regular
expressions and a table of special cases. :class:`EnglishTokenizer` runs the algorithm of its
compiled ``Tokenizer`` (``_split_affixes``, ``_attach_tokens``, ``_apply_special_cases``; its
``explain`` differs from it in a few cases) over the rules of the installed spaCy, written once
to ``english_tokenizer.json`` by :func:`write_rules`:

* ``prefix``, ``suffix``, ``infix``, ``url``: the patterns of ``English().tokenizer``;
* ``special_cases``: its exceptions (``don't`` → ``do`` ``n't``, ``U.S.``), less those
  :mod:`bilstm_tagger.text.segmentation` drops (emoticons, words of letters only), as their pieces;
* ``matched``: the exceptions that spaCy also looks for in the tokens the affixes leave
  (``10a.m.`` split as ``10a.m`` ``.``), each with those tokens;
* ``sentence_final``: the characters that end a sentence for spaCy's rule-based sentencizer.

``tests/test_segmentation.py`` holds the JSON equal to what the installed spaCy gives and the
tokens equal to spaCy's on UD English EWT and CoNLL-2003 text; :func:`write_rules` writes the file
again (needs spaCy): ``python -c "from bilstm_tagger.text.english_tokenizer import write_rules; write_rules()"``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

RULES_FILE = Path(__file__).with_name("english_tokenizer.json")
# spaCy's emoticon exceptions (":)", "(8", "-_-") contain one of these; none of its word exceptions do.
_EMOTICON = re.compile(r"[()\[\]{}<>:;=_^*|\\/@¬]")
_LETTERS_OR_DIGITS = re.compile(r"[A-Za-z]+|[0-9]+")
MAX_CACHED = 100_000  # runs whose tokens are kept, as spaCy keeps them; the cache starts anew past this


@dataclass
class EnglishTokenizer:
    """The tokenizer: :meth:`spans` gives the token offsets of a text whose only white space is ``" "``."""

    prefix: re.Pattern
    suffix: re.Pattern
    infix: re.Pattern
    url: re.Pattern
    special_cases: dict[str, list[str]]
    matched: dict[tuple[str, ...], str]  # the tokens an exception is found as → the exception
    longest_match: int
    sentence_final: frozenset[str]
    match_starts: frozenset[str] = frozenset()  # the first tokens of ``matched``: where a match can begin
    cache: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = RULES_FILE) -> EnglishTokenizer:
        rules = json.loads(path.read_text(encoding="utf-8"))
        matched = {tuple(tokens): orth for orth, tokens in rules["matched"].items()}
        return cls(
            re.compile(rules["prefix"]),
            re.compile(rules["suffix"]),
            re.compile(rules["infix"]),
            re.compile(rules["url"]),
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
        while string and len(string) != last_size:
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
        elif string and self.url.match(string):
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


def rules_from_spacy(keep) -> dict:
    """The rules of the installed spaCy's ``English().tokenizer``, the special cases that ``keep(orth)`` accepts."""
    from spacy.attrs import ORTH
    from spacy.lang.en import English
    from spacy.pipeline.sentencizer import Sentencizer

    tokenizer = English().tokenizer
    special_cases = {
        orth: [piece[ORTH] for piece in pieces]
        for orth, pieces in sorted(tokenizer.rules.items())
        if keep(orth) and not orth.isspace()
    }
    bare = English().tokenizer
    bare.rules = {}
    matched = {}
    for orth in special_cases:
        # spaCy's tokenizer looks for these among the tokens too (its faster heuristics: those with an affix).
        if tokenizer.find_prefix(orth) or tokenizer.find_suffix(orth) or tokenizer.find_infix(orth):
            matched[orth] = [token.text for token in bare(orth)]
    return {
        "spacy_version": __import__("spacy").__version__,
        "prefix": tokenizer.prefix_search.__self__.pattern,
        "suffix": tokenizer.suffix_search.__self__.pattern,
        "infix": tokenizer.infix_finditer.__self__.pattern,
        "url": tokenizer.url_match.__self__.pattern,
        "special_cases": special_cases,
        "matched": matched,
        "sentence_final": sorted(Sentencizer.default_punct_chars),
    }


def keeps_special_case(orth: str) -> bool:
    """Whether a special case of spaCy's is kept. Of its special cases (don't, U.S., Jan.), the emoticons
    are dropped, so that ``(8)`` is ``(`` ``8`` ``)``; and so are those for words of letters only,
    contractions written without an apostrophe (cannot, dont, gonna, Im), which CoNLL-2003 keeps
    whole: "cannot" 11 times in eng.train, "can not" never (:mod:`bilstm_tagger.text.segmentation`)."""
    return not _EMOTICON.search(orth) and not _LETTERS_OR_DIGITS.fullmatch(orth)


def write_rules(path: Path = RULES_FILE) -> Path:
    """Write the installed spaCy's rules, the special cases :func:`keeps_special_case` keeps, to ``path``; return it."""
    path.write_text(
        json.dumps(rules_from_spacy(keeps_special_case), ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
    )
    return path
