"""Text in, entities out: raw text with character offsets, confidences, n-best, calibration, every output format."""

import html.parser
import io
import json
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bilstm_tagger import Tagger
from bilstm_tagger.model.config import ModelConfig, TrainingConfig
from bilstm_tagger.scoring.calibration_metrics import expected_calibration_error, reliability
from bilstm_tagger.text.corpus import CorpusReading, read_corpus
from bilstm_tagger.training.run import train

from conftest import DATA, assert_one_line_error, tagger

EXAMPLE = "Maria Lopez flew from Madrid to Berlin. She met Angela Merkel's staff (in Germany)."


@pytest.fixture(scope="module")
def model_dir(trained_ner_model):
    """The run's model of the sample corpus (conftest.py), calibrated: it finds entities."""
    return trained_ner_model


@pytest.fixture(scope="module")
def loaded(model_dir):
    return Tagger.load(model_dir)


def jsonl(model_dir, text, *options):
    return [
        json.loads(line)
        for line in tagger("tag", model_dir, "--format", "jsonl", *options, input=text).stdout.splitlines()
    ]


def check_record(record, line):
    """The invariants of a jsonl record of one input line."""
    assert record["text"] == line
    previous_end = 0
    for sentence in record["sentences"]:
        assert sentence["tokens"], "no empty sentence"
        assert (sentence["start"], sentence["end"]) == (sentence["tokens"][0]["start"], sentence["tokens"][-1]["end"])
        for token in sentence["tokens"]:
            assert previous_end <= token["start"] < token["end"]
            assert line[token["start"] : token["end"]] == token["text"]
            gap = line[previous_end : token["start"]]
            assert all(c.isspace() or unicodedata.category(c) == "Cf" for c in gap), gap  # nothing visible is lost
            previous_end = token["end"]
            assert 0 < token["confidence"] <= 1
    for entity in record["entities"]:
        assert line[entity["start"] : entity["end"]] == entity["text"]
        assert 0 < entity["confidence"] <= 1


def test_the_issue_example_gives_tokens_entities_offsets_and_confidences(model_dir):
    [record] = jsonl(model_dir, EXAMPLE + "\n")
    check_record(record, EXAMPLE)
    tokens = [token["text"] for sentence in record["sentences"] for token in sentence["tokens"]]
    assert len(record["sentences"]) == 2
    assert tokens[:8] == ["Maria", "Lopez", "flew", "from", "Madrid", "to", "Berlin", "."]
    assert tokens[8:] == ["She", "met", "Angela", "Merkel", "'s", "staff", "(", "in", "Germany", ")", "."]
    entities = {(e["text"], e["type"]) for e in record["entities"]}
    assert ("Berlin", "LOC") in entities and ("Germany", "LOC") in entities
    assert all(not e["text"].endswith((".", ")", "'s")) for e in record["entities"])


def test_every_input_format_gives_the_same_record_shape(model_dir, tmp_path):
    [raw] = jsonl(model_dir, "Anna  Berg lives in Oslo.\n")
    [tokens] = jsonl(model_dir, "Anna  Berg lives in Oslo .\n", "--input-format", "tokens")
    conll = tmp_path / "one.txt"
    conll.write_text("Anna O\nBerg O\nlives O\nin O\nOslo O\n. O\n")
    [from_conll] = jsonl(model_dir, "", "--input", conll, "--input-format", "conll")
    assert raw.keys() == tokens.keys() == from_conll.keys() == {"text", "sentences", "entities"}
    assert tokens["text"] == from_conll["text"] == "Anna Berg lives in Oslo ."  # tokens joined by single spaces
    for record in (raw, tokens, from_conll):
        check_record(record, record["text"])
    assert [t["tag"] for t in tokens["sentences"][0]["tokens"]] == [t["tag"] for t in raw["sentences"][0]["tokens"]]


