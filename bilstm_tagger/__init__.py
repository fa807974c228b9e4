"""bilstm-tagger: a BiLSTM-CNN-CRF sequence tagger for NER, part-of-speech tagging and chunking.

The Python API in one line::

    from bilstm_tagger import Tagger
    Tagger.load("models/sample")("Maria Lopez lives in Berlin.").entities

The names below are the public entry points, whichever room of the package holds them
(docs/layout.md); each is imported on first use, so that ``import bilstm_tagger`` (and
``tagger --help``) does not pay for importing torch.
"""

from importlib import import_module

from .version import __version__

# Public name → the module that defines it.
_ENTRY_POINTS = {
    "Tagger": "bilstm_tagger.tagging.tagger",
    "CorpusReading": "bilstm_tagger.text.corpus",
    "read_corpus": "bilstm_tagger.text.corpus",
    "ModelConfig": "bilstm_tagger.model.config",
    "TrainingConfig": "bilstm_tagger.model.config",
    "apply_preset": "bilstm_tagger.model.config",
    "train": "bilstm_tagger.training.run",
    "train_files": "bilstm_tagger.training.run",
    "evaluate_file": "bilstm_tagger.scoring.evaluation",
}

__all__ = [*_ENTRY_POINTS, "__version__"]


def __getattr__(name: str):
    if name in _ENTRY_POINTS:
        return getattr(import_module(_ENTRY_POINTS[name]), name)
    raise AttributeError(f"module 'bilstm_tagger' has no attribute {name!r}")
