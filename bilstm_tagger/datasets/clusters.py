"""The cluster engines ``tagger tag-dataset --cluster`` runs on, and the one line their failures become.

Each engine's module (:mod:`~bilstm_tagger.datasets.on_dask`, :mod:`~bilstm_tagger.datasets.on_spark`,
:mod:`~bilstm_tagger.datasets.on_ray`) gives a context manager that starts a local cluster on
127.0.0.1 (or joins one at an address) and yields a :class:`~bilstm_tagger.datasets.jobs.Cluster`.
Why Dask is the default: docs/datasets.md, from ``benchmarks/datasets.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from bilstm_tagger.base.errors import InputError

if TYPE_CHECKING:
    from bilstm_tagger.datasets.jobs import Cluster

CLUSTERS: dict[str, tuple[str, str]] = {  # name: (module, the package it needs)
    "dask": ("bilstm_tagger.datasets.on_dask", "distributed"),
    "spark": ("bilstm_tagger.datasets.on_spark", "pyspark"),
    "ray": ("bilstm_tagger.datasets.on_ray", "ray"),
}
RETRIES = 3  # a split is tried 4 times in all, as Spark's spark.task.maxFailures has it


def open_cluster(name: str, address: str | None = None, workers: int = 2) -> AbstractContextManager[Cluster]:
    """The engine ``name``'s cluster: a local one of ``workers`` processes on 127.0.0.1, or the one at ``address``.

    Raises:
        InputError: an unknown engine, or one that is not installed.
    """
    if name not in CLUSTERS:
        raise InputError(f"unknown cluster engine {name!r} (choose {', '.join(CLUSTERS)})")
    module, package = CLUSTERS[name]
    if importlib.util.find_spec(package) is None:
        raise InputError(f"--cluster {name} needs {package}: pip install 'bilstm-tagger[{name}]' (make install has it)")
    if workers < 1:
        raise InputError(f"--workers must be 1 or more, got {workers}")
    return importlib.import_module(module).cluster(address, workers)


_PYTHON_ERROR = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)): (.+)$", re.MULTILINE)


def reason(error: BaseException) -> str:
    """An engine's failure as one line: the Python error that failed the task where the engine's message holds
    one (the last such line: Spark and Ray wrap it), else the error's type and first line (Dask raises it as it was)."""
    text = str(error)
    found = _PYTHON_ERROR.findall(text)
    if found:
        kind, message = found[-1]
        return f"{kind}: {message.strip()}"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first[:300]}" if first else type(error).__name__
