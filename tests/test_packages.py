"""``tagger package``: a model built into a wheel and an sdist, pip installed into a fresh virtual
environment, then found by name by ``tagger tag``, ``tagger serve`` and ``Tagger.load``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from bilstm_tagger.model.packages import build_package

from conftest import ROOT, assert_one_line_error, http_get, tagger

TEXT = "Maria Lopez flew from Madrid to Berlin.\nTom Smith lives in Oslo.\n"


def fresh_environment(directory: Path) -> Path:
    """A new virtual environment that sees this one's packages (torch, bilstm-tagger) but not its model
    packages: a path configuration file runs ``site.addsitedir`` on this environment's site-packages, so
    that its editable install's own path file is read too. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True, timeout=120)
    python = directory / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "_outer_environment.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory, trained_ner_model):
    """The shared NER model packaged as ``sample_ner`` 1.2.0 and installed into a fresh environment."""
    directory = tmp_path_factory.mktemp("package")
    built = build_package(trained_ner_model, "sample_ner", "1.2.0", directory / "dist", "NER on the sample corpus")
    python = fresh_environment(directory / "venv")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(built.wheel)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    return built, python


def run(python: Path, *arguments: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([python, *arguments], capture_output=True, text=True, input=input, timeout=120)


def test_the_wheel_and_sdist_hold_the_model_and_its_record(installed, trained_ner_model):
    built, _ = installed
    assert built.wheel.name == "sample_ner-1.2.0-py3-none-any.whl" and built.sdist.name == "sample_ner-1.2.0.tar.gz"
    names = set(zipfile.ZipFile(built.wheel).namelist())
    model_files = {path.name for path in trained_ner_model.iterdir()}
    assert {f"sample_ner/model/{name}" for name in model_files} <= names
    assert {"sample_ner/__init__.py", "sample_ner/meta.json", "sample_ner-1.2.0.dist-info/entry_points.txt"} <= names
    entry_points = zipfile.ZipFile(built.wheel).read("sample_ner-1.2.0.dist-info/entry_points.txt").decode()
    assert "[bilstm_tagger.models]\nsample_ner = sample_ner" in entry_points
    with tarfile.open(built.sdist) as sdist:
        assert "sample_ner-1.2.0/sample_ner/model/model.pt" in sdist.getnames()
    meta = built.meta
    assert meta["checkpoint_format"] == 1 and meta["data"]["train_sentences"] > 0 and meta["data"]["dev_tokens"] > 0
    last_best = [json.loads(line) for line in (trained_ner_model / "metrics.jsonl").read_text().splitlines()]
    assert meta["scores"]["dev"] == [record for record in last_best if record["best"]][-1]["dev"]
    assert meta["description"] == "NER on the sample corpus" and "I-PER" in meta["tags"]


def test_an_installed_package_tags_by_name_as_its_directory_does(installed, trained_ner_model):
    _, python = installed
    by_directory = tagger("tag", trained_ner_model, "--format", "jsonl", input=TEXT).stdout
    by_name = run(python, "-m", "bilstm_tagger", "tag", "sample_ner", "--format", "jsonl", input=TEXT)
    assert by_name.returncode == 0 and by_name.stdout == by_directory
    api = "from bilstm_tagger import Tagger; print([e.text for e in Tagger.load('sample_ner')('Maria Lopez flew to Berlin.').entities])"
    assert "Maria Lopez" in run(python, "-c", api).stdout
    # This environment does not have it: the name is not found, in one line.
    assert_one_line_error(
        tagger("tag", "sample_ner", input=TEXT, check=False),
        "no model directory or installed model package named sample_ner",
    )


def test_an_installed_package_is_served_under_its_name(installed):
    _, python = installed
    server = subprocess.Popen(
        [python, "-m", "bilstm_tagger", "serve", "sample_ner", "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    try:
        line = server.stderr.readline()
        assert line.startswith("Serving sample_ner (")
        url = line.split(" on ")[1].split(": ")[0]
        info = http_get(url, "/info")[1]
        assert info["models"][0]["name"] == "sample_ner" and info["model"] == "sample_ner"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_package_of_another_checkpoint_format_is_refused_in_one_line(installed):
    _, python = installed
    found = run(python, "-c", "import sample_ner; print(sample_ner.MODEL_DIR.parent)")
    package_dir = Path(found.stdout.strip())
    meta_file = package_dir / "meta.json"
    original = meta_file.read_text()
    meta = json.loads(original)
    meta.update(checkpoint_format=2, written_by="9.1.0")
    meta_file.write_text(json.dumps(meta))
    try:
        result = run(python, "-m", "bilstm_tagger", "tag", "sample_ner", input=TEXT)
    finally:
        meta_file.write_text(original)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "model package sample_ner 1.2.0 holds a checkpoint of format 2" in result.stderr
    assert "install bilstm-tagger 9.1.0 to use it" in result.stderr


def test_bad_package_requests_are_refused_in_one_line(tmp_path, trained_ner_model):
    model = ROOT / "tests" / "fixtures" / "format1" / "model"
    output = str(tmp_path / "dist")
    for arguments, words in (
        (("--name", "Sample-NER", "--version", "1.0.0"), "--name 'Sample-NER': use lower-case letters"),
        (("--name", "sample", "--version", "one"), "--version 'one': not a version pip accepts"),
    ):
        assert_one_line_error(tagger("package", model, *arguments, "--output", output, check=False), words)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(model, unfinished)
    (unfinished / "resume.pt").write_bytes(b"")
    result = tagger("package", unfinished, "--name", "sample", "--version", "1.0", "--output", output, check=False)
    assert_one_line_error(result, f"{unfinished}: training has not finished")
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())
