"""Tables bigger than memory: chunked reading, bounded samples and chunked writing.

Peak memory is set by ``chunk_rows`` (or a ``memory_budget`` turned into one), never by the file
size:

- :class:`ChunkReader` reads CSV or Parquet with pyarrow, ``chunk_rows`` rows at a time;
- :func:`scan_table` makes one pass: class counts, a uniform reservoir sample (the encoder is
  fitted on it), a per-class reservoir (rare classes are then held whole), and the category
  values and missing values the sample must cover so that no later chunk surprises the encoder;
- :class:`TableWriter` writes rows chunk by chunk to Parquet or CSV through a temporary file
  published at the end.

Training from such a file (the streaming batch source, ``fit_file``, ``sample_to_file``) is in
:mod:`genbalance.synthesis.streaming`; this module knows nothing of models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from genbalance.data.exact import EXACT_INT_LIMIT as EXACT_INT_LIMIT  # its old home
from genbalance.data.exact import inexact_integer_message
from genbalance.data.kinds import categorical_by_default
from genbalance.data.tables import table_format
from genbalance.data.validation import check_labels, refuse_duplicate_columns
from genbalance.data.writer import TableWriter as TableWriter  # its old home: still importable
from genbalance.utils import parse_bytes

DEFAULT_CHUNK_ROWS = 100_000
# the text pandas.read_csv reads as missing (its default na_values): the target column of a
# streamed CSV reads the same way, so that an empty label cell is refused as in memory
NA_STRINGS = tuple(
    "|#N/A|#N/A N/A|#NA|-1.#IND|-1.#QNAN|-NaN|-nan|1.#IND|1.#QNAN|<NA>|N/A|NA|NULL|NaN|None|n/a"
    "|nan|null".split("|")
)


# ---------------------------------------------------------------------------------- settings
def chunk_rows_for_budget(memory_budget: int | str, n_columns: int) -> int:
    """Rows per chunk so that a chunk in all its forms fits in ``memory_budget``.

    A raw row costs about 80 bytes a column as pandas objects, and its encoding about 12 floats a
    column held three times (encoded chunk, training pool, batch copies); half the budget is left
    for the model, the reservoirs and pyarrow's buffers.
    """
    per_row = n_columns * (80 + 3 * 12 * 4)
    rows = parse_bytes(memory_budget) // 2 // max(per_row, 1)
    if rows < 256:
        raise ValueError(
            f"memory budget {memory_budget!r} leaves {rows} rows per chunk for {n_columns} "
            "columns; give at least 256 rows' worth"
        )
    return int(min(rows, 2_000_000))


def resolve_chunk_rows(
    chunk_rows: int | None, memory_budget: int | str | None, n_columns: int
) -> int:
    if chunk_rows is not None:
        if (
            isinstance(chunk_rows, bool)
            or not isinstance(chunk_rows, (int, np.integer))
            or chunk_rows < 1
        ):
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        return int(chunk_rows)
    if memory_budget is not None:
        return chunk_rows_for_budget(memory_budget, n_columns)
    return DEFAULT_CHUNK_ROWS


# ---------------------------------------------------------------------------------- reading
class ChunkReader:
    """Iterate over a CSV/Parquet file as DataFrames of at most ``chunk_rows`` rows.

    ``chunks_read`` and ``max_rows_held`` (the most rows converted and held at once) are kept so
    that callers and tests can check the whole file is never loaded. CSV columns keep the types
    inferred from the first block, with integers read as float64 (a later block with a decimal
    point or a gap would otherwise fail mid-file); ``skip(i)`` true leaves chunk ``i``
    unconverted (ranks of a distributed run read their own chunks).

    Read like the in-memory path reads a table: a repeated column name is refused, an
    ``exact`` (target) text cell that pandas reads as missing (empty, ``NA``, ...) is missing,
    and an integer column holding a value from 2**53 on (which float64 would round) is
    refused, naming the column and the value.
    """

    def __init__(
        self, path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS, exact: tuple = ()
    ) -> None:
        self.path = Path(path)
        self.exact = set(exact)  # CSV columns that keep their inferred type (the target)
        self.kind = table_format(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(f"input table not found: {self.path}")
        self.chunk_rows = resolve_chunk_rows(chunk_rows, None, 1)
        self.chunks_read = 0
        self.max_rows_held = 0
        schema = self.schema()
        self.columns = list(schema.names)
        refuse_duplicate_columns(pd.DataFrame(columns=self.columns), str(self.path))
        # CSV integer columns read as float64; names kept so that decoding gives ints back
        self.promoted = {
            f.name for f in schema if self.kind == "csv" and pa.types.is_integer(f.type)
        } - self.exact

    def schema(self) -> pa.Schema:
        if self.kind == "parquet":
            return pq.read_schema(self.path)
        with pacsv.open_csv(self.path, read_options=self._read_options()) as reader:
            return reader.schema

    def _read_options(self) -> pacsv.ReadOptions:
        # a block of about a chunk's bytes (clamped) bounds what pyarrow buffers beside the chunk
        block = int(min(max(self.chunk_rows * 64, 1 << 16), 64 << 20))
        return pacsv.ReadOptions(block_size=block)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            if self.kind == "parquet":
                yield from pq.ParquetFile(self.path).iter_batches(batch_size=self.chunk_rows)
                return
            first = self.schema()
            types = {
                f.name: (
                    pa.float64()
                    if pa.types.is_integer(f.type) or pa.types.is_null(f.type)
                    else f.type
                )
                for f in first
                if f.name not in self.exact
            }
            opts = pacsv.ConvertOptions(column_types=types)
            with pacsv.open_csv(
                self.path, read_options=self._read_options(), convert_options=opts
            ) as reader:
                yield from reader
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise ValueError(f"{self.path}: cannot read as {self.kind} ({exc})") from None

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self.iter(None)

    def iter(self, skip: Callable[[int], bool] | None = None) -> Iterator[pd.DataFrame]:
        buf: list[pa.RecordBatch] = []
        held, index = 0, 0
        for batch in self._batches():
            while batch.num_rows:
                take = min(self.chunk_rows - held, batch.num_rows)
                buf.append(batch.slice(0, take))
                held += take
                batch = batch.slice(take)
                if held == self.chunk_rows:
                    out = self._emit(buf, index, skip)
                    if out is not None:
                        yield out
                    buf, held, index = [], 0, index + 1
        if held:
            out = self._emit(buf, index, skip)
            if out is not None:
                yield out

    def _checked(self, table: pa.Table) -> pa.Table:
        """The chunk with the in-memory path's reading rules applied (see the class doc)."""
        for i, col_type in enumerate(table.schema):
            name, kind, column = col_type.name, col_type.type, table.column(i)
            if pa.types.is_nested(kind):  # lists, structs, maps: the in-memory path refuses them
                raise ValueError(
                    f"{self.path}: column {name!r} is a nested {kind} column; accepted are "
                    "columns of scalars (numbers, text, booleans, dates; missing values). Flatten "
                    "it into scalar columns or drop it (image columns cannot be streamed)"
                )
            if name in self.exact:
                if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                    missing = pc.is_in(column, value_set=pa.array(NA_STRINGS, kind))
                    if pc.any(missing).as_py():
                        column = pc.if_else(missing, pa.scalar(None, kind), column)
                        table = table.set_column(i, col_type, column)
                continue  # labels stay exact: they are never converted to float
            if column.null_count == len(column):
                continue
            if pa.types.is_integer(kind):
                bounds = pc.min_max(column)
                top = max(abs(bounds["min"].as_py()), abs(bounds["max"].as_py()))
            elif name in self.promoted:  # a CSV integer column, read as float64
                top = pc.max(pc.abs(column)).as_py()
            else:
                continue
            if top >= EXACT_INT_LIMIT:
                raise ValueError(inexact_integer_message(f"{self.path}: ", name, top))
        return table

    def _emit(self, buf: list[pa.RecordBatch], index: int, skip) -> pd.DataFrame | None:
        if skip is not None and skip(index):
            return None
        table = self._checked(pa.Table.from_batches(buf))
        frame = table.to_pandas()
        self.chunks_read += 1
        self.max_rows_held = max(self.max_rows_held, len(frame))
        return frame


