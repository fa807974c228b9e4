"""Reading text and corpora, without torch: CoNLL and CoNLL-U files (:mod:`.corpus`, and
:class:`~bilstm_tagger.text.corpus.CorpusReading`, how one is read), raw text split into sentences
and tokens with character offsets (:mod:`.segmentation`, by spaCy's rules of its language run in
plain Python: :mod:`.rule_tokenizer`, :mod:`.languages`, :mod:`.sentence_rules`), the records
``tagger tag`` reads (:mod:`.documents`), and a reader thread (:mod:`.readahead`). A new input
reader or language's rules go here."""
