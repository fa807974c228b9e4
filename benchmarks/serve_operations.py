"""``tagger serve`` in operation: reloads under load, and the time of a refusal by API key.

    python benchmarks/serve_operations.py [--first DIR --second DIR] [--clients 32] [--seconds 60] [--reloads 5]

1. **Reloads under load.** Serves ``current``, a symbolic link to the first of two different models
   (by default NER-preset models trained here for one epoch on CoNLL-2003 with seeds 1 and 2), with
   an API key. First the answers of each model alone to a set of texts (1–3 sentences of eng.testb as
   raw text) are taken, one model after the other. Then ``--clients`` clients send those texts as
   fast as they are answered, for ``--seconds``, while the link is pointed at the other model and the
   server reloaded ``--reloads`` times at even intervals (SIGHUP and ``POST /admin/reload`` in turn).
   Every answer must be 200 and equal, whole, to the answer of the model its ``X-Model-Digest``
   names: never a mix. The server's memory (RSS) is sampled every second.
2. **Refusals by key.** Sequential ``GET /info`` requests with no key, a wrong key of the key's
   length, wrong keys of other lengths (8 and 1,000 characters), a key that differs only in its last
   character, and the right key, interleaved in random order: the median and 90th percentile time of
   each. The key check alone (``ApiKey.admits``) is timed in this process too.

It talks only to 127.0.0.1 and stops by itself. Writes ``benchmarks/serve_operations.json`` and the
section between the ``serve-operations`` markers of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (benchmarks/ is not a package)
from conll_text import detokenize  # noqa: E402
from engines import train  # noqa: E402
from serve_load import percentile, rss_mb, start_server  # noqa: E402
from speed import machine  # noqa: E402

from bilstm_tagger.serving.access import ApiKey  # noqa: E402
from bilstm_tagger.text.corpus import CorpusReading, read_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "conll2003"
BEGIN, END = "<!-- serve-operations:begin -->", "<!-- serve-operations:end -->"
KEY = "bench-" + "k" * 26  # 32 characters
HEADERS = {"Authorization": f"Bearer {KEY}"}


def point_at(link: Path, model: Path) -> None:
    """Point ``link`` at ``model`` in one rename, as a deployment would (``ln -sfn``)."""
    swap = link.with_name(link.name + ".new")
    swap.symlink_to(model)
    os.replace(swap, link)


async def answers_alone(url: str, texts: list[str]) -> tuple[str, list]:
    """The server's answer to each text, one request at a time, and the digest of the model that gave them."""
    digests, answers = set(), []
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for text in texts:
            async with session.post(url + "/tag", json={"text": text}) as response:
                answers.append(await response.json())
                digests.add(response.headers["X-Model-Digest"])
    assert len(digests) == 1, digests
    return digests.pop(), answers


async def reload(url: str, server: subprocess.Popen, number: int) -> None:
    if number % 2 == 0:
        server.send_signal(signal.SIGHUP)
        return
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        async with session.post(url + "/admin/reload") as response:
            assert response.status == 200, await response.text()


