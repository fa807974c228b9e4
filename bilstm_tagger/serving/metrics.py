"""``GET /metrics``: the server's counters in the Prometheus text format, kept by the official
client library (``prometheus_client``).

=========================================  =========  ==============================================
metric                                     type       labels: what it counts
=========================================  =========  ==============================================
``tagger_http_requests_total``             counter    route, method, status: requests answered
``tagger_http_request_duration_seconds``   histogram  route: time from the request to its answer
``tagger_batch_texts``                     histogram  model: texts (or sentences) tagged in one batch
``tagger_tokens_total``                    counter    model: tokens tagged
``tagger_queue_depth``                     gauge      model: requests waiting for the tagging thread
``tagger_model_load_seconds``              gauge      model: how long its last (re)load took
``tagger_model_reloads_total``             counter    model, outcome (``ok``, ``failed``): reloads
``tagger_model_ready``                     gauge      model: 1 once it is loaded
=========================================  =========  ==============================================

``route`` is the route's pattern (``/models/{name}/tag``), or ``unmatched`` for a path the server
does not have, so that a scan of random paths cannot grow the metrics without bound.

With several server processes (``--workers``), each writes its values to files in a directory
that the first process creates (the client library's multiprocess mode), and every process's
``/metrics`` answers the sum over all of them: a scrape sees the whole server whichever process
takes it.
"""

from __future__ import annotations

import os

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"  # the client library's own variable
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = tuple(2**power for power in range(12))  # 1 to 2048 texts


def multiprocess() -> bool:
    """Whether this process keeps its values in the shared directory (set before the workers start)."""
    return bool(os.environ.get(MULTIPROCESS_DIRECTORY))


class ServerMetrics:
    """The server's metrics, registered in a registry of their own (one per application)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

        self.registry = CollectorRegistry()
        if not multiprocess():
            ProcessCollector(registry=self.registry)  # memory and CPU of the one process
        registry = self.registry
        self.requests = Counter(
            "tagger_http_requests", "Requests answered.", ["route", "method", "status"], registry=registry
        )
        self.latency = Histogram(
            "tagger_http_request_duration_seconds",
            "Time from a request to its answer.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_texts = Histogram(
            "tagger_batch_texts",
            "Texts or sentences tagged in one batch.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter("tagger_tokens", "Tokens tagged.", ["model"], registry=registry)
        self.queue_depth = Gauge(
            "tagger_queue_depth",
            "Requests waiting for the tagging thread.",
            ["model"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.load_seconds = Gauge(
            "tagger_model_load_seconds",
            "How long the model's last load took.",
            ["model"],
            multiprocess_mode="max",
            registry=registry,
        )
        self.reloads = Counter("tagger_model_reloads", "Model reloads.", ["model", "outcome"], registry=registry)
        self.ready = Gauge(
            "tagger_model_ready",
            "1 once the model is loaded.",
            ["model"],
            multiprocess_mode="livemin",
            registry=registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text to answer ``GET /metrics`` with, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if multiprocess():
            from prometheus_client import multiprocess as shared

            registry = CollectorRegistry()
            shared.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def process_ended(pid: int) -> None:
    """Drop an ended worker's live gauges (queue depth, readiness) from the shared directory."""
    if multiprocess():
        from prometheus_client import multiprocess as shared

        shared.mark_process_dead(pid)
