"""Load test of ``tagger serve``: one client's latency, then many clients at once for a minute.

    python benchmarks/serve_load.py [--model DIR] [--clients 32] [--seconds 60]

Starts ``tagger serve MODEL --port 0`` on 127.0.0.1 (a NER-preset model trained here for one epoch
on CoNLL-2003 when no ``--model`` is given), then:

1. one client sends ``--single`` one-sentence requests one after the other: p50 and p99 latency;
2. ``--clients`` clients send short texts (one to three sentences of eng.testb as raw text) as fast
   as they are answered, for ``--seconds``: failed requests, p50 and p99 latency, sentences/s, and
   the server's memory (RSS) sampled every second.

It talks only to 127.0.0.1 and stops by itself: the server gets SIGTERM at the end, and its exit
status is recorded. The clients run in this process, on the same cores as the server. Writes
``benchmarks/serve.json`` and the section between the ``serve`` markers of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from conll_text import detokenize  # noqa: E402
from engines import train  # noqa: E402
from speed import TAGGER, machine  # noqa: E402

from bilstm_tagger.text.corpus import CorpusReading, read_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
BEGIN, END = "<!-- serve:begin -->", "<!-- serve:end -->"


def start_server(model: Path, environment: dict | None = None) -> tuple[subprocess.Popen, str, str]:
    """``tagger serve MODEL --port 0`` on 127.0.0.1, once it says it is serving: the process, its engine, its address."""
    server = subprocess.Popen(
        [*TAGGER, "serve", str(model), "--port", "0"], stderr=subprocess.PIPE, text=True, env=environment
    )
    line = server.stderr.readline()
    found = re.search(r"\((\S+)\) on (http://\S+?): POST", line)
    if not found:
        server.kill()
        raise SystemExit(f"the server did not start: {line}{server.stderr.read()}")
    engine, url = found.groups()
    return server, engine, url


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def one_client(url: str, sentences: list[str], count: int) -> list[float]:
    latencies = []
    async with aiohttp.ClientSession() as session:
        for index in range(count):
            started = time.perf_counter()
            async with session.post(url + "/tag", json={"text": sentences[index % len(sentences)]}) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"request failed: {response.status}")
            latencies.append(time.perf_counter() - started)
    return latencies


async def many_clients(url: str, texts: list[tuple[str, int]], clients: int, seconds: float, pid: int) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    sentences = 0
    memory: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        nonlocal sentences
        generator = random.Random(number)
        while time.perf_counter() < deadline:
            text, count = texts[generator.randrange(len(texts))]
            started = time.perf_counter()
            try:
                async with session.post(url + "/tag", json={"text": text}) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError as error:
                ok, response = False, error
            latencies.append(time.perf_counter() - started)
            if ok:
                sentences += count
            else:
                failures.append(str(getattr(response, "status", response)))

    async def sample_memory() -> None:
        while time.perf_counter() < deadline:
            memory.append(rss_mb(pid))
            await asyncio.sleep(1.0)

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(sample_memory(), *(client(number, session) for number in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": elapsed,
        "requests": len(latencies),
        "failed": len(failures),
        "failures": failures[:10],
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "sentences_per_second": sentences / elapsed,
        "requests_per_second": len(latencies) / elapsed,
        "rss_mb": memory,
    }


def report(results: dict) -> str:
    single, load = results["single"], results["load"]
    memory = load["rss_mb"]
    lines = [
        BEGIN,
        "## `tagger serve` under load (`benchmarks/serve_load.py`)",
        "",
        f"Written by `python benchmarks/serve_load.py --clients {load['clients']} --seconds {round(load['seconds'])}`; "
        f"{figures.machine_name(results['machine'])}; model: {results['model']}, engine {results['engine']}. "
        "The clients run on the same cores as the server.",
        "",
        "| run | requests | failed | p50 latency | p99 latency | sentences/s | server memory (MB) |",
        "|---|---|---|---|---|---|---|",
        f"| 1 client, one sentence a request | {single['requests']:,} | 0 | {single['p50_ms']:.1f} ms "
        f"| {single['p99_ms']:.1f} ms | | |",
        f"| {load['clients']} clients, 1–3 sentences a request, {round(load['seconds'])} s | {load['requests']:,} "
        f"| {load['failed']} | {load['p50_ms']:.1f} ms | {load['p99_ms']:.1f} ms | {figures.whole(load['sentences_per_second'])} "
        f"| {memory[1] if len(memory) > 1 else memory[0]:.0f} after 1 s, {max(memory):.0f} at most, {memory[-1]:.0f} at the end |",
        "",
        f"SIGTERM at the end: exit status {results['exit_status']}.",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory (default: train a NER-preset model for one epoch)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--single", type=int, default=500, help="requests of the one client")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "serve.json")
    args = parser.parse_args()
    sentences = [detokenize(s.tokens)[0] for s in read_corpus(args.data / "eng.testb", CorpusReading("conll"))]
    generator = random.Random(1)
    texts = []
    for _ in range(2000):
        count = generator.randint(1, 3)
        start = generator.randrange(len(sentences) - count)
        texts.append((" ".join(sentences[start : start + count]), count))
    with tempfile.TemporaryDirectory() as directory:
        model = args.model or train(args.data, ["--preset", "ner"], Path(directory) / "ner")
        server, engine, url = start_server(model)
        try:
            asyncio.run(one_client(url, sentences, 50))  # warm: spaCy's cache, the first batches
            single = asyncio.run(one_client(url, sentences, args.single))
            load = asyncio.run(many_clients(url, texts, args.clients, args.seconds, server.pid))
        finally:
            server.send_signal(signal.SIGTERM)
            status = server.wait(timeout=60)
    results = {
        "machine": machine(),
        "model": "NER preset (GloVe 6B 50d)" if args.model is None else str(args.model),
        "engine": engine,
        "single": {
            "requests": len(single),
            "p50_ms": 1000 * percentile(single, 0.5),
            "p99_ms": 1000 * percentile(single, 0.99),
        },
        "load": load,
        "exit_status": status,
    }
    figures.publish(results, args.output, "serve.json", report(results), figures.RESULTS_MD, BEGIN, END)


if __name__ == "__main__":
    main()
