"""The model and its files: settings and presets (:mod:`.config`), vocabularies, pretrained
vectors, the network's parts (:mod:`.encoders`: the LSTM family and the character encoders;
:mod:`.crf`; :mod:`.language_model`), the network built in one place (:mod:`.bilstm_crf`), its
checkpoint directory, reading a trained one back (:mod:`.trained`) and its ONNX graph
(:mod:`.onnx_export`). A new cell goes in :mod:`.encoders`."""
