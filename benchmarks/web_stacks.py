"""The web stacks considered for ``tagger serve``, measured on a JSON echo endpoint.

    pip install uvicorn starlette fastapi && python benchmarks/web_stacks.py [--seconds 5]

Each stack serves ``POST /echo`` (parse a JSON body, answer it as JSON) from a process of its own,
one worker, on 127.0.0.1; the client is this process. Measured side by side in one run: one
client's p50 and p99 latency over 1,000 requests on one keep-alive connection, and the requests/s
of 32 clients at once for ``--seconds``. Writes ``benchmarks/web_stacks.json`` and the section
between the ``web-stacks`` markers of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from speed import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- web-stacks:begin -->", "<!-- web-stacks:end -->"
BODY = json.dumps({"text": "EU rejects German call to boycott British lamb from next week."}).encode()

SERVERS = {
    "aiohttp": """
from aiohttp import web
async def echo(request):
    return web.json_response(await request.json())
app = web.Application()
app.add_routes([web.post("/echo", echo)])
web.run_app(app, host="127.0.0.1", port=0, access_log=None, print=lambda text: print(text, flush=True))
""",
    "starlette + uvicorn": """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def echo(request):
    return JSONResponse(await request.json())
app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=0, access_log=False, log_level="info")
""",
    "FastAPI + uvicorn": """
import uvicorn
from fastapi import FastAPI, Request
app = FastAPI()
@app.post("/echo")
async def echo(request: Request):
    return await request.json()
uvicorn.run(app, host="127.0.0.1", port=0, access_log=False, log_level="info")
""",
}


def start(script: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for line in process.stdout:
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if found:
            return process, int(found.group(1))
    raise SystemExit(f"the server did not start: {process.wait()}")


def one_client(port: int, count: int = 1000) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("POST", "/echo", BODY, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies


async def many_clients(port: int, clients: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with session.post(f"http://127.0.0.1:{port}/echo", data=BODY) as response:
                await response.read()
                done += response.status == 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "web_stacks.json")
    args = parser.parse_args()
    results = {}
    for name, script in SERVERS.items():
        process, port = start(script)
        try:
            one_client(port, 100)  # warm
            latencies = sorted(one_client(port))
            results[name] = {
                "p50_ms": 1000 * latencies[len(latencies) // 2],
                "p99_ms": 1000 * latencies[int(0.99 * len(latencies))],
                "requests_per_second_32_clients": asyncio.run(many_clients(port, 32, args.seconds)),
            }
        finally:
            process.terminate()
            process.wait(timeout=30)
    results = {"machine": machine(), "seconds": args.seconds, "stacks": results}
    figures.publish(results, args.output, "web_stacks.json", report(results), figures.BENCHMARKS_README, BEGIN, END)


def report(results: dict) -> str:
    lines = [
        BEGIN,
        "## Web stacks for `tagger serve`",
        "",
        f"Written by `python benchmarks/web_stacks.py --seconds {results['seconds']:g}` ({figures.machine_name(results['machine'])}): "
        "`POST /echo` parsing a JSON body and answering it, one worker process each, the clients in another "
        "process on the same cores. `tagger serve` runs on aiohttp (docs/serving.md says why).",
        "",
        "| stack | 1 client, p50 | 1 client, p99 | 32 clients, requests/s |",
        "|---|---|---|---|",
    ]
    for name, figure in results["stacks"].items():
        lines.append(
            f"| {name} | {figure['p50_ms']:.2f} ms | {figure['p99_ms']:.2f} ms "
            f"| {figures.whole(figure['requests_per_second_32_clients'])} |"
        )
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
