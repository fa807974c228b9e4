"""The models a server holds, each under its name, and their reloading without dropping a request.

A :class:`ServedModel` holds one :class:`Generation` at a time: a loaded model with its own
tagging thread (:class:`~bilstm_tagger.serving.batcher.MicroBatcher`). :meth:`ServedModel.reload`
loads the model again beside it and switches to the new generation only once that is loaded; the
old one's thread then finishes the requests already handed to it and stops, and the old model is
freed. Each request is handed whole to one generation, so its answer comes from one model, never
from a mix; ``X-Model-Digest`` names that model (the SHA-256 of its settings, vocabularies, weights
and calibration). A reload that fails leaves the old generation serving.
"""

from __future__ import annotations

import gc
import hashlib
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.base.runtime import freeze_loaded_objects, release_free_memory
from bilstm_tagger.model import checkpoint, packages
from bilstm_tagger.model.config import TAG_BATCH_SIZE
from bilstm_tagger.serving.batcher import MicroBatcher
from bilstm_tagger.serving.requests import TagRequest

if TYPE_CHECKING:
    from bilstm_tagger.serving.metrics import ServerMetrics
    from bilstm_tagger.tagging.tagger import LoadedModel

_ROUTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ModelSource:
    """A model as the command line names it: its name in routes, and its directory or package name."""

    name: str
    spec: str


def model_sources(specs: list[str]) -> list[ModelSource]:
    """``MODEL`` or ``NAME=MODEL`` arguments as sources; a model's name is its package's or directory's.

    Raises:
        InputError: no model, a name that cannot be a path segment, or two models of one name.
    """
    if not specs:
        raise InputError("name at least one model to serve")
    sources = []
    for spec in specs:
        name, _, model = spec.rpartition("=") if "=" in spec and not Path(spec).exists() else ("", "", spec)
        name = name or Path(model.rstrip("/")).name
        if not _ROUTE_NAME.fullmatch(name):
            raise InputError(f"{spec}: {name!r} cannot name a model in a URL; name it: NAME=MODEL")
        sources.append(ModelSource(name, model))
    names = [source.name for source in sources]
    for name in names:
        if names.count(name) > 1:
            raise InputError(f"two models are named {name}: name them apart, e.g. {name}2=MODEL")
    return sources


@dataclass(frozen=True)
class LoadSettings:
    """How each model is loaded and tagged: as ``tagger tag`` takes ``--engine``, ``--device``, ``--threads``."""

    engine: str = "auto"
    device: str = "cpu"
    threads: int | None = None
    batch_size: int = TAG_BATCH_SIZE


@dataclass
class Generation:
    """One load of a model: the model, its tagging thread, and which model it is.

    Attributes:
        tagger: the loaded model.
        batcher: its tagging thread.
        digest: the SHA-256 of its settings, vocabularies, weights and calibration.
        number: 1 for the first load, then one more per reload.
        loaded_at: when it was loaded (seconds since the epoch).
        load_seconds: how long loading took.
    """

    tagger: LoadedModel
    batcher: MicroBatcher
    digest: str
    number: int
    loaded_at: float
    load_seconds: float


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``error`` is ``None`` when the new model serves, else why the old one still does."""

    name: str
    seconds: float
    error: str | None = None
    digest: str | None = None


class _Observer:
    """A batcher's reports, as the metrics of its model."""

    def __init__(self, metrics: ServerMetrics, name: str):
        self.depth = metrics.queue_depth.labels(name)
        self.batches = metrics.batch_texts.labels(name)
        self.tokens = metrics.tokens.labels(name)

    def queued(self, change: int) -> None:
        self.depth.inc(change)

    def tagged(self, texts: int, tokens: int) -> None:
        self.batches.observe(texts)
        self.tokens.inc(tokens)