# ---------------------------------------------------------------------------------- one pass
@dataclass
class TableScan:
    """What one pass over a file learnt (all of it bounded in size)."""

    n_rows: int
    columns: list[str]
    classes: np.ndarray
    class_counts: np.ndarray
    sample: pd.DataFrame  # uniform reservoir, features only
    class_sample: pd.DataFrame  # per-class reservoirs, features + "__label__" codes
    values: dict[str, set] = field(default_factory=dict)  # categories seen, text-like columns
    has_missing: set = field(default_factory=set)
    chunks: int = 0


_KEY, LABEL_COLUMN = "__key__", "__label__"


def _bottom_k(frame: pd.DataFrame, k: int, by: str | None = None) -> pd.DataFrame:
    """The ``k`` rows with the smallest random keys (per ``by`` group): a uniform sample."""
    frame = frame.sort_values(_KEY, kind="stable")
    if by is None:
        return frame.iloc[:k]
    return frame.groupby(by, sort=False, observed=True).head(k)


def _count_labels(
    chunk: pd.DataFrame, target: str | None, counts: dict[Any, int], path: Any, first_row: int
) -> pd.Series:
    """Pop the target column of ``chunk`` (checked as the in-memory path checks labels) and add
    its labels to ``counts``; without a target every row is class 0."""
    if target is None:
        counts[0] = counts.get(0, 0) + len(chunk)
        return pd.Series(np.zeros(len(chunk), dtype=np.int64))
    labels = chunk.pop(target)
    if labels.isna().any():
        missing = np.flatnonzero(labels.isna().to_numpy())
        raise ValueError(
            f"{path}: target column {target!r} has {missing.size} missing label(s) "
            f"in rows {first_row}-{first_row + len(chunk) - 1} (empty or NA cells), first at "
            f"row {first_row + int(missing[0])}; every row needs a class label"
        )
    # the in-memory path's label rules: no non-scalar or mixed-type labels
    check_labels(labels, what=f"{path}: target column {target!r}")
    for label, c in labels.value_counts(sort=False).items():
        counts[label] = counts.get(label, 0) + int(c)
    return labels


