"""Token marginals, entity probabilities and n-best paths of a batch against brute-force enumeration of all
tag paths, and batched decoding against the per-sentence decoder it replaced (``reference_decoding``)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from reference_decoding import reference_predictions

from bilstm_tagger.base.schemes import Span, allowed_transitions, tags_to_spans
from bilstm_tagger.model.crf import ConstrainedCRF
from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.tagging.decoding import ProbabilityRequest, decode_batch
from bilstm_tagger.tagging.posteriors import batch_posterior, merge_nbest
from bilstm_tagger.tagging.spans import SpanTables, find_spans

LABELS = {
    "iobes": ["O", "B-A", "I-A", "E-A", "S-A", "B-B", "I-B", "E-B", "S-B"],
    "iob2": ["O", "B-A", "I-A", "B-B", "I-B"],
    "plain": ["N", "V", "D"],
}


def random_crf(scheme: str, seed: int) -> ConstrainedCRF:
    labels = LABELS[scheme]
    torch.manual_seed(seed)
    crf = ConstrainedCRF(len(labels), allowed_transitions(labels, scheme)).double()
    with torch.no_grad():
        for parameter in (crf.transitions, crf.start_transitions, crf.end_transitions):
            parameter.uniform_(-2, 2)
    crf.apply_constraints()
    return crf


def posteriors(crf: ConstrainedCRF, emissions: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0):
    """:func:`batch_posterior` of a torch CRF and torch emissions ``(B, T, K)`` with a ``(B, T)`` mask."""
    return batch_posterior(CrfScores.from_crf(crf), emissions.numpy(), mask.sum(1).numpy(), temperature)


def padded(path: list[int], width: int) -> np.ndarray:
    """A ``(2, width)`` batch of paths whose first row is ``path`` (the posteriors' first sentence)."""
    paths = np.zeros((2, width), dtype=np.intp)
    paths[0, : len(path)] = path
    return paths


def enumerate_paths(crf: ConstrainedCRF, emissions: torch.Tensor, temperature: float):
    """Every allowed path of one sentence with its probability: ``[(path, probability)]``."""
    steps, num_tags = emissions.shape
    crf = crf.requires_grad_(False)
    scored = []
    for path in itertools.product(range(num_tags), repeat=steps):
        if crf.forbidden_starts[path[0]] or crf.forbidden_ends[path[-1]]:
            continue
        if any(crf.forbidden_transitions[a, b] for a, b in zip(path, path[1:])):
            continue
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[t, k] for t, k in enumerate(path))
        score = score + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))
        scored.append((list(path), float(score) / temperature))
    log_z = np.logaddexp.reduce([score for _, score in scored])
    return [(path, math.exp(score - log_z)) for path, score in scored]


def posterior_and_paths(scheme: str, seed: int, steps: int, temperature: float = 1.0, padded_to: int = 0):
    """A batch of two sentences whose first has ``steps`` tokens, its posterior, and the first one's paths."""
    crf = random_crf(scheme, seed)
    generator = torch.Generator().manual_seed(seed)
    width = max(steps, padded_to)
    emissions = torch.randn(2, width, len(LABELS[scheme]), generator=generator, dtype=torch.float64) * 2
    mask = torch.zeros(2, width, dtype=torch.bool)
    mask[0, :steps] = True
    mask[1, :width] = True  # a longer neighbour, so that the first sentence is padded in its batch
    posterior = posteriors(crf, emissions, mask, temperature)
    return crf, posterior, enumerate_paths(crf, emissions[0, :steps], temperature)


CASES = [(scheme, seed, steps) for scheme in ("iobes", "iob2", "plain") for seed in (1, 2) for steps in (1, 2, 4)]


@pytest.mark.parametrize("scheme,seed,steps", CASES)
@pytest.mark.parametrize("temperature", [1.0, 1.7])
def test_token_marginals_match_brute_force(scheme, seed, steps, temperature):
    _, posterior, paths = posterior_and_paths(scheme, seed, steps, temperature, padded_to=6)
    best_path = max(paths, key=lambda item: item[1])[0]
    expected = [sum(p for path, p in paths if path[t] == best_path[t]) for t in range(steps)]
    computed = posterior.tag_probabilities(padded(best_path, 6))[0, :steps]
    np.testing.assert_allclose(computed, expected, rtol=1e-9, atol=1e-12)
    assert sum(p for _, p in paths) == pytest.approx(1.0)


@pytest.mark.parametrize("scheme,seed,steps", [case for case in CASES if case[0] != "plain"])
@pytest.mark.parametrize("temperature", [1.0, 1.7])
def test_entity_probabilities_are_sums_over_all_paths_holding_exactly_that_entity(scheme, seed, steps, temperature):
    _, posterior, paths = posterior_and_paths(scheme, seed, steps, temperature, padded_to=6)
    labels = LABELS[scheme]
    tables = SpanTables.from_labels(labels, scheme)
    spans_of = {tuple(path): set(tags_to_spans([labels[k] for k in path])) for path, _ in paths}
    checked = 0
    # every entity of the three most probable paths, not only the best one's
    for path, _ in sorted(paths, key=lambda item: -item[1])[:3]:
        spans = tags_to_spans([labels[k] for k in path])
        batch_paths = padded(path, 6)
        found = find_spans(batch_paths, np.array([steps, 6]), tables)
        first = found.sentence == 0
        assert spans == [
            Span(start, end, tables.types[type_id])
            for start, end, type_id in zip(found.start[first], found.end[first], found.type_id[first])
        ]
        computed = posterior.span_probabilities(batch_paths, found, tables.continues)[first]
        for span, probability in zip(spans, computed):
            expected = sum(p for other, p in paths if span in spans_of[tuple(other)])
            assert probability == pytest.approx(expected, rel=1e-9, abs=1e-12)
            checked += 1
    assert checked or steps == 1


