"""The model: masking is exact, constraints hold, and the CRF agrees with brute force."""

import itertools

import pytest
import torch

from bilstm_tagger.base.schemes import allowed_transitions, spans_to_tags, tags_to_spans
from bilstm_tagger.model.crf import ConstrainedCRF

SENTENCE = ["Tom", "lives", "in", "Oslo"]
LONGER = [
    ["Anna", "Berg", "visited", "New", "York", "City", "and", "Oslo", "yesterday", "."],
    ["Unknown", "words", "like", "Zyxwvutsrqponmlkjihgfedcba", "are", "fine"],
]


def test_a_sentence_gets_the_same_tags_and_scores_alone_and_in_a_padded_batch(tiny_model):
    model, encoder = tiny_model
    alone = encoder.encode([SENTENCE])
    batch = encoder.encode([LONGER[0], SENTENCE, LONGER[1]])
    with torch.no_grad():
        emissions_alone = model.emissions(alone)[0]
        emissions_batch = model.emissions(batch)[1, : len(SENTENCE)]
        assert torch.allclose(emissions_alone, emissions_batch, atol=1e-5)
        tags_alone = model.decode(alone)[0]
        tags_batch = model.decode(batch)[1]
        assert tags_alone == tags_batch
        assert len(tags_batch) == len(SENTENCE)
        score_alone = model.log_likelihood(alone, torch.tensor([tags_alone]))[0]
        padded_tags = torch.zeros_like(batch.word_ids)
        padded_tags[1, : len(SENTENCE)] = torch.tensor(tags_batch)
        score_batch = model.log_likelihood(batch, padded_tags)[1]
        assert score_alone.item() == pytest.approx(score_batch.item(), abs=1e-5)


def test_character_vectors_do_not_depend_on_the_other_words_of_the_batch(tiny_model):
    model, encoder = tiny_model
    with torch.no_grad():
        short = model.char_cnn(encoder.encode([["Oslo"]]).char_ids)[0]
        batch = encoder.encode([["Oslo", "Zyxwvutsrqponmlkjihgfedcba"]])
        mixed = model.char_cnn(batch.char_ids)[batch.char_index[0, 0]]
    assert torch.allclose(short, mixed, atol=1e-6)


def test_decoded_paths_obey_the_tag_scheme(tiny_model):
    model, encoder = tiny_model
    with torch.no_grad():
        for ids in model.decode(encoder.encode(LONGER + [SENTENCE])):
            tags = [encoder.tags.itos[i] for i in ids]
            assert spans_to_tags(len(tags), tags_to_spans(tags), "iobes") == tags


def brute_force(crf, emissions):
    """Score of every tag sequence: ``{sequence: score}`` for one sentence of emissions ``(T, K)``."""
    length, num_tags = emissions.shape
    scores = {}
    for path in itertools.product(range(num_tags), repeat=length):
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[i, tag] for i, tag in enumerate(path))
        score = score + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))
        scores[path] = score.item()
    return scores


def test_constrained_crf_agrees_with_brute_force_enumeration():
    torch.manual_seed(3)
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    crf = ConstrainedCRF(len(labels), allowed_transitions(labels, "iobes"))
    allowed = set(allowed_transitions(labels, "iobes"))
    emissions = torch.randn(2, 4, len(labels)) * 3
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    with torch.no_grad():
        best = crf.decode(emissions, mask)
        for row, length in enumerate((4, 3)):
            scores = brute_force(crf, emissions[row, :length])
            valid = {
                path: score
                for path, score in scores.items()
                if all(pair in allowed for pair in zip((len(labels),) + path, path + (len(labels) + 1,)))
            }
            assert tuple(best[row]) == max(valid, key=valid.get)
            # The partition function over all paths equals the one over valid paths alone.
            log_z = torch.logsumexp(torch.tensor(list(valid.values())), 0)
            tags = torch.zeros(1, 4, dtype=torch.long)
            tags[0, :length] = torch.tensor(best[row])
            log_likelihood = crf(emissions[row : row + 1], tags, mask[row : row + 1], reduction="sum")
            assert log_likelihood.item() == pytest.approx(valid[tuple(best[row])] - log_z.item(), abs=1e-4)


