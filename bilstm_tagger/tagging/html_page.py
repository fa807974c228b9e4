"""``tagger tag --format html``: tagged documents as one self-contained HTML page, written as they come.

:class:`HtmlPageWriter` writes the head of the page, then one paragraph per document (one input
line), then a summary: counts and a legend of the entity types (or tags) seen. It keeps only the
counts, so a file of any size becomes one page in bounded memory. The page needs no network: its
style sheet is inline, it loads no font, script or image, and its only link is to its own summary.

Entities are marked the way displaCy marks them: a coloured, rounded ``<mark>`` per entity, its
type after the text, its confidence in the ``title`` (shown on hover) and next to the type while
the pointer is over it. Part-of-speech documents (scheme ``plain``) show each token's tag in small
type under it. Type labels, tags and line numbers are drawn by the style sheet from ``data-``
attributes rather than written as text, so the text content of a document's element is the
document's text and nothing else: copying a line from the page gives the input line.

Every character of the input is escaped, so ``<script>`` or ``&amp;`` in a line shows as written.
A few characters would make the page invalid HTML, or would not survive a round trip through a
browser (which turns a carriage return into a line feed), or could not be written as UTF-8 at
all. Each becomes one visible character, inside ``<span class="ctl" title="U+0000">``, so that it
stands out from the same symbol typed in the input and lengths (offsets) stay the same:

* tab and line feed are kept;
* every other C0 control character and DEL become their Unicode control picture (NUL → ``␀``,
  carriage return → ``␍``, escape → ``␛``, DEL → ``␡``);
* C1 controls (U+0080–U+009F), noncharacters (U+FDD0–U+FDEF, U+FFFE, U+FFFF and their copies
  in the other planes) and lone surrogates (what ``surrogateescape`` makes of undecodable
  bytes) become U+FFFD ``�``.

:func:`shown_text` is that substitution: the text content of a document's element is
``shown_text(document.text)``. The title, model name, types and tags go through it too.

No torch here, only the standard library.
"""

from __future__ import annotations

import colorsys
import re
import zlib
from collections import Counter
from html import escape
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from bilstm_tagger.tagging.predictions import Document

TYPE_COLOURS: dict[str, str] = {  # pastel backgrounds under dark text, as displaCy's
    "PER": "#aa9cfc",
    "LOC": "#feca74",
    "ORG": "#7aecec",
    "MISC": "#b9e4a0",
}

_NONCHARACTERS = "".join(rf"\U{plane << 16 | 0xFFFE:08x}-\U{plane << 16 | 0xFFFF:08x}" for plane in range(1, 17))
_NOT_SHOWN = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff{_NONCHARACTERS}]")
_CONTROL_PICTURES = 0x2400  # U+2400 SYMBOL FOR NULL; the C0 controls follow in order
_DELETE_PICTURE = "\u2421"
_REPLACEMENT = "\ufffd"

STYLE = """
:root { color-scheme: light dark; }
body { margin: 0; background: #fbfbf8; color: #1f2328;
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif; }
header, main, footer { max-width: 62rem; margin: 0 auto; padding-left: 1.25rem; padding-right: 1.25rem; }
header { padding-top: 1.4rem; padding-bottom: 0.6rem; border-bottom: 1px solid #e2e2dc; }
h1 { font-size: 1.35rem; font-weight: 600; margin: 0 0 0.2rem; }
h2 { font-size: 1.05rem; font-weight: 600; margin: 0 0 0.4rem; }
.meta { margin: 0; color: #656d76; font-size: 0.9rem; }
.meta code { font-size: 0.95em; }
a { color: #0b62c4; }
main { padding-top: 0.9rem; padding-bottom: 1.2rem; }
.doc { margin: 0; padding: 0.12rem 0; padding-inline-start: 3.6rem; line-height: 2.1; font-size: 1.05rem;
       white-space: pre-wrap; overflow-wrap: break-word; }
.doc::before { content: attr(data-line); display: inline-block; width: 2.8rem; margin-inline-start: -3.6rem;
               margin-inline-end: 0.8rem; text-align: end; color: #a3a7ad; font-size: 0.7rem;
               font-variant-numeric: tabular-nums; white-space: nowrap; user-select: none; }
mark.ent { color: #1a1a1a; padding: 0.22em 0.45em; margin: 0 0.12em; border-radius: 0.4em; line-height: 1;
           -webkit-box-decoration-break: clone; box-decoration-break: clone; }
mark.ent::after { content: attr(data-type); margin-inline-start: 0.45em; font-size: 0.62em; font-weight: 700;
                  letter-spacing: 0.03em; vertical-align: 0.12em; color: rgba(0, 0, 0, 0.62); white-space: nowrap; }
mark.ent:hover { box-shadow: 0 0 0 2px rgba(0, 0, 0, 0.28); }
mark.ent[data-confidence]:hover::after { content: attr(data-type) " " attr(data-confidence); }
.doc.tags { line-height: 1.35; padding-top: 0.35rem; padding-bottom: 0.35rem; }
.doc.tags::before { vertical-align: top; }
.tok { display: inline-block; vertical-align: top; text-align: center; border-radius: 0.3em; }
.tok::after { content: attr(data-tag); display: block; font-size: 0.66em; letter-spacing: 0.02em; color: #6a737d; }
.tok:hover { background: #e9eef7; }
.ctl { color: #9a4a00; background: #fff1dc; border: 1px solid #efc489; border-radius: 0.2em; font-size: 0.9em; }
footer { border-top: 1px solid #e2e2dc; padding-top: 0.9rem; padding-bottom: 2.5rem; font-size: 0.92rem; }
.counts { margin: 0 0 0.6rem; color: #444c56; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 0.45rem 1rem; padding: 0; margin: 0 0 0.8rem; }
.legend li { white-space: nowrap; }
.swatch { display: inline-block; color: #1a1a1a; padding: 0.1em 0.55em; border-radius: 0.4em; font-weight: 700;
          font-size: 0.85em; }
.tag { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
       font-size: 0.9em; }
.count { color: #656d76; font-variant-numeric: tabular-nums; }
@media (prefers-color-scheme: dark) {
  body { background: #17181b; color: #e4e4e0; }
  header, footer { border-color: #34363c; }
  .meta, .count, .counts { color: #9da3aa; }
  a { color: #6cb0ff; }
  .doc::before { color: #5d6168; }
  .tok::after { color: #9da3aa; }
  .tok:hover { background: #2a2f3a; }
  mark.ent:hover { box-shadow: 0 0 0 2px rgba(255, 255, 255, 0.45); }
  .ctl { color: #ffc27a; background: #3a2a14; border-color: #7a5424; }
}
"""