def test_an_entity_probability_is_not_the_product_of_its_token_probabilities():
    _, posterior, paths = posterior_and_paths("iob2", 3, 4, padded_to=4)
    tables = SpanTables.from_labels(LABELS["iob2"], "iob2")
    path = [1, 2, 2, 0]  # B-A I-A I-A O
    batch_paths = padded(path, 4)
    spans = find_spans(batch_paths, np.array([4, 4]), tables)
    probability = posterior.span_probabilities(batch_paths, spans, tables.continues)[spans.sentence == 0][0]
    expected = sum(p for other, p in paths if other[:4] == path[:3] + [other[3]] and other[3] != 2)
    assert probability == pytest.approx(expected, rel=1e-9)
    token_probabilities = posterior.tag_probabilities(batch_paths)[0, :3]
    assert probability != pytest.approx(float(np.prod(token_probabilities)), rel=1e-3)


@pytest.mark.parametrize("scheme,seed,steps", CASES)
def test_nbest_paths_and_probabilities_match_brute_force(scheme, seed, steps):
    _, posterior, paths = posterior_and_paths(scheme, seed, steps, temperature=1.3, padded_to=5)
    expected = sorted(paths, key=lambda item: -item[1])[:10]
    probability_of = {tuple(path): p for path, p in paths}
    computed = posterior.nbest(10)[0]
    assert len(computed) == len(expected)
    assert [p for _, p in computed] == pytest.approx([p for _, p in expected], rel=1e-9)
    for path, probability in computed:
        assert len(path) == steps
        assert probability_of[tuple(path.tolist())] == pytest.approx(probability, rel=1e-9)
    assert computed[0][0].tolist() == expected[0][0]


def test_the_best_of_the_nbest_is_the_viterbi_path():
    crf = random_crf("iobes", 5)
    emissions = torch.randn(3, 7, len(LABELS["iobes"]), dtype=torch.float64)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    viterbi = crf.decode(emissions, mask)
    for nbest, best in zip(posteriors(crf, emissions, mask, temperature=2.0).nbest(3), viterbi):
        assert nbest[0][0].tolist() == best


def test_the_best_path_probability_agrees_with_the_training_likelihood():
    crf = random_crf("iobes", 6)
    emissions = torch.randn(1, 5, len(LABELS["iobes"]), dtype=torch.float64)
    mask = torch.ones(1, 5, dtype=torch.bool)
    [best] = crf.decode(emissions, mask)
    log_likelihood = crf(emissions, torch.tensor([best]), mask, reduction="sum")
    [[(path, probability)]] = posteriors(crf, emissions, mask).nbest(1)
    assert path.tolist() == best
    assert probability == pytest.approx(math.exp(float(log_likelihood.detach())), rel=1e-6)


def test_merged_nbest_of_independent_pieces_is_the_nbest_of_the_whole():
    first = [([0], 0.6), ([1], 0.3), ([2], 0.1)]
    second = [([5, 5], 0.5), ([6, 6], 0.4), ([7, 7], 0.1)]
    assert merge_nbest(first, second, 3) == [
        ([0, 5, 5], pytest.approx(0.30)),
        ([0, 6, 6], pytest.approx(0.24)),
        ([1, 5, 5], pytest.approx(0.15)),
    ]


@pytest.mark.parametrize("scheme", ["iobes", "iob2", "plain"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_batched_decoding_equals_the_per_sentence_decoder(scheme, temperature):
    """Tags, entities, token and entity probabilities and the 4 best paths of a batch of sentences of
    many lengths (1 to 12, padded), against the per-sentence decoder, sentence by sentence."""
    labels = LABELS[scheme]
    crf = CrfScores.from_crf(random_crf(scheme, 11).float())
    rng = np.random.default_rng(3)
    lengths = np.array([12, 1, 5, 12, 2, 9, 3, 7, 1, 11])
    emissions = (rng.standard_normal((len(lengths), 12, len(labels))) * 3).astype(np.float32)
    request = ProbabilityRequest(confidence=True, nbest=4, temperature=temperature)
    batched = decode_batch(crf, emissions, lengths, SpanTables.from_labels(labels, scheme), request)
    reference = reference_predictions(crf, emissions, lengths, labels, scheme, request)
    entities = 0
    for new, old, length in zip(batched, reference, lengths):
        assert new.tags == old.tags and len(new.tags) == length
        assert new.spans == old.spans
        entities += len(new.spans)
        np.testing.assert_allclose(new.tag_scores, old.tag_scores, rtol=1e-12)
        np.testing.assert_allclose(new.span_scores, old.span_scores, rtol=1e-12)
        assert [path.tags for path in new.nbest] == [path.tags for path in old.nbest]
        np.testing.assert_allclose([p.probability for p in new.nbest], [p.probability for p in old.nbest], rtol=1e-12)
    assert entities > 5 or scheme == "plain"


@pytest.mark.parametrize("scheme", ["iobes", "iob2"])
def test_span_tables_read_any_tag_sequence_as_tags_to_spans_does(scheme):
    """Random paths over every tag, ill-formed ones included (``O I-A``, ``B-A E-B``): the same entities."""
    labels = LABELS[scheme]
    tables = SpanTables.from_labels(labels, scheme)
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 9, size=300)
    paths = rng.integers(0, len(labels), size=(300, 8))
    found = find_spans(paths, lengths, tables)
    for row, length in enumerate(lengths):
        mine = found.sentence == row
        spans = [
            Span(a, b, tables.types[t]) for a, b, t in zip(found.start[mine], found.end[mine], found.type_id[mine])
        ]
        assert spans == tags_to_spans([labels[k] for k in paths[row, :length]])
    assert len(found.start) > 300
