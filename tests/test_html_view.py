"""The HTML page of tagged documents (:mod:`bilstm_tagger.tagging.html_page`): well formed, self-contained,
and showing every input character as text, whatever the input holds."""

import io
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_tagger.base.schemes import Span
from bilstm_tagger.tagging.html_page import TYPE_COLOURS, HtmlPageWriter, document_html, shown_text, type_colour
from bilstm_tagger.tagging.predictions import Document, TaggedSentence, tagged_sentence

VOID_ELEMENTS = {"meta", "br", "hr", "img", "input", "link", "wbr"}


class Page(HTMLParser):
    """A parsed page: every element with its attributes and text content, and what was wrong with it."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.doctype: str | None = None
        self.elements: list[tuple[str, dict[str, str | None], str]] = []  # in the order they close
        self._open: list[tuple[str, dict[str, str | None], list[str]]] = []
        self.feed(source)
        self.close()
        if self._open:
            self.problems.append(f"never closed: {[tag for tag, _, _ in self._open]}")

    def handle_starttag(self, tag, attrs):
        if tag not in VOID_ELEMENTS:
            self._open.append((tag, dict(attrs), []))

    def handle_startendtag(self, tag, attrs):
        self.problems.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag):
        if not self._open or self._open[-1][0] != tag:
            self.problems.append(f"</{tag}> closes {self._open[-1][0] if self._open else 'nothing'}")
            return
        tag, attrs, text = self._open.pop()
        self.elements.append((tag, attrs, "".join(text)))

    def handle_data(self, data):
        for _, _, text in self._open:
            text.append(data)

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_comment(self, data):
        self.problems.append(f"comment {data!r}")

    def handle_pi(self, data):
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data):
        self.problems.append(f"declaration {data!r}")

    def having(self, tag: str, css_class: str | None = None) -> list[tuple[dict[str, str | None], str]]:
        """Attributes and text of the elements ``tag`` (of class ``css_class``), in the order they close."""
        return [
            (attrs, text)
            for name, attrs, text in self.elements
            if name == tag and (css_class is None or css_class in (attrs.get("class") or "").split())
        ]

    def texts(self) -> list[str]:
        """The text content of each document's element."""
        return [text for _, text in self.having("p", "doc")]


def words(text: str) -> list[str]:
    """The tokens of ``text``: what lies between white space."""
    return re.findall(r"\S+", text)


def document(text, tags, scheme="iob2", scores=None, span_scores=None):
    """``text`` cut at white space into one sentence tagged ``tags``."""
    offsets = [(match.start(), match.end()) for match in re.finditer(r"\S+", text)]
    if not offsets:
        return Document(text, [])
    tokens = [text[start:end] for start, end in offsets]
    sentence = tagged_sentence(tokens, tags, scheme, scheme, offsets=offsets, scores=scores, span_scores=span_scores)
    return Document(text, [sentence])


def render(documents, **options) -> str:
    output = io.StringIO()
    with HtmlPageWriter(output, **options) as page:
        for each in documents:
            page.write(each)
    return output.getvalue()


def parsed(documents, **options) -> Page:
    page = Page(render(documents, **options))
    assert not page.problems, page.problems
    assert page.doctype == "DOCTYPE html"
    return page


NASTY_LINES = {
    "script": "<script>alert(1)</script> in Oslo",
    "entities": "&amp; &lt; &#x41; &#65 & < > &",
    "quotes": '"double" \'single\' `back` "unclosed',
    "markup": "]]> <!-- not a comment --> <![CDATA[x]]> <?pi?> </p></main></body>",
    "tags": '<p class="doc"> <mark title="x">M</mark> <img src="http://example.invalid/x.png"> <style>',
    "emoji": "👩\u200d👩\u200d👧 and 👍🏽 in 🇳🇴 Norway",
    "rtl": "שלום עולם and مرحبا بالعالم in القاهرة",
    "combining": "e\u0301te\u0301 a\u0308\u0323 Zu\u0308rich",
    "tabs": "a\tb\t\tc \t d",
    "spaces": "  lead   and  trail  ",
    "wide": "東京 で 会議 ｆｕｌｌ",
}


@pytest.mark.parametrize("line", NASTY_LINES.values(), ids=NASTY_LINES.keys())
def test_the_text_of_a_document_is_its_input_line(line):
    tokens = words(line)
    tags = ["B-MISC"] + ["O"] * (len(tokens) - 3) + ["B-LOC", "I-LOC"]  # marks at both ends: their text must survive
    page = parsed([document(line, tags, span_scores=[0.5, 0.75])])
    assert page.texts() == [line]
    offsets = [match.span() for match in re.finditer(r"\S+", line)]
    assert [text for _, text in page.having("mark")] == [tokens[0], line[offsets[-2][0] : offsets[-1][1]]]
    assert not page.having("script") and not page.having("img")


