"""End to end through the command line, as a user runs it: train → evaluate → tag, and bad input.

The commands run in this process, through the console script's ``main()`` (conftest.tagger_in_process): what
they print, write and exit with is the same, without a start of Python and torch for each. What only a process
shows (signals, pipes, workers) is tested in child processes here and in test_faults.py and test_workers.py."""

import inspect
import json
import select
import subprocess
import sys
from dataclasses import asdict

import pytest

from bilstm_tagger import __version__
from bilstm_tagger.model.config import PRESETS, ModelConfig, TrainingConfig

from conftest import (
    DATA,
    assert_one_line_error,
    assert_the_records_before_a_bad_line_come_first,
    record_tags,
    record_tokens,
    tagger_in_process,
)

TRAIN, DEV, TEST = DATA / "ner" / "train.txt", DATA / "ner" / "dev.txt", DATA / "ner" / "test.txt"
POS_CORPUS = (DATA / "pos" / "train.conllu", DATA / "pos" / "dev.conllu")
SENTENCE = "Maria Lopez flew from Madrid to Berlin on Monday ."


@pytest.fixture
def model_dir(trained_ner_model):
    """The run's NER model (conftest.py): `tagger train` of the README's tour on the sample corpus."""
    return trained_ner_model


def test_training_writes_a_checkpoint_and_one_metrics_line_per_epoch(ner_training):
    model_dir = ner_training.directory
    assert "Dev F1" in ner_training.stderr and "best dev F1" in ner_training.stderr
    assert {p.name for p in model_dir.iterdir()} >= {"config.json", "vocab.json", "model.pt", "metrics.jsonl"}
    records = [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, len(records) + 1))
    assert any(r["best"] for r in records)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["tag_scheme"], config["data_scheme"]) == ("iobes", "iob1")


def test_training_refuses_to_overwrite_a_model_unless_asked(model_dir):
    result = tagger_in_process("train", TRAIN, "--dev", DEV, "--output", model_dir, check=False)
    assert_one_line_error(result, f"{model_dir}: already holds a model; pass --overwrite")


def test_evaluate_prints_a_table_and_json_and_writes_predictions(model_dir, tmp_path):
    table = tagger_in_process("evaluate", model_dir, TEST).stdout
    for label in ("PER", "LOC", "ORG", "MISC", "micro avg", "Entity F1"):
        assert label in table
    report = json.loads(tagger_in_process("evaluate", model_dir, TEST, "--json").stdout)
    assert report["metric"] == "f1" and report["score"] == report["f1"]
    assert report["f1"] > 50, "the sample corpus should be learnt by the README's training"
    predictions = tmp_path / "predictions.txt"
    tagger_in_process("evaluate", model_dir, TEST, "--output-predictions", predictions)
    written = predictions.read_text().splitlines()
    original = TEST.read_text().splitlines()
    assert len(written) == len(original)
    for before, after in zip(original, written):
        if before.strip():
            assert after.startswith(before + " ") and len(after.split()) == 5
    # The appended column scored against the gold column gives the F1 reported above.
    from bilstm_tagger.scoring.metrics import evaluate
    from bilstm_tagger.text.corpus import CorpusReading, read_corpus

    gold = read_corpus(predictions, CorpusReading(tag_column=3))
    predicted = read_corpus(predictions, CorpusReading(tag_column=4))
    recomputed = evaluate([s.tags for s in gold], [s.tags for s in predicted], "iob1")
    assert recomputed.f1 == pytest.approx(report["f1"])


def test_evaluate_min_score_is_a_gate(model_dir):
    result = tagger_in_process("evaluate", model_dir, TEST, "--min-score", "100.5", check=False)
    assert result.returncode == 1
    assert "below the minimum 100.50" in result.stderr


def test_tag_writes_every_format(model_dir):
    conll = tagger_in_process("tag", model_dir, input=SENTENCE + "\n").stdout
    rows = [line.split("\t") for line in conll.splitlines() if line]
    assert [token for token, _ in rows] == SENTENCE.split()
    assert conll.endswith("\n\n")
    tags = [tag for _, tag in rows]
    assert tags[0] != "O" and tags[4] != "O", "a person and a city should be found"
    inline = tagger_in_process("tag", model_dir, "--format", "inline", input=SENTENCE + "\n").stdout
    assert inline.count("\n") == 1 and "[" in inline and "Madrid" in inline
    record = json.loads(tagger_in_process("tag", model_dir, "--format", "jsonl", input=SENTENCE + "\n").stdout)
    assert record_tokens(record) == SENTENCE.split() and record_tags(record) == tags
    assert all(set(entity) == {"start", "end", "type", "text", "confidence"} for entity in record["entities"])