def test_one_record_per_line_and_an_empty_record_for_an_empty_line(model_dir):
    lines = ["Anna Berg lives in Oslo.", "", "  ", "Tom went to Paris. He liked it."]
    records = jsonl(model_dir, "\n".join(lines) + "\n")
    assert len(records) == len(lines)
    assert records[1] == {"text": "", "sentences": [], "entities": []}
    assert records[2]["sentences"] == []
    assert len(records[3]["sentences"]) == 2


def test_inline_keeps_the_text_and_its_white_space(model_dir):
    line = "Maria  Lopez\tflew to Berlin."
    inline = tagger("tag", model_dir, "--format", "inline", input=line + "\n").stdout.rstrip("\n")
    assert (
        inline.replace("[PER ", "").replace("[LOC ", "").replace("[ORG ", "").replace("[MISC ", "").replace("]", "")
        == line
    )
    assert "[LOC Berlin]." in inline


def test_conll_with_confidence_has_a_third_column_and_a_blank_line_after_each_sentence(model_dir):
    output = tagger("tag", model_dir, "--confidence", input="Anna lives in Oslo. Tom too.\n").stdout
    sentences = output.split("\n\n")
    assert len([s for s in sentences if s.strip()]) == 2
    for line in output.splitlines():
        if line:
            token, tag, probability = line.split("\t")
            assert 0 < float(probability) <= 1


def test_html_is_one_page_for_a_file_and_shows_markup_in_the_input_as_text(model_dir):
    text = "Anna Berg lives in Oslo.\n<script>alert(1)</script> in Berlin\n\n"
    page = tagger("tag", model_dir, "--format", "html", input=text).stdout
    assert page.count("<html") == 1 and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    parser = html.parser.HTMLParser()
    parser.feed(page)
    parser.close()


def test_nbest_paths_are_exact_probabilities_best_first(model_dir, loaded):
    [record] = jsonl(model_dir, "Anna Berg lives in Oslo.\n", "--nbest", "4")
    [sentence] = record["sentences"]
    paths = sentence["nbest"]
    assert len(paths) == 4
    probabilities = [path["probability"] for path in paths]
    assert (
        probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 4 * 5e-5
    )  # each rounded to 4 digits
    assert paths[0]["tags"] == [token["tag"] for token in sentence["tokens"]]
    assert len({tuple(path["tags"]) for path in paths}) == 4
    [tagged] = loaded.tag([[t["text"] for t in sentence["tokens"]]], nbest=4)
    assert [p.probability for p in tagged.nbest] == pytest.approx(probabilities, rel=1e-3)


def test_nbest_needs_jsonl(model_dir):
    result = tagger("tag", model_dir, "--nbest", "3", input="Anna\n", check=False)
    assert_one_line_error(result, "--nbest is written in jsonl only")


def test_min_confidence_drops_entities_below_it_and_tags_their_tokens_o(model_dir, loaded):
    text = "Maria Lopez met Angela Merkel in Madrid and Berlin on Monday with Nordwind Bank."
    everything = loaded(text).entities
    confidences = sorted({e.confidence for e in everything})
    assert len(confidences) >= 2, f"entities of different confidences, for a threshold between them: {everything}"
    middle = len(confidences) // 2
    threshold = (confidences[middle - 1] + confidences[middle]) / 2  # some entities below it, some above
    dropped = [e for e in everything if e.confidence < threshold]
    kept = [e for e in everything if e.confidence >= threshold]
    assert dropped and kept
    [record] = jsonl(model_dir, text + "\n", "--min-confidence", repr(threshold))
    assert [(e["start"], e["end"], e["type"]) for e in record["entities"]] == [(e.start, e.end, e.type) for e in kept]
    tagged = {t["start"] for s in record["sentences"] for t in s["tokens"] if t["tag"] != "O"}
    assert not any(e.start in tagged for e in dropped), "the tokens of a dropped entity are tagged O"
    assert all(e.start in tagged for e in kept)
    [everything_written] = jsonl(model_dir, text + "\n")
    assert len(everything_written["entities"]) == len(everything)


