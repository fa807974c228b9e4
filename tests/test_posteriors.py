"""Token marginals, entity probabilities and n-best paths against brute-force enumeration of all tag paths."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from bilstm_tagger.base.schemes import allowed_transitions, continuation_tags, tags_to_spans
from bilstm_tagger.model.crf import ConstrainedCRF
from bilstm_tagger.model.crf_scores import CrfScores
from bilstm_tagger.tagging.posteriors import merge_nbest, sentence_posteriors

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
    """:func:`sentence_posteriors` of a torch CRF and torch emissions ``(B, T, K)`` with a ``(B, T)`` mask."""
    return sentence_posteriors(CrfScores.from_crf(crf), emissions.numpy(), mask.sum(1).tolist(), temperature)


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
    crf = random_crf(scheme, seed)
    generator = torch.Generator().manual_seed(seed)
    width = max(steps, padded_to)
    emissions = torch.randn(2, width, len(LABELS[scheme]), generator=generator, dtype=torch.float64) * 2
    mask = torch.zeros(2, width, dtype=torch.bool)
    mask[0, :steps] = True
    mask[1, :width] = True  # a longer neighbour, so that the first sentence is padded in its batch
    posterior = posteriors(crf, emissions, mask, temperature)[0]
    return crf, posterior, enumerate_paths(crf, emissions[0, :steps], temperature)


CASES = [(scheme, seed, steps) for scheme in ("iobes", "iob2", "plain") for seed in (1, 2) for steps in (1, 2, 4)]


@pytest.mark.parametrize("scheme,seed,steps", CASES)
@pytest.mark.parametrize("temperature", [1.0, 1.7])
def test_token_marginals_match_brute_force(scheme, seed, steps, temperature):
    _, posterior, paths = posterior_and_paths(scheme, seed, steps, temperature, padded_to=6)
    best_path = max(paths, key=lambda item: item[1])[0]
    expected = [sum(p for path, p in paths if path[t] == best_path[t]) for t in range(steps)]
    np.testing.assert_allclose(posterior.tag_probabilities(best_path), expected, rtol=1e-9, atol=1e-12)
    assert sum(p for _, p in paths) == pytest.approx(1.0)


@pytest.mark.parametrize("scheme,seed,steps", [case for case in CASES if case[0] != "plain"])
@pytest.mark.parametrize("temperature", [1.0, 1.7])
def test_entity_probabilities_are_sums_over_all_paths_holding_exactly_that_entity(scheme, seed, steps, temperature):
    _, posterior, paths = posterior_and_paths(scheme, seed, steps, temperature, padded_to=6)
    labels = LABELS[scheme]
    spans_of = {tuple(path): set(tags_to_spans([labels[k] for k in path])) for path, _ in paths}
    checked = 0
    # every entity of the three most probable paths, not only the best one's
    for path, _ in sorted(paths, key=lambda item: -item[1])[:3]:
        spans = tags_to_spans([labels[k] for k in path])
        continuations = [continuation_tags(labels, labels[path[span.end - 1]]) for span in spans]
        computed = posterior.span_probabilities(path, [(s.start, s.end) for s in spans], continuations)
        for span, probability in zip(spans, computed):
            expected = sum(p for other, p in paths if span in spans_of[tuple(other)])
            assert probability == pytest.approx(expected, rel=1e-9, abs=1e-12)
            checked += 1
    assert checked or steps == 1


def test_an_entity_probability_is_not_the_product_of_its_token_probabilities():
    _, posterior, paths = posterior_and_paths("iob2", 3, 4)
    labels = LABELS["iob2"]
    path = [1, 2, 2, 0]  # B-A I-A I-A O
    [probability] = posterior.span_probabilities(path, [(0, 3)], [continuation_tags(labels, "I-A")])
    expected = sum(p for other, p in paths if other[:4] == path[:3] + [other[3]] and other[3] != 2)
    assert probability == pytest.approx(expected, rel=1e-9)
    assert probability != pytest.approx(float(np.prod(posterior.tag_probabilities(path)[:3])), rel=1e-3)


@pytest.mark.parametrize("scheme,seed,steps", CASES)
def test_nbest_paths_and_probabilities_match_brute_force(scheme, seed, steps):
    _, posterior, paths = posterior_and_paths(scheme, seed, steps, temperature=1.3, padded_to=5)
    expected = sorted(paths, key=lambda item: -item[1])[:10]
    computed = posterior.nbest(10)
    assert len(computed) == len(expected)
    assert [p for _, p in computed] == pytest.approx([p for _, p in expected], rel=1e-9)
    for path, probability in computed:
        assert posterior.path_probability(path) == pytest.approx(probability, rel=1e-9)
    assert computed[0][0] == expected[0][0]


def test_the_best_of_the_nbest_is_the_viterbi_path():
    crf = random_crf("iobes", 5)
    emissions = torch.randn(3, 7, len(LABELS["iobes"]), dtype=torch.float64)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    viterbi = crf.decode(emissions, mask)
    for posterior, best in zip(posteriors(crf, emissions, mask, temperature=2.0), viterbi):
        assert posterior.nbest(3)[0][0] == best


def test_path_probability_agrees_with_the_training_likelihood():
    crf = random_crf("iobes", 6)
    emissions = torch.randn(1, 5, len(LABELS["iobes"]), dtype=torch.float64)
    mask = torch.ones(1, 5, dtype=torch.bool)
    [best] = crf.decode(emissions, mask)
    log_likelihood = crf(emissions, torch.tensor([best]), mask, reduction="sum")
    [posterior] = posteriors(crf, emissions, mask)
    assert posterior.path_probability(best) == pytest.approx(math.exp(float(log_likelihood.detach())), rel=1e-6)


def test_merged_nbest_of_independent_pieces_is_the_nbest_of_the_whole():
    first = [([0], 0.6), ([1], 0.3), ([2], 0.1)]
    second = [([5, 5], 0.5), ([6, 6], 0.4), ([7, 7], 0.1)]
    assert merge_nbest(first, second, 3) == [
        ([0, 5, 5], pytest.approx(0.30)),
        ([0, 6, 6], pytest.approx(0.24)),
        ([1, 5, 5], pytest.approx(0.15)),
    ]
