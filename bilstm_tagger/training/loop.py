"""Training in two parts: :func:`setup_training` (data → vocabularies → model → optimiser) and
:func:`train_epochs`, the loop, which yields an :class:`~bilstm_tagger.training.events.EpochRecord` per epoch.

Neither writes a file, draws on a terminal, or knows of signals (setup reads the pretrained
vectors and sets torch's threads): the caller (:func:`bilstm_tagger.training.run.train`) decides what to
save, what to show and when to stop, as spaCy's ``train_while_improving`` leaves it to its caller.
:class:`TrainingState` holds everything the loop changes, and gives it back as a dictionary of
tensors and plain data (:meth:`TrainingState.state_dict`) to resume from.

Under ``torchrun`` every process runs this same loop on its :class:`~bilstm_tagger.training.distributed.ProcessGroup`:
all draw the same batches of ``batch_size × world_size`` sentences, each trains on its share
(:meth:`~bilstm_tagger.training.distributed.ProcessGroup.share`), and DistributedDataParallel averages the
gradients, so that N processes with batches of B follow one process with batches of N × B.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch.nn.parallel import DistributedDataParallel

from bilstm_tagger.base.errors import InputError, TrainingInterrupted
from bilstm_tagger.base.runtime import resolve_device, set_threads
from bilstm_tagger.base.schemes import convert, detect_scheme, same_kind, tag_kind, tags_to_spans
from bilstm_tagger.model.bilstm_crf import BiLstmCrf, build_model
from bilstm_tagger.model.checkpoint import CheckpointInfo
from bilstm_tagger.model.config import MAX_SEGMENT_TOKENS, TrainingConfig, context_tokens
from bilstm_tagger.model.context import document_keys, pack_windows
from bilstm_tagger.model.embeddings import PretrainedEmbeddings, load_pretrained
from bilstm_tagger.model.vocab import Batch, Vocab
from bilstm_tagger.scoring.metrics import EvaluationReport, evaluate
from bilstm_tagger.tagging.batches import predict_tags
from bilstm_tagger.tagging.engines import TorchNetwork
from bilstm_tagger.tagging.spans import SpanTables
from bilstm_tagger.text.corpus import CorpusReading, Sentence
from bilstm_tagger.training.distributed import SINGLE, ProcessGroup
from bilstm_tagger.training.events import BatchFinished, EpochRecord, LabelCounts, TrainingStarted

BUCKET_BATCHES = 50  # batches per pool of sentences sorted by length
# How often the processes of a distributed run ask each other whether one got a signal: each
# asking is a collective of about 0.5 ms on gloo, against 15 to 30 ms for a step.
STOP_CHECK_STEPS = 16


@dataclass
class TrainingData:
    """Labelled sentences ready to train on, their tags rewritten in the scheme the model learns.

    Attributes:
        train, dev: non-empty sentences; training sentences longer than ``MAX_SEGMENT_TOKENS``
            are cut into pieces. With document context, ``train`` holds windows of consecutive
            sentences instead (:mod:`bilstm_tagger.model.context`), each as one sequence.
        train_tags, dev_tags: their tags in ``tag_scheme``.
        data_scheme: the scheme of the training data (predictions are written back in it).
        tag_scheme: the scheme the model learns: the configuration's, or ``plain``.
        dev_documents: each dev sentence's document (:func:`~bilstm_tagger.model.context.document_keys`)
            with document context, else ``None``.
        window_sentences: with document context, the sentences of each window of ``train``, else ``None``.
    """

    train: list[Sentence]
    dev: list[Sentence]
    train_tags: list[list[str]]
    dev_tags: list[list[str]]
    data_scheme: str
    tag_scheme: str
    dev_documents: list[int] | None = None
    window_sentences: list[int] | None = None

    @property
    def train_sentences(self) -> int:
        """The training sentences (or pieces of long ones), however ``train`` holds them."""
        return len(self.train) if self.window_sentences is None else sum(self.window_sentences)

    def sentences_in(self, indices: Sequence[int]) -> int:
        """The training sentences in the sequences of ``train`` at ``indices``."""
        return len(indices) if self.window_sentences is None else sum(self.window_sentences[i] for i in indices)

    @classmethod
    def prepare(
        cls, train: list[Sentence], dev: list[Sentence], tag_scheme: str, context_tokens: int | None = None
    ) -> TrainingData:
        """Drop empty sentences, cut long ones, detect the schemes and convert the tags; with
        ``context_tokens`` (document context), join the training sentences into windows.

        Raises:
            InputError: no sentence in either set, or span tags in one and plain tags in the other.
        """
        train = split_long_sentences([s for s in train if s.tokens])
        dev = [s for s in dev if s.tokens]
        if not train or not dev:
            raise InputError("the training and dev data need at least one sentence each")
        data_scheme = detect_scheme(s.tags for s in train)
        dev_scheme = detect_scheme(s.tags for s in dev)
        if not same_kind(data_scheme, dev_scheme):
            raise InputError(
                f"the training data has {_describe(data_scheme)} but the dev data has {_describe(dev_scheme)}"
            )
        target = "plain" if data_scheme == "plain" else tag_scheme
        train_tags = [convert(s.tags, data_scheme, target) for s in train]
        dev_documents = window_sentences = None
        if context_tokens is not None:
            train, train_tags, window_sentences = _windows(train, train_tags, context_tokens)
            dev_documents = document_keys([s.starts_document for s in dev])
        return cls(
            train=train,
            dev=dev,
            train_tags=train_tags,
            dev_tags=[convert(s.tags, dev_scheme, target) for s in dev],
            data_scheme=data_scheme,
            tag_scheme=target,
            dev_documents=dev_documents,
            window_sentences=window_sentences,
        )

    def sizes(self) -> dict[str, int]:
        """Sentences and tokens of the training and dev data, as the checkpoint records them."""
        return {
            "train_sentences": self.train_sentences,
            "train_tokens": sum(len(s.tokens) for s in self.train),
            "dev_sentences": len(self.dev),
            "dev_tokens": sum(len(s.tokens) for s in self.dev),
        }

    @property
    def metric(self) -> str:
        """``accuracy`` for plain tags, ``f1`` for span tags."""
        return "accuracy" if self.tag_scheme == "plain" else "f1"

    def label_counts(self) -> LabelCounts:
        """How often each entity type (or tag) occurs in training, and the dev ones training lacks."""

        def count(tag_lists: list[list[str]]) -> Counter[str]:
            if self.tag_scheme == "plain":
                return Counter(tag for tags in tag_lists for tag in tags)
            return Counter(span.label for tags in tag_lists for span in tags_to_spans(tags))

        train, dev = count(self.train_tags), count(self.dev_tags)
        return LabelCounts(
            kind="tags" if self.tag_scheme == "plain" else "entity types",
            train=dict(train.most_common()),
            unseen_in_dev={label: n for label, n in dev.most_common() if label not in train},
        )


@dataclass
class TrainingState:
    """One run's model, optimiser, random numbers and early-stopping counters; made by :func:`setup_training`.

    ``config`` is the effective configuration (the word embedding takes the size of pretrained
    vectors). ``epoch`` is the last completed epoch, ``best_epoch`` the one whose weights scored
    ``best_score`` on dev.
    """

    config: TrainingConfig
    data: TrainingData
    vocab: Vocab
    model: BiLstmCrf
    optimizer: torch.optim.Optimizer
    singletons: torch.Tensor  # (num_words,) bool: the words seen once in training, for word dropout
    batch_rng: random.Random
    device: torch.device
    threads: int
    pretrained: PretrainedEmbeddings | None = None
    group: ProcessGroup = SINGLE
    epoch: int = 0
    best_score: float = -1.0
    best_epoch: int = 0

    @property
    def patience_exhausted(self) -> bool:
        return self.epoch > 0 and self.epoch - self.best_epoch >= self.config.patience

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.max_epochs or self.patience_exhausted

    def state_dict(self) -> dict:
        """What :meth:`load_state_dict` needs to continue as if never stopped (tensors and plain data).

        In a distributed run every process calls it (each one's random numbers are gathered), and
        rank 0 saves it.
        """
        version, internal, gauss = self.batch_rng.getstate()
        state = {
            "epoch": self.epoch,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "config": json.dumps(self.config.to_json()),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "batch_rng": [version, list(internal), gauss],
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.group.distributed:
            # Each process drew its own dropout masks: all their generators continue where they were.
            own = {key: state[key] for key in ("torch_rng", "cuda_rng") if key in state}
            state["world_size"] = self.group.world_size
            state["process_rngs"] = self.group.all_gather(own, "saving the random-number states")
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        version, internal, gauss = state["batch_rng"]
        self.batch_rng.setstate((version, tuple(internal), gauss))
        own = state["process_rngs"][self.group.rank] if self.group.distributed else state
        torch.set_rng_state(own["torch_rng"])
        if "cuda_rng" in own and self.device.type == "cuda":
            torch.cuda.set_rng_state(own["cuda_rng"], self.device)
        self.epoch, self.best_score, self.best_epoch = state["epoch"], state["best_score"], state["best_epoch"]

    def checkpoint_info(self, reading: CorpusReading | None = None) -> CheckpointInfo:
        """What a checkpoint of this run stores besides the weights; ``reading``: how its corpus was read."""
        return CheckpointInfo(
            model=self.config.model.to_json(),
            vocab=self.vocab.to_json(),
            tag_scheme=self.data.tag_scheme,
            data_scheme=self.data.data_scheme,
            corpus=reading.to_json() if reading else {},
            training=self.config.to_json(),
            data=self.data.sizes(),
        )

    def checkpoint_bytes(self) -> int:
        """About how much disk a save needs: best weights, resume state, and a temporary copy."""
        parameters = sum(p.numel() * p.element_size() for p in self.model.parameters())
        optimizer_copies = 2 if self.config.optimizer == "adam" else 1
        return parameters * (1 + (1 + optimizer_copies) * 2)

    def summary(self, output_dir: str) -> TrainingStarted:
        data, vocab = self.data, self.vocab
        return TrainingStarted(
            train_sentences=data.train_sentences,
            train_tokens=sum(len(s) for s in data.train),
            dev_sentences=len(data.dev),
            data_scheme=data.data_scheme,
            tag_scheme=data.tag_scheme,
            tags=len(vocab.tags),
            words=len(vocab.words),
            chars=len(vocab.chars),
            parameters=sum(p.numel() for p in self.model.parameters()),
            device=str(self.device),
            threads=self.threads,
            output_dir=output_dir,
        )


def setup_training(
    train: list[Sentence], dev: list[Sentence], config: TrainingConfig, group: ProcessGroup = SINGLE
) -> TrainingState:
    """Prepare a run: data, seeds, vocabularies, pretrained vectors, the model and its optimiser.

    In a distributed run (``group``), every process builds the same model from the same seed;
    ``threads`` 0 shares the machine's cores between its processes, and ``cuda`` is the GPU of the
    process's local rank.

    Raises:
        InputError: unusable data, vectors or settings.
    """
    data = TrainingData.prepare(train, dev, config.tag_scheme, context_tokens(config.model))
    if len(data.train) < group.world_size:
        raise InputError(
            f"{group.world_size} processes need at least as many training sentences, not {len(data.train)}"
        )
    torch.manual_seed(config.seed)
    threads = set_threads(config.threads or (group.default_threads() if group.distributed else 0))
    device = resolve_device(group.device_name(config.device))
    if device.type == "cuda":
        torch.cuda.manual_seed_all(config.seed)

    vocab = Vocab.build(zip((s.tokens for s in data.train), data.train_tags))
    pretrained = load_pretrained(config.embeddings) if config.embeddings else None
    extra_rows: list[int] = []
    if pretrained is not None:
        if config.model.word_dim != pretrained.dim:  # the word embedding takes the vectors' size
            config = replace(config, model=replace(config.model, word_dim=pretrained.dim))
        # Pretrained words absent from training get ids after the training words, and frozen vectors:
        # those among the first config.pretrained_words of the file, if given.
        kept = pretrained.words[: config.pretrained_words] if config.pretrained_words else pretrained.words
        extra_rows = [row for row, word in enumerate(kept) if word not in vocab.words.stoi]
        vocab = Vocab(vocab.words, vocab.chars, vocab.tags, [pretrained.words[row] for row in extra_rows])
    model = build_model(config.model, vocab, data.tag_scheme)
    word_counts = _word_counts(data.train, vocab)
    if config.model.lm_weight > 0:
        model.language_model.set_vocabulary(word_counts)
    if pretrained is not None:
        _initialise_from_pretrained(model, vocab, pretrained, extra_rows)
    model.to(device)
    if group.rank > 0:  # the same weights everywhere, but each process its own dropout masks
        torch.manual_seed(config.seed + 1_000_003 * group.rank)
    return TrainingState(
        config=config,
        data=data,
        vocab=vocab,
        model=model,
        optimizer=_make_optimizer(model, config),
        singletons=_singleton_mask(word_counts).to(device),
        batch_rng=random.Random(config.seed),
        device=device,
        threads=threads,
        pretrained=pretrained,
        group=group,
    )


def train_epochs(
    state: TrainingState,
    on_batch: Callable[[BatchFinished], None] | None = None,
    interruption: Callable[[], int | None] | None = None,
) -> Iterator[EpochRecord]:
    """Train epoch after epoch until ``max_epochs`` or the patience runs out, yielding each epoch's record.

    After each epoch the model is scored on dev; a record with ``best`` set means the model now
    holds the best weights so far (the caller saves them). ``state`` is up to date whenever a
    record is yielded, so the caller can save it to resume from. ``on_batch`` hears of every
    optimiser step.

    ``interruption`` is asked every ``STOP_CHECK_STEPS`` steps for a signal that arrived (its
    number, or ``None``); when any process has one, all of them raise
    :class:`~bilstm_tagger.base.errors.TrainingInterrupted` at the same step. A single process need not
    ask: its signal handler may raise at once.
    """
    loss_function = _loss_function(state)
    while not state.finished:
        epoch = state.epoch + 1
        learning_rate = _set_learning_rate(state.optimizer, state.config, epoch)
        loss, seconds = _train_epoch(state, loss_function, epoch, on_batch, interruption)
        report = evaluate_dev(state)
        improved = report.score > state.best_score
        if improved:
            state.best_score, state.best_epoch = report.score, epoch
        state.epoch = epoch
        yield EpochRecord(
            epoch=epoch,
            train_loss=loss,
            learning_rate=learning_rate,
            train_seconds=seconds,
            sentences_per_second=state.data.train_sentences / seconds if seconds > 0 else 0.0,
            dev=report,
            best=improved,
        )


LossFunction = Callable[[Batch, "float | None"], torch.Tensor]


def _loss_function(state: TrainingState) -> LossFunction:
    """``(batch, divisor) → loss``: the model's own, or through DistributedDataParallel in a distributed run.

    DDP averages the gradients over the processes as they are computed, and starts by giving
    every process rank 0's weights. The frozen pretrained vectors (a buffer) are the same
    everywhere and are never sent again.
    """
    if not state.group.distributed:
        return state.model.loss
    with state.group.collective("starting DistributedDataParallel"):
        return DistributedDataParallel(_LossOf(state.model), forward_sync_buffers=False)


class _LossOf(torch.nn.Module):
    """A model's loss as a module's ``forward``, which is what DistributedDataParallel wraps."""

    def __init__(self, model: BiLstmCrf):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch, divisor: float | None) -> torch.Tensor:
        return self.model.loss(batch, divisor)


def _train_epoch(
    state: TrainingState,
    loss_function: LossFunction,
    epoch: int,
    on_batch: Callable[[BatchFinished], None] | None,
    interruption: Callable[[], int | None] | None,
) -> tuple[float, float]:
    """One pass over the training data: ``(mean loss per sentence, seconds)``.

    With document context a batch holds as many windows as hold ``batch_size`` sentences on
    average, and its loss is the mean per sentence: the steps are those of sentence batches.
    """
    config, device, model, data, group = state.config, state.device, state.model, state.data, state.group
    model.train()
    lengths = [len(s) for s in data.train]
    per_batch = max(1, round(config.batch_size * len(data.train) / data.train_sentences))
    batches = _at_least_one_each(make_batches(lengths, per_batch * group.world_size, state.batch_rng), group)
    total_loss, done, started = 0.0, 0, time.perf_counter()
    for step, whole_batch in enumerate(batches):
        if interruption is not None and step % STOP_CHECK_STEPS == 0:
            signum = interruption()
            if group.any(signum is not None):
                raise TrainingInterrupted(signum or 15)  # another process had the signal: SIGTERM
        indices = group.share(whole_batch)
        batch = state.vocab.encode(
            [data.train[i].tokens for i in indices], [data.train_tags[i] for i in indices], device=device
        )
        if config.word_dropout > 0:
            chance = torch.rand(batch.word_ids.shape, device=device)
            drop = state.singletons[batch.word_ids] & (chance < config.word_dropout)
            batch.true_word_ids = batch.word_ids
            batch.word_ids = batch.word_ids.masked_fill(drop, 1)
        state.optimizer.zero_grad(set_to_none=True)
        # A process's loss is its sum over the whole batch's sentences per process (see BiLstmCrf.loss);
        # a single process on sentences takes the mean, which is the same.
        sentences, whole = data.sentences_in(indices), data.sentences_in(whole_batch)
        windows = data.window_sentences is not None
        divisor = whole / group.world_size if group.distributed or windows else None
        with group.collective("training on a batch"):
            loss = loss_function(batch, divisor)
            loss.backward()
        if config.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        state.optimizer.step()
        batch_loss = loss.item() * (divisor / sentences if divisor else 1.0)  # this process's mean
        total_loss += batch_loss * sentences
        done += whole
        if on_batch is not None:
            elapsed = time.perf_counter() - started
            on_batch(BatchFinished(epoch, config.max_epochs, done, data.train_sentences, batch_loss, elapsed))
    total_loss = group.sum(total_loss)
    return total_loss / data.train_sentences, time.perf_counter() - started


def _at_least_one_each(batches: list[list[int]], group: ProcessGroup) -> list[list[int]]:
    """The batches, where one too small to give every process a sentence is joined to the one before it.

    Only the last batch of an epoch's last pool can be that small.
    """
    kept: list[list[int]] = []
    for batch in batches:
        if len(batch) < group.world_size and kept:
            kept[-1] = kept[-1] + batch
        else:
            kept.append(batch)
    if len(kept) > 1 and len(kept[0]) < group.world_size:
        kept[1] = kept[0] + kept[1]
        del kept[0]
    return kept


def evaluate_dev(state: TrainingState, shared: bool = True) -> EvaluationReport:
    """Score the model on dev: the same report on every process.

    In a distributed run, each process tags every ``world_size``-th sentence and all of them
    gather the tags (``shared``), or rank 0 tags them all while the others wait (``shared=False``,
    which ``benchmarks/distributed.py`` measures against).
    """
    group, dev = state.group, state.data.dev
    if shared:
        mine = range(group.rank, len(dev), group.world_size)
    else:
        mine = range(len(dev) if group.is_main else 0)
    sentences = (dev[i].tokens for i in mine)
    documents = None if state.data.dev_documents is None else [state.data.dev_documents[i] for i in mine]
    network, tables = (
        TorchNetwork(state.model, state.device),
        SpanTables.from_labels(state.vocab.tags.itos, state.data.tag_scheme),
    )
    predicted = [p.tags for _, p in predict_tags(network, state.vocab, tables, sentences, documents=documents)]
    parts = group.all_gather(list(zip(mine, predicted)), "sharing the dev predictions")
    ordered: list[list[str]] = [[] for _ in dev]
    for index, tags in (pair for part in parts for pair in part):
        ordered[index] = tags
    return evaluate(state.data.dev_tags, ordered, state.data.tag_scheme, known_labels=state.vocab.tags.itos)


def make_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of sentence indices of similar length.

    Sentences are shuffled, cut into pools of ``BUCKET_BATCHES`` batches, sorted by length within
    each pool and cut into batches, whose order is shuffled again: little padding, yet each epoch
    sees different batch compositions.
    """
    indices = list(range(len(lengths)))
    rng.shuffle(indices)
    pool_size = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(indices), pool_size):
        pool = sorted(indices[start : start + pool_size], key=lambda i: lengths[i])
        batches.extend(pool[i : i + batch_size] for i in range(0, len(pool), batch_size))
    rng.shuffle(batches)
    return batches


