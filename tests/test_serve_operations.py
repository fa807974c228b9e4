"""``tagger serve`` as operators run it: several models by name, the API key, metrics, access log,
reloading without dropping a request, readiness.

Servers listen on 127.0.0.1 on a free port; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bilstm_tagger.serving.access import ApiKey, is_loopback
from bilstm_tagger.serving.server import Readiness

from conftest import ROOT, http_get, http_post, serve_process

OLD_MODEL = ROOT / "tests" / "fixtures" / "format1" / "model"
KEY = "s3cret-key-0123456789"
AUTHORIZED = {"Authorization": f"Bearer {KEY}"}
TEXTS = ["Maria Lopez flew from Madrid to Berlin.", "Tom Smith lives in Oslo. He met Anna Berg.", ""]

if os.name != "posix":  # pragma: no cover
    pytest.skip("the server's tests signal processes", allow_module_level=True)


def stop(process: subprocess.Popen) -> str:
    """SIGTERM, the exit status checked, and what the server wrote to standard error."""
    process.send_signal(signal.SIGTERM)
    _, said = process.communicate(timeout=30)
    assert process.returncode == 0, said
    return said


def expected_records(model: Path, texts: list[str]) -> list[dict]:
    """What ``tagger tag --format jsonl`` writes for ``texts``, one line each."""
    from conftest import tagger

    output = tagger("tag", model, "--format", "jsonl", input="\n".join(texts) + "\n").stdout
    return [json.loads(line) for line in output.splitlines()]


def metric_samples(url: str) -> dict[tuple[str, tuple], float]:
    """``GET /metrics`` read by the Prometheus client's own parser: (sample name, labels) → value."""
    status, text, headers = http_get(url, "/metrics", AUTHORIZED)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def locked(trained_ner_model):
    """Two models (``sample`` and ``old``), the key from TAGGER_API_KEY, the access log on."""
    process, url = serve_process(
        str(trained_ner_model), f"old={OLD_MODEL}", "--access-log", env={"TAGGER_API_KEY": KEY}
    )
    yield {"url": url, "process": process}
    if process.poll() is None:  # the access-log test stops it to read its log
        stop(process)


def test_every_route_but_health_answers_401_without_the_key(locked):
    url = locked["url"]
    refusals = [
        {},
        {"Authorization": "Bearer " + "x" * len(KEY)},  # the key's length
        {"Authorization": "Bearer short"},  # another length
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Basic {KEY}"},  # not a bearer token
    ]
    for headers in refusals:
        for path in ("/info", "/ready", "/metrics", "/openapi.json"):
            status, answer, sent = http_get(url, path, headers)
            assert status == 401 and "API key" in answer["error"] and sent["WWW-Authenticate"].startswith("Bearer")
        for path in ("/models/sample/tag", "/admin/reload"):
            assert http_post(url, {"text": "Anna"}, path, headers)[0] == 401
    assert http_get(url, "/health")[:2] == (200, {"status": "ok"})
    assert http_get(url, "/ready", AUTHORIZED)[:2] == (200, {"ready": True, "models": {"sample": True, "old": True}})


def test_each_model_answers_under_its_name_as_tagger_tag_does(locked, trained_ner_model):
    url = locked["url"]
    for name, model in (("sample", trained_ner_model), ("old", OLD_MODEL)):
        status, records, headers = http_post(url, {"texts": TEXTS}, f"/models/{name}/tag", AUTHORIZED)
        assert status == 200 and records == expected_records(model, TEXTS)
        assert len(headers["X-Model-Digest"]) == 64
    status, answer, _ = http_post(url, {"text": "Anna"}, "/tag", AUTHORIZED)
    assert status == 404 and "several models (sample, old)" in answer["error"]
    status, answer, _ = http_post(url, {"text": "Anna"}, "/models/nobody/tag", AUTHORIZED)
    assert status == 404 and "no model named nobody" in answer["error"]
    info = http_get(url, "/info", AUTHORIZED)[1]
    assert [model["name"] for model in info["models"]] == ["sample", "old"]
    assert info["models"][1]["source"] == str(OLD_MODEL) and info["models"][1]["output_scheme"] == "iob1"


