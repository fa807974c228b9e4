"""``tagger serve``: an HTTP JSON API over a loaded model, on aiohttp.

Endpoints (:func:`openapi` describes them, and ``GET /openapi.json`` serves that description):

* ``POST /tag``: ``{"text": "..."}``, ``{"texts": ["...", ...]}`` or ``{"sentences": [["tok", ...], ...]}``,
  with ``nbest`` and ``min_confidence`` as ``tagger tag`` has them. The answer is what ``tagger tag
  --format jsonl`` writes: the record of the text, or a list of records, one per text or sentence.
* ``GET /health``: ``{"status": "ok"}`` once the model is loaded.
* ``GET /info``: the model, its engine, its tags and their scheme, the scheme of the tags it
  answers (the training data's), and the package's version.

Requests that arrive together are tagged together (:class:`MicroBatcher`): one thread takes
every request waiting, tags their sentences as one buffer and answers each, so that throughput
under load approaches that of tagging a file, while a request alone waits for nobody.

Limits, all of them answered with ``{"error": "..."}`` and a 4xx status, none of them stopping the
server: a body over ``max_body_bytes`` (413); a body that is not UTF-8 JSON, or nests too deeply
for Python's parser (400); fields of the wrong type or range, or unknown ones (422); a client that
has not sent its whole body within ``timeout`` seconds (408) or its request line and headers (the
connection is closed). A text of any length within the body limit is tagged, its long sentences
in pieces as the CLI does (:data:`~bilstm_tagger.model.config.MAX_SEGMENT_TOKENS`).

SIGTERM or Ctrl-C stops accepting connections, lets the requests in flight finish, and exits 0.
With ``workers`` above 1, that many processes, each with its own copy of the model, share the
listening socket (forked before any of them loads anything).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import queue
import signal
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model.config import BUFFER_BATCHES, TAG_BATCH_SIZE
from bilstm_tagger.tagging.decoding import ProbabilityRequest
from bilstm_tagger.tagging.formats import json_text, jsonl_object
from bilstm_tagger.text.documents import TextInput, pretokenized, raw_text
from bilstm_tagger.version import __version__

if TYPE_CHECKING:
    from bilstm_tagger.tagging.tagger import LoadedModel

MAX_NBEST = 100
MAX_BATCH_TEXTS = TAG_BATCH_SIZE * BUFFER_BATCHES  # texts tagged together at most: tagger tag's buffer


@dataclass(frozen=True)
class ServerSettings:
    """How ``tagger serve`` runs.

    Attributes:
        model_dir: the model directory.
        host, port: where to listen (port 0: any free port).
        workers: server processes, each with a copy of the model.
        threads: CPU threads of each process's network (``None``: one per core, or 1 with several workers).
        engine, device: as ``tagger tag`` takes them.
        max_body_bytes: the largest request body accepted.
        timeout: seconds a client has to send a whole request.
        batch_size: sentences per batch of the network.
    """

    model_dir: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int | None = None
    engine: str = "auto"
    device: str = "cpu"
    max_body_bytes: int = 1 << 20
    timeout: float = 10.0
    batch_size: int = TAG_BATCH_SIZE


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TagRequest:
    """A parsed ``POST /tag`` body: what to tag and how.

    Attributes:
        texts: raw texts (``text`` or ``texts``), or ``None``.
        sentences: pre-tokenised sentences (``sentences``), or ``None``.
        single: the body had ``text``: answer one record, not a list.
        nbest, min_confidence: as ``tagger tag`` takes them.
    """

    texts: list[str] | None = None
    sentences: list[list[str]] | None = None
    single: bool = False
    nbest: int = 0
    min_confidence: float = 0.0

    def inputs(self, language: str = "en") -> list[TextInput]:
        """Each text or sentence as a :class:`TextInput` (raw texts are split into sentences and tokens
        here, by the rules of ``language``: the model's)."""
        if self.sentences is not None:
            return [pretokenized(tokens) for tokens in self.sentences]
        return [raw_text(text, language) for text in self.texts or []]


def parse_tag_request(body: bytes) -> TagRequest:
    """Read a ``POST /tag`` body.

    Raises:
        RequestError: 400 for what is not UTF-8 JSON (or nests too deeply), 422 for the wrong fields or types.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise RequestError(400, f"the body is not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise RequestError(
            400, f"the body is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise RequestError(400, "the body's JSON nests too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(422, f"expected a JSON object, got {_json_type(data)}")
    unknown = sorted(set(data) - {"text", "texts", "sentences", "nbest", "min_confidence"})
    if unknown:
        raise RequestError(
            422, f"unknown field {unknown[0]!r} (expected text, texts or sentences, nbest, min_confidence)"
        )
    given = [name for name in ("text", "texts", "sentences") if name in data]
    if len(given) != 1:
        raise RequestError(422, "give exactly one of text, texts and sentences")
    nbest = data.get("nbest", 0)
    if not _is_int(nbest) or not 0 <= nbest <= MAX_NBEST:
        raise RequestError(422, f"nbest: expected an integer from 0 to {MAX_NBEST}, got {json.dumps(nbest)[:40]}")
    min_confidence = data.get("min_confidence", 0.0)
    if not _is_number(min_confidence) or not 0.0 <= min_confidence <= 1.0:
        raise RequestError(422, f"min_confidence: expected a number from 0 to 1, got {json.dumps(min_confidence)[:40]}")
    options = dict(nbest=nbest, min_confidence=float(min_confidence))
    name = given[0]
    value = data[name]
    if name == "text":
        _check_string(value, "text")
        return TagRequest(texts=[value], single=True, **options)
    _check_list(value, name)
    if name == "texts":
        for index, text in enumerate(value):
            _check_string(text, f"texts[{index}]")
        return TagRequest(texts=value, **options)
    for index, tokens in enumerate(value):
        _check_list(tokens, f"sentences[{index}]")
        for position, token in enumerate(tokens):
            _check_string(token, f"sentences[{index}][{position}]")
            if not token or any(character.isspace() for character in token):
                raise RequestError(
                    422, f"sentences[{index}][{position}]: a token must be non-empty, without white space"
                )
    return TagRequest(sentences=value, **options)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


def _check_string(value, where: str) -> None:
    if not isinstance(value, str):
        raise RequestError(422, f"{where}: expected a string, got {_json_type(value)}")


def _check_list(value, where: str) -> None:
    if not isinstance(value, list):
        raise RequestError(422, f"{where}: expected a list, got {_json_type(value)}")


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


@dataclass
class _Job:
    request: TagRequest
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """Tags the requests that wait together, in one thread, and answers each with its records.

    A request alone is tagged at once; requests that arrive while a batch is being tagged wait
    and are tagged together next, up to :data:`MAX_BATCH_TEXTS` texts, those with the same
    options in one buffer.

    Args:
        tagger: a loaded :class:`~bilstm_tagger.tagging.tagger.LoadedModel`.
        batch_size: sentences per batch of its network.
    """

    def __init__(self, tagger, batch_size: int = TAG_BATCH_SIZE):
        self.tagger = tagger
        self.batch_size = batch_size
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tagger-batcher", daemon=True)
        self._thread.start()

    def submit(self, request: TagRequest) -> Future:
        """A future of the request's ``jsonl`` records (a list, one per text or sentence)."""
        job = _Job(request)
        self._jobs.put(job)
        return job.future

    def close(self) -> None:
        """Stop the thread once the jobs already submitted are answered."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (first := self._jobs.get()) is not None:
            jobs = [first]
            count = _count(first.request)
            stop = False
            while count < MAX_BATCH_TEXTS:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
                count += _count(job.request)
            groups: dict[tuple[int, float], list[_Job]] = {}
            for job in jobs:
                groups.setdefault((job.request.nbest, job.request.min_confidence), []).append(job)
            for (nbest, min_confidence), group in groups.items():
                self._tag(group, nbest, min_confidence)
            if stop:
                return

    def _tag(self, jobs: list[_Job], nbest: int, min_confidence: float) -> None:
        try:
            inputs = [job.request.inputs(self.tagger.reading.text_language) for job in jobs]
            request = ProbabilityRequest(True, nbest, self.tagger.temperature)
            flat = [item for items in inputs for item in items]
            documents = iter(self.tagger.documents(flat, self.batch_size, request, min_confidence))
            for job, items in zip(jobs, inputs):
                job.future.set_result([jsonl_object(next(documents)) for _ in items])
        except Exception as error:  # answered to the requests, not raised in this thread
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(error)


def _count(request: TagRequest) -> int:
    return len(request.sentences if request.sentences is not None else request.texts or [])


def openapi(settings: ServerSettings) -> dict:
    """The OpenAPI 3.1 description of the API."""
    error = {
        "description": "refused",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    record = {"$ref": "#/components/schemas/Record"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bilstm-tagger",
            "version": __version__,
            "description": "Sequence tagging (NER, part of speech) over HTTP.",
        },
        "paths": {
            "/tag": {
                "post": {
                    "summary": "Tag raw texts or pre-tokenised sentences",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "The record of `text`, or a list of records, one per text or sentence: what `tagger tag --format jsonl` writes.",
                            "content": {
                                "application/json": {"schema": {"oneOf": [record, {"type": "array", "items": record}]}}
                            },
                        },
                        "400": error,
                        "408": error,
                        "413": {**error, "description": f"the body is over {settings.max_body_bytes} bytes"},
                        "422": error,
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Whether the server is up",
                    "responses": {"200": {"description": '{"status": "ok"}'}},
                }
            },
            "/info": {
                "get": {
                    "summary": "The model: name, engine, tags, tag scheme, version",
                    "responses": {"200": {"description": "model information"}},
                }
            },
        },
        "components": {
            "schemas": {
                "TagRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "text": {"type": "string", "description": "One raw text, split into sentences and tokens."},
                        "texts": {"type": "array", "items": {"type": "string"}},
                        "sentences": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "string", "minLength": 1}},
                        },
                        "nbest": {"type": "integer", "minimum": 0, "maximum": MAX_NBEST, "default": 0},
                        "min_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                    },
                    "oneOf": [{"required": ["text"]}, {"required": ["texts"]}, {"required": ["sentences"]}],
                },
                "Record": {
                    "type": "object",
                    "description": "text, sentences (start, end, tokens with text, start, end, tag, confidence; nbest), entities (start, end, type, text, confidence); offsets in code points.",
                    "properties": {
                        "text": {"type": "string"},
                        "sentences": {"type": "array"},
                        "entities": {"type": "array"},
                    },
                },
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            }
        },
    }


def make_app(tagger, settings: ServerSettings):
    """The aiohttp application over a loaded tagger; its batcher stops when the application does."""
    from aiohttp import web

    batcher = MicroBatcher(tagger, settings.batch_size)
    info = {
        "model": tagger.name,
        "engine": tagger.engine,
        "tags": tagger.labels,
        "tag_scheme": tagger.tag_scheme,
        "output_scheme": tagger.output_scheme,
        "version": __version__,
    }
    description = openapi(settings)

    def answer(data, status: int = 200) -> web.Response:
        return web.Response(text=json_text(data), status=status, content_type="application/json")

    async def tag(request: web.Request) -> web.Response:
        try:
            try:
                body = await asyncio.wait_for(request.read(), settings.timeout)
            except asyncio.TimeoutError:
                raise RequestError(408, f"the request body did not arrive within {settings.timeout:g} s") from None
            except web.HTTPRequestEntityTooLarge:
                raise RequestError(413, f"the body is over the limit of {settings.max_body_bytes} bytes") from None
            parsed = parse_tag_request(body)
            records = await asyncio.wrap_future(batcher.submit(parsed))
        except RequestError as error:
            return answer({"error": error.message}, error.status)
        except InputError as error:
            return answer({"error": str(error)}, 422)
        return answer(records[0] if parsed.single else records)

    async def health(request: web.Request) -> web.Response:
        return answer({"status": "ok"})

    async def model_info(request: web.Request) -> web.Response:
        return answer(info)

    async def openapi_json(request: web.Request) -> web.Response:
        return answer(description)

    @web.middleware
    async def json_errors(request: web.Request, handler):
        """aiohttp's own refusals (404, 405, ...) as JSON too."""
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return answer({"error": f"{error.reason}: {request.method} {request.path}"}, error.status)

    async def stop_batcher(app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, batcher.close)

    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[json_errors])
    app.add_routes(
        [
            web.post("/tag", tag),
            web.get("/health", health),
            web.get("/info", model_info),
            web.get("/openapi.json", openapi_json),
        ]
    )
    app.on_cleanup.append(stop_batcher)
    return app


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one).

    Raises:
        InputError: the address cannot be used (taken, or not this machine's).
    """
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(1024)
    except OSError as error:
        raise InputError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    settings: ServerSettings,
    on_ready: Callable[[str, LoadedModel], None] = lambda url, tagger: None,
    on_error: Callable[[Exception], None] = lambda error: None,
) -> int:
    """Serve until SIGTERM or SIGINT; then finish the requests in flight and return 0.

    ``on_ready(url, tagger)`` is called once the model is loaded (in the first process) and the
    server listens. With several workers this process forks them and waits; a worker that dies
    of anything but the stop signal ends the others, and the exit code is 1. ``on_error`` is told
    what a worker raised (a worker cannot raise it to the caller).

    Raises:
        InputError: the model does not load, or the address cannot be used.
    """
    from bilstm_tagger.model import checkpoint

    if importlib.util.find_spec("aiohttp") is None:
        raise InputError("tagger serve needs aiohttp: pip install 'bilstm-tagger[serve]' (make install includes it)")
    if settings.workers < 1:
        raise InputError(f"--workers must be at least 1, got {settings.workers}")
    checkpoint.load_info(settings.model_dir)  # a missing model fails here, once, not in every worker
    sock = listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if settings.workers == 1:
        _run_worker(settings, sock, lambda tagger: on_ready(url, tagger))
        return 0
    return _run_workers(settings, sock, lambda tagger: on_ready(url, tagger), on_error)


def _run_worker(settings: ServerSettings, sock: socket.socket, on_ready: Callable[[LoadedModel], None]) -> None:
    """Load the model and serve on ``sock`` until SIGTERM or SIGINT."""
    from aiohttp import web

    from bilstm_tagger.base.runtime import freeze_loaded_objects
    from bilstm_tagger.tagging.tagger import LoadedModel

    threads = settings.threads if settings.threads is not None else (1 if settings.workers > 1 else None)
    tagger = LoadedModel.load(settings.model_dir, settings.device, settings.engine, threads)
    freeze_loaded_objects()
    app = make_app(tagger, settings)

    async def ready(app: web.Application) -> None:
        on_ready(tagger)

    app.on_startup.append(ready)
    web.run_app(
        app,
        sock=sock,
        print=None,
        access_log=None,
        keepalive_timeout=settings.timeout,  # also closes a connection that never completes its request
        shutdown_timeout=60.0,
        handle_signals=True,
    )


def _run_workers(
    settings: ServerSettings,
    sock: socket.socket,
    on_ready: Callable[[LoadedModel], None],
    on_error: Callable[[Exception], None],
) -> int:
    """Fork ``settings.workers`` processes that serve on ``sock``; pass SIGTERM and SIGINT on; wait for them."""
    children: list[int] = []
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        for number in range(settings.workers):
            pid = os.fork()
            if pid == 0:  # a worker: serve, then leave without running the parent's cleanup
                code = 0
                try:
                    for signum, handler in previous.items():
                        signal.signal(signum, handler)
                    _run_worker(settings, sock, on_ready if number == 0 else lambda tagger: None)
                except Exception as error:
                    if number == 0 or not isinstance(error, InputError):  # the same for every worker: said once
                        on_error(error)
                    code = 1
                except BaseException:
                    code = 1
                os._exit(code)
            children.append(pid)
        sock.close()
        failed = False
        while children:
            try:
                pid, status = os.wait()
            except InterruptedError:
                continue
            if pid in children:
                children.remove(pid)
                if os.waitstatus_to_exitcode(status) != 0 and not stopping:
                    failed = True
                    stop(signal.SIGTERM, None)
        return 1 if failed else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