def test_constraints_survive_optimiser_steps():
    labels = ["O", "B-PER", "I-PER"]
    crf = ConstrainedCRF(len(labels), allowed_transitions(labels, "iob2"))
    optimizer = torch.optim.SGD(crf.parameters(), lr=1.0, momentum=0.9)
    emissions = torch.randn(3, 5, len(labels))
    tags = torch.tensor([[0, 1, 2, 0, 1]] * 3)
    mask = torch.ones(3, 5, dtype=torch.bool)
    for _ in range(5):
        optimizer.zero_grad()
        (-crf(emissions, tags, mask)).backward()
        optimizer.step()
    crf.decode(emissions, mask)  # re-applies the constraints
    assert crf.transitions[0, 2].item() == -10_000.0  # O → I-PER
    assert crf.start_transitions[2].item() == -10_000.0  # sentence starting with I-PER


def test_fast_crf_steps_equal_torchcrf_on_random_batches():
    """The vectorised gold-path score and Viterbi give torchcrf's own results."""
    from torchcrf import CRF

    torch.manual_seed(5)
    for num_tags, batch_size, steps in [(5, 7, 9), (17, 30, 40), (3, 1, 1)]:
        crf = ConstrainedCRF(num_tags)
        with torch.no_grad():
            for parameter in crf.parameters():
                parameter.normal_()
        emissions = torch.randn(steps, batch_size, num_tags) * 2
        lengths = torch.randint(1, steps + 1, (batch_size,))
        lengths[0] = steps
        mask = torch.arange(steps)[:, None] < lengths[None, :]
        tags = torch.randint(0, num_tags, (steps, batch_size))
        expected = CRF._compute_score(crf, emissions, tags, mask.to(torch.uint8))
        assert torch.allclose(crf._compute_score(emissions, tags, mask), expected, atol=1e-4)
        assert crf._viterbi_decode(emissions, mask) == CRF._viterbi_decode(crf, emissions, mask)


def test_log_partition_and_its_gradient_equal_torchcrf_and_gradcheck():
    from torchcrf import CRF

    from bilstm_tagger.model.crf import _LogPartition

    torch.manual_seed(9)
    steps, batch_size, num_tags = 6, 4, 5
    crf = ConstrainedCRF(num_tags).double()
    emissions = torch.randn(steps, batch_size, num_tags, dtype=torch.double, requires_grad=True)
    mask = torch.arange(steps)[:, None] < torch.tensor([6, 3, 1, 5])[None, :]
    ours = crf._compute_normalizer(emissions, mask)
    reference = CRF._compute_normalizer(crf, emissions, mask)
    assert torch.allclose(ours, reference)
    weights = torch.randn(batch_size, dtype=torch.double)
    grads = torch.autograd.grad((ours * weights).sum(), [emissions, *crf.parameters()])
    expected = torch.autograd.grad((reference * weights).sum(), [emissions, *crf.parameters()])
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-8)
    inputs = (emissions, mask, crf.start_transitions, crf.transitions, crf.end_transitions)
    assert torch.autograd.gradcheck(_LogPartition.apply, inputs)


