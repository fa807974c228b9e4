"""Split raw text into sentences and tokens, by character offsets, the way CoNLL-2003 was tokenized.

``tagger tag`` reads raw text a paragraph a line; :func:`split_text` cuts one line into sentences
of tokens, each token given as ``(start, end)`` offsets into the line: Python string indices, that
is code points, with ``text[start:end]`` the token. The text is never altered: a token is always
a slice of the line, never a normalised copy.

The library is spaCy's rule-based English tokenizer (``spacy.lang.en.English().tokenizer``, no
trained pipeline, nothing downloaded; its rules, run without spaCy), chosen by measurement:
``benchmarks/tokenizers.py`` compares it with syntok, NLTK's Treebank tokenizer and blingfire on
UD English EWT test paragraphs and CoNLL-2003 test text (token F1, sentence-boundary F1, speed on
text seen before and on new text) and writes its figures to ``benchmarks/tokenizers.json``: the
measured figures are there, and nowhere else. spaCy had the best token F1 on EWT and is still
released; NLTK, best on CoNLL-2003's conventions as they come, was too slow for ``tagger tag``.
Its drawback was start-up: importing spaCy is slow (and its thinc imports torch); so its rules run
in plain Python (:mod:`bilstm_tagger.text.rule_tokenizer`, the same tokens as spaCy's on all of
EWT and CoNLL-2003: tested), and spaCy is not imported at all.

Other languages: ``split_text(text, language)`` runs spaCy's rules of that language the same way
(``spacy.blank(code).tokenizer``: its prefixes, suffixes, infixes and exceptions, ``z.B.``,
``Nr.``, ``d'``), read on first use from its file in ``rules/``
(:mod:`bilstm_tagger.text.languages` lists them and refuses those that need a word segmenter),
with the post-processing below for every language, and where sentences end decided with the
language's closing quotes and ordinals (:mod:`bilstm_tagger.text.sentence_rules`: German
``am 3. Oktober`` goes on, ``im Jahr 1990. Danach`` ends).

Unicode as people type it: text in decomposed form (NFD, ``e`` then U+0301, as macOS file names
and some keyboards give it) is split as its composed form (NFC) is, each token's offsets those of
the characters it was composed from in the text as given; so NFC and NFD input give the same
tokens, at their own offsets. Typographic quotes and apostrophes (``„…“``, ``«…»``, ``’``) are
the language's rules' business, and each language's closing quotes keep a sentence's end with it.

``split_text`` itself, this module with the post-processing below, is one of the script's
candidates, beside spaCy alone (which splits hyphenated words, list numbers and emoticon
look-alikes such as ``8)``, where CoNLL-2003 does not). Plain words skip spaCy's rules (see
``_token_spans``). The ``tokenizers.json`` of the repository was measured while ``split_text``
still ran spaCy's compiled tokenizer; ``python benchmarks/tokenizers.py`` measures the rules in
plain Python.

Conventions (those of CoNLL-2003, which follows the Penn Treebank):

- punctuation is split off: ``Berlin.`` → ``Berlin`` ``.``; ``(in`` → ``(`` ``in``;
  ``Germany).`` → ``Germany`` ``)`` ``.``; ``3.5%`` → ``3.5`` ``%``; ``$5`` → ``$`` ``5``;
- clitics are split: ``Merkel's`` → ``Merkel`` ``'s``; ``don't`` → ``do`` ``n't``;
  ``can't`` → ``ca`` ``n't``; ``I'm`` → ``I`` ``'m``; but words written without an apostrophe
  stay whole (``cannot``, ``dont``, ``gonna``), as ``cannot`` is in CoNLL-2003;
- abbreviations keep their period (``U.S.``, ``Jan.``, ``Mr.``, ``e.g.``); numbers keep their
  separators (``1,000,000.50``, ``3.14``); URLs and e-mail addresses are one token;
- hyphenated words are one token (``Anglo-Dutch``, ``30-year-old``, ``1996-08-22``, ``15-2``):
  spaCy splits them and a ``-`` (or an en dash ``–``) with a letter or digit touching it on both
  sides is joined again;
- a number with a period at the start of a sentence, followed by more text, is a list number and
  one token (``10. Michael van der Wolf``), as CoNLL-2003's result tables have it;
- spaCy's emoticon exceptions are dropped, so that ``(8)`` is ``(`` ``8`` ``)`` and ``):`` is two
  tokens;
- a token never splits an extended grapheme cluster (as far as a simple rule sees them): a
  combining mark, a zero width joiner, a variation selector or an emoji skin tone stays with the
  character before it, and regional indicators pair into flags.

Sentences end after a token of one sentence-final character (the 128 of spaCy's rule-based
sentencizer: ``. ! ?`` and their equivalents in other scripts), or after an ellipsis (``...``
``…``) before a capital letter; closing punctuation written right after it (``."`` ``?)``) stays
in the sentence, and so does a smiley after it (``Danke! :-)``, where the language keeps it one
token), and a lower-case word after a closing quote or bracket goes on with it
(``"Why?" she asked``). Abbreviations such as ``U.S.`` or German ``z.B.`` carry their period
inside the token and so end no sentence.

White space is what :meth:`str.isspace` says it is (this includes NO-BREAK SPACE, the C0
separators U+001C to U+001F, a lone CR, U+0085, U+2028 and U+2029). Invisible format characters
(Unicode category Cf, less the few that are drawn: ``corpus.VISIBLE_FORMAT_CHARACTERS``) are
treated so:

- U+200B ZERO WIDTH SPACE, which marks a word break, and U+FEFF, a byte-order mark at the start
  of a line or an old zero width no-break space, are white space: they separate tokens and are
  in none;
- the others (joiners U+200D and U+2060, U+200C, direction marks and isolates, the soft hyphen
  U+00AD...) stay inside the token they are written in (a direction mark before a word, an emoji
  ZWJ sequence, a Persian word with U+200C), except that a token made only of them is left out,
  as a line made only of them is a blank line for ``corpus.py``: every token holds a visible
  character.

Every other character, control characters such as NUL included, belongs to a token. So the
tokens, joined, are the line less its white space, U+200B and U+FEFF, and less the runs of
invisible format characters that formed a token of their own.

Runs of more than ``MAX_SPACY_RUN`` characters without white space (a long URL, a hash, a line
of punctuation) are tokenized by a linear regular expression (URLs, words joined by inner
``- . , ' @ / :``, else one character a token) instead of spaCy, whose prefix and suffix loop
costs time proportional to the length of a run for every piece it splits off, so that a
megabyte-long line still takes seconds, not hours.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from bilstm_tagger.text.corpus import VISIBLE_FORMAT_CHARACTERS
from bilstm_tagger.text.languages import DEFAULT_LANGUAGE, check_language
from bilstm_tagger.text.rule_tokenizer import EMOTICONS_KEPT

Span = tuple[int, int]

# A run longer than this without white space is not given to spaCy (see the module docstring).
MAX_SPACY_RUN = 64

# White space as str.isspace() has it (re's \s is the same set), and the two invisible separators.
_SEPARATOR = re.compile(r"[\s\u200b\ufeff]")
# The same less the plain space: when none is present, the text goes to spaCy as it is.
_SEPARATOR_BUT_SPACE = re.compile(r"[^\S ]|[\u200b\ufeff]")
_LONG_RUN = re.compile(rf"[^ ]{{{MAX_SPACY_RUN + 1},}}")
# A whole run between spaces of ASCII letters only or digits only. The look-behind fails at once
# inside a word, so a search stays linear even in a megabyte-long word.
_PLAIN_WORD = re.compile(r"(?<![^ ])(?:[A-Za-z]+|[0-9]+)(?![^ ])")
# In a long run, a word is made of anything but white space and punctuation (ASCII, Latin-1,
# General Punctuation, CJK): letters, digits, marks, joiners, symbols, emoji.
_WORD = r"[^\s!-/:-@\[-`{-~\u00a1\u00a7\u00ab\u00b6\u00b7\u00bb\u00bf\u2010-\u2027\u2030-\u205e\u3000-\u303f]+"
# Tokens of a long run. Each alternative starts with a fixed prefix or a word character and
# cannot backtrack across its own separators, so a search costs time linear in the run.
_LONG_RUN_TOKEN = re.compile(
    r"(?:https?|ftp)://[^ <>\"]*[^ <>\".,;:!?)\]}'’”]"  # a URL, less closing punctuation after it
    rf"|{_WORD}(?:[-.,'’@/:]{_WORD})*"  # a word, a number, an e-mail address, a hyphenated word
    r"|[^ ]"  # anything else, one character at a time
)

_HYPHENS = frozenset({"-", "–"})
_LIST_NUMBER = re.compile(r"[0-9]{1,3}")
# After a sentence-final token, these written right after it stay in the sentence.
_CLOSING = frozenset("\"'”’»›)]}")
# ... and after these, a lower-case word continues the sentence: a quotation or an aside ended.
_QUOTES = frozenset({'"', "'", "''", "”", "’", "»", "›", ")", "]"})
_ELLIPSES = frozenset({"...", "....", ".....", "…"})
# Characters that continue the grapheme cluster of the character before them.
_JOINER = "\u200d"
_CONTINUING_CATEGORIES = frozenset({"Mn", "Mc", "Me"})


def _continues_cluster(character: str) -> bool:
    """Whether a character never starts a grapheme cluster (a mark, joiner, selector, skin tone)."""
    code = ord(character)
    return (
        unicodedata.category(character) in _CONTINUING_CATEGORIES
        or character == _JOINER
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= code <= 0xE007F  # emoji tag characters (subdivision flags)
        or 0xE0100 <= code <= 0xE01EF  # variation selectors supplement
    )


def _composes_with_previous(character: str) -> bool:
    """Whether NFC may compose a character with the one before it: a mark, or a Hangul vowel or final jamo."""
    return unicodedata.category(character) in _CONTINUING_CATEGORIES or 0x1160 <= ord(character) <= 0x11FF


def _is_regional_indicator(character: str) -> bool:
    """Whether a character is a regional indicator: two of them make a flag."""
    return 0x1F1E6 <= ord(character) <= 0x1F1FF


class _Rules:
    """A language's tokenizer (:mod:`bilstm_tagger.text.rule_tokenizer`) and how its sentences end
    (:mod:`bilstm_tagger.text.sentence_rules`)."""

    def __init__(self, language: str) -> None:
        from bilstm_tagger.text.rule_tokenizer import RuleTokenizer
        from bilstm_tagger.text.sentence_rules import sentence_rules

        self.tokenizer = RuleTokenizer.load(language)
        self.sentence_final = self.tokenizer.sentence_final
        self.sentence = sentence_rules(language)
        self.closing = self.sentence_final | _CLOSING | self.sentence.closing_quotes
        self.quotes = _QUOTES | self.sentence.closing_quotes
        self.enders = self.sentence_final | _ELLIPSES
        prefixes = self.tokenizer.letter_prefixes
        # Plain words skip the rules (_token_spans), but not those a prefix of letters would split.
        self.plain_word = re.compile(rf"(?!{'|'.join(prefixes)}){_PLAIN_WORD.pattern}") if prefixes else _PLAIN_WORD

    def spans(self, text: str) -> list[Span]:
        """Offsets of spaCy's tokens of ``text`` (white space only as ``" "``), spaces left out."""
        return self.tokenizer.spans(text)