def shown_text(text: str) -> str:
    """``text`` as the page shows it: the same characters, except those listed in the module's
    docstring, each replaced by one visible character (so offsets stay valid)."""
    return _NOT_SHOWN.sub(lambda match: _substitute(match.group()), text)


def type_colour(entity_type: str) -> str:
    """The background colour of an entity type, ``#rrggbb``: fixed for PER, LOC, ORG and MISC, else
    a pastel one from a hash of the name (the same on every run, unlike :func:`hash`), light enough
    for the dark text of a mark."""
    if entity_type in TYPE_COLOURS:
        return TYPE_COLOURS[entity_type]
    digest = zlib.crc32(entity_type.encode("utf-8", "surrogatepass"))
    hue = (digest % 360) / 360
    lightness = 0.76 + 0.04 * ((digest >> 9) % 3)  # a second dimension, for types of near hues
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, 0.75)
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in (red, green, blue))


def document_html(document: Document, line: int | None = None) -> str:
    """The element of one document, ``<p class="doc">``: its text, entities marked, or for plain
    (part-of-speech) tags every token with its tag. ``line`` numbers it in the margin."""
    return _render(document, line)[0]


class HtmlPageWriter:
    """Writes tagged documents to ``output`` as one HTML page, one document at a time.

    Call :meth:`begin`, then :meth:`write` per document, then :meth:`end`; or use the writer as
    a context manager, which begins on entry and ends on a normal exit (after an exception the
    page is left without its summary, so an interrupted run does not look complete).

    Args:
        output: where the page goes, a text stream that can take any character (UTF-8).
        title: the page's title and heading.
        model: the model's name, shown under the title; none shown if ``None``.
    """

    def __init__(self, output: TextIO, title: str = "bilstm-tagger", model: str | None = None) -> None:
        self._output = output
        self._title = title
        self._model = model
        self._state = "new"  # → "open" (begun) → "closed" (ended)
        self._documents = 0
        self._tokens = 0
        self._types: Counter[str] = Counter()
        self._tags: Counter[str] = Counter()

    @property
    def documents(self) -> int:
        """How many documents have been written."""
        return self._documents

    @property
    def entity_counts(self) -> dict[str, int]:
        """Entities written so far, per type."""
        return dict(self._types)

    @property
    def tag_counts(self) -> dict[str, int]:
        """Tokens of plain-tag (part-of-speech) documents written so far, per tag."""
        return dict(self._tags)

    def begin(self) -> None:
        """Write the doctype, the head with the style sheet, and the page's heading.

        Raises:
            RuntimeError: the page has already begun.
        """
        self._expect("new", "begin")
        title = escape(shown_text(self._title))
        about = []
        if self._model is not None:
            about.append(f"model <code>{_text(self._model)}</code>")
        about.append('<a href="#summary">summary</a>')
        self._output.write(
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<header>\n<h1>{_text(self._title)}</h1>\n<p class="meta">{" · ".join(about)}</p>\n</header>\n'
            "<main>\n"
        )
        self._state = "open"

    def write(self, document: Document) -> None:
        """Write one document (one input line) as one paragraph; an empty one as an empty line.

        Raises:
            RuntimeError: :meth:`begin` not called yet, or :meth:`end` already called.
        """
        self._expect("open", "write")
        self._documents += 1
        element, entity_types, tags = _render(document, self._documents)
        self._tokens += sum(len(sentence) for sentence in document.sentences)
        self._types.update(entity_types)
        self._tags.update(tags)
        self._output.write(element)

    def end(self) -> None:
        """Write the summary (documents, tokens, entities per type, the legend) and close the page.

        Raises:
            RuntimeError: :meth:`begin` not called yet, or :meth:`end` already called.
        """
        self._expect("open", "end")
        self._output.write(f"</main>\n{self._summary()}</body>\n</html>\n")
        self._state = "closed"

    def __enter__(self) -> HtmlPageWriter:
        self.begin()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.end()

    def _expect(self, state: str, action: str) -> None:
        if self._state != state:
            problem = {"new": "has not begun", "open": "has already begun", "closed": "has ended"}[self._state]
            raise RuntimeError(f"cannot {action} the HTML page: it {problem}")

    def _summary(self) -> str:
        entities = sum(self._types.values())
        counts = [_count(self._documents, "document"), _count(self._tokens, "token")]
        if entities or not self._tags:
            counts.append(_count(entities, "entity", "entities"))
        parts = ['<footer id="summary">\n<h2>Summary</h2>\n', f'<p class="counts">{" · ".join(counts)}</p>\n']
        if self._types:
            items = "".join(
                f'<li><span class="swatch" style="background-color:{type_colour(name)}">{_text(name)}</span> '
                f'<span class="count">{count}</span></li>'
                for name, count in _by_count(self._types)
            )
            parts.append(f'<ul class="legend" aria-label="entity types">{items}</ul>\n')
        if self._tags:
            items = "".join(
                f'<li><span class="tag">{_text(name)}</span> <span class="count">{count}</span></li>'
                for name, count in _by_count(self._tags)
            )
            parts.append(f'<ul class="legend" aria-label="tags">{items}</ul>\n')
        parts.append("</footer>\n")
        return "".join(parts)


