"""Tagging with a trained model: the public :class:`~bilstm_tagger.tagging.tagger.Tagger`, the
engines that run the network (torch or ONNX Runtime), batching in bounded memory, exact CRF
probabilities (:mod:`.posteriors`), the values tagging returns (:mod:`.predictions`), the
streaming loop of ``tagger tag``, worker processes, and the output formats (:mod:`.formats`,
:mod:`.html_page`). A new output format goes in :mod:`.formats`."""