def span_probabilities_by_enumeration(model_dir, tokens):
    """``{Span: probability}``: the probability that ``tokens`` hold each entity, summed over every tag sequence the
    CRF allows that holds it, at the temperature of calibration.json; from the network's emissions and the CRF's
    scores (the model read from model.pt), by enumerating the sequences."""
    import numpy as np
    import torch

    from bilstm_tagger.base.schemes import tags_to_spans
    from bilstm_tagger.model import checkpoint
    from bilstm_tagger.model.trained import load_trained_model
    from bilstm_tagger.model.vocab import Vocab

    info = checkpoint.load_info(model_dir)
    vocab = Vocab.from_json(info.vocab)
    model = load_trained_model(model_dir, info, vocab).eval()
    temperature = json.loads((model_dir / "calibration.json").read_text())["temperature"]
    with torch.inference_mode():
        emissions = model.emissions(vocab.encode([tokens]))[0].double().numpy()  # (T, K)
    crf = model.crf
    scores_of = (crf.transitions, crf.start_transitions, crf.end_transitions)
    transitions, start, end = (scores.detach().double().numpy() for scores in scores_of)
    forbidden = crf.forbidden_transitions.numpy()
    paths = np.flatnonzero(~crf.forbidden_starts.numpy())[
        :, None
    ]  # (N, t) allowed beginnings, extended a step at a time
    scores = start[paths[:, 0]] + emissions[0, paths[:, 0]]
    for step in range(1, len(tokens)):
        previous, following = np.nonzero(~forbidden[paths[:, -1]])
        scores = scores[previous] + transitions[paths[previous, -1], following] + emissions[step, following]
        paths = np.concatenate([paths[previous], following[:, None]], axis=1)
    allowed = ~crf.forbidden_ends.numpy()[paths[:, -1]]
    paths, scores = paths[allowed], (scores[allowed] + end[paths[allowed, -1]]) / temperature
    probabilities = np.exp(scores - np.logaddexp.reduce(scores))
    totals = {}
    for path, probability in zip(paths.tolist(), probabilities):
        for span in tags_to_spans([vocab.tags.itos[k] for k in path]):
            totals[span] = totals.get(span, 0.0) + probability
    return totals


def test_an_entity_confidence_is_the_crf_probability_of_that_entity(model_dir, loaded):
    """Each entity's confidence, from the Python API and in ``tagger tag -f jsonl``, is the probability that the
    sentence holds exactly that entity (test_posteriors.py checks the computation on random CRFs; this, that it is
    what tagging gives, at the model's temperature, for each entity)."""
    texts = ["Anna Berg flew to Oslo .", "Nordbank hired Anna Berg in Madrid", "Maria Lopez visited Berlin"]
    records = jsonl(model_dir, "".join(text + "\n" for text in texts))
    assert json.loads((model_dir / "calibration.json").read_text())["temperature"] != pytest.approx(1.0, abs=0.05)
    every = []
    for text, record in zip(texts, records):
        document = loaded(text)
        [sentence] = document.sentences
        expected = span_probabilities_by_enumeration(model_dir, sentence.tokens)
        wanted = [expected[span] for span in sentence.spans]
        assert [e.confidence for e in document.entities] == pytest.approx(wanted, rel=1e-4)
        [tagged] = loaded.tag([sentence.tokens], confidence=True)
        assert tagged.spans == sentence.spans and tagged.span_scores == pytest.approx(wanted, rel=1e-4)
        assert [(e["start"], e["end"]) for e in record["entities"]] == [(e.start, e.end) for e in document.entities]
        assert [e["confidence"] for e in record["entities"]] == pytest.approx(wanted, rel=6e-4)  # 4 digits written
        every += wanted
    assert len(every) >= 4, "entities to check"
    assert len({round(probability, 3) for probability in every}) >= 3, f"entities of different confidences: {every}"


