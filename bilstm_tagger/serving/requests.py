"""What ``POST /tag`` takes: the body parsed and checked into a :class:`TagRequest`, or refused with a
:class:`RequestError` (a 4xx status and a one-line reason)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bilstm_tagger.text.documents import TextInput, pretokenized, raw_text

MAX_NBEST = 100


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TagRequest:
    """A parsed ``POST /tag`` body: what to tag and how.

    Attributes:
        texts: raw texts (``text`` or ``texts``), or ``None``.
        sentences: pre-tokenised sentences (``sentences``), or ``None``.
        single: the body had ``text``: answer one record, not a list.
        nbest, min_confidence: as ``tagger tag`` takes them.
        document: the texts or sentences are one document, in order, which a model with document
            context reads together; otherwise each text is a document and each sentence alone.
    """

    texts: list[str] | None = None
    sentences: list[list[str]] | None = None
    single: bool = False
    nbest: int = 0
    min_confidence: float = 0.0
    document: bool = False

    @property
    def count(self) -> int:
        """How many texts or sentences the request holds."""
        return len(self.sentences if self.sentences is not None else self.texts or [])

    def inputs(self, language: str = "en") -> list[TextInput]:
        """Each text or sentence as a :class:`TextInput` (raw texts are split into sentences and tokens
        here, by the rules of ``language``: the model's)."""
        if self.sentences is not None:
            return [pretokenized(tokens, self._starts(number)) for number, tokens in enumerate(self.sentences)]
        return [raw_text(text, language, self._starts(number)) for number, text in enumerate(self.texts or [])]

    def _starts(self, number: int) -> bool:
        """Whether the request's ``number``-th text or sentence starts a document."""
        return number == 0 or not self.document


def parse_tag_request(body: bytes) -> TagRequest:
    """Read a ``POST /tag`` body.

    Raises:
        RequestError: 400 for what is not UTF-8 JSON (or nests too deeply), 422 for the wrong fields or types.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise RequestError(400, f"the body is not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise RequestError(
            400, f"the body is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise RequestError(400, "the body's JSON nests too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(422, f"expected a JSON object, got {_json_type(data)}")
    unknown = sorted(set(data) - {"text", "texts", "sentences", "nbest", "min_confidence", "document"})
    if unknown:
        raise RequestError(
            422, f"unknown field {unknown[0]!r} (expected text, texts or sentences, nbest, min_confidence, document)"
        )
    given = [name for name in ("text", "texts", "sentences") if name in data]
    if len(given) != 1:
        raise RequestError(422, "give exactly one of text, texts and sentences")
    nbest = data.get("nbest", 0)
    if not _is_int(nbest) or not 0 <= nbest <= MAX_NBEST:
        raise RequestError(422, f"nbest: expected an integer from 0 to {MAX_NBEST}, got {json.dumps(nbest)[:40]}")
    min_confidence = data.get("min_confidence", 0.0)
    if not _is_number(min_confidence) or not 0.0 <= min_confidence <= 1.0:
        raise RequestError(422, f"min_confidence: expected a number from 0 to 1, got {json.dumps(min_confidence)[:40]}")
    document = data.get("document", False)
    if not isinstance(document, bool):
        raise RequestError(422, f"document: expected true or false, got {_json_type(document)}")
    options = dict(nbest=nbest, min_confidence=float(min_confidence), document=document)
    name = given[0]
    value = data[name]
    if name == "text":
        _check_string(value, "text")
        return TagRequest(texts=[value], single=True, **options)
    _check_list(value, name)
    if name == "texts":
        for index, text in enumerate(value):
            _check_string(text, f"texts[{index}]")
        return TagRequest(texts=value, **options)
    for index, tokens in enumerate(value):
        _check_list(tokens, f"sentences[{index}]")
        for position, token in enumerate(tokens):
            _check_string(token, f"sentences[{index}][{position}]")
            if not token or any(character.isspace() for character in token):
                raise RequestError(
                    422, f"sentences[{index}][{position}]: a token must be non-empty, without white space"
                )
    return TagRequest(sentences=value, **options)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


def _check_string(value, where: str) -> None:
    if not isinstance(value, str):
        raise RequestError(422, f"{where}: expected a string, got {_json_type(value)}")


def _check_list(value, where: str) -> None:
    if not isinstance(value, list):
        raise RequestError(422, f"{where}: expected a list, got {_json_type(value)}")


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
