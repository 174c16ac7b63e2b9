"""Generated rows written to Parquet or CSV chunk by chunk; the file appears only when closed
cleanly, and never replaces an existing file unless asked (no-replace publish)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genbalance.data.tables import table_format
from genbalance.files import check_target, file_mode, publish

__all__ = ["TableWriter"]


class TableWriter:
    """Append DataFrames to a Parquet or CSV file; the file appears only when closed cleanly."""

    def __init__(self, path: str | Path, force: bool = False) -> None:
        self.path = Path(path)
        self.kind = table_format(self.path)
        self.force = bool(force)
        check_target(self.path, self.force)  # early: before any row is generated
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        os.chmod(tmp, file_mode(self.path))  # mkstemp's 0600 would hide the output from others
        self._tmp = Path(tmp)
        self._pq: pq.ParquetWriter | None = None
        self._csv = None
        self._schema: pa.Schema | None = None
        self.rows = 0
        self.chunks = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "parquet":
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._pq is None:
                self._schema = table.schema
                self._pq = pq.ParquetWriter(self._tmp, self._schema)
            else:
                table = table.cast(self._schema)
            self._pq.write_table(table)
        else:
            if self._csv is None:
                self._csv = open(self._tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115
            frame.to_csv(self._csv, header=self.chunks == 0, index=False)
        self.rows += len(frame)
        self.chunks += 1

    def close(self) -> Path:
        if self._pq is not None:
            self._pq.close()
            with open(self._tmp, "rb") as fh:  # Parquet too: on disk before the rename
                os.fsync(fh.fileno())
        if self._csv is not None:
            self._csv.flush()
            os.fsync(self._csv.fileno())
            self._csv.close()
        # without force a hard link, which fails if the name appeared meanwhile: of two
        # writers racing for one name exactly one wins and the other gets FileExistsError
        # (never a silent replace); with force a rename over a regular file only
        publish(self._tmp, self.path, overwrite=self.force)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the target is left as it was."""
        for handle in (self._pq, self._csv):
            if handle is not None:
                try:
                    handle.close()
                except (OSError, ValueError):  # already closed by a failed close()
                    pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()