def test_metrics_count_what_was_asked(locked):
    url = locked["url"]
    before = metric_samples(url)
    answers = [http_post(url, {"texts": TEXTS}, "/models/old/tag", AUTHORIZED)[1] for _ in range(5)]
    refused = [http_post(url, {"text": "Anna"}, "/models/old/tag")[0] for _ in range(3)]
    assert refused == [401] * 3
    after = metric_samples(url)

    def grew(name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    tag_route = {"route": "/models/{name}/tag", "method": "POST"}
    assert grew("tagger_http_requests_total", **tag_route, status="200") == 5
    assert grew("tagger_http_requests_total", **tag_route, status="401") == 3
    assert grew("tagger_http_requests_total", route="/metrics", method="GET", status="200") == 1  # the first scrape
    assert grew("tagger_http_request_duration_seconds_count", route="/models/{name}/tag") == 8
    tokens = sum(len(s["tokens"]) for records in answers for record in records for s in record["sentences"])
    assert grew("tagger_tokens_total", model="old") == tokens
    assert 1 <= grew("tagger_batch_texts_count", model="old") <= 5
    assert grew("tagger_batch_texts_sum", model="old") == 5 * len(TEXTS)
    assert after[("tagger_queue_depth", (("model", "old"),))] == 0
    assert after[("tagger_model_ready", (("model", "sample"),))] == 1
    assert after[("tagger_model_load_seconds", (("model", "sample"),))] > 0


def test_the_access_log_has_a_line_per_request_and_never_the_key(locked):
    """Reads the log once the server has stopped: the last test of the module's server."""
    url = locked["url"]
    http_post(url, {"text": "Anna"}, "/models/old/tag", {"Authorization": f"Bearer {KEY}-wrong"})
    said = stop(locked["process"])
    records = [json.loads(line) for line in said.splitlines() if line.startswith("{")]
    assert records and KEY not in said
    assert {"time", "remote", "method", "path", "route", "status", "seconds", "bytes_in", "bytes_out"} <= set(
        records[-1]
    )
    assert (records[-1]["path"], records[-1]["status"], records[-1]["remote"]) == ("/models/old/tag", 401, "127.0.0.1")
    tagged = [record for record in records if record["status"] == 200 and record["route"] == "/models/{name}/tag"]
    assert tagged and all(len(record["model_digest"]) == 64 for record in tagged)


def test_a_reload_switches_models_without_dropping_or_mixing_a_request(tmp_path, trained_ner_model):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(OLD_MODEL, first)
    shutil.copytree(trained_ner_model, second)
    current = tmp_path / "current"
    current.symlink_to(first)
    expected = {}
    for model in (first, second):
        expected[model] = expected_records(model, TEXTS)
    process, url = serve_process(str(current), "--api-key", KEY)
    answers: list[tuple[int, object, dict]] = []
    running = True

    def client() -> None:
        while running:
            answers.append(http_post(url, {"texts": TEXTS}, "/tag", AUTHORIZED))

    def point_at(model: Path) -> None:
        swap = tmp_path / "swap"
        swap.symlink_to(model)
        os.replace(swap, current)

    clients = [threading.Thread(target=client) for _ in range(6)]
    for thread in clients:
        thread.start()
    digests = []
    try:
        for model in (second, first, second):
            point_at(model)
            status, outcome, _ = http_post(url, {}, "/admin/reload", AUTHORIZED)
            assert status == 200 and outcome["models"][0]["error"] is None
            digests.append(outcome["models"][0]["digest"])
            time.sleep(0.3)
        point_at(first)
        process.send_signal(signal.SIGHUP)  # as an operator reloads it
        time.sleep(1.5)
        point_at(tmp_path)  # not a model: the reload fails and the model loaded before still serves
        status, outcome, _ = http_post(url, {}, "/admin/reload", AUTHORIZED)
        assert status == 500 and "config.json" in outcome["error"]
        time.sleep(0.3)
    finally:
        running = False
        for thread in clients:
            thread.join(timeout=30)
    said = stop(process)
    assert digests[0] == digests[2] != digests[1]
    by_digest = {digests[0]: expected[second], digests[1]: expected[first]}
    assert len(answers) > 20 and all(status == 200 for status, _, _ in answers)
    assert all(records == by_digest[headers["X-Model-Digest"]] for _, records, headers in answers)
    assert answers[-1][2]["X-Model-Digest"] == digests[1]  # the first model again, after the failed reload
    assert said.count("reloaded current") == 4 and said.count("reloading current failed") == 1
    assert KEY not in said


def test_workers_add_up_their_metrics_and_each_reloads_on_sighup():
    process, url = serve_process(str(OLD_MODEL), "--workers", "2", "--api-key", KEY)
    try:
        for _ in range(12):
            assert http_post(url, {"text": "Anna lives in Oslo"}, "/tag", AUTHORIZED)[0] == 200
        samples = metric_samples(url)
        assert samples[("tagger_http_requests_total", (("method", "POST"), ("route", "/tag"), ("status", "200")))] == 12
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reloads = metric_samples(url).get(("tagger_model_reloads_total", (("model", "model"), ("outcome", "ok"))))
            if reloads == 2:
                break
            time.sleep(0.2)
        assert reloads == 2  # one per worker
    finally:
        said = stop(process)
    assert said.count("reloaded model") == 2


def test_the_first_worker_says_ready_only_once_every_other_worker_has_loaded():
    read_end, write_end = os.pipe()
    first, others = Readiness(read_end, None, 2), Readiness(None, write_end, 0)

    async def first_waits() -> list[str]:
        said = []
        waiting = asyncio.create_task(first.wait_for_others())
        others.loaded()
        await asyncio.sleep(0.2)
        said.append("one loaded, still waiting" if not waiting.done() else "ready too soon")
        others.loaded()
        await asyncio.wait_for(waiting, 5)
        said.append("ready")
        return said

    assert asyncio.run(first_waits()) == ["one loaded, still waiting", "ready"]
    os.close(write_end)  # a worker that ended before loading: the first stops waiting (the parent stops it)
    asyncio.run(asyncio.wait_for(Readiness(read_end, None, 1).wait_for_others(), 5))
    os.close(read_end)


def test_a_model_that_fails_to_load_stops_the_server_with_one_line(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(OLD_MODEL, broken)
    (broken / "model.pt").write_bytes(b"not weights")
    command = [sys.executable, "-m", "bilstm_tagger", "serve", str(broken), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "model.pt" in result.stderr


def test_the_key_is_compared_whole_and_never_shown():
    key = ApiKey(KEY)
    assert key.admits(f"Bearer {KEY}") and key.admits(f"bearer {KEY}")
    assert not any(
        key.admits(value) for value in (None, "", KEY, f"Bearer {KEY[:-1]}", f"Bearer {KEY}0", f"Token {KEY}")
    )
    assert KEY not in repr(key) and KEY not in str(vars(key))
    with pytest.raises(Exception, match="non-empty word"):
        ApiKey("two words")


def test_loopback_addresses_are_told_apart():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.4")
