"""Tag schemes: detect them, convert between them, and say which transitions they forbid.

Span tags carry a prefix and a type, ``B-PER``, ``I-LOC``, or are ``O``. The schemes:

* ``iob1`` (CoNLL-2003): every token of an entity is ``I-``; ``B-`` only marks the first token of
  an entity that directly follows another entity of the same type.
* ``iob2`` (BIO): ``B-`` on the first token of every entity, ``I-`` inside.
* ``iobes`` (BIOES): ``S-`` for single-token entities, ``B-``/``I-``/``E-`` otherwise.
* ``bilou``: IOBES with other letters (``U-`` single, ``L-`` last).
* ``plain``: tags without spans (part-of-speech tags), left as they are.

All conversions go through spans read with the ``conlleval`` rules, so an ill-formed sequence
(``O I-PER``) means what ``conlleval`` says it means (an entity starting at the ``I-``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

SCHEMES: tuple[str, ...] = ("iob1", "iob2", "iobes", "bilou", "plain")  # what data may come in
TRAINING_SCHEMES: tuple[str, ...] = ("iobes", "iob2")  # what a model may learn span tags in
MODEL_SCHEMES: tuple[str, ...] = (*TRAINING_SCHEMES, "plain")  # what a model predicts in

_SPAN_TAG = re.compile(r"^(?:O|[BIESLU]-.+)$")
_LETTERS = {  # scheme → (begin, inside, end, single)
    "iob2": ("B", "I", "I", "B"),
    "iobes": ("B", "I", "E", "S"),
    "bilou": ("B", "I", "L", "U"),
}


class Span(NamedTuple):
    """An entity: tokens ``start`` up to, not including, ``end``, of type ``label``."""

    start: int
    end: int
    label: str


def split_tag(tag: str) -> tuple[str, str | None]:
    """``"B-PER"`` → ``("B", "PER")``; ``"O"`` → ``("O", None)``."""
    if tag == "O":
        return "O", None
    return tag[0], tag[2:]


def is_span_tag(tag: str) -> bool:
    """Whether a tag looks like ``O`` or ``X-TYPE`` with X one of B, I, E, S, L, U."""
    return _SPAN_TAG.match(tag) is not None


def tag_kind(scheme: str) -> str:
    """``"plain tags"`` or ``"span tags"``: the two kinds of tags, which a model cannot mix."""
    return "plain tags" if scheme == "plain" else "span tags"


def same_kind(scheme: str, other: str) -> bool:
    """Whether two schemes are both plain or both span schemes (span schemes convert into each other)."""
    return tag_kind(scheme) == tag_kind(other)


def detect_scheme(tag_sequences: Iterable[list[str]]) -> str:
    """Name the scheme of a corpus's tags.

    ``plain`` if any tag is not a span tag; otherwise ``bilou`` if any ``L-``/``U-`` appears,
    ``iobes`` if any ``E-``/``S-`` does, ``iob1`` if some entity starts with ``I-``, else ``iob2``.
    """
    letters: set[str] = set()
    starts_with_inside = False
    for tags in tag_sequences:
        previous_label: str | None = None
        for tag in tags:
            if not is_span_tag(tag):
                return "plain"
            prefix, label = split_tag(tag)
            letters.add(prefix)
            if prefix == "I" and label != previous_label:
                starts_with_inside = True
            previous_label = label
    if letters & {"L", "U"}:
        return "bilou"
    if letters & {"E", "S"}:
        return "iobes"
    return "iob1" if starts_with_inside else "iob2"


def tags_to_spans(tags: list[str]) -> list[Span]:
    """The entities of a tag sequence in any span scheme, read as ``conlleval`` reads them.

    An entity starts at ``B-``/``S-``/``U-``, or at ``I-``/``E-``/``L-`` that does not continue an
    open entity of the same type; it ends before ``O``, before the start of another entity, or
    after ``E-``/``S-``/``L-``/``U-``.
    """
    spans: list[Span] = []
    start, open_label = -1, None
    for index, tag in enumerate(tags):
        prefix, label = split_tag(tag)
        if prefix == "O":
            if open_label is not None:
                spans.append(Span(start, index, open_label))
                open_label = None
            continue
        continues = open_label == label and prefix in ("I", "E", "L")
        if not continues:
            if open_label is not None:
                spans.append(Span(start, index, open_label))
            start, open_label = index, label
        if prefix in ("E", "S", "L", "U"):
            spans.append(Span(start, index + 1, label))  # type: ignore[arg-type]
            open_label = None
    if open_label is not None:
        spans.append(Span(start, len(tags), open_label))
    return spans


def continuation_tags(labels: list[str], tag: str) -> list[int]:
    """The indices of the ``labels`` that, right after ``tag``, would continue its entity (``conlleval`` rules).

    ``I-PER`` continues ``B-PER`` or ``I-PER``, and so do ``E-PER`` and ``L-PER``; nothing continues
    ``O`` or an entity's last tag (``E-``, ``S-``, ``L-``, ``U-``).

    >>> continuation_tags(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "B-PER")
    [2]
    """
    prefix, label = split_tag(tag)
    if prefix not in ("B", "I"):
        return []
    return [index for index, other in enumerate(labels) if other[:1] in ("I", "E", "L") and other[2:] == label]


def spans_to_tags(length: int, spans: Iterable[Span], scheme: str) -> list[str]:
    """Write non-overlapping ``spans`` over ``length`` tokens as tags of a span ``scheme``."""
    tags = ["O"] * length
    previous_end, previous_label = -1, None
    for start, end, label in sorted(spans):
        if scheme == "iob1":
            first = "B" if (start == previous_end and label == previous_label) else "I"
            tags[start:end] = [f"{first}-{label}"] + [f"I-{label}"] * (end - start - 1)
        else:
            begin, inside, last, single = _LETTERS[scheme]
            if end - start == 1:
                tags[start] = f"{single}-{label}"
            else:
                tags[start:end] = [f"{begin}-{label}"] + [f"{inside}-{label}"] * (end - start - 2) + [f"{last}-{label}"]
        previous_end, previous_label = end, label
    return tags


def convert(tags: list[str], source: str, target: str) -> list[str]:
    """Rewrite a tag sequence from one scheme to another (``plain`` only to itself)."""
    if source == target:
        return list(tags)
    if "plain" in (source, target):
        raise ValueError(f"cannot convert tags from {source} to {target}")
    return spans_to_tags(len(tags), tags_to_spans(tags), target)


def allowed_transitions(labels: list[str], scheme: str) -> list[tuple[int, int]]:
    """The ``(from, to)`` tag index pairs that a scheme allows, for constraining a CRF.

    Index ``len(labels)`` stands for the start of a sentence and ``len(labels) + 1`` for its end,
    as in AllenNLP's function of the same name. ``plain`` allows everything.

    >>> allowed = allowed_transitions(["O", "B-PER", "I-PER"], "iob2")
    >>> (0, 2) in allowed, (1, 2) in allowed   # O → I-PER no, B-PER → I-PER yes
    (False, True)
    """
    start, end = len(labels), len(labels) + 1
    parsed = [split_tag(label) for label in labels]
    endpoints = [("START", None)] + parsed + [("END", None)]
    indices = [start] + list(range(len(labels))) + [end]
    allowed = []
    for from_index, (from_prefix, from_label) in zip(indices, endpoints):
        for to_index, (to_prefix, to_label) in zip(indices, endpoints):
            if from_prefix == "END" or to_prefix == "START":
                continue
            if scheme == "plain" or _is_allowed(scheme, from_prefix, from_label, to_prefix, to_label):
                allowed.append((from_index, to_index))
    return allowed


def _is_allowed(scheme: str, from_prefix: str, from_label: str | None, to_prefix: str, to_label: str | None) -> bool:
    same_type = from_label == to_label
    if scheme == "iob1":
        if to_prefix == "B":  # B- only separates two entities of the same type
            return from_prefix in ("B", "I") and same_type
        return to_prefix in ("O", "I", "END")
    if scheme == "iob2":
        if to_prefix == "I":
            return from_prefix in ("B", "I") and same_type
        return to_prefix in ("O", "B", "END")
    # iobes and bilou: entities must be closed by E/S (L/U) before anything else starts
    _, inside, last, single = _LETTERS[scheme]
    open_entity = from_prefix in ("B", inside)
    if open_entity:
        return to_prefix in (inside, last) and same_type
    return to_prefix in ("O", "B", single, "END")