# One tokenizer per language used in the process, built on first use: a language's rules are read
# only when text in it comes (French's take 2 s to compile, English's 0.05 s).
_tokenizers: dict[str, _Rules] = {}


def _tokenizer(language: str = DEFAULT_LANGUAGE) -> _Rules:
    """The process's tokenizer of a language (a code :func:`~bilstm_tagger.text.languages.check_language` accepts)."""
    rules = _tokenizers.get(language)
    if rules is None:
        rules = _tokenizers[language] = _Rules(check_language(language))
    return rules


def split_text(text: str, language: str = DEFAULT_LANGUAGE) -> list[list[Span]]:
    """Split one line of raw text into sentences of tokens.

    Args:
        text: one line (a paragraph); any characters, line breaks included, are allowed.
        language: the code of the language whose rules split it (:mod:`bilstm_tagger.text.languages`).

    Returns:
        The sentences in order, each a non-empty list of ``(start, end)`` token offsets into
        ``text`` (code points, ``end`` exclusive), in order, non-overlapping, each token free of
        white space and holding a visible character; between two tokens there is only white
        space, U+200B, U+FEFF or other invisible format characters (see the module docstring).
        Empty when the text holds nothing else.

    Raises:
        InputError: a language whose rules are not shipped (one line: which are, or what it would need).

    >>> text = "Maria flew to Berlin. She met Merkel's staff."
    >>> [[text[start:end] for start, end in sentence] for sentence in split_text(text)]
    [['Maria', 'flew', 'to', 'Berlin', '.'], ['She', 'met', 'Merkel', "'s", 'staff', '.']]
    """
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        composed = _composed(text)
        if composed is not None:
            # Split the composed text (the rules' classes hold é, not e and U+0301), then give each
            # token the offsets of the characters it was composed from: offsets into the text as given.
            nfc, starts, ends = composed
            return [
                [(starts[start], ends[end - 1]) for start, end in sentence] for sentence in split_text(nfc, language)
            ]
    # Every separator becomes a plain space, one character for one, so that offsets into the
    # normalised text are offsets into the text, and spaCy only ever sees spaces between words.
    normalized = _SEPARATOR.sub(" ", text) if _SEPARATOR_BUT_SPACE.search(text) else text
    rules = _tokenizer(language)
    spans = _token_spans(normalized, rules)
    words = [normalized[start:end] for start, end in spans]
    if not _covers_exactly(normalized, spans, words):
        # spaCy's tokens are slices of its input by design; should that ever fail, the words
        # between white space are still right.
        spans = [match.span() for match in re.finditer(r"[^ ]+", normalized)]
        words = [normalized[start:end] for start, end in spans]
    if not text.isascii():
        joined = _join_clusters(spans, words)
        if len(joined) < len(spans):
            spans, words = joined, [normalized[start:end] for start, end in joined]
        spans, words = _drop_invisible(spans, words)
    joined = _join_hyphenated(spans, words)
    if len(joined) < len(spans):
        spans, words = joined, [normalized[start:end] for start, end in joined]
    return _sentences(spans, words, rules)


