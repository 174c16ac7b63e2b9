"""Which columns of a mixed table are numeric or categorical, and 64-bit row fingerprints.

Both the privacy metrics (exact copies of training rows) and the synthesizer (replacing
generated rows that copy a training row) hash rows the same way; they live here, below both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genbalance.data.kinds import resolve_categorical
from genbalance.encoders.onehot import as_numbers, normalise_frame

__all__ = ["CategoricalSpec", "row_hashes_like", "split_columns", "training_row_hashes"]

#: What ``categorical_features`` accepts: None/"auto", names, positions or a boolean mask.
CategoricalSpec = Any


def _is_time(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(
        series.dtype
    )


def split_columns(
    frame: pd.DataFrame, categorical_features: CategoricalSpec = None
) -> tuple[list[Any], list[Any]]:
    """Return ``(numeric, categorical)`` column names, in frame order.

    The rule is the library's one rule, :func:`genbalance.data.kinds.resolve_categorical`: text,
    ``category`` and boolean columns are always categorical; numeric columns become
    categorical only when named (or given by position / boolean mask) in
    ``categorical_features``. ``None`` or ``"auto"`` means the automatic rule alone. Metrics
    also accept datetime and timedelta columns, which count as numeric (unless listed).
    """
    probe = frame
    time_cols = [c for c in frame.columns if _is_time(frame[c])]
    if time_cols:  # the schema refuses datetimes; metrics can compare them as numbers
        probe = frame.copy(deep=False)
        for col in time_cols:
            probe[col] = as_numbers(frame[col])
    mask = resolve_categorical(probe, categorical_features)
    columns = list(frame.columns)
    numeric = [c for c, is_cat in zip(columns, mask, strict=True) if not is_cat]
    categorical = [c for c, is_cat in zip(columns, mask, strict=True) if is_cat]
    return numeric, categorical


def _row_hashes(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str], decimals: int | None
) -> np.ndarray:
    """One 64-bit hash per row after normalising dtypes (so 1 == 1.0 and -0.0 == 0.0)."""
    norm = normalise_frame(frame, numeric, categorical)
    for col in numeric:
        values = norm[col].to_numpy(dtype=np.float64, copy=True)
        if decimals is not None:
            values = np.round(values, decimals)
        values = values + 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan  # one NaN bit pattern
        norm[col] = values
    return pd.util.hash_pandas_object(norm, index=False).to_numpy()


def training_row_hashes(
    frame: pd.DataFrame, categorical_features: CategoricalSpec = None, decimals: int | None = None
) -> tuple[np.ndarray, tuple[list, list]]:
    """Row hashes of a training table and the (numeric, categorical) split used, so that
    generated rows can be hashed the same way (:func:`row_hashes_like`)."""
    numeric, categorical = split_columns(frame, categorical_features)
    return _row_hashes(frame, numeric, categorical, decimals), (numeric, categorical)


def row_hashes_like(
    frame: pd.DataFrame, split: tuple[list, list], decimals: int | None = None
) -> np.ndarray:
    """Row hashes of ``frame`` with the column split of :func:`training_row_hashes`."""
    return _row_hashes(frame, split[0], split[1], decimals)