async def under_load(url, server, texts, expected, link, models, clients, seconds, reloads) -> dict:
    statuses: dict[str, int] = {}
    mixed, latencies, digests_seen = 0, [], {}
    memory: list[tuple[float, float]] = []
    reload_times: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        nonlocal mixed
        generator = random.Random(number)
        while time.perf_counter() < deadline:
            index = generator.randrange(len(texts))
            sent = time.perf_counter()
            try:
                async with session.post(url + "/tag", json={"text": texts[index]}) as response:
                    body = await response.json()
                    status, digest = str(response.status), response.headers.get("X-Model-Digest")
            except aiohttp.ClientError as error:
                status, digest, body = type(error).__name__, None, None
            latencies.append(time.perf_counter() - sent)
            statuses[status] = statuses.get(status, 0) + 1
            if status == "200":
                digests_seen[digest] = digests_seen.get(digest, 0) + 1
                if expected.get(digest, [None] * len(texts))[index] != body:
                    mixed += 1

    async def reloader() -> None:
        for number in range(reloads):
            await asyncio.sleep(max(0.0, started + (number + 1) * seconds / (reloads + 1) - time.perf_counter()))
            point_at(link, models[(number + 1) % 2])
            reload_times.append(time.perf_counter() - started)
            await reload(url, server, number)

    async def sample_memory() -> None:
        while time.perf_counter() < deadline:
            memory.append((time.perf_counter() - started, rss_mb(server.pid)))
            await asyncio.sleep(1.0)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:
        await asyncio.gather(sample_memory(), reloader(), *(client(number, session) for number in range(clients)))
    elapsed = time.perf_counter() - started
    failed = sum(count for status, count in statuses.items() if status != "200")
    return {
        "clients": clients,
        "seconds": elapsed,
        "reloads": reloads,
        "reload_at_s": reload_times,
        "requests": sum(statuses.values()),
        "failed": failed,
        "statuses": statuses,
        "mixed_or_wrong": mixed,
        "answers_by_model": list(digests_seen.values()),
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "rss_mb": memory,
    }


async def refusal_times(url: str, rounds: int) -> dict:
    """Sequential GET /info with each kind of key, interleaved: each kind's times in microseconds."""
    kinds = {
        "no key": {},
        "wrong key, the key's length": {"Authorization": "Bearer " + "x" * len(KEY)},
        "wrong key, 8 characters": {"Authorization": "Bearer " + "x" * 8},
        "wrong key, 1,000 characters": {"Authorization": "Bearer " + "x" * 1000},
        "the key but its last character": {"Authorization": "Bearer " + KEY[:-1] + "x"},
        "the right key (200)": HEADERS,
    }
    order = [kind for kind in kinds for _ in range(rounds)]
    random.Random(7).shuffle(order)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    async with aiohttp.ClientSession() as session:
        for kind in order:
            sent = time.perf_counter()
            async with session.get(url + "/info", headers=kinds[kind]) as response:
                await response.read()
                assert (response.status == 200) == (kind == "the right key (200)"), (kind, response.status)
            times[kind].append(1e6 * (time.perf_counter() - sent))
    return {
        kind: {"median_us": statistics.median(values), "p90_us": percentile(values, 0.9), "requests": len(values)}
        for kind, values in times.items()
    }


def check_times() -> dict:
    """``ApiKey.admits`` alone, per call, in nanoseconds (best of 5 runs of 20,000 calls)."""
    key = ApiKey(KEY)
    offered = {
        "wrong key, the key's length": "Bearer " + "x" * len(KEY),
        "wrong key, 8 characters": "Bearer " + "x" * 8,
        "wrong key, 1,000 characters": "Bearer " + "x" * 1000,
        "the key but its last character": "Bearer " + KEY[:-1] + "x",
        "the right key": "Bearer " + KEY,
    }
    return {
        kind: 1e9 * min(timeit.repeat(lambda value=value: key.admits(value), number=20_000, repeat=5)) / 20_000
        for kind, value in offered.items()
    }


def settled_memory(samples: list[tuple[float, float]], reloads: list[float]) -> list[float]:
    """The server's memory just before each reload, and at the end: where each reload left it."""
    marks = [*reloads, float("inf")]
    return [[rss for at, rss in samples if at < mark][-1] for mark in marks]