def test_tag_gives_one_record_per_input_line_in_order(model_dir, tmp_path):
    lines = ["Anna Berg lives in Oslo .", "", "Rome", "   ", "The Paris office of Nordbank opened ."] * 30
    text = "\n".join(lines) + "\n"
    records = tagger_in_process(
        "tag", model_dir, "-f", "jsonl", "--batch-size", "4", "--input-format", "tokens", input=text
    )
    assert [record_tokens(json.loads(r)) for r in records.stdout.splitlines()] == [line.split() for line in lines]
    inline = tagger_in_process("tag", model_dir, "--format", "inline", input=text).stdout.split("\n")
    assert len(inline) == len(lines) + 1 and inline[1] == "" and inline[-1] == ""
    conll_input = tagger_in_process(
        "tag", model_dir, "--input", TEST, "--input-format", "conll", "--format", "jsonl"
    ).stdout
    from bilstm_tagger.text.corpus import read_corpus

    assert [record_tokens(json.loads(r)) for r in conll_input.splitlines()] == [s.tokens for s in read_corpus(TEST)]


def test_tag_answers_each_line_of_a_slow_pipe_before_the_next_arrives(model_dir):
    """A program that writes a line and waits for its answer must get it, at the default batch size."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bilstm_tagger", "tag", str(model_dir), "--format", "jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in ["Anna Berg lives in Oslo .", "", "Tom works for Nordbank ."]:
            process.stdin.write(line + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], 120)
            assert ready, f"no answer to {line!r} while standard input was still open"
            assert record_tokens(json.loads(process.stdout.readline())) == line.split()
        process.stdin.close()
        assert process.stdout.read() == ""
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()


def test_lines_before_a_bad_line_are_tagged_before_the_error(model_dir):
    assert_the_records_before_a_bad_line_come_first(
        [sys.executable, "-m", "bilstm_tagger", "tag", str(model_dir), "-f", "jsonl"]
    )


def test_usage_errors_are_one_line_with_exit_code_2(model_dir):
    for args, message in [
        (["train", TRAIN], "tagger train: Missing option '--dev'"),
        (["tag", model_dir, "--batch-size", "0"], "tagger tag: Invalid value for '--batch-size'"),
        (["tag", model_dir, "--format", "xml"], "tagger tag: Invalid value for '--format'"),
        (["evaluate", model_dir], "tagger evaluate: Missing argument 'TEST_FILE'"),
        (["train", TRAIN, "--dev", DEV, "-o", "/tmp/never", "--momentum", "2"], "momentum must be in [0, 1)"),
    ]:
        assert_one_line_error(tagger_in_process(*args, check=False), message)


@pytest.fixture
def broken_files(tmp_path):
    text = TRAIN.read_text()
    truncated = tmp_path / "truncated.txt"
    cut = text.index("\n", len(text) // 3)
    truncated.write_text(text[: cut - 3])  # ends inside a token line
    miscolumned = tmp_path / "miscolumned.txt"
    lines = text.splitlines()
    bad_line = next(i for i, line in enumerate(lines) if i > 10 and line.strip() and not line.startswith("-DOCSTART-"))
    lines[bad_line] = " ".join(lines[bad_line].split()[:3])
    miscolumned.write_text("\n".join(lines) + "\n")
    binary = tmp_path / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    return {
        "truncated": (truncated, f"{truncated}:"),
        "miscolumned": (miscolumned, f"{miscolumned}:{bad_line + 1}: expected 4 columns"),
        "binary": (binary, f"{binary}:"),
    }


@pytest.mark.parametrize("kind", ["truncated", "miscolumned", "binary"])
def test_bad_files_end_with_one_line_errors_in_every_command(model_dir, broken_files, kind, tmp_path):
    path, prefix = broken_files[kind]
    assert_one_line_error(
        tagger_in_process("train", path, "--dev", DEV, "--output", tmp_path / "m", check=False), prefix
    )
    assert_one_line_error(tagger_in_process("evaluate", model_dir, path, check=False), prefix)
    if kind == "binary":
        assert_one_line_error(tagger_in_process("tag", model_dir, "--input", path, check=False), prefix)
    else:
        assert_one_line_error(
            tagger_in_process("tag", model_dir, "--input", path, "--input-format", "conll", check=False), prefix
        )
    assert not (tmp_path / "m" / "config.json").exists()


def test_bad_model_directories_are_one_line_errors(tmp_path, model_dir):
    assert_one_line_error(
        tagger_in_process("tag", tmp_path / "missing", input="a\n", check=False),
        f"{tmp_path / 'missing'}: no such model directory",
    )
    assert_one_line_error(
        tagger_in_process("evaluate", TRAIN.parent, TEST, check=False),
        f"{TRAIN.parent}: not a bilstm-tagger model directory",
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "vocab.json"):
        (broken / name).write_bytes((model_dir / name).read_bytes())
    (broken / "model.pt").write_bytes((model_dir / "model.pt").read_bytes()[:1000])
    assert_one_line_error(
        tagger_in_process("tag", broken, input="a\n", check=False),
        f"{broken / 'model.pt'}: cannot read: truncated or corrupted",
    )


def test_every_training_option_of_the_cli_reaches_the_config():
    """The CLI hands over its options by name: each one must be a config field, and each field an option."""
    from bilstm_tagger.cli import commands as cli
    from bilstm_tagger.model.config import OPTION_NAMES

    parameters = set(inspect.signature(cli.train).parameters)
    assert OPTION_NAMES <= parameters


def test_the_cli_training_defaults_are_the_library_ones():
    from bilstm_tagger.cli import commands as cli

    library = {**asdict(TrainingConfig()), **asdict(ModelConfig())}
    del library["word_dim"]  # the CLI's None means "50, or the size of --embeddings"
    cli_defaults = {name: p.default for name, p in inspect.signature(cli.train).parameters.items()}
    checked = {name: (cli_defaults[name], library[name]) for name in library if name in cli_defaults}
    assert len(checked) >= 18
    assert all(cli_value == library_value for cli_value, library_value in checked.values()), checked


def test_version_and_help():
    assert tagger_in_process("--version").stdout.strip() == f"bilstm-tagger {__version__}"
    train_help = tagger_in_process("train", "--help").stdout
    for option, default in [("--batch-size", "32"), ("--hidden-size", "100"), ("--optimizer", "adam")]:
        assert option in train_help and f"[default: {default}]" in train_help
    assert "[default: conll]" in tagger_in_process("tag", "--help").stdout
    assert "--output-predictions" in tagger_in_process("evaluate", "--help").stdout
    code = (
        "import sys\nfrom bilstm_tagger.cli import commands as cli\nsys.argv = ['tagger', 'train', '--help']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_a_pos_tagger_trains_on_conllu_and_reports_accuracy(pos_training, tmp_path):
    """The run's part-of-speech model (conftest.py), trained by `tagger train` on data/pos's CoNLL-U files."""
    directory = pos_training.directory
    assert "Dev acc" in pos_training.stderr and "best dev accuracy" in pos_training.stderr
    predictions = tmp_path / "predictions.conllu"
    evaluated = tagger_in_process(
        "evaluate", directory, DATA / "pos" / "dev.conllu", "--json", "--output-predictions", predictions
    )
    report = json.loads(evaluated.stdout)
    # The reported accuracy is exactly the share of token lines whose appended tag is the gold UPOS (column 4).
    rows = [line.split("\t") for line in predictions.read_text().splitlines() if line and not line.startswith("#")]
    tokens = [row for row in rows if row[0].isdigit()]  # not multi-word ranges (3-4) or empty nodes (5.1)
    correct = sum(row[3] == row[10] for row in tokens)
    assert report["metric"] == "accuracy" and report["tokens"] == len(tokens)
    assert report["accuracy"] == pytest.approx(100.0 * correct / len(tokens))
    assert 0 < correct < len(tokens) or report["accuracy"] == 100.0
    assert "NOUN" in {row["label"] for row in report["per_label"]}
    inline = tagger_in_process("tag", directory, "--format", "inline", input="We stop .\n").stdout
    assert inline.strip().startswith("We/")


def test_the_command_line_sets_a_model_size_the_preset_also_sets(tmp_path):
    """The other half, a preset's value used where the command line gives none, is
    test_each_preset_trains_with_glove_and_tags."""
    pos_data = (DATA / "pos" / "train.conllu", "--dev", DATA / "pos" / "dev.conllu")
    directory = tmp_path / "given"
    tagger_in_process("train", *pos_data, "-o", directory, "--preset", "pos", "--embeddings", "none", "--max-epochs", "1",
           "--hidden-size", "16")  # fmt: skip
    config = json.loads((directory / "config.json").read_text())
    assert config["model"]["hidden_size"] == 16 != PRESETS["pos"]["hidden_size"] != ModelConfig().hidden_size
    assert config["training"]["embeddings"] is None != PRESETS["pos"]["embeddings"]


@pytest.mark.parametrize(
    "preset, corpus, sentence",
    [("ner", (TRAIN, DEV), "Maria Lopez flew to Kyrgyzstan ."), ("pos", POS_CORPUS, "We flew to Kyrgyzstan .")],
)
def test_each_preset_trains_with_glove_and_tags(tmp_path, preset, corpus, sentence):
    """The main paths: a preset (with the glove-6b-50d package), then tagging with what it trained."""
    directory = tmp_path / preset
    train_file, dev_file = corpus
    result = tagger_in_process(
        "train", train_file, "--dev", dev_file, "-o", directory, "--preset", preset, "--max-epochs", "1"
    )
    assert "Embeddings glove-6b-50d (400,000 × 50)" in result.stderr
    config = json.loads((directory / "config.json").read_text())
    assert config["training"]["embeddings"] == "glove-6b-50d" and config["model"]["word_dim"] == 50
    assert config["training"]["max_epochs"] == 1 != PRESETS[preset]["max_epochs"]  # the command line wins
    defaults = {**asdict(TrainingConfig()), **asdict(ModelConfig())}
    filled = {name: value for name, value in PRESETS[preset].items() if name != "max_epochs"}
    for name, value in filled.items():  # the preset fills what the command line leaves out
        assert config["model"].get(name, config["training"].get(name)) == value, name
    assert len([name for name, value in filled.items() if value != defaults[name]]) >= 3, "the preset shows"
    record = json.loads(tagger_in_process("tag", directory, "--format", "jsonl", input=sentence + "\n").stdout)
    assert record_tokens(record) == sentence.split() and len(record_tags(record)) == len(record_tokens(record))
    from bilstm_tagger import Tagger

    vocab = Tagger.load(directory).model.vocab
    assert vocab.word_id("Kyrgyzstan") >= len(vocab.words), "a word known from GloVe alone"


def test_evaluate_errors_classifies_every_span_and_fits_80_columns(model_dir, tmp_path):
    predictions = tmp_path / "predictions.txt"
    result = tagger_in_process("evaluate", model_dir, TEST, "--errors", "--json", "--output-predictions", predictions)
    report = json.loads(result.stdout)
    errors = report["errors"]
    from bilstm_tagger.base.schemes import tags_to_spans
    from bilstm_tagger.text.corpus import CorpusReading, read_corpus

    gold = [tags_to_spans(s.tags) for s in read_corpus(predictions, CorpusReading(tag_column=3))]
    predicted = [tags_to_spans(s.tags) for s in read_corpus(predictions, CorpusReading(tag_column=4))]
    assert sum(errors["gold_counts"].values()) == sum(map(len, gold)) == sum(r["support"] for r in report["per_label"])
    assert sum(errors["predicted_counts"].values()) == sum(map(len, predicted))
    exact = sum(len(set(g) & set(p)) for g, p in zip(gold, predicted))
    assert errors["gold_counts"]["correct"] == exact
    assert errors["labels"][-1] == "O" and len(errors["confusion"]) == len(errors["labels"])
    assert errors["examples"] and all(example["kind"] != "correct" for example in errors["examples"])
    table = tagger_in_process("evaluate", model_dir, TEST, "--errors").stdout
    for title in ("Errors by type", "Confusion (rows gold, columns predicted", "Most frequent errors"):
        assert title in table
    drawn = [line for line in table.splitlines() if line[:1] in "┏┃┡│├└"]
    assert drawn and max(map(len, drawn)) <= 80, max(drawn, key=len)


def test_evaluate_errors_of_plain_tags_lists_the_most_confused_tags(trained_pos_model):
    directory, (_, dev_file) = trained_pos_model, POS_CORPUS
    table = tagger_in_process("evaluate", directory, dev_file, "--errors").stdout
    assert "Most confused tags" in table and "Confusion of the 8 labels with most errors" in table
    errors = json.loads(tagger_in_process("evaluate", directory, dev_file, "--errors", "--json").stdout)["errors"]
    assert errors["metric"] == "accuracy" and errors["gold_counts"] == {}
    total = sum(map(sum, errors["confusion"]))
    assert total == json.loads(tagger_in_process("evaluate", directory, dev_file, "--json").stdout)["tokens"]


def test_train_and_evaluate_read_standard_input_and_name_dev_labels_training_lacks(tmp_path):
    dev = tmp_path / "dev.txt"
    dev.write_text("Anna NNP I-NP I-PER\nflew VBD I-VP O\nto TO I-PP O\nGuam NNP I-NP I-GPE\n\nTom NNP I-NP I-PER\n")
    directory = tmp_path / "model"
    result = tagger_in_process(
        "train", "-", "--dev", dev, "-o", directory, "--max-epochs", "1", input=TRAIN.read_text()
    )
    lines = result.stderr.splitlines()
    assert lines[1].startswith("Entity types in training: LOC ") and "PER" in lines[1]
    assert lines[2].startswith("Warning: the dev data has entity types that training never shows")
    assert lines[2].endswith(": GPE (1)")
    from_file = json.loads(tagger_in_process("evaluate", directory, TEST, "--json").stdout)
    from_stdin = json.loads(tagger_in_process("evaluate", directory, "-", "--json", input=TEST.read_text()).stdout)
    assert from_stdin["test_file"] == "-" and {**from_stdin, "test_file": str(TEST)} == from_file
    broken = tagger_in_process("evaluate", directory, "-", input="Anna NNP I-PER\nlives VBZ\n", check=False)
    assert_one_line_error(broken, "<stdin>:2: expected 3 columns")
