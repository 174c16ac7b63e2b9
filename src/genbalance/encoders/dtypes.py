"""Casting decoded columns back to the dtype they had at fit.

Decoding works in float64 (numbers) or object arrays (categories); the caller gets their own
dtypes back, including pandas' nullable ones when a column had missing values, without
overflow on the way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["nullable_dtype", "to_category_dtype", "to_numeric_dtype"]


def nullable_dtype(dtype: np.dtype) -> str:
    """The pandas nullable dtype that holds the same numbers plus NA."""
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind in "iu":
        return f"{'UInt' if dtype.kind == 'u' else 'Int'}{dtype.itemsize * 8}"
    return str(dtype)


def to_numeric_dtype(x: np.ndarray, dtype: Any) -> Any:
    """Cast decoded float64 numbers to the column's original dtype without overflow."""
    has_nan = bool(np.isnan(x).any())
    target = dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype
    if isinstance(target, np.dtype) and target.kind in "iu":
        info = np.iinfo(target)
        hi = float(info.max)
        if int(hi) > info.max:
            hi = float(np.nextafter(hi, 0.0))
        x = np.clip(x, float(info.min), hi)
    elif isinstance(target, np.dtype) and target.kind == "f":
        info = np.finfo(target)
        x = np.clip(x, float(info.min), float(info.max))
    if isinstance(dtype, np.dtype):
        if has_nan and dtype.kind in "iub":
            return pd.array(x, dtype="Float64").astype(nullable_dtype(dtype))
        return x.astype(dtype)
    return pd.array(x, dtype="Float64").astype(dtype)


def to_category_dtype(values: np.ndarray, dtype: Any) -> Any:
    """Cast decoded category values (object array, NaN = missing) to the original dtype."""
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Categorical(values, dtype=dtype)
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":  # a Series keeps object (a DataFrame would infer str)
            return pd.Series(values, dtype=object)
        if dtype.kind in "iub" and pd.isna(values).any():
            dtype = pd.api.types.pandas_dtype(nullable_dtype(dtype))
        else:
            return values.astype(dtype)
    return pd.array(values, dtype=dtype)
