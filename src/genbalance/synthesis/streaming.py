"""Training on a table bigger than memory, and writing generated rows chunk by chunk.

- :class:`StreamingSource` feeds the trainer: chunks are encoded on the fly and batches stay
  class-balanced (a class the current chunk lacks, or one small enough to be held whole, is drawn
  from its reservoir);
- :func:`fit_file` fits a :class:`~genbalance.synthesis.tabular.Synthesizer` from a file;
- :func:`sample_to_file` writes generated rows to Parquet or CSV through
  :class:`~genbalance.data.chunks.TableWriter`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from genbalance.data.chunks import (
    DEFAULT_CHUNK_ROWS,
    LABEL_COLUMN,
    ChunkReader,
    TableScan,
    TableWriter,
    covering_sample,
    resolve_chunk_rows,
    scan_table,
)


# ---------------------------------------------------------------------------------- training
class StreamingSource:
    """Class-balanced batches from a file read chunk by chunk (see the module docstring).

    The trainer calls ``next_batch(batch_size, generator)``; each chunk is encoded once and
    used for about one pass (``len(chunk) / batch_size`` batches) before the next is read, the
    file restarting at its end. Rank ``r`` of ``world_size`` reads chunks ``r, r + N, ...``.
    """

    def __init__(
        self,
        path: str | Path,
        target: str | None,
        encoder: Any,
        scan: TableScan,
        *,
        chunk_rows: int,
        sampling: str = "balanced",
        class_weight: str | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.reader = ChunkReader(path, chunk_rows, exact=(target,))
        self.target = target
        self.encoder = encoder
        self.classes = scan.classes
        self.n_rows = scan.n_rows
        self.n_classes = len(scan.classes)
        counts = torch.as_tensor(scan.class_counts, dtype=torch.float64)
        present = (counts > 0).double()
        probs = {"balanced": present, "natural": counts, "sqrt": counts.sqrt()}.get(sampling)
        if probs is None:
            raise ValueError(f"unknown sampling {sampling!r}; accepted: balanced, natural, sqrt")
        self.class_probs = probs / probs.sum()
        self.class_weight = None
        if class_weight == "balanced":
            k = present.sum()
            self.class_weight = (1.0 / (k * self.class_probs).clamp_min(1e-12)).float()
        labels = np.array(scan.class_sample[LABEL_COLUMN].to_numpy(), dtype=np.int64)
        self._res_X = torch.from_numpy(encoder.transform(scan.class_sample[scan.columns]))
        self._res_y = torch.as_tensor(labels, dtype=torch.long)
        held = torch.bincount(self._res_y, minlength=self.n_classes)
        self.complete = held >= torch.as_tensor(scan.class_counts)  # class held whole
        self.columns = scan.columns
        n_chunks = max(1, math.ceil(scan.n_rows / self.reader.chunk_rows))
        self._rank, self._world = (rank, world_size) if n_chunks >= world_size else (0, 1)
        self._iter: Iterator[pd.DataFrame] | None = None
        self._steps_left = 0
        self.chunks_encoded = 0
        self.max_pool_rows = 0

    def health_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A bounded encoded sample (the per-class reservoirs), for checks after training."""
        return self._res_X, self._res_y

    def _next_chunk(self) -> pd.DataFrame:
        for _ in range(2):
            if self._iter is None:
                self._iter = self.reader.iter(lambda i: i % self._world != self._rank)
            chunk = next(self._iter, None)
            if chunk is not None:
                return chunk
            self._iter = None  # end of file: start the next pass
        raise ValueError(f"{self.reader.path}: no rows to train on for rank {self._rank}")

    def _load(self, batch_size: int) -> None:
        chunk = self._next_chunk()
        if self.target is not None:
            codes = pd.Index(self.classes).get_indexer(chunk.pop(self.target).to_numpy())
            if (codes < 0).any():
                raise ValueError(f"{self.reader.path}: labels changed since the first pass")
        else:
            codes = np.zeros(len(chunk), dtype=np.int64)
        y = torch.as_tensor(codes, dtype=torch.long)
        X = torch.from_numpy(self.encoder.transform(chunk[self.columns]))
        in_chunk = torch.bincount(y, minlength=self.n_classes) > 0
        from_res = self.complete | ~in_chunk  # classes drawn from their reservoirs this chunk
        keep = ~from_res[y]
        res = from_res[self._res_y]
        self._pool_X = torch.cat([X[keep], self._res_X[res]])
        pool_y = torch.cat([y[keep], self._res_y[res]])
        self._order = torch.argsort(pool_y, stable=True)
        self._counts = torch.bincount(pool_y, minlength=self.n_classes)
        self._starts = torch.cumsum(self._counts, 0) - self._counts
        self._steps_left = max(1, len(chunk) // batch_size)
        self.chunks_encoded += 1
        self.max_pool_rows = max(self.max_pool_rows, len(pool_y))

    def next_batch(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._steps_left <= 0:
            self._load(batch_size)
        self._steps_left -= 1
        classes = torch.multinomial(
            self.class_probs, batch_size, replacement=True, generator=generator
        )
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
        offsets = (u * self._counts[classes]).long()
        return self._pool_X[self._order[self._starts[classes] + offsets]], classes


@dataclass
class StreamPlan:
    """Everything a synthesizer needs to train on a file: the encoder fitted on a covering
    sample, the classes found by the scan, and the batch source that streams the file."""

    encoder: Any
    origin: dict[str, Any]
    classes: np.ndarray
    class_counts: np.ndarray
    n_rows: int
    source: StreamingSource
    chunk_rows: int
    scan_chunks: int

    def stats(self) -> dict[str, int]:
        """What was read (``stream_stats_``): rows, chunk size, chunks, peak rows held."""
        return {
            "rows": self.n_rows,
            "chunk_rows": self.chunk_rows,
            "scan_chunks": self.scan_chunks,
            "train_chunks": self.source.chunks_encoded,
            "max_rows_held": max(self.source.reader.max_rows_held, self.source.max_pool_rows),
        }


def prepare_stream(
    path: str | Path,
    target: str | None,
    *,
    categorical_features: Any,
    encoder_options: dict[str, Any],
    random_state: int | None,
    trainer_config: Callable[[int], Any],
    chunk_rows: int | None = None,
    memory_budget: int | str | None = None,
    class_rows: int = 2048,
    dist: Any = None,
) -> StreamPlan:
    """Scan ``path`` once, fit the encoder on a bounded covering sample and build the
    streaming batch source (see :meth:`Synthesizer.fit_file`). ``trainer_config(n_rows)`` gives
    the trainer settings, whose class sampling the source follows."""
    if class_rows < 1:
        raise ValueError(f"class_rows must be >= 1, got {class_rows}")
    head = ChunkReader(path, 1024, exact=(target,))
    rows = resolve_chunk_rows(chunk_rows, memory_budget, len(head.columns))
    cats = categorical_features
    named = {c for c in cats if isinstance(c, str)} if isinstance(cats, (list, tuple)) else set()
    scan = scan_table(
        path,
        target,
        chunk_rows=rows,
        sample_rows=int(encoder_options.get("fit_sample_size", 20_000)),
        class_rows=class_rows,
        track_values=named,
        random_state=random_state,
    )
    encoder, origin = _stream_encoder(
        ChunkReader(path, rows, exact=(target,)), scan, cats, encoder_options, random_state
    )
    config = trainer_config(scan.n_rows)
    source = StreamingSource(
        path,
        target,
        encoder,
        scan,
        chunk_rows=rows,
        sampling=config.sampling,
        class_weight=config.class_weight,
        rank=dist.rank if dist is not None else 0,
        world_size=dist.world_size if dist is not None else 1,
    )
    return StreamPlan(
        encoder, origin, scan.classes, scan.class_counts, scan.n_rows, source, rows, scan.chunks
    )


def _stream_encoder(
    reader: ChunkReader,
    scan: TableScan,
    categorical_features: Any,
    encoder_options: dict[str, Any],
    random_state: int | None,
) -> tuple[Any, dict[str, Any]]:
    """The encoder of a streamed fit and the input's origin: a probe on the reservoir decides
    the column kinds and the ID columns (with the in-memory rule), the encoder is fitted on
    the covering sample, ID formats on covers of the whole file (:func:`id_covers`)."""
    from genbalance.encoders.tabular import TabularEncoder
    from genbalance.schema import as_frame

    options = dict(encoder_options)
    probe = TabularEncoder(
        categorical_features=categorical_features, random_state=random_state, **options
    )
    sample = scan.sample if len(scan.sample) >= 2 else scan.class_sample[scan.columns]
    probe.fit(_ints_back(sample, reader.promoted))
    ids = probe.id_column_names
    categorical = [s.name for s in probe.schema if not s.is_numeric and s.name not in ids]
    frame, origin = as_frame(covering_sample(scan, categorical, random_state))
    if ids:  # the sample's rows repeat and hold few IDs: name them, learn their format in full
        options["id_columns"] = ids
        covers = id_covers(reader, ids)
        frame = with_covers(frame, covers, np.random.default_rng(random_state))
    encoder = TabularEncoder(
        categorical_features=categorical or "auto", random_state=random_state, **options
    ).fit(frame)
    for spec in encoder.schema:  # a CSV integer column decodes to integers again
        if spec.name in reader.promoted and spec.kind.value == "integer":
            spec.dtype = "int64"
    return encoder, origin


def _ints_back(frame: pd.DataFrame, promoted: set[str]) -> pd.DataFrame:
    """The sample with its CSV integer columns (read as float64) as integers again, so that
    the ID rule, which takes only integer columns for keys, sees them as the in-memory path
    does (``Int64`` keeps a missing value)."""
    whole = [
        c
        for c in frame.columns
        if c in promoted
        and pd.api.types.is_float_dtype(frame[c])
        and bool(np.all(np.mod(frame[c].dropna().to_numpy(), 1.0) == 0.0))
    ]
    if not whole:
        return frame
    return frame.astype({c: "Int64" for c in whole})


def id_covers(reader: ChunkReader, ids: list[Any]) -> dict[Any, pd.Series]:
    """One pass over the file's ID columns: per column the values that give its ID format as
    the whole file has it (:func:`~genbalance.encoders.identifiers.format_cover`), so that a
    new ID avoids every real one, not only those of the sample."""
    from genbalance.encoders.id_cover import format_cover

    covers: dict[Any, pd.Series] = {}
    for chunk in reader:
        for col in ids:
            before = covers.get(col)
            values = chunk[col] if before is None else pd.concat([before, chunk[col]])
            covers[col] = format_cover(values)
    return covers


def with_covers(
    frame: pd.DataFrame, covers: dict[Any, pd.Series], rng: np.random.Generator
) -> pd.DataFrame:
    """``frame`` whose ID columns also hold their covers: the cover values replace IDs of
    rows that have one (the other columns keep their values, so only the ID formats change);
    rows are copied first where the cover is longer than the frame."""
    need = max((len(c) for c in covers.values()), default=0)
    if need > len(frame):
        extra = frame.iloc[rng.integers(0, len(frame), need - len(frame))]
        frame = pd.concat([frame, extra], ignore_index=True)
    else:
        frame = frame.copy()
    for col, cover in covers.items():
        slots = np.flatnonzero(frame[col].notna().to_numpy())
        if len(slots) < len(cover):  # an ID column mostly missing: use any rows
            slots = np.arange(len(frame))
        values = frame[col].astype(object).to_numpy(copy=True)
        values[slots[: len(cover)]] = cover.to_numpy(dtype=object)
        frame[col] = pd.Series(values, index=frame.index).astype(frame[col].dtype)
    return frame


def fit_file(synth: Any, path: str | Path, target: str | None = None, **options: Any) -> Any:
    """Fit ``synth`` (a :class:`~genbalance.synthesis.tabular.Synthesizer`) on a file in
    chunks: :meth:`Synthesizer.fit_file`, kept as a function for existing callers."""
    return synth.fit_file(path, target, **options)


def sample_to_file(
    synth: Any,
    n: int,
    path: str | Path,
    *,
    label: Any = None,
    target: str = "class",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    random_state: int = 0,
    force: bool = False,
    n_jobs: int | None = None,
) -> dict[str, int]:
    """Write ``n`` generated rows to ``path`` in chunks of ``chunk_rows`` (never all at once).

    Classes are drawn in their training proportions unless ``label`` is given; the label column
    ``target`` is added when the model knows more than one class. Chunk ``i`` is generated with
    seed ``random_state + i``: the same call gives the same file.

    ``n_jobs``: chunks generated and decoded at once, each on one thread (None or -1: the
    threads this process is given, ``torch.get_num_threads()``, which follows
    ``OMP_NUM_THREADS``). The file is the same for every value; at most ``n_jobs`` chunks are
    held besides the one being written.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    chunk_rows = resolve_chunk_rows(chunk_rows, None, 1)
    jobs = resolve_jobs(n_jobs)
    rng = np.random.default_rng(random_state)
    code = None if label is None else int(synth.label_codes(label, 1)[0])

    def chunk_codes() -> Iterator[tuple[int, np.ndarray]]:
        """(seed, class codes) of each chunk, drawn in order whatever runs them."""
        for i, start in enumerate(range(0, max(n, 1), chunk_rows)):
            m = min(chunk_rows, n - start)
            if code is not None:
                yield random_state + i, np.full(m, code, dtype=np.int64)
            else:
                yield random_state + i, synth.draw_codes(m, rng)

    def rows_of(seed: int, codes: np.ndarray) -> pd.DataFrame:
        rows = synth.rows_for_codes(codes, seed)
        if len(synth.classes_) > 1:
            rows[target] = synth.classes_[codes]
        return rows

    with TableWriter(path, force=force) as writer:
        for rows in in_order(rows_of, chunk_codes(), jobs):
            writer.write(rows)
    return {"rows": writer.rows, "chunks": writer.chunks, "chunk_rows": chunk_rows}


def resolve_jobs(n_jobs: int | None) -> int:
    """Worker threads for ``n_jobs``: None or -1 the threads torch is given, else the int."""
    if n_jobs is None or (not isinstance(n_jobs, bool) and n_jobs == -1):
        return max(1, torch.get_num_threads())
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be None, -1 or an integer >= 1, got {n_jobs!r}")
    return int(n_jobs)


def in_order(
    work: Callable[[int, np.ndarray], pd.DataFrame],
    tasks: Iterator[tuple[int, np.ndarray]],
    jobs: int,
) -> Iterator[pd.DataFrame]:
    """``work(*task)`` for every task, yielded in the tasks' order; with ``jobs`` > 1 on that
    many threads at once, each with one torch and one BLAS thread (generation and decoding
    are array work that releases the GIL: files written 1.4-1.6x faster on two cores than on
    one, docs/scale.md). The first task runs alone, so that what a model sets up on its first
    call (its device) is done once."""
    first = next(tasks, None)
    if first is None:
        return
    yield work(*first)
    if jobs == 1:
        for task in tasks:
            yield work(*task)
        return
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(jobs, thread_name_prefix="genbalance-sample")
    try:
        torch.set_num_threads(1)
        with threadpool_limits(1):
            pending = [pool.submit(work, *task) for task in itertools.islice(tasks, jobs)]
            while pending:
                done = pending.pop(0).result()
                pending.extend(pool.submit(work, *task) for task in itertools.islice(tasks, 1))
                yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
