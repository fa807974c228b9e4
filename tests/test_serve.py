"""``tagger serve``: answers equal to ``tagger tag``'s, refusals as 4xx JSON, slow clients, load, SIGTERM.

Servers listen on 127.0.0.1 on a free port, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from bilstm_tagger.serving.server import RequestError, parse_tag_request

from conftest import ROOT, http_get, http_post, serve_process, tagger

MODEL = ROOT / "tests" / "fixtures" / "format1" / "model"
TEXTS = ["Maria Lopez flew from Madrid to Berlin. She met Angela Merkel's staff.", "", "Tom Smith lives in Oslo"]


def start_server(*options: str) -> tuple[subprocess.Popen, str]:
    """``tagger serve MODEL --port 0 OPTIONS`` and its address, once it says it is serving."""
    return serve_process(str(MODEL), *options)


def stop_server(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    process, url = start_server("--max-body", "20000", "--timeout", "1")
    yield url
    assert stop_server(process) == 0


def post(url: str, body: bytes | dict, path: str = "/tag") -> tuple[int, object]:
    status, answer, _ = http_post(url, body, path)
    return status, answer


def get(url: str, path: str) -> object:
    status, answer, _ = http_get(url, path)
    assert status == 200
    return answer


def test_answers_are_tagger_tags_jsonl(server):
    expected = [
        json.loads(line)
        for line in tagger("tag", MODEL, "-f", "jsonl", input="\n".join(TEXTS) + "\n").stdout.splitlines()
    ]
    assert post(server, {"texts": TEXTS}) == (200, expected)
    assert post(server, {"text": TEXTS[0]}) == (200, expected[0])
    tokens = [["Anna", "Berg", "lives", "in", "Oslo"], ["Hi"]]
    expected_tokens = tagger(
        "tag", MODEL, "-f", "jsonl", "--input-format", "tokens", "--nbest", "2", input="Anna Berg lives in Oslo\nHi\n"
    )
    assert post(server, {"sentences": tokens, "nbest": 2}) == (
        200,
        [json.loads(line) for line in expected_tokens.stdout.splitlines()],
    )
    status, record = post(server, {"text": TEXTS[0], "min_confidence": 1.0})
    assert status == 200 and record["entities"] == []


def test_health_info_and_openapi(server):
    assert get(server, "/health") == {"status": "ok"}
    info = get(server, "/info")
    assert info["engine"] in ("torch", "onnx") and "I-PER" in info["tags"] and info["output_scheme"] == "iob1"
    assert [model["name"] for model in info["models"]] == ["model"] and len(info["models"][0]["digest"]) == 64
    paths = {"/tag", "/models/{name}/tag", "/health", "/ready", "/info", "/metrics", "/admin/reload"}
    assert set(get(server, "/openapi.json")["paths"]) == paths


@pytest.mark.parametrize(
    "body,status,words",
    [
        (b'{"text": ', 400, "not JSON"),
        (b"\xff\xfe", 400, "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "over the limit"),
        (b"[" * 19_000, 400, "nests too deeply"),
        (b'{"texts": ["a", 3]}', 422, "texts[1]: expected a string"),
        (b'{"text": "a", "texts": ["b"]}', 422, "exactly one"),
        (b'{"text": "a", "nbest": -1}', 422, "nbest"),
        (b'{"text": "a", "min_confidence": "high"}', 422, "min_confidence"),
        (b'{"sentences": [["two words"]]}', 422, "white space"),
        (b'{"txt": "a"}', 422, "unknown field 'txt'"),
        (b'["a"]', 422, "expected a JSON object"),
    ],
)
def test_bad_requests_get_a_4xx_and_a_reason(server, body, status, words):
    answer = post(server, body)
    assert answer[0] == status and words in answer[1]["error"], answer


def test_unknown_paths_and_methods_get_json_errors(server):
    assert post(server, {"text": "a"}, "/nowhere")[0] == 404
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server + "/tag", timeout=10)
    assert refused.value.code == 405 and "error" in json.loads(refused.value.read())


def test_a_slow_client_times_out_and_others_are_served_meanwhile(server):
    host, port = server.removeprefix("http://").split(":")
    slow_body = socket.create_connection((host, int(port)), timeout=10)
    slow_body.sendall(b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    slow_headers = socket.create_connection((host, int(port)), timeout=10)
    slow_headers.sendall(b"POST /tag HTTP/1.1\r\nHost: x\r\n")
    assert post(server, {"text": "Anna lives in Oslo"})[0] == 200  # while both wait
    started = time.monotonic()
    assert slow_body.recv(100).startswith(b"HTTP/1.1 408")
    assert slow_headers.recv(100) == b""  # closed
    assert time.monotonic() - started < 5


def test_concurrent_clients_get_the_answers_of_one(server):
    texts = [f"{name} met Anna Berg in Oslo on day {number}." for number in range(8) for name in ("Tom", "Eva")]
    alone = {text: post(server, {"text": text})[1] for text in texts}
    with ThreadPoolExecutor(16) as clients:
        answers = list(clients.map(lambda text: post(server, {"text": text}), texts * 4))
    assert answers == [(200, alone[text]) for text in texts * 4]


def test_sigterm_finishes_the_requests_in_flight(tmp_path):
    process, url = start_server()
    texts = [" ".join(["Anna Berg lives in Oslo ."] * 40)] * 300
    result: dict = {}
    sender = threading.Thread(target=lambda: result.update(answer=post(url, {"texts": texts})))
    sender.start()
    time.sleep(0.3)  # the request is in
    assert stop_server(process) == 0
    sender.join(timeout=30)
    status, records = result["answer"]
    assert status == 200 and len(records) == 300


def test_several_workers_share_the_port():
    process, url = start_server("--workers", "2")
    try:
        assert all(post(url, {"text": "Anna lives in Oslo"})[0] == 200 for _ in range(4))
    finally:
        assert stop_server(process) == 0


def test_parse_tag_request_reads_each_form():
    assert parse_tag_request(b'{"text": "a b"}').texts == ["a b"]
    assert parse_tag_request(b'{"sentences": [["a", "b"]], "nbest": 3}').nbest == 3
    with pytest.raises(RequestError) as refused:
        parse_tag_request(b'{"text": true}')
    assert refused.value.status == 422


if os.name != "posix":  # pragma: no cover
    pytest.skip("the server's tests signal processes", allow_module_level=True)
