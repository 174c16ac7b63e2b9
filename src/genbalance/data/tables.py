"""Reading and writing user tables (CSV, Parquet) for the CLI, with clear errors.

Writes go through a temporary file and a rename, and never replace an existing file unless
the caller says so: a user's data is never lost to a typo in an output path.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from genbalance.files import atomic_write_bytes

FORMATS = (".csv", ".parquet", ".pq")


def table_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported table format {suffix!r}; accepted: .csv, .parquet")
    return "parquet" if suffix in (".parquet", ".pq") else "csv"


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    kind = table_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"input table not found: {path}")
    try:
        frame = pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types; the user needs the file name
        raise ValueError(f"{path}: cannot read as {kind} ({type(exc).__name__}: {exc})") from None
    if frame.empty:
        raise ValueError(f"{path}: the table has no rows")
    if kind == "csv":
        _refuse_duplicate_header(path)
    return frame


def _refuse_duplicate_header(path: Path) -> None:
    """pandas renames a repeated CSV header ``a,a`` to ``a, a.1``: the output would no longer
    match the input's columns, so say so instead."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = header.iloc[0].tolist() if len(header) else []
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{path}: duplicate column names {dup[:10]!r} in the header; rename them")


def split_target(
    frame: pd.DataFrame, target: str, source: str = "table"
) -> tuple[pd.DataFrame, pd.Series]:
    if target not in frame.columns:
        raise ValueError(
            f"target column {target!r} is not in {source}; columns are: {list(frame.columns)[:20]}"
        )
    return frame.drop(columns=[target]), frame[target]


def write_table(frame: pd.DataFrame, path: str | Path, force: bool = False) -> Path:
    kind = table_format(path)
    if kind == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        data = buf.getvalue()
    else:
        data = frame.to_csv(index=False).encode()
    return atomic_write_bytes(path, data, overwrite=force)