def test_float32_log_partition_gradients_stay_within_rounding_of_float64_on_long_sentences():
    """The scaled recursions keep the gradient out of the log-sums of whole paths (hundreds, here).

    Log-sum-exps over ``(B, K, K)`` left the float32 marginals ~1e-4 off; two training processes
    then drifted apart from one within an epoch (``tests/test_distributed.py``).
    """
    from bilstm_tagger.model.crf import _LogPartition

    torch.manual_seed(4)
    steps, batch_size, num_tags = 60, 8, 9
    labels = ["O", *(f"{prefix}-{kind}" for kind in "ABCD" for prefix in "BI")]
    crf = ConstrainedCRF(num_tags, allowed_transitions(labels, "iob2"))
    emissions = torch.randn(steps, batch_size, num_tags) * 4
    mask = torch.arange(steps)[:, None] < torch.tensor([60, 55, 40, 33, 20, 9, 2, 1])[None, :]
    crf.apply_constraints()
    scores = (crf.start_transitions, crf.transitions, crf.end_transitions)

    def gradients(dtype):
        inputs = [emissions.to(dtype).requires_grad_(), *(s.detach().to(dtype).requires_grad_() for s in scores)]
        log_z = _LogPartition.apply(inputs[0], mask, *inputs[1:])
        return [log_z, *torch.autograd.grad(log_z.sum(), inputs)]

    for single, double in zip(gradients(torch.float32), gradients(torch.float64)):
        assert torch.isfinite(single).all()
        assert torch.allclose(single.double(), double, rtol=1e-5, atol=1e-5)


def test_gradients_are_the_same_on_every_backward_pass_with_several_threads(tiny_model):
    """Same seed, same model: no multi-threaded kernel may add gradients in a varying order.

    The batch is large enough (64 × 600 tokens) for torch to split its kernels across threads.
    """
    model, encoder = tiny_model
    model.train()
    words = ["Anna", "Berg", "lives", "in", "Oslo", ".", "Tom", "visited", "New", "York", "City", "yesterday"]
    generator = torch.Generator().manual_seed(0)
    sentences = [[words[i] for i in torch.randint(len(words), (600,), generator=generator)] for _ in range(64)]
    tags = [["O"] * 600 for _ in sentences]
    batch = encoder.encode(sentences, tags)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        gradients = []
        for _ in range(4):
            torch.manual_seed(1)  # the same dropout masks each time
            model.zero_grad()
            model.loss(batch).backward()
            gradients.append([parameter.grad.clone() for parameter in model.parameters()])
    finally:
        torch.set_num_threads(threads)
    for other in gradients[1:]:
        assert all(torch.equal(a, b) for a, b in zip(gradients[0], other))


def test_batch_arrays_are_the_ids_of_each_token_however_full_the_table_of_seen_words(monkeypatch):
    """Vocab.arrays keeps the ids of the words it has seen; when that table is full it starts again,
    and a batch's arrays are still each token's word id, character ids and distinct-word index."""
    from bilstm_tagger.model import vocab as vocab_module
    from bilstm_tagger.model.vocab import MAX_WORD_CHARS, Vocab

    monkeypatch.setattr(vocab_module, "MAX_SEEN_WORDS", 6)
    vocab = Vocab.build([(["Anna", "sang", "in", "Oslo", "1996"], ["S-PER", "O", "O", "S-LOC", "O"])])
    batches = [[["Anna", "sang"], ["in", "Oslo", "Oslo"]], [["Zürich", "2003", "Anna"], ["x" * 70]], [["sang"]]]
    for sentences in batches * 2:  # the table fills up, starts again, and is read back
        batch = vocab.arrays(sentences)
        for row, tokens in enumerate(sentences):
            assert batch.word_ids[row, : len(tokens)].tolist() == [vocab.word_id(token) for token in tokens]
            assert (batch.word_ids[row, len(tokens) :] == 0).all()
            for column, token in enumerate(tokens):
                chars = batch.char_ids[batch.char_index[row, column]]
                expected = vocab.char_ids(token)[:MAX_WORD_CHARS]
                assert chars[: len(expected)].tolist() == expected and not chars[len(expected) :].any()
        assert batch.lengths.tolist() == [len(tokens) for tokens in sentences]
        assert batch.char_ids.shape[0] == len({token for tokens in sentences for token in tokens})
        assert len(vocab._seen.row_of) <= 6  # bounded: the table started again when full
