"""Output formats of ``tagger tag``: each turns a :class:`~bilstm_tagger.predictions.TaggedSentence`
into one whole record, ending with a newline (see the README for examples)."""

from __future__ import annotations

import json

from .predictions import TaggedSentence

OUTPUT_FORMATS: tuple[str, ...] = ("conll", "inline", "jsonl")


def format_record(output_format: str, sentence: TaggedSentence) -> str:
    """One sentence in ``conll``, ``inline`` or ``jsonl`` form."""
    if output_format == "conll":
        return "".join(f"{token}\t{tag}\n" for token, tag in zip(sentence.tokens, sentence.tags)) + "\n"
    if output_format == "inline":
        return format_inline(sentence) + "\n"
    if output_format == "jsonl":
        return json.dumps(jsonl_object(sentence), ensure_ascii=False) + "\n"
    raise ValueError(f"unknown output format {output_format!r}")


def format_inline(sentence: TaggedSentence) -> str:
    """``[PER John Smith] lives in [LOC Paris] .`` for span tags, ``John/NOUN lives/VERB`` for plain ones."""
    tokens = sentence.tokens
    if sentence.scheme == "plain":
        return " ".join(f"{token}/{tag}" for token, tag in zip(tokens, sentence.tags))
    pieces: list[str] = []
    position = 0
    for span in sentence.spans:
        pieces.extend(tokens[position : span.start])
        pieces.append(f"[{span.label} {sentence.span_text(span)}]")
        position = span.end
    pieces.extend(tokens[position:])
    return " ".join(pieces)


def jsonl_object(sentence: TaggedSentence) -> dict:
    """``{"tokens", "tags", "spans"}``; each span ``{"start", "end", "type", "text"}``, ``end`` exclusive."""
    spans = [
        {"start": span.start, "end": span.end, "type": span.label, "text": sentence.span_text(span)}
        for span in sentence.spans
    ]
    return {"tokens": list(sentence.tokens), "tags": list(sentence.tags), "spans": spans}
