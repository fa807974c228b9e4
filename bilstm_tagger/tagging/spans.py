"""The entities of a batch's tag paths, read on ``(B, T)`` arrays as ``tags_to_spans`` reads one sentence.

:class:`SpanTables` are read off :func:`~bilstm_tagger.base.schemes.tags_to_spans` itself, on every
pair of tags: ``conlleval``'s reading of a tag depends only on the tag before it (whether that one
left an entity open) and, for where an entity ends, the tag after it. So :func:`find_spans` gives
the same entities as the per-sentence rules, which stay the one place they are written.

Shapes: ``B`` sentences of at most ``T`` tokens, ``K`` tags, ``S`` entities in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bilstm_tagger.base.schemes import continuation_tags, split_tag, tags_to_spans


@dataclass(frozen=True)
class SpanTables:
    """A model's tags as arrays: which adjacent pairs open and close an entity, and of which type.

    Attributes:
        labels: ``(K,)`` the tags, as an object array (indexing it with tag ids gives the strings).
        opens: ``(K + 1, K)`` bool: tag ``j`` after tag ``i`` starts an entity; row ``K`` is the sentence start.
        closes: ``(K, K + 1)`` bool: an entity ends at tag ``i`` when tag ``j`` follows; column ``K`` is the sentence end.
        type_ids: ``(K,)`` the index in ``types`` of each tag's entity type (-1 for ``O``).
        types: the entity types.
        continues: ``(K, K)`` bool: tag ``j`` right after tag ``i`` would continue ``i``'s entity.
        has_spans: false for plain tags (part of speech), which mark no entity.
    """

    labels: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    type_ids: np.ndarray
    types: np.ndarray
    continues: np.ndarray
    has_spans: bool

    @classmethod
    def from_labels(cls, labels: Sequence[str], scheme: str) -> SpanTables:
        """The tables of a model's tags (``labels``, ids in order) predicted in ``scheme``."""
        labels = list(labels)
        num_tags = len(labels)
        opens = np.zeros((num_tags + 1, num_tags), dtype=bool)
        closes = np.zeros((num_tags, num_tags + 1), dtype=bool)
        continues = np.zeros((num_tags, num_tags), dtype=bool)
        types = sorted({split_tag(label)[1] for label in labels} - {None}) if scheme != "plain" else []
        type_index = {name: index for index, name in enumerate(types)}
        type_ids = np.array([type_index.get(split_tag(label)[1], -1) for label in labels], dtype=np.intp)
        if scheme != "plain":
            for current, label in enumerate(labels):
                opens[num_tags, current] = any(span.start == 0 for span in tags_to_spans([label]))
                closes[current, num_tags] = any(span.end == 1 for span in tags_to_spans([label]))
                continues[current, continuation_tags(labels, label)] = True
                for following, other in enumerate(labels):
                    pair = tags_to_spans([label, other])
                    opens[current, following] = any(span.start == 1 for span in pair)
                    closes[current, following] = any(span.end == 1 for span in pair)
        return cls(
            np.array(labels, dtype=object),
            opens,
            closes,
            type_ids,
            np.array(types, dtype=object),
            continues,
            scheme != "plain",
        )


@dataclass(frozen=True)
class BatchSpans:
    """The entities of a batch's paths, sentence by sentence and in order within each: ``(S,)`` arrays.

    ``end`` is exclusive; ``type_id`` indexes :attr:`SpanTables.types`.
    """

    sentence: np.ndarray
    start: np.ndarray
    end: np.ndarray
    type_id: np.ndarray

    @property
    def last(self) -> np.ndarray:
        """``(S,)`` each entity's last token."""
        return self.end - 1


def find_spans(paths: np.ndarray, lengths: np.ndarray, tables: SpanTables) -> BatchSpans:
    """The entities of ``(B, T)`` tag paths (each valid up to its length), as ``tags_to_spans`` reads them
    (none for plain tags)."""
    if not tables.has_spans:
        return BatchSpans(*(np.zeros(0, dtype=np.intp) for _ in range(4)))
    batch_size, steps = paths.shape
    num_tags = tables.opens.shape[1]
    valid = np.arange(steps)[None, :] < lengths[:, None]  # (B, T)
    previous = np.empty_like(paths)
    previous[:, 0] = num_tags  # the sentence start
    previous[:, 1:] = paths[:, :-1]
    following = np.empty_like(paths)
    following[:, :-1] = paths[:, 1:]
    following[:, -1] = num_tags
    following[np.arange(batch_size), lengths - 1] = num_tags  # the sentence end
    sentence, start = np.nonzero(tables.opens[previous, paths] & valid)
    _, last = np.nonzero(tables.closes[paths, following] & valid)  # row-major: the same order as the starts
    return BatchSpans(sentence, start, last + 1, tables.type_ids[paths[sentence, start]])
