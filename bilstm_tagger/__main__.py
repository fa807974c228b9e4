"""``python -m bilstm_tagger``: the same as the ``tagger`` command."""

from bilstm_tagger.cli.commands import main

if __name__ == "__main__":  # not when a process started by "spawn" (Dask's workers) imports it again
    main()
