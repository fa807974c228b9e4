"""bilstm-tagger: a BiLSTM-CNN-CRF sequence tagger for NER, part-of-speech tagging and chunking.

The Python API in one line::

    from bilstm_tagger import Tagger
    Tagger.load("models/sample").tag([["Maria", "Lopez", "lives", "in", "Berlin", "."]])

``Tagger`` is imported on first use, so that ``import bilstm_tagger`` (and ``tagger --help``)
does not pay for importing torch.
"""

from .version import __version__

__all__ = ["Tagger", "__version__"]


def __getattr__(name: str):
    if name == "Tagger":
        from bilstm_tagger.tagging.tagger import Tagger

        return Tagger
    raise AttributeError(f"module 'bilstm_tagger' has no attribute {name!r}")
