"""The trained CRF's scores as numpy arrays, and its best tag paths (Viterbi), without torch.

Tagging decodes here whichever network computed the emissions (torch or ONNX Runtime, see
:mod:`bilstm_tagger.tagging.engines`), so that both give the same tags for the same emissions; training
decodes in torch (:class:`~bilstm_tagger.model.crf.ConstrainedCRF`), and the tests hold the two equal.
:mod:`bilstm_tagger.tagging.posteriors` computes probabilities from the same scores.

Shapes use ``B`` sentences of at most ``T`` tokens and ``K`` tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bilstm_tagger.model.crf import ConstrainedCRF


@dataclass(frozen=True)
class CrfScores:
    """A linear-chain CRF's scores and the transitions its tag scheme forbids.

    Attributes:
        transitions: ``(K, K)`` scores of tag ``i`` followed by tag ``j``, as trained: a forbidden
            one holds ``-10000`` (:data:`~bilstm_tagger.model.crf.FORBIDDEN_SCORE`), so that Viterbi
            never takes it, exactly as the torch CRF decodes.
        start, end: ``(K,)`` scores of the first and the last tag.
        forbidden_transitions: ``(K, K)`` bool; forbidden_starts, forbidden_ends: ``(K,)`` bool.
            Probabilities count these as impossible (:mod:`bilstm_tagger.tagging.posteriors`).
    """

    transitions: np.ndarray
    start: np.ndarray
    end: np.ndarray
    forbidden_transitions: np.ndarray
    forbidden_starts: np.ndarray
    forbidden_ends: np.ndarray

    @classmethod
    def from_crf(cls, crf: ConstrainedCRF) -> CrfScores:
        """The scores of a torch CRF, in its own dtype, with its constraints applied (the CRF is left as it is)."""
        from bilstm_tagger.model.crf import FORBIDDEN_SCORE

        def array(tensor):
            return tensor.detach().cpu().numpy().copy()

        forbidden = array(crf.forbidden_transitions), array(crf.forbidden_starts), array(crf.forbidden_ends)
        scores = [
            np.where(mask, np.asarray(FORBIDDEN_SCORE, dtype=values.dtype), values)
            for mask, values in zip(
                forbidden, map(array, (crf.transitions, crf.start_transitions, crf.end_transitions))
            )
        ]
        return cls(*scores, *forbidden)

    @classmethod
    def from_lists(cls, scores: dict, allowed: list[tuple[int, int]] | None) -> CrfScores:
        """The scores of :meth:`to_lists` (float32), with the forbidden transitions of ``allowed``, as
        :func:`~bilstm_tagger.base.schemes.allowed_transitions` gives them (``None``: none forbidden)."""
        transitions = np.asarray(scores["transitions"], dtype=np.float32)
        num_tags = transitions.shape[0]
        permitted = np.ones((num_tags + 2, num_tags + 2), dtype=bool)
        if allowed is not None:
            permitted[:] = False
            for source, target in allowed:
                permitted[source, target] = True
        return cls(
            transitions,
            np.asarray(scores["start"], dtype=np.float32),
            np.asarray(scores["end"], dtype=np.float32),
            ~permitted[:num_tags, :num_tags],
            ~permitted[num_tags, :num_tags],
            ~permitted[:num_tags, num_tags + 1],
        )

    def to_lists(self) -> dict:
        """The scores as lists of floats, for JSON (float32 values survive the round trip exactly)."""
        return {"transitions": self.transitions.tolist(), "start": self.start.tolist(), "end": self.end.tolist()}

    @property
    def num_tags(self) -> int:
        return self.transitions.shape[0]

    def viterbi(self, emissions: np.ndarray, lengths: Sequence[int] | np.ndarray) -> np.ndarray:
        """The best tag path of each sentence: ``(B, T, K)`` emissions, ``B`` lengths → ``(B, T)`` tag ids.

        Row ``b`` holds sentence ``b``'s path in its first ``lengths[b]`` positions (what follows is
        meaningless). The same scores as :meth:`ConstrainedCRF._viterbi_decode <bilstm_tagger.model.crf.ConstrainedCRF>`
        in the emissions' dtype, ties going to the lowest tag index, so the same paths (a path could differ
        only where two scores tie after rounding; the tests compare the two).
        """
        batch_size, steps, num_tags = emissions.shape
        lengths = np.asarray(lengths)
        time_major = emissions.transpose(1, 0, 2)  # (T, B, K)
        transitions = self.transitions.astype(emissions.dtype, copy=False)
        score = self.start.astype(emissions.dtype) + time_major[0]  # (B, K): best score of a path ending in each tag
        # The forward pass keeps only the best scores: a max over the previous tags, taken one previous tag at
        # a time on (B, K) arrays, which numpy does several times faster than a reduction over (B, K, K).
        # The backtrace then finds each chosen previous tag again from the scores kept (see below).
        previous_scores = np.empty((max(steps - 1, 0), batch_size, num_tags), dtype=emissions.dtype)
        candidate = np.empty_like(score)
        shortest = lengths.min() if batch_size else 0  # until then, no sentence has ended
        for step in range(1, steps):
            previous_scores[step - 1] = score
            best = score[:, :1] + transitions[0]
            for tag in range(1, num_tags):
                np.add(score[:, tag : tag + 1], transitions[tag], out=candidate)
                np.maximum(best, candidate, out=best)
            # The emission of each tag is the same whatever the previous tag, so it is added after the
            # max (on (B, K), not (B, K, K)): float addition is monotonic, so the scores are the same.
            best += time_major[step]
            score = best if step < shortest else np.where((step < lengths)[:, None], best, score)
        best_last = (score + self.end.astype(emissions.dtype)).argmax(axis=1)  # (B,)
        # Walk back from the end: a sentence joins the walk at its own last position. The previous tag of
        # tag k is the argmax over j of the same float sums score[j] + transitions[j, k], the first of ties:
        # the tag that torch's max over (B, K, K) takes.
        incoming = np.ascontiguousarray(transitions.T)  # (K next, K previous)
        path = np.empty((steps, batch_size), dtype=np.intp)
        current = best_last
        for step in range(steps - 1, -1, -1):
            current = np.where(lengths - 1 == step, best_last, current)
            path[step] = current
            if step > 0:
                current = (previous_scores[step - 1] + incoming[current]).argmax(axis=1)
        return path.T
