"""The ``tagger`` command, the leaf nobody imports: options (:mod:`.options`), thin commands that
call the library (:mod:`.commands`), exit codes (:mod:`.exits`) and the only module that draws on
a terminal (:mod:`.console`, rich)."""
