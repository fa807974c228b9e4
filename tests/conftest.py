"""Shared fixtures: paths of the bundled sample data and a tiny untrained model."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def tiny_model():
    """An untrained BiLSTM-CRF over a handful of words, in eval mode, with IOBES constraints."""
    import torch

    from bilstm_tagger.model import BiLstmCrf, ModelConfig
    from bilstm_tagger.schemes import allowed_transitions
    from bilstm_tagger.vocab import Encoder

    torch.manual_seed(0)
    sentences = [
        (["Anna", "Berg", "lives", "in", "Oslo", "."], ["B-PER", "E-PER", "O", "O", "S-LOC", "O"]),
        (["Tom", "visited", "New", "York", "City", "yesterday"], ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "O"]),
    ]
    encoder = Encoder.build(sentences)
    config = ModelConfig(
        num_words=len(encoder.words),
        num_chars=len(encoder.chars),
        num_tags=len(encoder.tags),
        word_dim=8,
        char_dim=5,
        char_filters=6,
        hidden_size=7,
    )
    model = BiLstmCrf(config, allowed_transitions(encoder.tags.itos, "iobes")).eval()
    with torch.no_grad():  # scores large enough that the tags depend on the input
        for parameter in model.parameters():
            parameter.mul_(3.0)
    return model, encoder
