"""``tagger serve``: an HTTP JSON API over one or more loaded models, on aiohttp.

Endpoints (:func:`~bilstm_tagger.serving.openapi.openapi` describes them, and ``GET /openapi.json``
serves that description):

* ``POST /models/NAME/tag``, and ``POST /tag`` when the server holds one model: ``{"text": "..."}``,
  ``{"texts": ["...", ...]}`` or ``{"sentences": [["tok", ...], ...]}``, with ``nbest`` and
  ``min_confidence`` as ``tagger tag`` has them (:mod:`.requests`). The answer is what ``tagger tag
  --format jsonl`` writes: the record of the text, or a list of records, one per text or sentence;
  its ``X-Model-Digest`` header names the model that tagged it.
* ``GET /health``: ``{"status": "ok"}`` while the server is alive, from the moment it listens.
* ``GET /ready``: 200 once every model is loaded, 503 before.
* ``GET /info``: each model (engine, tags and their scheme, digest, when loaded) and the package's version.
* ``GET /metrics``: the Prometheus text format (:mod:`.metrics`).
* ``POST /admin/reload``: load every model again, as SIGHUP does (:mod:`.models`).

With an API key (:mod:`.access`) every route but ``/health`` answers 401 without it.

Limits, all of them answered with ``{"error": "..."}`` and a 4xx status, none of them stopping the
server: a body over ``max_body_bytes`` (413); a body that is not UTF-8 JSON, or nests too deeply
for Python's parser (400); fields of the wrong type or range, or unknown ones (422); a client that
has not sent its whole body within ``timeout`` seconds (408) or its request line and headers (the
connection is closed). A text of any length within the body limit is tagged, its long sentences
in pieces as the CLI does (:data:`~bilstm_tagger.model.config.MAX_SEGMENT_TOKENS`).

The server listens first and loads its models next, so that ``/health`` answers during a long
load while ``/ready`` says 503. SIGTERM or Ctrl-C stops accepting connections, lets the requests in
flight finish, and exits 0. With ``workers`` above 1, that many processes, each with its own copy
of the models, share the listening socket (forked before any of them loads anything); the first
says it is serving once every one of them has loaded, and SIGHUP to the first process is passed on
to each.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model import checkpoint, packages
from bilstm_tagger.model.config import TAG_BATCH_SIZE
from bilstm_tagger.serving import metrics as server_metrics
from bilstm_tagger.serving.access import OPEN_ROUTES, ApiKey, is_loopback
from bilstm_tagger.serving.models import LoadSettings, ReloadOutcome, ServedModels, model_sources
from bilstm_tagger.serving.openapi import openapi
from bilstm_tagger.serving.requests import RequestError, parse_tag_request
from bilstm_tagger.tagging.formats import json_text
from bilstm_tagger.version import __version__


@dataclass(frozen=True)
class ServerSettings:
    """How ``tagger serve`` runs.

    Attributes:
        models: the models, as :func:`~bilstm_tagger.serving.models.model_sources` reads them
            (directories or package names, ``NAME=MODEL`` to name one).
        host, port: where to listen (port 0: any free port).
        workers: server processes, each with a copy of the models.
        threads: CPU threads of each process's network (``None``: one per core, or 1 with several workers).
        engine, device: as ``tagger tag`` takes them.
        max_body_bytes: the largest request body accepted.
        timeout: seconds a client has to send a whole request.
        batch_size: sentences per batch of the network.
        api_key: the key every route but ``/health`` asks for, or ``None`` (never shown by ``repr``).
        access_log: report one record per request.
    """

    models: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int | None = None
    engine: str = "auto"
    device: str = "cpu"
    max_body_bytes: int = 1 << 20
    timeout: float = 10.0
    batch_size: int = TAG_BATCH_SIZE
    api_key: str | None = field(default=None, repr=False)
    access_log: bool = False


@dataclass
class ServerEvents:
    """What the server tells its caller (the CLI prints it; the server never prints).

    Attributes:
        ready: the address and the models, once every model is loaded (in every worker; said by the first).
        error: what a worker process raised (it cannot raise it to the caller).
        message: a one-line notice: a warning, a reload's outcome.
        access: one record per request, when ``access_log`` is on.
    """

    ready: Callable[[str, ServedModels], None] = lambda url, models: None
    error: Callable[[Exception], None] = lambda error: None
    message: Callable[[str], None] = lambda line: None
    access: Callable[[dict], None] = lambda record: None


@dataclass(frozen=True)
class Readiness:
    """How the workers of one server tell the first of them that they have loaded: a pipe.

    Attributes:
        read_end: the first worker's end, or ``None`` in the others.
        write_end: the other workers' end (one byte each once loaded), or ``None`` in the first.
        others: how many bytes the first worker waits for.
    """

    read_end: int | None
    write_end: int | None
    others: int

    async def wait_for_others(self) -> None:
        """In the first worker: return once each other worker has loaded, or has gone (end of the pipe)."""
        loop = asyncio.get_running_loop()
        received = 0
        while received < self.others:
            readable = loop.create_future()
            loop.add_reader(self.read_end, _settle, readable)
            try:
                await readable
            finally:
                loop.remove_reader(self.read_end)
            chunk = os.read(self.read_end, self.others - received)
            if not chunk:  # every other worker has ended; the parent process stops this one too
                return
            received += len(chunk)

    def loaded(self) -> None:
        """In another worker: say it has loaded."""
        if self.write_end is not None:
            os.write(self.write_end, b"1")


def _settle(future: asyncio.Future) -> None:
    """Resolve ``future`` once (a reader's callback runs on every turn of the loop until it is removed)."""
    if not future.done():
        future.set_result(None)


def reload_message(outcome: ReloadOutcome) -> str:
    """A reload's outcome in one line."""
    if outcome.error is None:
        return f"reloaded {outcome.name} in {outcome.seconds:.2f} s (digest {outcome.digest[:12]})"
    return f"reloading {outcome.name} failed, the model loaded before still serves: {outcome.error}"


def make_app(models: ServedModels, settings: ServerSettings, events: ServerEvents = ServerEvents()):
    """The aiohttp application over ``models`` (loaded or not yet); their threads stop when it does."""
    from aiohttp import web

    metrics = models.metrics
    key = ApiKey(settings.api_key) if settings.api_key is not None else None
    description = openapi(settings.max_body_bytes, models.names, key is not None)
    single = models.names[0] if len(models) == 1 else None

    def answer(data, status: int = 200, headers: dict | None = None) -> web.Response:
        return web.Response(text=json_text(data), status=status, content_type="application/json", headers=headers)

    async def tag_with(name: str, request: web.Request) -> web.Response:
        if name not in models:
            return answer({"error": f"no model named {name} (this server holds {', '.join(models.names)})"}, 404)
        try:
            try:
                body = await asyncio.wait_for(request.read(), settings.timeout)
            except asyncio.TimeoutError:
                raise RequestError(408, f"the request body did not arrive within {settings.timeout:g} s") from None
            except web.HTTPRequestEntityTooLarge:
                raise RequestError(413, f"the body is over the limit of {settings.max_body_bytes} bytes") from None
            parsed = parse_tag_request(body)
            if models[name].current is None:
                raise RequestError(503, f"model {name} is still loading")
            future, generation = models[name].submit(parsed)
            records = await asyncio.wrap_future(future)
        except RequestError as error:
            headers = {"Retry-After": "1"} if error.status == 503 else None
            return answer({"error": error.message}, error.status, headers)
        except InputError as error:
            return answer({"error": str(error)}, 422)
        return answer(records[0] if parsed.single else records, headers={"X-Model-Digest": generation.digest})

    async def tag(request: web.Request) -> web.Response:
        if single is None:
            return answer(
                {"error": f"this server holds several models ({', '.join(models.names)}): POST /models/NAME/tag"}, 404
            )
        return await tag_with(single, request)

    async def tag_model(request: web.Request) -> web.Response:
        return await tag_with(request.match_info["name"], request)

    async def health(request: web.Request) -> web.Response:
        return answer({"status": "ok"})

    async def ready(request: web.Request) -> web.Response:
        states = {name: models[name].current is not None for name in models.names}
        return answer({"ready": all(states.values()), "models": states}, 200 if all(states.values()) else 503)

    async def model_info(request: web.Request) -> web.Response:
        listed = [models[name].info() for name in models.names]
        info: dict = {"version": __version__, "models": listed}
        if single is not None and listed[0]["ready"]:  # the fields of a one-model server, as before
            first = listed[0]
            info = {
                "model": first["source"],
                **{k: first[k] for k in ("engine", "tags", "tag_scheme", "output_scheme")},
                **info,
            }
        return answer(info)

    async def metrics_text(request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def openapi_json(request: web.Request) -> web.Response:
        return answer(description)

    async def reload(request: web.Request) -> web.Response:
        if settings.workers > 1:  # the first process passes SIGHUP on to every worker, this one included
            os.kill(os.getppid(), signal.SIGHUP)
            return answer({"status": "reloading", "workers": settings.workers}, 202)
        outcomes = await reload_models(models, events)
        failed = [outcome.error for outcome in outcomes if outcome.error is not None]
        listed = [
            {"name": o.name, "seconds": round(o.seconds, 4), "error": o.error, "digest": o.digest} for o in outcomes
        ]
        if failed:
            return answer({"error": failed[0], "models": listed}, 500)
        return answer({"models": listed})

    @web.middleware
    async def observe(request: web.Request, handler):
        """Count, time and (with ``access_log``) report every request, refused ones included."""
        started = time.perf_counter()
        status = 500
        response = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            seconds = time.perf_counter() - started
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.requests.labels(route, request.method, str(status)).inc()
            metrics.latency.labels(route).observe(seconds)
            if settings.access_log:
                events.access(
                    {
                        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                        "remote": request.remote,
                        "method": request.method,
                        "path": request.path,
                        "route": route,
                        "status": status,
                        "seconds": round(seconds, 6),
                        "bytes_in": request.content_length or 0,
                        "bytes_out": (response.content_length or 0) if response is not None else 0,
                        "model_digest": response.headers.get("X-Model-Digest") if response is not None else None,
                    }
                )

    @web.middleware
    async def authorize(request: web.Request, handler):
        if key is None or request.path in OPEN_ROUTES or key.admits(request.headers.get("Authorization")):
            return await handler(request)
        return answer(
            {"error": "missing or wrong API key: send the header 'Authorization: Bearer KEY'"},
            401,
            {"WWW-Authenticate": 'Bearer realm="tagger"'},
        )

    @web.middleware
    async def json_errors(request: web.Request, handler):
        """aiohttp's own refusals (404, 405, ...) as JSON too."""
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return answer({"error": f"{error.reason}: {request.method} {request.path}"}, error.status)

    async def stop_models(app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, models.close)

    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[observe, authorize, json_errors])
    app.add_routes(
        [
            web.post("/tag", tag),
            web.post("/models/{name}/tag", tag_model),
            web.get("/health", health),
            web.get("/ready", ready),
            web.get("/info", model_info),
            web.get("/metrics", metrics_text),
            web.get("/openapi.json", openapi_json),
            web.post("/admin/reload", reload),
        ]
    )
    app.on_cleanup.append(stop_models)
    return app


async def reload_models(models: ServedModels, events: ServerEvents) -> list[ReloadOutcome]:
    """Reload every model in a thread (the server goes on answering meanwhile); report each outcome."""
    outcomes = await asyncio.get_running_loop().run_in_executor(None, models.reload)
    for outcome in outcomes:
        events.message(reload_message(outcome))
    return outcomes


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


def serve(settings: ServerSettings, events: ServerEvents = ServerEvents()) -> int:
    """Serve until SIGTERM or SIGINT; then finish the requests in flight and return 0.

    ``events.ready`` is called once the models are loaded (in the first process). With several
    workers this process forks them and waits; a worker that dies of anything but the stop
    signal ends the others, and the exit code is 1.

    Raises:
        InputError: a model is missing or does not load, or the address cannot be used.
    """
    for module, extra in (("aiohttp", "serve"), ("prometheus_client", "serve")):
        if importlib.util.find_spec(module) is None:
            raise InputError(
                f"tagger serve needs {module}: pip install 'bilstm-tagger[{extra}]' (make install includes it)"
            )
    if settings.workers < 1:
        raise InputError(f"--workers must be at least 1, got {settings.workers}")
    for source in model_sources(list(settings.models)):  # a missing model fails here, once, not in every worker
        checkpoint.load_info(packages.locate(source.spec))
    if settings.api_key is not None:
        ApiKey(settings.api_key)  # a malformed key fails here too
    sock = listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    if settings.api_key is None and not is_loopback(host):
        events.message(
            f"warning: listening on {host}:{port} without --api-key: anyone who can reach this address can use the server"
        )
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if settings.workers == 1:
        _run_worker(settings, sock, url, events)
        return 0
    return _run_workers(settings, sock, url, events)


def _run_worker(
    settings: ServerSettings, sock: socket.socket, url: str, events: ServerEvents, readiness: Readiness | None = None
) -> None:
    """Serve on ``sock`` and load the models meanwhile, until SIGTERM or SIGINT.

    With ``readiness`` (several workers), the first worker calls ``events.ready`` once every worker
    has loaded, so that no request sent after it gets a 503 from a worker still loading.

    Raises:
        InputError: a model did not load (the server then stops, as SIGTERM stops it).
    """
    from aiohttp import web

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload asked for before the loop below handles it: none to do
    threads = settings.threads if settings.threads is not None else (1 if settings.workers > 1 else None)
    load_settings = LoadSettings(settings.engine, settings.device, threads, settings.batch_size)
    models = ServedModels(model_sources(list(settings.models)), load_settings, server_metrics.ServerMetrics())
    app = make_app(models, settings, events)
    failures: list[Exception] = []

    async def load_models() -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, models.load)
        except Exception as error:  # raised once the server has stopped
            failures.append(error)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if readiness is not None:
            readiness.loaded()
            if readiness.read_end is not None:
                await readiness.wait_for_others()
        events.ready(url, models)

    reloads: set[asyncio.Task] = set()

    async def start(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        app["loading"] = loop.create_task(load_models())

        def reload_on_signal() -> None:
            task = loop.create_task(reload_models(models, events))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, reload_on_signal)

    async def finish_reloads(app: web.Application) -> None:
        """A reload under way when SIGTERM comes ends, and says how, before the server stops."""
        await asyncio.gather(*reloads, return_exceptions=True)

    app.on_startup.append(start)
    app.on_shutdown.append(finish_reloads)
    web.run_app(
        app,
        sock=sock,
        print=None,
        access_log=None,
        keepalive_timeout=settings.timeout,  # also closes a connection that never completes its request
        shutdown_timeout=60.0,
        handle_signals=True,
    )
    if failures:
        raise failures[0]