def _track_columns(
    chunk: pd.DataFrame,
    columns: list[str],
    values: dict[str, set],
    dropped: set[str],
    has_missing: set[str],
    track_values: set[str] | None,
    max_values: int,
) -> None:
    """Note the columns with missing values and the values of the categorical (or tracked)
    columns, which a covering sample must hold; an id-like column is dropped from tracking."""
    for col in columns:
        series = chunk[col]
        if series.isna().any():
            has_missing.add(col)
        # categorical by the library's rule, or a dtype it refuses (the encoder says so later)
        text_like = categorical_by_default(series.dtype) is not False
        if col in dropped or not (text_like or (track_values and col in track_values)):
            continue
        seen = values.setdefault(col, set())
        seen.update(pd.unique(series.dropna().to_numpy(dtype=object)).tolist())
        if len(seen) > max_values:  # an id-like column: the encoder will refuse it anyway
            dropped.add(col)
            values.pop(col)


def scan_table(
    path: str | Path,
    target: str | None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sample_rows: int = 20_000,
    class_rows: int = 2048,
    track_values: set[str] | None = None,
    max_values: int = 100_000,
    random_state: int | None = 0,
) -> TableScan:
    """One pass over ``path``: counts, reservoirs and the values a sample must cover."""
    reader = ChunkReader(path, chunk_rows, exact=(target,))
    if target is not None and target not in reader.columns:
        raise ValueError(
            f"target column {target!r} is not in {path}; columns are: {reader.columns[:20]}"
        )
    columns = [c for c in reader.columns if c != target]
    if not columns:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")
    rng = np.random.default_rng(random_state)
    counts: dict[Any, int] = {}
    sample = None
    per_class = None
    values: dict[str, set] = {}
    dropped: set[str] = set()
    has_missing: set[str] = set()
    n_rows = 0
    for chunk in reader:
        labels = _count_labels(chunk, target, counts, path, n_rows)
        _track_columns(chunk, columns, values, dropped, has_missing, track_values, max_values)
        chunk[_KEY] = rng.random(len(chunk))
        chunk[LABEL_COLUMN] = labels.to_numpy()
        sample = _bottom_k(chunk if sample is None else pd.concat([sample, chunk]), sample_rows)
        per_class = _bottom_k(
            chunk if per_class is None else pd.concat([per_class, chunk]),
            class_rows,
            by=LABEL_COLUMN,
        )
        n_rows += len(chunk)
    if n_rows == 0:
        raise ValueError(f"{path}: the table has no rows")
    try:
        classes = np.array(sorted(counts))
    except TypeError:
        raise ValueError(f"{path}: target column {target!r} mixes label types") from None
    class_counts = np.array([counts[c] for c in classes], dtype=np.int64)
    lookup = pd.Index(classes)
    per_class = per_class.copy()
    per_class[LABEL_COLUMN] = lookup.get_indexer(per_class[LABEL_COLUMN].to_numpy())
    return TableScan(
        n_rows=n_rows,
        columns=columns,
        classes=classes,
        class_counts=class_counts,
        sample=sample.drop(columns=[_KEY, LABEL_COLUMN]).reset_index(drop=True),
        class_sample=per_class.drop(columns=[_KEY]).reset_index(drop=True),
        values=values,
        has_missing=has_missing,
        chunks=reader.chunks_read,
    )


def covering_sample(
    scan: TableScan, categorical: list[str], random_state: int | None = 0
) -> pd.DataFrame:
    """The reservoir and the per-class rows, plus one row per category or missing value of a
    categorical column that neither holds (a copy of a random row with that value), so an
    encoder fitted on it accepts every chunk of the file."""
    frame = pd.concat(
        [scan.sample, scan.class_sample.drop(columns=[LABEL_COLUMN])], ignore_index=True
    )
    rng = np.random.default_rng(random_state)
    extra = []
    for col in scan.columns:
        missing_vals: list[Any] = []
        if col in categorical and col in scan.values:
            present = set(pd.unique(frame[col].dropna().to_numpy(dtype=object)).tolist())
            missing_vals = [v for v in scan.values[col] if v not in present]
        if col in scan.has_missing and not frame[col].isna().any():
            missing_vals.append(None)
        if missing_vals:
            rows = frame.iloc[rng.integers(0, len(frame), len(missing_vals))].copy()
            rows[col] = pd.Series(missing_vals, index=rows.index, dtype=object)
            extra.append(rows.astype({col: frame[col].dtype}) if None not in missing_vals else rows)
    if extra:
        frame = pd.concat([frame, *extra], ignore_index=True)
    return frame


# ---------------------------------------------------------------------------------- writing