def _windows(
    sentences: list[Sentence], tags: list[list[str]], context_tokens: int
) -> tuple[list[Sentence], list[list[str]], list[int]]:
    """The sentences joined into windows of their documents, each window one sequence: the windows,
    their tags and how many sentences each holds."""
    keys = document_keys([s.starts_document for s in sentences])
    windows = pack_windows([len(s) for s in sentences], keys, context_tokens)
    joined = [
        Sentence(
            tokens=[token for i in window.members for token in sentences[i].tokens],
            line=sentences[window.members[0]].line,
        )
        for window in windows
    ]
    joined_tags = [[tag for i in window.members for tag in tags[i]] for window in windows]
    return joined, joined_tags, [len(window.members) for window in windows]


def split_long_sentences(sentences: list[Sentence], max_tokens: int = MAX_SEGMENT_TOKENS) -> list[Sentence]:
    """Sentences longer than ``max_tokens`` cut into consecutive pieces, to bound memory."""
    pieces = []
    for sentence in sentences:
        if len(sentence) <= max_tokens:
            pieces.append(sentence)
            continue
        for start in range(0, len(sentence), max_tokens):
            pieces.append(
                Sentence(
                    tokens=sentence.tokens[start : start + max_tokens],
                    tags=sentence.tags[start : start + max_tokens] if sentence.tags is not None else None,
                    line=sentence.line + start,
                    # The first piece starts the sentence's document where the sentence did.
                    source_lines=[line for line in sentence.source_lines if line.startswith("#")] if start == 0 else [],
                    document_header=sentence.document_header if start == 0 else None,
                )
            )
    return pieces


