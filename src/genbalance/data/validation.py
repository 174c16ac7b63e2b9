"""Validation of user input, with errors meant for people.

Everything that accepts user data goes through here first, so a bad input is refused once, early,
with a message that names the column, the row and what would be accepted. Missing values
(NaN/None/NA) are allowed in feature columns (the encoder models them) but not in ``y``;
infinite values are refused everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.data.cells import cell_column_kind, refuse_image_column
from genbalance.data.kinds import dtype_family, time_kind
from genbalance.utils import to_python_scalar

__all__ = [
    "as_frame",
    "check_X_y",
    "check_columns",
    "check_finite",
    "check_labels",
    "refuse_duplicate_columns",
    "validate_frame",
]

_SCALAR_LABELS = (str, bool, int, float, np.generic)
_LABEL_INFERRED = {"string", "integer", "floating", "boolean", "mixed-integer-float", "empty"}
_SHOWN = 10  # column names listed in an error before "and N more"


# --------------------------------------------------------------------------- tables
def check_columns(
    frame: pd.DataFrame,
    expected: Sequence[Any],
    what: str = "X",
    reference: str = "the reference table",
    allow_extra: bool = False,
) -> None:
    """Refuse ``frame`` unless it has the ``expected`` columns (in any order).

    The one "same columns" check of the library (encoder input, metric pairs, restored output),
    so every such mismatch reads the same: what is missing and what is unexpected, by name.
    ``allow_extra`` accepts additional columns (they are dropped by the caller).
    """
    have = pd.Index(frame.columns)
    want = pd.Index(expected)
    missing = [c for c in want if c not in have]
    extra = [] if allow_extra else [c for c in have if c not in want]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"missing column(s) {_shown(missing)}")
    if extra:
        parts.append(f"unexpected column(s) {_shown(extra)}")
    raise ValueError(f"{what} does not have the columns of {reference}: {'; '.join(parts)}")


def _shown(names: list[Any]) -> str:
    more = len(names) - _SHOWN
    return f"{names[:_SHOWN]!r}" + (f" (and {more} more)" if more > 0 else "")


def refuse_duplicate_columns(X: pd.DataFrame, what: str = "X") -> None:
    """Refuse repeated column names: selecting a column by name would give several."""
    dup = X.columns[X.columns.duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"{what} has duplicate column names {dup[:10]!r}; rename them")


def _row_label(index: pd.Index, pos: int) -> str:
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return f"row {pos}"
    return f"row {pos} (index {to_python_scalar(index[pos])!r})"


def check_finite(X: pd.DataFrame) -> None:
    """Refuse +/-inf in numeric columns, naming the column and the first bad row."""
    for name in X.columns:
        col = X[name]
        if not (pdt.is_float_dtype(col.dtype) or pdt.is_complex_dtype(col.dtype)):
            continue
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isinf(values)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"column {name!r} holds {int(bad.sum())} infinite value(s), first at "
                f"{_row_label(X.index, pos)} ({values[pos]}); replace them with a finite value "
                "or NaN (missing values are allowed)"
            )


def validate_frame(
    X: pd.DataFrame, what: str = "X", allow_time: bool = False, allow_images: bool = False
) -> None:
    """Checks every table must pass: a DataFrame, non-empty, unique column names, finite,
    scalar cells (:func:`~genbalance.data.kinds.cell_column_kind`).

    ``allow_time`` accepts datetime64 columns (naive or timezone-aware), for callers that model
    them (the table encoder); everyone else keeps refusing them with a message that says how
    to convert them. ``allow_images`` accepts image columns (arrays or image paths), for the
    callers that model them with the table (the synthesizer and the over-sampler).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{what} must be a pandas DataFrame here; got {type(X).__name__} "
            "(genbalance.schema.as_frame converts arrays and lists)"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {X.shape}); need at least one row and one column")
    refuse_duplicate_columns(X, what)
    for name in X.columns:
        if allow_time and time_kind(X[name]) == "datetime":
            continue
        dtype_family(name, X[name].dtype)
        if cell_column_kind(name, X[name]) == "image" and not allow_images:
            refuse_image_column(name, "this step")
    check_finite(X)


