"""Document context (docs/context.md): windows of a document's sentences, where documents end in
every input, the mention attention, and a document tagged as raw text as in its CoNLL form."""

import io
import json
import random

import numpy as np
import pytest
import torch

from bilstm_tagger import Tagger
from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import ModelConfig
from bilstm_tagger.model.context import document_keys, pack_windows
from bilstm_tagger.model.encoders import MentionAttention
from bilstm_tagger.serving.requests import RequestError, parse_tag_request
from bilstm_tagger.tagging.batches import tag_buffer
from bilstm_tagger.tagging.decoding import ProbabilityRequest, decode_batch
from bilstm_tagger.tagging.tagger import LoadedModel
from bilstm_tagger.text.corpus import CorpusReading, Sentence, iter_lines, read_corpus
from bilstm_tagger.text.documents import read_inputs
from bilstm_tagger.training.loop import TrainingData, split_long_sentences

from conftest import DATA, tagger

TEST = DATA / "ner" / "test.txt"


@pytest.fixture(scope="module")
def context_model(context_training):
    return context_training.directory


def test_windows_hold_consecutive_sentences_of_one_document_within_the_limit():
    generator = random.Random(3)
    for _ in range(200):
        lengths = [generator.randint(1, 30) for _ in range(generator.randint(1, 40))]
        documents = document_keys([generator.random() < 0.2 for _ in lengths])
        limit = generator.randint(1, 80)
        windows = pack_windows(lengths, documents, limit)
        assert [member for window in windows for member in window.members] == list(range(len(lengths)))
        for window in windows:
            assert len({documents[member] for member in window.members}) == 1
            assert window.length == sum(lengths[member] for member in window.members)
            assert window.length <= limit or len(window.members) == 1
            assert list(window.starts) == [
                sum(lengths[m] for m in window.members[:i]) for i in range(len(window.members))
            ]
        # Greedy: the next sentence of the same document did not fit.
        for window, following in zip(windows, windows[1:]):
            first = following.members[0]
            assert documents[first] != documents[window.members[-1]] or window.length + lengths[first] > limit


def test_documents_end_at_docstart_newdoc_and_blank_lines():
    conll = read_corpus(TEST, CorpusReading("conll"))
    assert [s.starts_document for s in conll].count(True) == 8  # the sample's -DOCSTART- lines
    conllu = "# newdoc id = a\n# text = A b\n1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n2\tb\t_\t_\t_\t_\t_\t_\t_\t_\n\n"
    conllu += "# text = C\n1\tC\t_\t_\t_\t_\t_\t_\t_\t_\n\n# newdoc\n1\tD\t_\t_\t_\t_\t_\t_\t_\t_\n"
    stream = io.BytesIO(conllu.encode())
    records = list(read_inputs(iter_lines(stream, "x.conllu"), "x.conllu", CorpusReading("conllu")))
    assert [record.starts_document for record in records] == [True, False, True]
    text = "First line.\nSame document.\n\n\nA new one.\nAnd more.\n"
    records = list(read_inputs(iter_lines(io.BytesIO(text.encode()), "x.txt"), "x.txt", CorpusReading("text")))
    flags = [(record.text, record.starts_document) for record in records if record.text]
    assert flags == [("First line.", True), ("Same document.", False), ("A new one.", True), ("And more.", False)]


def test_training_reads_windows_and_counts_their_sentences():
    train = read_corpus(DATA / "ner" / "train.txt", CorpusReading("conll"))
    dev = read_corpus(DATA / "ner" / "dev.txt", CorpusReading("conll"))
    data = TrainingData.prepare(train, dev, "iobes", context_tokens=40)
    plain = TrainingData.prepare(train, dev, "iobes")
    assert data.train_sentences == len(plain.train) and len(data.train) < len(plain.train)
    assert [token for s in data.train for token in s.tokens] == [token for s in plain.train for token in s.tokens]
    assert [tag for tags in data.train_tags for tag in tags] == [tag for tags in plain.train_tags for tag in tags]
    assert data.sentences_in(range(len(data.train))) == data.train_sentences
    assert data.dev_documents == document_keys([s.starts_document for s in dev])
    long = Sentence(["w"] * 1200, ["O"] * 1200, line=3, document_header="-DOCSTART- O")
    assert [piece.starts_document for piece in split_long_sentences([long])] == [True, False, False]


def test_a_context_out_of_range_is_refused_in_one_line():
    with pytest.raises(InputError, match="unknown context 'paragraph'"):
        ModelConfig(context="paragraph")
    with pytest.raises(InputError, match="context-tokens must be at least 1"):
        ModelConfig(context="document", context_tokens=0)
    with pytest.raises(RequestError, match="document: expected true or false, got a string"):
        parse_tag_request(b'{"text": "a", "document": "yes"}')


