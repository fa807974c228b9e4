"""``python -m bilstm_tagger``: the same as the ``tagger`` command."""

from .cli import main

main()