def test_control_characters_are_shown_one_for_one():
    line = "a\x00b\rc\x1bd\x7fe\x85f\ud800g\ufffeh\U0010ffffi\tj\x0ck\nl"
    source = render([document(line, ["B-MISC"] + ["O"] * (len(words(line)) - 1))])
    page = Page(source)
    assert not page.problems
    [shown] = page.texts()
    assert shown == shown_text(line) == "a␀b␍c␛d␡e�f�g�h�i\tj␌k\nl"
    assert len(shown) == len(line)  # offsets into the input still point at the same characters
    controls = page.having("span", "ctl")
    assert [attrs["title"] for attrs, _ in controls] == [
        "U+0000", "U+000D", "U+001B", "U+007F", "U+0085", "U+D800", "U+FFFE", "U+10FFFF", "U+000C"
    ]  # fmt: skip
    source.encode("utf-8")  # no lone surrogate is left to break the output
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", source)


def test_entities_are_marked_with_their_type_and_confidence():
    text = "Anna Berg lives in Oslo .  She works for Acme Corp ."
    first, second = text.index("She"), text.index(".  ") + 1
    sentences = [
        tagged_sentence(
            text[:second].split(),
            ["B-PER", "I-PER", "O", "O", "B-LOC", "O"],
            "iob2",
            "iob2",
            offsets=[(m.start(), m.end()) for m in re.finditer(r"\S+", text[:second])],
            span_scores=[0.98731, 0.00004],
        ),
        tagged_sentence(
            text[first:].split(),
            ["O", "O", "O", "B-ORG", "I-ORG", "O"],
            "iob2",
            "iob2",
            offsets=[(first + m.start(), first + m.end()) for m in re.finditer(r"\S+", text[first:])],
            span_scores=[1.0],
        ),
    ]
    page = parsed([Document(text, sentences)])
    assert page.texts() == [text]
    marks = [
        (text, attrs["data-type"], attrs["title"], attrs["data-confidence"]) for attrs, text in page.having("mark")
    ]
    assert marks == [
        ("Anna Berg", "PER", "PER · confidence 0.987", "0.987"),
        ("Oslo", "LOC", "LOC · confidence 4.0e-05", "4.0e-05"),  # tiny, not rounded to zero
        ("Acme Corp", "ORG", "ORG · confidence 1.000", "1.000"),
    ]
    assert [attrs["style"] for attrs, _ in page.having("mark")] == [
        f"background-color:{TYPE_COLOURS[name]}" for name in ("PER", "LOC", "ORG")
    ]


def test_an_entity_without_confidence_has_only_its_type_in_the_title():
    page = parsed([document("to New York", ["O", "B-GPE", "I-GPE"])])
    [(attrs, text)] = page.having("mark")
    assert (text, attrs["title"], attrs["style"]) == ("New York", "GPE", f"background-color:{type_colour('GPE')}")
    assert "data-confidence" not in attrs


def test_overlapping_entities_keep_the_text_and_the_first_mark():
    text = "New York Times"
    spans = [Span(0, 2, "LOC"), Span(1, 3, "ORG")]  # never from a tagger
    sentence = TaggedSentence(text.split(), ["B-LOC", "I-LOC", "O"], "iob2", spans, offsets=[(0, 3), (4, 8), (9, 14)])
    page = parsed([Document(text, [sentence])])
    assert page.texts() == [text]
    assert [(attrs["data-type"], text) for attrs, text in page.having("mark")] == [("LOC", "New York")]


def test_an_empty_document_is_an_empty_line():
    page = parsed([document("Oslo", ["B-LOC"]), document("", []), document("   ", [])])
    assert page.texts() == ["Oslo", "", "   "]
    assert [attrs["data-line"] for attrs, _ in page.having("p", "doc")] == ["1", "2", "3"]
    assert document_html(Document("", [])) == '<p class="doc" dir="auto"></p>\n'


def test_a_part_of_speech_document_shows_each_tag_under_its_token():
    text = "The  dog\tbarks . ''"
    tags = ["DT", "NN", "VBZ", ".", '"<&>']  # a tag holding what would end an attribute or open a tag
    page = parsed([document(text, tags, "plain", scores=[0.99, 0.951, 0.8, 1.0, 0.5])])
    assert page.texts() == [text]
    assert not page.having("mark")
    tokens = [(text, attrs["data-tag"], attrs["title"]) for attrs, text in page.having("span", "tok")]
    assert tokens == [
        ("The", "DT", "DT · confidence 0.990"),
        ("dog", "NN", "NN · confidence 0.951"),
        ("barks", "VBZ", "VBZ · confidence 0.800"),
        (".", ".", ". · confidence 1.000"),
        ("''", '"<&>', '"<&> · confidence 0.500'),
    ]
    assert "tok::after { content: attr(data-tag)" in render([])  # the tag is drawn, not written in the text
    legend = [text for _, text in page.having("span", "tag")]
    assert legend == ['"<&>', ".", "DT", "NN", "VBZ"]  # by count, then name


