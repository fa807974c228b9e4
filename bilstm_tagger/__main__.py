"""``python -m bilstm_tagger``: the same as the ``tagger`` command."""

from bilstm_tagger.cli.commands import main

main()