def _composed(text: str) -> tuple[str, list[int], list[int]] | None:
    """The text in NFC, and for each of its characters the start and end offsets, in ``text``, of
    the characters it was composed from; ``None`` should a composition cross what is taken here
    for a cluster (a character and the marks or Hangul vowels and finals after it), never seen.

    A cluster is normalised on its own, so a composed character never comes from two clusters and
    a token (which never splits a cluster: ``_join_clusters``) maps back to whole characters.
    """
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    start, length = 0, len(text)
    while start < length:
        end = start + 1
        while end < length and _composes_with_previous(text[end]):
            end += 1
        piece = unicodedata.normalize("NFC", text[start:end])
        pieces.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))
        start = end
    nfc = "".join(pieces)
    if nfc != unicodedata.normalize("NFC", text):
        return None
    return nfc, starts, ends


def _token_spans(normalized: str, rules: _Rules) -> list[Span]:
    """The token offsets of a text whose only white space is ``" "``, in order.

    spaCy tokenizes each run of characters between spaces on its own, so runs can be taken out
    of its input (replaced by as many spaces, keeping every offset) and tokenized another way:

    - a plain word (ASCII letters only, or digits only) is one token: no prefix, suffix or infix
      rule of spaCy's can split it (checked on every such word of CoNLL-2003 and EWT training
      data), and its special cases for such words are dropped (see ``_English._build``). Four
      words in five are plain, and spaCy takes some 20 µs over a word it has not seen before,
      the pattern a few tenths of a µs;
    - a run too long for spaCy goes to ``_LONG_RUN_TOKEN`` (see the module docstring).
    """
    plain: list[Span] = []

    def take_plain(match: re.Match[str]) -> str:
        plain.append(match.span())
        return " " * (match.end() - match.start())

    rest = rules.plain_word.sub(take_plain, normalized)
    long_runs = list(_LONG_RUN.finditer(rest))
    if long_runs:
        rest = _LONG_RUN.sub(lambda match: " " * len(match.group()), rest)
    spans = rules.spans(rest)
    if not plain and not long_runs:
        return spans
    spans.extend(plain)
    for run in long_runs:
        spans.extend(match.span() for match in _LONG_RUN_TOKEN.finditer(normalized, run.start(), run.end()))
    spans.sort()
    return spans