def report(results: dict) -> str:
    load, refusals, checks = results["load"], results["refusals"], results["check_ns"]
    memory = [rss for _, rss in load["rss_mb"]]
    settled = settled_memory(load["rss_mb"], load["reload_at_s"])
    lines = [
        BEGIN,
        "## `tagger serve` in operation (`benchmarks/serve_operations.py`)",
        "",
        f"Written by `python benchmarks/serve_operations.py --clients {load['clients']} --seconds {round(load['seconds'])} "
        f"--reloads {load['reloads']}`; {figures.machine_name(results['machine'])}; models: {results['models']}, "
        f"engine {results['engine']}, with an API key. The clients run on the same cores as the server.",
        "",
        "| clients | seconds | reloads | requests | failed | answers not equal to their model's alone | "
        "answers per model | p50 latency | p99 latency | server memory (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {load['clients']} | {round(load['seconds'])} | {load['reloads']} (at "
        + ", ".join(f"{at:.0f}" for at in load["reload_at_s"])
        + f" s) | {load['requests']:,} | {load['failed']} | {load['mixed_or_wrong']} | "
        + " / ".join(f"{count:,}" for count in load["answers_by_model"])
        + f" | {load['p50_ms']:.0f} ms | {load['p99_ms']:.0f} ms | {settled[0]:.0f} before the first reload; after each "
        "(just before the next, and at the end): "
        + ", ".join(f"{rss:.0f}" for rss in settled[1:])
        + f"; {max(memory):.0f} at most |",
        "",
        "Refusals by API key: sequential `GET /info` requests, each kind interleaved with the others in random order.",
        "",
        "| key sent | requests | median | 90th percentile | `ApiKey.admits` alone |",
        "|---|---|---|---|---|",
    ]
    for kind, figure in refusals.items():
        alone = checks.get(kind, checks.get("the right key") if kind.startswith("the right") else None)
        lines.append(
            f"| {kind} | {figure['requests']:,} | {figure['median_us']:.0f} µs | {figure['p90_us']:.0f} µs | "
            + (f"{alone:.0f} ns |" if alone is not None else "|")
        )
    lines += ["", f"SIGTERM at the end: exit status {results['exit_status']}.", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=Path, help="a model directory (default: train one)")
    parser.add_argument("--second", type=Path, help="another model directory (default: train one)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--texts", type=int, default=300, help="distinct texts the clients send")
    parser.add_argument("--rounds", type=int, default=1000, help="requests of each kind of key")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "serve_operations.json")
    args = parser.parse_args()
    sentences = [detokenize(s.tokens)[0] for s in read_corpus(args.data / "eng.testb", CorpusReading("conll"))]
    generator = random.Random(1)
    texts = []
    for _ in range(args.texts):
        count = generator.randint(1, 3)
        start = generator.randrange(len(sentences) - count)
        texts.append(" ".join(sentences[start : start + count]))
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        first = args.first or train(args.data, ["--preset", "ner", "--seed", "1"], work / "first")
        second = args.second or train(args.data, ["--preset", "ner", "--seed", "2"], work / "second")
        link = work / "current"
        link.symlink_to(first.resolve())
        server, engine, url = start_server(link, {**os.environ, "TAGGER_API_KEY": KEY})
        try:
            models = [first.resolve(), second.resolve()]
            expected = {}
            for model in (models[1], models[0]):  # the second, then back to the first, which then serves
                point_at(link, model)
                asyncio.run(reload(url, server, 1))
                digest, answers = asyncio.run(answers_alone(url, texts))
                expected[digest] = answers
            assert len(expected) == 2, "the two models have the same digest"
            load = asyncio.run(
                under_load(url, server, texts, expected, link, models, args.clients, args.seconds, args.reloads)
            )
            refusals = asyncio.run(refusal_times(url, args.rounds))
        finally:
            server.send_signal(signal.SIGTERM)
            status = server.wait(timeout=60)
    results = {
        "machine": machine(),
        "models": "two NER-preset models (GloVe 6B 50d), one epoch, seeds 1 and 2"
        if args.first is None
        else f"{args.first} and {args.second}",
        "engine": engine,
        "load": load,
        "refusals": refusals,
        "check_ns": check_times(),
        "exit_status": status,
    }
    figures.publish(results, args.output, "serve_operations.json", report(results), figures.RESULTS_MD, BEGIN, END)


if __name__ == "__main__":
    main()
