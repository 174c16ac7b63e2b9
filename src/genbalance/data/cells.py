"""What a table cell may hold: the one rule for scalar cells, image columns and refusals.

A column whose every non-missing cell is a 2-D ``(H, W)`` or 3-D ``(H, W, C)`` numpy array, or
whose every non-missing cell is text naming a ``.png`` / ``.jpg`` / ``.jpeg`` / ``.npy`` file, is
an *image column* (modelled with the table by ``synthesis.records``, docs/multimodal.md). Cells
that are 1-D arrays, lists, tuples, dicts or sets, and arrays mixed with scalars, are refused,
naming the column and a row, instead of being stringified into categories. ``data.kinds`` (the
table encoder's schema) and ``data.validation`` (every table that comes in) both ask here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.utils import to_python_scalar

__all__ = [
    "ACCEPTED_CELLS",
    "IMAGE_FILE_SUFFIXES",
    "cell_column_kind",
    "refuse_image_column",
    "row_name",
]

_BASIC_INFERRED = {"string", "integer", "floating", "boolean"}
#: the files an image column's cells may name
IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")
ACCEPTED_CELLS = (
    "accepted cells: scalars (numbers, text, booleans, dates; missing values) in table columns; "
    "in an image column every cell is a 2-D (H, W) or 3-D (H, W, C) numpy array, or every cell "
    "is the path of a .png/.jpg/.jpeg/.npy file"
)
# pandas' inferred types that hold scalars only (no per-cell scan needed)
_SCALAR_INFERRED = _BASIC_INFERRED | {
    "mixed-integer-float",
    "decimal",
    "complex",
    "bytes",
    "date",
    "datetime",
    "datetime64",
    "time",
    "timedelta",
    "timedelta64",
    "period",
    "interval",
    "empty",
    "categorical",
}
_CONTAINERS = (list, tuple, dict, set, frozenset)


def row_name(index: pd.Index, pos: int) -> str:
    """``row 3`` (a default index), or ``row 3 (index 'a')``: how errors name a row."""
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return f"row {pos}"
    return f"row {pos} (index {to_python_scalar(index[pos])!r})"


def cell_column_kind(name: Any, series: pd.Series) -> str:
    """``"image"`` for an image column, ``"table"`` for a column of scalars; refuses the rest.

    The library's one rule for what a cell may hold (see the module docstring), so the table
    encoder, the validation of ``X`` and the record synthesizer cannot disagree. Text columns
    are image columns when every non-missing value ends in an image file suffix.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or not (
        pdt.is_object_dtype(dtype) or pdt.is_string_dtype(dtype)
    ):
        return "table"
    inferred = pdt.infer_dtype(series, skipna=True)
    if inferred == "string":
        return "image" if _all_image_paths(series) else "table"
    if inferred in _SCALAR_INFERRED:
        return "table"
    return _scan_cells(name, series)


def _all_image_paths(series: pd.Series) -> bool:
    present = series[series.notna()]
    if present.empty or not str(present.iloc[0]).lower().endswith(IMAGE_FILE_SUFFIXES):
        return False  # the common case (ordinary text) decided by one value
    return bool(present.astype(str).str.lower().str.endswith(IMAGE_FILE_SUFFIXES).all())


def _cell_kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return "image" if value.ndim in (2, 3) else f"{value.ndim}-D array"
    if isinstance(value, _CONTAINERS):
        return type(value).__name__
    return "scalar"


def _scan_cells(name: Any, series: pd.Series) -> str:
    """Per-cell look at a column pandas calls mixed: images, scalars, or a refusal."""
    missing = series.isna().to_numpy()
    kinds = [_cell_kind(v) for v in series.to_numpy(dtype=object)]
    bad = [i for i, k in enumerate(kinds) if k not in ("image", "scalar") and not missing[i]]
    if bad:
        i = bad[0]
        raise ValueError(
            f"column {name!r} holds a {kinds[i]} at {row_name(series.index, i)} "
            f"({str(series.iloc[i])[:60]!r}); {ACCEPTED_CELLS}"
        )
    images = [i for i, k in enumerate(kinds) if k == "image"]
    if not images:
        return "table"
    scalars = [i for i, k in enumerate(kinds) if k == "scalar" and not missing[i]]
    if scalars:
        i = scalars[0]
        raise ValueError(
            f"column {name!r} mixes image arrays (e.g. {row_name(series.index, images[0])}) with "
            f"scalars ({row_name(series.index, i)}: {series.iloc[i]!r}); {ACCEPTED_CELLS}"
        )
    return "image"


def refuse_image_column(name: Any, what: str = "this table model") -> None:
    """The one refusal of an image column by code that models table columns only."""
    raise ValueError(
        f"column {name!r} is an image column (arrays or image file paths); {what} models "
        "table columns only: genbalance.Synthesizer and GenerativeOverSampler model image "
        "columns together with the table (docs/multimodal.md), or drop the column"
    )
