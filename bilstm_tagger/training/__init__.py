"""Training: the loop that yields an event per epoch (:mod:`.loop`), a run from start to end with
its directory, resume state and reporter (:mod:`.run`, :mod:`.run_directory`, :mod:`.events`),
calibration of the confidences on dev data, and several processes under torchrun
(:mod:`.distributed`). It scores dev sets through :mod:`bilstm_tagger.scoring`."""
