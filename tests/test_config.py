"""Configuration from Python: presets, flat option names, validation, and the JSON round trip."""

import pytest

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import (
    PRESETS,
    ModelConfig,
    TrainingConfig,
    apply_preset,
    config_from_options,
)


def test_a_preset_applies_to_a_config_from_python():
    config = apply_preset(TrainingConfig(seed=3), "ner")
    assert (config.optimizer, config.learning_rate, config.max_epochs) == ("sgd", 0.3, 100)
    assert config.model.dropout == PRESETS["ner"]["dropout"] == 0.3  # a model field, routed to the model
    assert config.seed == 3  # the preset says nothing of it
    kept = apply_preset(TrainingConfig(optimizer="adam"), "ner", keep={"optimizer"})
    assert kept.optimizer == "adam" and kept.max_epochs == 100
    assert apply_preset(TrainingConfig(), "pos").model.hidden_size == 200


def test_options_win_over_the_preset_which_wins_over_the_defaults():
    config = config_from_options({"hidden_size": 16, "max_epochs": 2, "embeddings": "none"}, preset="ner")
    assert config.model.hidden_size == 16 and config.max_epochs == 2  # given
    assert config.embeddings is None  # given as "none"
    assert config.patience == 20 and config.momentum == 0.0  # the preset's
    assert config.batch_size == TrainingConfig().batch_size  # the default
    assert config_from_options({}) == TrainingConfig()


@pytest.mark.parametrize(
    "options, preset, message",
    [
        ({"hidden_sise": 3}, None, "unknown training option(s): hidden_sise"),
        ({"word_dim": 100}, "ner", "--word-dim and --embeddings exclude each other"),
        ({"num_layers": 0}, None, "num-layers must be at least 1"),
        ({}, "chunking", "unknown preset 'chunking' (choose ner or pos)"),
        ({"tag_scheme": "bilou"}, None, "unknown training tag scheme 'bilou' (choose iobes or iob2)"),
    ],
)
def test_bad_options_are_input_errors(options, preset, message):
    with pytest.raises(InputError) as error:
        config_from_options(options, preset)
    assert str(error.value) == message or str(error.value).startswith(message)


def test_a_config_survives_json():
    config = apply_preset(TrainingConfig(model=ModelConfig(char_window=5)), "pos")
    assert TrainingConfig.from_json(config.to_json()) == config