def test_python_api_call_and_pipe(loaded):
    document = loaded(EXAMPLE)
    assert [s.tokens for s in document.sentences][0][-2:] == ["Berlin", "."]
    for entity in document.entities:
        assert EXAMPLE[entity.start : entity.end] == entity.text and 0 < entity.confidence <= 1
    for token in document.tokens:
        assert EXAMPLE[token.start : token.end] == token.text
    documents = list(loaded.pipe(["Anna lives in Oslo.", "", EXAMPLE], batch_size=2))
    assert [d.text for d in documents] == ["Anna lives in Oslo.", "", EXAMPLE]
    alone, in_batch = document.sentences, documents[2].sentences
    assert [s.tags for s in alone] == [s.tags for s in in_batch] and [s.offsets for s in alone] == [
        s.offsets for s in in_batch
    ]
    assert [e.confidence for e in document.entities] == pytest.approx([e.confidence for e in documents[2].entities])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.characters(exclude_categories=["Cs"]), max_size=60), min_size=1, max_size=4))
def test_any_unicode_text_keeps_the_offset_invariant(loaded, lines):
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    output = io.StringIO()
    written = loaded.tag_file(
        io.BytesIO(data),
        "<test>",
        output,
        output_format="jsonl",
        reading=CorpusReading("text", encoding_errors="replace"),
    )
    records = [json.loads(line) for line in output.getvalue().splitlines()]
    assert written == len(records) == len(lines)
    for record, line in zip(records, lines):
        check_record(record, line)
        after = record["sentences"][-1]["end"] if record["sentences"] else 0
        assert all(c.isspace() or unicodedata.category(c) == "Cf" for c in line[after:])


def test_calibration_is_fitted_after_training_and_by_tagger_calibrate(model_dir, tmp_path, loaded):
    stored = json.loads((model_dir / "calibration.json").read_text())
    assert stored["temperature"] > 0 and stored["data"] == "dev" and stored["ece_after"] <= stored["ece_before"] + 1e-9
    assert loaded.model.temperature == stored["temperature"]
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in model_dir.iterdir():
        if path.name != "calibration.json":
            (copy / path.name).write_bytes(path.read_bytes())
    before = Tagger.load(copy)
    assert before.model.temperature == 1.0
    result = tagger("calibrate", copy, DATA / "ner" / "dev.txt")
    assert "temperature" in result.stderr and "calibration error" in result.stderr
    after = Tagger.load(copy)
    assert after.model.temperature == pytest.approx(stored["temperature"], rel=1e-6)
    sentence = ["Maria", "Lopez", "flew", "to", "Berlin"]
    [plain], [calibrated] = before.tag([sentence], confidence=True), after.tag([sentence], confidence=True)
    assert plain.tags == calibrated.tags
    if after.model.temperature != pytest.approx(1.0, abs=1e-3):
        assert plain.scores != pytest.approx(calibrated.scores, abs=1e-6)


def test_expected_calibration_error_and_reliability_bins():
    confidences = [0.05, 0.15, 0.95, 0.95, 1.0, 0.55]
    correct = [False, False, True, False, True, True]
    table = reliability(confidences, correct)
    assert [row.count for row in table] == [1, 1, 0, 0, 0, 1, 0, 0, 0, 3]
    assert table[9].accuracy == pytest.approx(2 / 3) and table[9].mean_confidence == pytest.approx(2.9 / 3)
    expected = (1 * 0.05 + 1 * 0.15 + 1 * 0.45 + 3 * abs(2.9 / 3 - 2 / 3)) / 6
    assert expected_calibration_error(confidences, correct) == pytest.approx(expected)
    assert expected_calibration_error([], []) == 0.0


def test_a_model_that_predicts_no_entity_keeps_temperature_one(tmp_path):
    config = TrainingConfig(model=ModelConfig(word_dim=8, hidden_size=8, char_filters=4), max_epochs=1, seed=3)
    train(read_corpus(DATA / "ner" / "train.txt"), read_corpus(DATA / "ner" / "dev.txt"), tmp_path / "m", config)
    stored = json.loads((tmp_path / "m" / "calibration.json").read_text())
    assert stored["predictions"] == 0, "one epoch of a tiny model should predict no entity on dev"
    assert stored["temperature"] == 1.0