class ServedModel:
    """A model under its name: loaded once by :meth:`load`, again by :meth:`reload`, tagging by :meth:`submit`."""

    def __init__(self, source: ModelSource, settings: LoadSettings, metrics: ServerMetrics):
        self.source = source
        self.settings = settings
        self.metrics = metrics
        self.current: Generation | None = None
        self._switch = threading.Lock()  # a request is handed to one generation, never during a switch
        metrics.ready.labels(source.name).set(0)

    @property
    def name(self) -> str:
        return self.source.name

    def load(self) -> Generation:
        """Load the model and serve it (the first load, or the new generation of a reload).

        Raises:
            InputError: the model does not load.
        """
        from bilstm_tagger.tagging.tagger import LoadedModel

        started = time.perf_counter()
        settings = self.settings
        tagger = LoadedModel.load(self.source.spec, settings.device, settings.engine, settings.threads)
        digest = _digest(packages.locate(self.source.spec))
        seconds = time.perf_counter() - started
        number = self.current.number + 1 if self.current else 1
        batcher = MicroBatcher(tagger, settings.batch_size, _Observer(self.metrics, self.name))
        generation = Generation(tagger, batcher, digest, number, time.time(), seconds)
        with self._switch:
            old, self.current = self.current, generation
        self.metrics.load_seconds.labels(self.name).set(seconds)
        self.metrics.ready.labels(self.name).set(1)
        if old is not None:
            old.batcher.close()  # its thread answers what it was handed, then stops
        return generation

    def reload(self) -> ReloadOutcome:
        """Load the model again and switch to it; on any failure keep serving the old one."""
        started = time.perf_counter()
        try:
            generation = self.load()
        except Exception as error:  # a model that fails to load, for any reason, leaves the old one serving
            self.metrics.reloads.labels(self.name, "failed").inc()
            message = str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"
            return ReloadOutcome(self.name, time.perf_counter() - started, _one_line(message))
        self.metrics.reloads.labels(self.name, "ok").inc()
        return ReloadOutcome(self.name, generation.load_seconds, digest=generation.digest)

    def submit(self, request: TagRequest) -> tuple[Future, Generation]:
        """Hand the request to the current generation: a future of its records, and that generation."""
        with self._switch:
            generation = self.current
            if generation is None:
                raise InputError(f"model {self.name} is not loaded yet")
            return generation.batcher.submit(request), generation

    def info(self) -> dict:
        """The model as ``GET /info`` describes it."""
        generation = self.current
        if generation is None:
            return {"name": self.name, "source": self.source.spec, "ready": False}
        tagger = generation.tagger
        return {
            "name": self.name,
            "source": self.source.spec,
            "ready": True,
            "engine": tagger.engine,
            "tags": tagger.labels,
            "tag_scheme": tagger.tag_scheme,
            "output_scheme": tagger.output_scheme,
            "language": tagger.reading.text_language,
            "digest": generation.digest,
            "generation": generation.number,
            "loaded_at": generation.loaded_at,
            "load_seconds": round(generation.load_seconds, 4),
        }

    def close(self) -> None:
        """Stop the tagging thread once it has answered what it was handed."""
        if self.current is not None:
            self.current.batcher.close()


class ServedModels:
    """The server's models by name, in the order the command line gave them."""

    def __init__(self, sources: list[ModelSource], settings: LoadSettings, metrics: ServerMetrics):
        self.metrics = metrics
        self.models = {source.name: ServedModel(source, settings, metrics) for source in sources}
        self._reloading = threading.Lock()  # one reload at a time; a second waits for the first

    def __getitem__(self, name: str) -> ServedModel:
        return self.models[name]

    def __contains__(self, name: str) -> bool:
        return name in self.models

    def __len__(self) -> int:
        return len(self.models)

    @property
    def names(self) -> list[str]:
        return list(self.models)

    @property
    def ready(self) -> bool:
        return all(model.current is not None for model in self.models.values())

    def load(self) -> None:
        """Load every model, in order (the first load).

        Raises:
            InputError: a model does not load.
        """
        with self._reloading:
            for model in self.models.values():
                model.load()
            freeze_loaded_objects()

    def reload(self) -> list[ReloadOutcome]:
        """Reload every model, one after the other; then free the old ones' memory."""
        with self._reloading:
            outcomes = [model.reload() for model in self.models.values()]
            # The old models were frozen out of the collector's scans when they were loaded: let it see
            # them again, collect what is now garbage, and freeze what serves now.
            gc.unfreeze()
            gc.collect()
            release_free_memory()
            freeze_loaded_objects()
            return outcomes

    def close(self) -> None:
        for model in self.models.values():
            model.close()


def _digest(directory: Path) -> str:
    """The SHA-256 of the files that decide a model's answers: its settings, vocabularies, weights and
    calibration (read as bytes: the model was parsed once already, by its load)."""
    digest = hashlib.sha256()
    for name in (checkpoint.CONFIG_FILE, checkpoint.VOCAB_FILE, checkpoint.WEIGHTS_FILE, checkpoint.CALIBRATION_FILE):
        path = directory / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _one_line(message: str) -> str:
    return " ".join(message.split())