def _render(document: Document, line: int | None) -> tuple[str, list[str], list[str]]:
    """The element of ``document``, the types of the entities it marks, and the tags of the tokens it marks."""
    plain = any(sentence.scheme == "plain" for sentence in document.sentences)
    pieces, closing = (_token_pieces(document), "</span>") if plain else (_entity_pieces(document), "</mark>")
    text = document.text
    parts = []
    cursor = 0
    for start, end, opening, _ in pieces:
        if start < cursor:  # overlapping pieces: never from a tagger; the text is kept, the mark dropped
            continue
        parts.extend((_text(text[cursor:start]), opening, _text(text[start:end]), closing))
        cursor = end
    parts.append(_text(text[cursor:]))
    number = "" if line is None else f' data-line="{line}"'
    kind = "doc tags" if plain else "doc"
    labels = [label for _, _, _, label in pieces]
    element = f'<p class="{kind}" dir="auto"{number}>{"".join(parts)}</p>\n'
    return (element, [], labels) if plain else (element, labels, [])


def _entity_pieces(document: Document) -> list[tuple[int, int, str, str]]:
    """``(start, end, opening tag, type)`` of each entity's mark, in order."""
    pieces = []
    for entity in document.entities:
        confidence = "" if entity.confidence is None else f' data-confidence="{_confidence(entity.confidence)}"'
        opening = (
            f'<mark class="ent" style="background-color:{type_colour(entity.type)}" data-type="{_attribute(entity.type)}"'
            f'{confidence} title="{_attribute(_about(entity.type, entity.confidence))}">'
        )
        pieces.append((entity.start, entity.end, opening, entity.type))
    return pieces


def _token_pieces(document: Document) -> list[tuple[int, int, str, str]]:
    """``(start, end, opening tag, tag)`` of each token's element, in order."""
    pieces = []
    for token in document.tokens:
        about = _attribute(_about(token.tag, token.confidence))
        opening = f'<span class="tok" data-tag="{_attribute(token.tag)}" title="{about}">'
        pieces.append((token.start, token.end, opening, token.tag))
    return pieces


def _text(text: str) -> str:
    """``text`` as HTML text: escaped, and each character that :func:`shown_text` replaces in a marked span."""
    return _NOT_SHOWN.sub(_marked_substitute, escape(text, quote=False))  # escaping leaves those characters alone


def _attribute(text: str) -> str:
    """``text`` as the value of a double-quoted attribute."""
    return escape(shown_text(text), quote=True)


def _substitute(character: str) -> str:
    code = ord(character)
    if code < 0x20:
        return chr(_CONTROL_PICTURES + code)
    return _DELETE_PICTURE if code == 0x7F else _REPLACEMENT


def _marked_substitute(match: re.Match[str]) -> str:
    character = match.group()
    return f'<span class="ctl" title="U+{ord(character):04X}">{_substitute(character)}</span>'


def _about(label: str, confidence: float | None) -> str:
    """What hovering over an entity or token says: ``LOC · confidence 0.987``."""
    return label if confidence is None else f"{label} · confidence {_confidence(confidence)}"


def _confidence(confidence: float) -> str:
    shown = f"{confidence:.3f}"
    return f"{confidence:.1e}" if shown == "0.000" else shown  # a tiny probability is not zero


def _count(number: int, singular: str, plural: str | None = None) -> str:
    noun = singular if number == 1 else plural or f"{singular}s"
    return f"{number:,} {noun}"


def _by_count(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