def test_a_word_without_another_mention_reads_nothing_and_padding_changes_nothing():
    torch.manual_seed(0)
    attention = MentionAttention(6)
    encoded = torch.randn(2, 5, 6)
    words = torch.tensor([[1, 2, 1, 3, 1], [4, 4, 5, 0, 0]])
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    read = attention(encoded, words, mask)
    assert torch.all(read[0, [1, 3]] == 0) and torch.all(read[1, 2] == 0)  # words 2, 3 and 5 occur once
    assert torch.allclose(read[1, 0], encoded[1, 1]) and torch.allclose(read[1, 1], encoded[1, 0])  # one other each
    alone = attention(encoded[1:, :3], words[1:, :3], mask[1:, :3])
    assert torch.allclose(alone[0], read[1, :3], atol=1e-6)


def test_each_sentence_is_decoded_from_its_rows_of_the_window(context_model):
    model = LoadedModel.load(context_model, engine="torch")
    first, second = (s.tokens for s in read_corpus(TEST, CorpusReading("conll"))[1:3])
    request = ProbabilityRequest(confidence=True)
    window = model.vocab.arrays([first + second])
    emissions = model.network.emissions(window)
    expected = [
        decode_batch(
            model.network.crf,
            emissions[:, start : start + len(tokens)].copy(),
            np.array([len(tokens)]),
            model.tables,
            request,
        )[0]
        for start, tokens in ((0, first), (len(first), second))
    ]
    together = tag_buffer(model.network, model.vocab, model.tables, [first, second], request=request, documents=[1, 1])
    apart = tag_buffer(model.network, model.vocab, model.tables, [first, second], request=request, documents=[1, 2])
    assert [p.tags for p in together] == [p.tags for p in expected]
    assert np.allclose(
        [s for p in together for s in p.tag_scores], [s for p in expected for s in p.tag_scores], atol=1e-5
    )
    assert [s for p in together for s in p.tag_scores] != [s for p in apart for s in p.tag_scores]  # context counts


def _entities(records: list[dict]) -> list[list[tuple[str, str]]]:
    return [[(entity["type"], entity["text"]) for entity in record["entities"]] for record in records]


def test_a_document_as_raw_text_gives_the_entities_of_its_conll_form(context_model, tmp_path):
    sentences = read_corpus(TEST, CorpusReading("conll"))[:33]  # the sample's first two documents
    conll = tmp_path / "documents.conll"
    text = tmp_path / "documents.txt"
    with conll.open("w") as conll_file, text.open("w") as text_file:
        for sentence in sentences:
            if sentence.starts_document:
                conll_file.write("-DOCSTART- O\n\n")
                text_file.write("\n" if sentence is not sentences[0] else "")
            conll_file.write("".join(f"{token} O\n" for token in sentence.tokens) + "\n")
            text_file.write(" ".join(sentence.tokens) + "\n")
    from_conll = [
        json.loads(line)
        for line in tagger(
            "tag", context_model, "--input", conll, "--input-format", "conll", "--format", "jsonl"
        ).stdout.splitlines()
    ]
    from_text = [
        json.loads(line)
        for line in tagger("tag", context_model, "--input", text, "--format", "jsonl").stdout.splitlines()
    ]
    from_text = [record for record in from_text if record["text"]]
    assert [[t["text"] for s in r["sentences"] for t in s["tokens"]] for r in from_text] == [
        s.tokens for s in sentences
    ]
    assert _entities(from_text) == _entities(from_conll) and sum(map(len, _entities(from_conll))) > 10


def test_onnx_runtime_tags_a_document_model_as_torch_does(context_model):
    lines = TEST.read_text()
    outputs = [
        tagger(
            "tag", context_model, "--input-format", "conll", "--format", "jsonl", "--engine", engine, input=lines
        ).stdout
        for engine in ("torch", "onnx")
    ]
    records = [[json.loads(line) for line in output.splitlines()] for output in outputs]
    assert [r["entities"] for r in records[0]] == [r["entities"] for r in records[1]]
    assert np.allclose(
        [t["confidence"] for r in records[0] for s in r["sentences"] for t in s["tokens"]],
        [t["confidence"] for r in records[1] for s in r["sentences"] for t in s["tokens"]],
        atol=1e-4,
    )


def test_the_api_and_the_server_read_a_document_where_asked(context_model):
    model = Tagger.load(context_model, engine="torch")
    assert model.context == "document"
    sentences = [s.tokens for s in read_corpus(TEST, CorpusReading("conll"))[1:5]]
    together = model.tag(sentences, confidence=True, document=True)
    apart = model.tag(sentences, confidence=True)
    assert together != apart
    assert [s.tags for s in apart] == [model.tag([s])[0].tags for s in sentences]
    [document] = model.pipe([" ".join(" ".join(s) for s in sentences)])
    assert [s.tags for s in document.sentences] == [s.tags for s in together]
    request = parse_tag_request(json.dumps({"sentences": sentences, "document": True}).encode())
    assert [item.starts_document for item in request.inputs()] == [True, False, False, False]
    assert all(item.starts_document for item in parse_tag_request(json.dumps({"texts": ["a", "b"]}).encode()).inputs())
