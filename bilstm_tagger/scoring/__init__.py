"""How good a model is: scores of predicted against gold tags (:mod:`.metrics`), a model scored
on a labelled file (:mod:`.evaluation`), error analysis (:mod:`.analysis`) and the report page of
``tagger report`` (:mod:`.report`, its HTML and its charts). It tags through :mod:`bilstm_tagger.tagging`."""