def _run_workers(settings: ServerSettings, sock: socket.socket, url: str, events: ServerEvents) -> int:
    """Fork ``settings.workers`` processes that serve on ``sock``; pass SIGTERM, SIGINT and SIGHUP on; wait for them."""
    children: list[int] = []
    stopping = False
    # Every worker's metrics in files of one directory, summed by whichever worker a scrape reaches.
    shared_metrics = tempfile.mkdtemp(prefix="tagger-metrics-")
    os.environ[server_metrics.MULTIPROCESS_DIRECTORY] = shared_metrics

    def pass_on(signum, frame) -> None:
        nonlocal stopping
        stopping = stopping or signum != signal.SIGHUP
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {signum: signal.signal(signum, pass_on) for signum in handled}
    read_end, write_end = os.pipe()
    try:
        for number in range(settings.workers):
            pid = os.fork()
            if pid == 0:  # a worker: serve, then leave without running the parent's cleanup
                code = 0
                try:
                    for signum, handler in previous.items():
                        signal.signal(signum, handler)
                    quiet = ServerEvents(error=events.error, message=events.message, access=events.access)
                    if number == 0:
                        os.close(write_end)  # so that the pipe ends once every other worker has
                        readiness = Readiness(read_end, None, settings.workers - 1)
                    else:
                        os.close(read_end)
                        readiness = Readiness(None, write_end, 0)
                    _run_worker(settings, sock, url, events if number == 0 else quiet, readiness)
                except Exception as error:
                    if number == 0 or not isinstance(error, InputError):  # the same for every worker: said once
                        events.error(error)
                    code = 1
                except BaseException:
                    code = 1
                os._exit(code)
            children.append(pid)
        sock.close()
        os.close(read_end)
        os.close(write_end)
        failed = False
        while children:
            try:
                pid, status = os.wait()
            except InterruptedError:
                continue
            if pid in children:
                children.remove(pid)
                server_metrics.process_ended(pid)
                if os.waitstatus_to_exitcode(status) != 0 and not stopping:
                    failed = True
                    pass_on(signal.SIGTERM, None)
        return 1 if failed else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.environ.pop(server_metrics.MULTIPROCESS_DIRECTORY, None)
        shutil.rmtree(shared_metrics, ignore_errors=True)
