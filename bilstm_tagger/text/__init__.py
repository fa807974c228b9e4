"""Reading text and corpora, without torch: CoNLL and CoNLL-U files (:mod:`.corpus`, and
:class:`~bilstm_tagger.text.corpus.CorpusReading`, how one is read), raw text split into sentences
and tokens with character offsets (:mod:`.segmentation`, by spaCy's English rules run in plain
Python: :mod:`.english_tokenizer`), the records ``tagger tag`` reads (:mod:`.documents`), and a
reader thread (:mod:`.readahead`). A new input reader or language's rules go here."""