def as_frame(X: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Turn user input into a DataFrame with string column names, plus how to give it back.

    DataFrames keep their dtypes; column labels become ``str`` (the originals are kept in the
    origin). 2-D numpy arrays get columns ``x0, x1, ...``. Lists of rows are read column by
    column (each column gets its own dtype) and come back as a numpy array, as in scikit-learn.
    """
    if isinstance(X, pd.Series):
        raise ValueError(
            f"X must be 2-D (rows x columns) but got a pandas Series of length {len(X)}; "
            "use X.to_frame() for a single feature"
        )
    if isinstance(X, pd.DataFrame):
        labels = list(X.columns)
        names = [str(c) for c in labels]
        frame = X.copy(deep=False)
        frame.columns = pd.Index(names, dtype=object)
        origin = {
            "container": "pandas",
            "columns": labels,
            "names": names,
            "dtypes": {n: str(d) for n, d in zip(names, frame.dtypes, strict=True)},
        }
        return frame, origin
    arr, container = _as_2d_array(X)
    names = [f"x{i}" for i in range(arr.shape[1])]
    frame = pd.DataFrame(arr, columns=pd.Index(names, dtype=object))
    if arr.dtype == object:
        frame = frame.infer_objects()
    # Lists come back as whatever common numpy dtype pandas picks for the output.
    dtype = str(arr.dtype) if container == "numpy" else None
    return frame, {"container": container, "names": names, "dtype": dtype}


def _as_2d_array(X: Any) -> tuple[np.ndarray, str]:
    """A numpy array or a list of rows as a 2-D array, and which of the two it was."""
    if isinstance(X, np.ndarray):
        arr, container = X, "numpy"
    elif isinstance(X, (list, tuple)):
        try:
            arr = np.asarray(X, dtype=object)
        except ValueError as exc:
            raise ValueError(f"X is a list whose rows have different lengths ({exc})") from None
        container = "list"
        if arr.ndim == 1 and any(isinstance(r, (list, tuple, np.ndarray)) for r in X):
            lengths = sorted({len(r) for r in X if isinstance(r, (list, tuple, np.ndarray))})
            raise ValueError(
                f"X is a list whose rows have different lengths ({lengths[:5]}); every row needs "
                "one value per column"
            )
    else:
        raise TypeError(
            f"X must be a pandas DataFrame, a 2-D numpy array or a list of rows; got "
            f"{type(X).__name__}"
        )
    if arr.ndim != 2:
        hint = (
            " For a single feature use X.reshape(-1, 1)."
            if arr.ndim == 1
            else " Flatten images with X.reshape(len(X), -1) or use the image encoder."
            if arr.ndim > 2
            else ""
        )
        raise ValueError(
            f"X must be 2-D (rows x columns) but got a {arr.ndim}-D array of shape "
            f"{arr.shape}.{hint}"
        )
    return arr, container


# --------------------------------------------------------------------------- labels
def check_X_y(
    X: Any, y: Any, allow_time: bool = False, allow_images: bool = False
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """Validate features and labels together; return ``(frame, labels, origin)``.

    ``allow_time``, ``allow_images``: accept datetime or image columns (see
    :func:`validate_frame`).

    Labels are kept as given (ints or strings). ``origin`` holds what
    :func:`genbalance.data.restore.restore_output` and ``restore_labels`` need to give results
    back in the user's containers. NaN in feature columns is allowed; NaN in ``y`` is not.
    """
    frame, origin = as_frame(X)
    if y is None:
        raise ValueError("y is None; pass one class label per row of X")
    y_origin: dict[str, Any] = {"container": "numpy"}
    if isinstance(y, pd.Series):
        y_origin = {"container": "pandas", "name": y.name, "dtype": str(y.dtype)}
        labels = y.to_numpy()
    elif isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y must be 1-D (one label per row) but has shape {y.shape}")
        y_origin = {"container": "pandas", "name": y.columns[0], "dtype": str(y.dtypes.iloc[0])}
        labels = y.iloc[:, 0].to_numpy()
    else:
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        y_origin["dtype"] = str(labels.dtype)
    if labels.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per row) but has shape {labels.shape}")
    origin["y"] = y_origin
    if frame.shape[0] != labels.shape[0]:
        raise ValueError(
            f"X and y have different lengths: X has {frame.shape[0]} rows but y has "
            f"{labels.shape[0]} labels"
        )
    validate_frame(frame, allow_time=allow_time, allow_images=allow_images)
    bad = pd.isna(labels)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(
            f"y has {int(bad.sum())} missing label(s) (NaN/None), first at rows {rows}; every "
            "row needs a class label"
        )
    classes = pd.unique(labels)
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({to_python_scalar(classes[0])!r}); need at least two classes "
            "to balance"
        )
    return frame, labels, origin


def check_labels(y: Any, what: str = "y", allow_float: bool = True) -> np.ndarray:
    """Class labels as a 1-D array, refusing what cannot name a class, with a clear message.

    Accepted: all text, all integers, all booleans, or all numbers. ``allow_float=False`` (the
    imbalanced-learn samplers) also refuses non-whole floats, which scikit-learn reads as a
    regression target. Missing labels, non-scalar labels (lists, dicts) and labels that mix
    types (``[1, "a"]``: numpy would silently turn the 1 into ``"1"``) are refused.
    """
    values = _label_array(y, what)
    if values.dtype == object and len(values):
        _refuse_non_scalar_labels(values, what)
    missing = pd.isna(values)
    if missing.any():
        rows = np.flatnonzero(missing)[:5].tolist()
        raise ValueError(
            f"{what} has {int(missing.sum())} missing label(s) (NaN/None), first at rows {rows}; "
            "every row needs a class label"
        )
    if values.dtype == object and len(values):
        inferred = pdt.infer_dtype(values, skipna=False)
        if inferred not in _LABEL_INFERRED:
            _refuse_mixed_labels(values, what)
        if inferred != "string" and isinstance(y, (list, tuple)):
            values = np.asarray(values.tolist())  # plain numbers/bools get their numpy dtype
    if not allow_float:
        _refuse_fractional_labels(values, what)
    return values


def _label_array(y: Any, what: str) -> np.ndarray:
    """``y`` as a 1-D array; lists stay object arrays (no 2-D coercion, no cast to str)."""
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"{what} must be 1-D (one label per row) but has shape {y.shape}")
        y = y.iloc[:, 0]
    if isinstance(y, (pd.Series, pd.Index)):
        values = y.to_numpy()
    elif isinstance(y, (list, tuple)):
        values = np.empty(len(y), dtype=object)
        values[:] = list(y)
    else:
        values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one label per row) but has shape {values.shape}")
    return values


def _refuse_non_scalar_labels(values: np.ndarray, what: str) -> None:
    kinds = pd.Series(values).map(type)
    odd = ~kinds.map(lambda t: issubclass(t, _SCALAR_LABELS) or t is type(None)).to_numpy()
    if odd.any():
        pos = int(np.flatnonzero(odd)[0])
        raise ValueError(
            f"{what} holds a non-scalar label at row {pos} ({type(values[pos]).__name__}: "
            f"{str(values[pos])[:80]}); class labels must be text, integers or booleans"
        )


def _refuse_mixed_labels(values: np.ndarray, what: str) -> None:
    kinds = pd.Series(values).map(lambda v: type(v).__name__)
    first = {kinds.iloc[i]: to_python_scalar(values[i]) for i in kinds.drop_duplicates().index}
    raise ValueError(
        f"{what} mixes label types {sorted(first)} (e.g. {list(first.values())[:4]!r}); "
        "class labels must all "
        "be text, all integers or all booleans -- convert them, e.g. y.astype(str)"
    )


def _refuse_fractional_labels(values: np.ndarray, what: str) -> None:
    """Non-whole float labels read as a regression target in scikit-learn: refuse them."""
    floats = values.dtype.kind == "f" or (
        values.dtype == object and pdt.infer_dtype(values) in ("floating", "mixed-integer-float")
    )
    if not floats:
        return
    as_float = values.astype(np.float64)
    frac = np.flatnonzero(as_float != np.round(as_float))
    if frac.size:
        raise ValueError(
            f"{what} holds non-whole numbers as labels "
            f"(e.g. {to_python_scalar(values[frac[0]])!r}), which "
            "scikit-learn reads as a regression target; pass class labels as integers or "
            "text (e.g. y.astype(str))"
        )