def _covers_exactly(normalized: str, spans: Sequence[Span], words: Sequence[str]) -> bool:
    """Whether the spans are in order, non-empty, within the text, free of spaces and cover every other character.

    In order, disjoint and free of spaces, the spans cover every non-space character exactly when
    their lengths add up to the number of non-space characters.
    """
    joined = "".join(words)
    if " " in joined or len(joined) != len(normalized) - normalized.count(" "):
        return False
    end = 0
    for start, stop in spans:
        if start < end or stop <= start:
            return False
        end = stop
    return end <= len(normalized)


def _join_clusters(spans: list[Span], words: list[str]) -> list[Span]:
    """Join tokens that split a grapheme cluster: a mark or joiner after a cut, a flag's halves.

    Only the joined spans are built, not their text: a chain of joins stays linear in length.
    """
    joined: list[Span] = []
    last = ""  # the last character of the last joined token
    indicators = 0  # regional indicators ending the last joined token
    for (start, end), word in zip(spans, words):
        first = word[0]
        tail = _regional_indicator_tail(word)
        if (
            joined
            and joined[-1][1] == start
            and (
                _continues_cluster(first) or last == _JOINER or (indicators % 2 == 1 and _is_regional_indicator(first))
            )
        ):
            joined[-1] = (joined[-1][0], end)
            indicators = indicators + tail if tail == len(word) else tail
        else:
            joined.append((start, end))
            indicators = tail
        last = word[-1]
    return joined


