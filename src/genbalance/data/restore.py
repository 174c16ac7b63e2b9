"""Giving results back in the container the user passed in (pandas, numpy, lists).

The ``origin`` dicts are written by :func:`genbalance.data.validation.as_frame` and
:func:`genbalance.data.validation.check_X_y`; a caller should not need to know that the library
works on DataFrames with string column names inside.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genbalance.data.validation import check_columns

__all__ = ["restore_labels", "restore_output"]


def restore_output(df: pd.DataFrame, origin: dict[str, Any]) -> Any:
    """Give ``df`` back in the container the user passed to ``as_frame``.

    numpy in -> numpy out with the same dtype; DataFrame in -> DataFrame with the original
    column labels, order and dtypes (and a fresh RangeIndex); list in -> numpy array.
    Columns of ``df`` that the input did not have are dropped.
    """
    names = origin["names"]
    check_columns(df, names, "the output", "the input", allow_extra=True)
    df = df.loc[:, names]
    if origin["container"] == "pandas":
        out = df.copy()
        for n, dtype in origin["dtypes"].items():
            if str(out[n].dtype) != dtype:
                out[n] = out[n].astype(dtype)
        out.columns = pd.Index(origin["columns"])
        return out.reset_index(drop=True)
    dtype = origin.get("dtype")
    if dtype is None:
        return df.to_numpy()
    return df.to_numpy(dtype=np.dtype(dtype))


def restore_labels(labels: np.ndarray, origin: dict[str, Any]) -> Any:
    """Give labels back as the user passed ``y``: a named Series or a numpy array."""
    y_origin = origin.get("y", {"container": "numpy"})
    if y_origin["container"] == "pandas":
        return pd.Series(labels, name=y_origin.get("name")).astype(y_origin["dtype"])
    return np.asarray(labels)