def _describe(scheme: str) -> str:
    return f"{tag_kind(scheme)} (no spans)" if scheme == "plain" else f"{tag_kind(scheme)} ({scheme})"


def _initialise_from_pretrained(
    model: BiLstmCrf, vocab: Vocab, pretrained: PretrainedEmbeddings, extra_rows: list[int]
) -> None:
    """Training words get their pretrained vectors (where there is one); the others keep the
    random start. Pretrained words absent from training go to the frozen extra table."""
    vectors = torch.from_numpy(pretrained.vectors)
    with torch.no_grad():
        for index, word in enumerate(vocab.words.itos[2:], start=2):
            match = pretrained.find(word)
            if match is not None:
                model.word_embedding.weight[index] = vectors[match[0]]
        model.extra_word_vectors = vectors[extra_rows].to(torch.float16)


def _make_optimizer(model: BiLstmCrf, config: TrainingConfig) -> torch.optim.Optimizer:
    # fused: one kernel per parameter instead of one per operation; Adam's step over the 1M-weight
    # word embedding was 13% of a CoNLL-2003 epoch (1,480 → 1,670 sentences/s).
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.effective_learning_rate, fused=True)
    return torch.optim.SGD(model.parameters(), lr=config.effective_learning_rate, momentum=config.momentum, fused=True)


def _set_learning_rate(optimizer: torch.optim.Optimizer, config: TrainingConfig, epoch: int) -> float:
    rate = config.effective_learning_rate / (1.0 + config.lr_decay * (epoch - 1))
    for group in optimizer.param_groups:
        group["lr"] = rate
    return rate


def _word_counts(sentences: list[Sentence], vocab: Vocab) -> torch.Tensor:
    """``(num_words,)`` how often each training word occurs in ``sentences``."""
    counts = torch.zeros(len(vocab.words), dtype=torch.long)
    for sentence in sentences:
        ids = torch.tensor([vocab.word_id(t) for t in sentence.tokens])
        counts.index_add_(0, ids, torch.ones(len(sentence), dtype=torch.long))
    return counts


def _singleton_mask(counts: torch.Tensor) -> torch.Tensor:
    """``(num_words,)`` bool: words seen exactly once in training (candidates for word dropout)."""
    singles = counts == 1
    singles[:2] = False  # padding and unknown
    return singles