def _drop_invisible(spans: list[Span], words: list[str]) -> tuple[list[Span], list[str]]:
    """Leave out the tokens made only of invisible format characters: nothing of them is drawn."""
    kept_spans: list[Span] = []
    kept_words: list[str] = []
    for span, word in zip(spans, words):
        # The first character's category decides for almost every token, at one look-up.
        if unicodedata.category(word[0]) == "Cf" and all(_is_invisible(character) for character in word):
            continue
        kept_spans.append(span)
        kept_words.append(word)
    return kept_spans, kept_words


def _is_invisible(character: str) -> bool:
    """Whether a character is an invisible format character (category Cf, not one of the drawn few)."""
    return unicodedata.category(character) == "Cf" and character not in VISIBLE_FORMAT_CHARACTERS


def _regional_indicator_tail(word: str) -> int:
    """How many regional indicators end a word (an odd count is half a flag)."""
    count = 0
    for character in reversed(word):
        if not _is_regional_indicator(character):
            break
        count += 1
    return count


def _join_hyphenated(spans: list[Span], words: list[str]) -> list[Span]:
    """Join ``word - word`` written without spaces into one token, as CoNLL-2003 has them."""
    if "-" not in words and "–" not in words:
        return spans
    joined: list[Span] = []
    last = ""  # the last character of the last joined token
    index, count = 0, len(spans)
    while index < count:
        start, end = spans[index]
        word = words[index]
        if (
            word in _HYPHENS
            and joined
            and index + 1 < count
            and joined[-1][1] == start
            and spans[index + 1][0] == end
            and last.isalnum()
            and words[index + 1][0].isalnum()
        ):
            joined[-1] = (joined[-1][0], spans[index + 1][1])
            last = words[index + 1][-1]
            index += 2
            continue
        joined.append((start, end))
        last = word[-1]
        index += 1
    return joined