def test_the_page_refers_to_nothing_outside_it():
    lines = [*NASTY_LINES.values(), "see http://example.invalid/ and <a href='https://example.invalid/'>"]
    for line in lines:
        source = render([document(line, ["B-X"] * len(words(line)))], title="a <b>title</b>", model="<i>m</i>")
        page = Page(source)
        assert not page.problems
        for tag, attrs, _ in page.elements:
            assert "src" not in attrs, tag
            assert (attrs.get("href") or "#").startswith("#"), attrs
        assert not page.having("script") and not page.having("link") and not page.having("img")
        [(_, style)] = page.having("style")
        assert "url(" not in style and "@import" not in style and "@font-face" not in style
        if "http" not in line:  # a line may show an address as text
            assert "http://" not in source and "https://" not in source


def test_the_header_names_the_title_and_model_and_the_summary_lists_the_types_seen():
    documents = [
        document("Anna met Tom in Oslo", ["B-PER", "O", "B-PER", "O", "B-LOC"]),
        document("Bergen and Oslo sued Acme", ["B-LOC", "O", "B-LOC", "O", "B-ORG"]),
        document('the "EVENT" happened', ["O", 'B-<"EVENT">', "O"]),
    ]
    output = io.StringIO()
    writer = HtmlPageWriter(output, title="tagged: <in>.txt", model="models/ner & co")
    writer.begin()
    for each in documents:
        writer.write(each)
    assert writer.documents == 3 and writer.entity_counts == {"PER": 2, "LOC": 3, "ORG": 1, '<"EVENT">': 1}
    writer.end()
    page = Page(output.getvalue())
    assert not page.problems
    assert [text for _, text in page.having("title")] == ["tagged: <in>.txt"]
    assert [text for _, text in page.having("h1")] == ["tagged: <in>.txt"]
    assert "models/ner & co" in [text for _, text in page.having("code")]
    [(_, counts)] = page.having("p", "counts")
    assert counts == "3 documents · 13 tokens · 7 entities"
    legend = [(attrs["style"], text) for attrs, text in page.having("span", "swatch")]
    assert legend == [(f"background-color:{type_colour(name)}", name) for name in ("LOC", "PER", '<"EVENT">', "ORG")]
    assert [text for _, text in page.having("span", "count")] == ["3", "2", "1", "1"]


def test_each_document_is_written_when_it_comes():
    output = io.StringIO()
    writer = HtmlPageWriter(output)
    writer.begin()
    head = output.getvalue()
    writer.write(document("in Oslo", ["O", "B-LOC"]))
    assert output.getvalue().startswith(head) and output.getvalue()[len(head) :].count('<p class="doc"') == 1
    assert "</html>" not in output.getvalue()


def test_the_writer_is_used_in_order():
    writer = HtmlPageWriter(io.StringIO())
    with pytest.raises(RuntimeError, match="has not begun"):
        writer.write(Document("", []))
    writer.begin()
    with pytest.raises(RuntimeError, match="has already begun"):
        writer.begin()
    writer.end()
    with pytest.raises(RuntimeError, match="has ended"):
        writer.end()
    output = io.StringIO()
    with pytest.raises(KeyError), HtmlPageWriter(output) as page:
        page.write(Document("", []))
        raise KeyError("interrupted")
    assert "<main>" in output.getvalue() and "Summary" not in output.getvalue()  # not dressed up as complete


def test_type_colours_are_fixed_for_the_usual_types_and_stable_and_readable_for_others():
    assert [type_colour(name) for name in ("PER", "LOC", "ORG", "MISC")] == list(TYPE_COLOURS.values())
    names = ["DATE", "TIME", "GPE", "NORP", "MONEY", "x", "", "Ω", "\ud800", "B-I-O", "a" * 100]
    colours = [type_colour(name) for name in names]
    assert colours == [type_colour(name) for name in names]
    assert all(re.fullmatch("#[0-9a-f]{6}", colour) for colour in colours)
    assert len(set(colours)) >= len(names) - 1
    assert min(_contrast(colour, "#1a1a1a") for colour in [*colours, *TYPE_COLOURS.values()]) >= 4.5  # WCAG AA


@settings(max_examples=60, deadline=None)
@given(
    st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(" \t\n\r\x00<>&\"'")), max_size=40),
    st.data(),
)
def test_any_text_with_any_entities_comes_back(text, data):
    count = len(words(text))
    tags = data.draw(st.lists(st.sampled_from(["O", "B-A", "I-A", "B-<b>", "I-<b>"]), min_size=count, max_size=count))
    page = Page(document_html(document(text, tags)))
    assert not page.problems
    assert page.texts() == [shown_text(text)]


def _contrast(background: str, foreground: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        red, green, blue = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    lighter, darker = sorted((luminance(background), luminance(foreground)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_module_needs_no_torch():
    code = "import sys, bilstm_tagger.tagging.html_page; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