def _sentences(spans: list[Span], words: list[str], rules: _Rules) -> list[list[Span]]:
    """Group tokens into sentences.

    A sentence ends after a sentence-final character and the closing punctuation written right
    after it, unless that includes a closing quote and a lower-case word follows (``"Why?" she
    asked``). A list number opening a sentence is one token. In a language that writes ordinals
    with a period, a number and its period end a sentence only as
    :meth:`~bilstm_tagger.text.sentence_rules.SentenceRules.ends_after_number` says, and are then
    two tokens (``1990`` ``.``); before a lower-case word or a month name, a period split off a
    number ends none.
    """
    sentence_final, closing, quotes, sentence = rules.sentence_final, rules.closing, rules.quotes, rules.sentence
    enders = rules.enders  # the sentence-final characters and the ellipses: the only tokens that may end one
    ordinal = sentence.ordinal_period
    sentences: list[list[Span]] = []
    current: list[Span] = []
    ended = False  # the current sentence has had its sentence-final token
    quoted = False  # ... and a closing quote after it
    index, count = 0, len(spans)
    while index < count:
        start, end = spans[index]
        word = words[index]
        if ended:
            if start == current[-1][1] and all(character in closing for character in word):
                current.append((start, end))
                quoted = quoted or word in quotes
                index += 1
                continue
            if word in EMOTICONS_KEPT:
                current.append((start, end))  # "Danke Rosemarie! :-) Dann": the smiley goes with its sentence
                index += 1
                continue
            if quoted and word[0].islower():
                # '"Why?" she asked', '(with friendly staff!) and': the quotation or aside ended, not the sentence
                ended = quoted = False
            else:
                sentences.append(current)
                current, ended, quoted = [], False, False
        if (
            not current
            and index + 2 < count
            and words[index + 1] == "."
            and spans[index + 1][0] == end
            and spans[index + 2][0] > end + 1
            and _LIST_NUMBER.fullmatch(word)
        ):
            # "10. Michael van der Wolf": the number and its period are one token.
            current.append((start, end + 1))
            index += 2
            continue
        if ordinal and word[-1] == "." and word[0].isdigit():
            following = words[index + 1] if index + 1 < count else None
            if sentence.ends_after_number(word, following):
                # "im Jahr 1990. Danach": the number, then the period that ends the sentence.
                current.extend(((start, end - 1), (end - 1, end)))
                ended = True
                index += 1
                continue
        current.append((start, end))
        if word in enders:
            following = words[index + 1] if index + 1 < count else ""
            if word in sentence_final:
                # "am 3. oktober", by rules that split a period off numbers: an ordinal, no end.
                ended = not (
                    ordinal
                    and word == "."
                    and following
                    and len(current) > 1
                    and current[-2][1] == start
                    and words[index - 1].isdigit()
                    and (following[0].islower() or following.lower() in sentence.months)
                )
            else:
                # "weg... Verdiente 5 Sterne": an ellipsis before a capital letter ends a sentence.
                ended = following[:1].isupper()
        else:
            ended = False
        index += 1
    if current:
        sentences.append(current)
    return sentences
