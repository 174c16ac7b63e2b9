"""What each column is, and validation of user input with errors meant for people.

Everything that accepts user data goes through here first, so a bad input is refused once, early,
with a message that names the column, the row and what would be accepted.

Rules worth knowing:

- Text (``object``/``str``/``string``), pandas ``category`` and boolean columns are always
  categorical; ``categorical_features`` can additionally mark numeric columns as categorical.
- Integer columns are never auto-detected as categorical, however few distinct values they have:
  they stay ``integer`` (rounded on decode). A float column whose observed values are all whole
  numbers (below 2**53 in size) is also ``integer`` kind but keeps its float dtype.
- An ``object`` column that mixes value types (say strings and floats) is categorical and its
  non-missing values are converted with ``str()``; decoding gives those strings back.
- Missing values (NaN/None/NA) are allowed in feature columns; the encoder models them. They are
  not allowed in ``y``. Infinite values are refused everywhere.
- Datetime, timedelta, complex and other exotic dtypes are refused: convert them first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.utils import to_python_scalar

__all__ = [
    "ColumnKind",
    "ColumnSpec",
    "as_frame",
    "check_X_y",
    "check_finite",
    "check_labels",
    "infer_schema",
    "resolve_categorical",
    "restore_labels",
    "restore_output",
    "validate_frame",
]

_ACCEPTED_CATEGORICAL = (
    "categorical_features accepts None or 'auto' (auto-detect), a list of column names, "
    "a list of integer column positions, or a boolean mask with one entry per column"
)
_BASIC_INFERRED = {"string", "integer", "floating", "boolean"}
_MAX_EXACT_INT = 2.0**53


class ColumnKind(str, Enum):
    """How a column is modelled: a number, a whole number, or one of a fixed set of values."""

    continuous = "continuous"
    integer = "integer"
    categorical = "categorical"
    boolean = "boolean"


@dataclass
class ColumnSpec:
    """What the encoder needs to know about one column to model it and give it back unchanged.

    ``categories`` holds the observed non-missing values (missingness is ``has_missing``).
    The extra fields describe how to rebuild the column exactly: ``cast_to_str`` is set for
    mixed-type object columns whose values were converted to ``str``; ``category_order``,
    ``ordered`` and ``categories_dtype`` rebuild a pandas ``category`` dtype (including
    categories that never occurred).
    """

    name: str | int
    kind: ColumnKind
    dtype: str
    has_missing: bool = False
    min: float | int | None = None
    max: float | int | None = None
    categories: list[Any] | None = None
    cast_to_str: bool = False
    category_order: list[Any] | None = None
    ordered: bool = False
    categories_dtype: str | None = None

    @property
    def is_numeric(self) -> bool:
        return self.kind in (ColumnKind.continuous, ColumnKind.integer)

    def pandas_dtype(self) -> Any:
        """The original pandas dtype, rebuilt from the stored strings."""
        if self.dtype == "category":
            cats = pd.Index(self.category_order or [], dtype=self.categories_dtype)
            return pd.CategoricalDtype(cats, ordered=self.ordered)
        return pdt.pandas_dtype(self.dtype)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind.value
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ColumnSpec:
        d = dict(d)
        d["kind"] = ColumnKind(d["kind"])
        return cls(**d)


# --------------------------------------------------------------------------- helpers
def _family(name: Any, dtype: Any) -> str:
    """Coarse dtype family; refuses dtypes we cannot model, naming the column."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pdt.is_bool_dtype(dtype):
        return "bool"
    if pdt.is_complex_dtype(dtype):
        pass
    elif pdt.is_integer_dtype(dtype):
        return "int"
    elif pdt.is_float_dtype(dtype):
        return "float"
    elif pdt.is_object_dtype(dtype) or pdt.is_string_dtype(dtype):
        return "text"
    raise ValueError(
        f"column {name!r} has dtype {dtype}, which genbalance cannot model; accepted are numbers, "
        "booleans, text and pandas 'category'. Convert it first (e.g. datetimes to numbers with "
        ".astype('int64') or to text with .astype(str))."
    )


def _is_numeric_family(family: str) -> bool:
    return family in ("int", "float")


def _text_needs_str(series: pd.Series) -> bool:
    """True when an object column mixes value types, so values are compared as ``str``."""
    if not pdt.is_object_dtype(series.dtype):
        return False
    inferred = pdt.infer_dtype(series, skipna=True)
    return inferred not in _BASIC_INFERRED and inferred != "empty"


_TO_STR = np.frompyfunc(str, 1, 1)


def _as_str_values(values: np.ndarray) -> np.ndarray:
    """Convert non-missing values of an object array to ``str`` (vectorised), keep missing."""
    out = np.asarray(values, dtype=object).copy()
    present = ~pd.isna(out)
    if present.any():  # not .astype(str): numpy's fixed-width strings drop trailing NULs
        out[present] = _TO_STR(out[present])
    return out


# --------------------------------------------------------------------------- public API
def resolve_categorical(X: pd.DataFrame, categorical_features: Any = "auto") -> list[bool]:
    """Which columns are modelled as categorical, as a mask with one entry per column.

    ``None``/``"auto"`` marks text, ``category`` and boolean columns (integer columns stay
    integer, however few values they take). A list of names, a list of positions or a boolean
    mask marks numeric columns *in addition*: text, category and boolean columns are always
    categorical because they cannot be modelled as numbers.
    """
    columns = list(X.columns)
    n = len(columns)
    forced = [not _is_numeric_family(_family(c, X[c].dtype)) for c in columns]
    if categorical_features is None or (
        isinstance(categorical_features, str) and categorical_features == "auto"
    ):
        return forced
    if isinstance(categorical_features, (str, bytes)) or not isinstance(
        categorical_features, (Sequence, np.ndarray, pd.Index, pd.Series)
    ):
        hint = (
            f" (did you mean [{categorical_features!r}]?)"
            if isinstance(categorical_features, str)
            else ""
        )
        raise ValueError(f"{_ACCEPTED_CATEGORICAL}; got {categorical_features!r}{hint}")
    entries = list(np.asarray(categorical_features, dtype=object).ravel())
    if not entries:
        return forced
    is_bool = [isinstance(e, (bool, np.bool_)) for e in entries]
    is_int = [
        isinstance(e, (int, np.integer)) and not isinstance(e, (bool, np.bool_)) for e in entries
    ]
    is_name = [isinstance(e, str) for e in entries]
    if all(is_bool):
        if len(entries) != n:
            raise ValueError(
                f"categorical_features is a boolean mask of length {len(entries)} but X has "
                f"{n} columns; {_ACCEPTED_CATEGORICAL}"
            )
        return [bool(f) or bool(e) for f, e in zip(forced, entries, strict=True)]
    mask = list(forced)
    if all(is_int):
        for e in entries:
            if not 0 <= int(e) < n:
                raise ValueError(
                    f"categorical_features has column position {int(e)}, out of range for X "
                    f"with {n} columns (valid: 0..{n - 1}); {_ACCEPTED_CATEGORICAL}"
                )
            mask[int(e)] = True
        return mask
    if all(is_name):
        position = {str(c): i for i, c in enumerate(columns)}
        unknown = [e for e in entries if e not in position]
        if unknown:
            shown = ", ".join(repr(c) for c in columns[:10]) + (", ..." if n > 10 else "")
            raise ValueError(
                f"categorical_features names unknown column(s) {unknown[:5]!r}; X has columns "
                f"[{shown}]"
            )
        for e in entries:
            mask[position[e]] = True
        return mask
    kinds = sorted({type(e).__name__ for e in entries})
    bad = next(e for e, b, i, s in zip(entries, is_bool, is_int, is_name, strict=True) if not s)
    raise ValueError(
        f"categorical_features mixes entry types {kinds} (e.g. {bad!r}); use only names, only "
        f"positions or only booleans. {_ACCEPTED_CATEGORICAL}"
    )


def infer_schema(X: pd.DataFrame, categorical_features: Any = "auto") -> list[ColumnSpec]:
    """One :class:`ColumnSpec` per column of ``X``, in order."""
    mask = resolve_categorical(X, categorical_features)
    specs = []
    for name, is_cat in zip(X.columns, mask, strict=True):
        specs.append(_infer_column(name, X[name], is_cat))
    return specs


def _infer_column(name: Any, series: pd.Series, is_cat: bool) -> ColumnSpec:
    dtype = series.dtype
    family = _family(name, dtype)
    missing = series.isna().to_numpy()
    has_missing = bool(missing.any())
    spec = ColumnSpec(name=name, kind=ColumnKind.categorical, dtype=str(dtype))
    spec.has_missing = has_missing
    if family in ("int", "float") and not is_cat:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)[~missing]
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"column {name!r} holds infinite values; replace them first")
        integral = family == "int" or (
            values.size > 0
            and bool(np.all(np.abs(values) < _MAX_EXACT_INT))
            and bool(np.all(values == np.round(values)))
        )
        spec.kind = ColumnKind.integer if integral else ColumnKind.continuous
        if values.size:
            lo, hi = values.min(), values.max()
            spec.min, spec.max = (int(lo), int(hi)) if integral else (float(lo), float(hi))
        return spec
    if family == "bool":
        spec.kind = ColumnKind.boolean
    present = series[~missing]
    if family == "category":
        order = dtype.categories
        inferred = pdt.infer_dtype(order, skipna=True)
        if inferred not in _BASIC_INFERRED and len(order):
            raise ValueError(
                f"column {name!r} is a 'category' column whose categories are {inferred}; "
                "only text, number or boolean categories are supported (use .astype(str))"
            )
        spec.category_order = [to_python_scalar(v) for v in order.tolist()]
        spec.ordered = bool(dtype.ordered)
        spec.categories_dtype = str(order.dtype)
        observed = set(pd.unique(present.to_numpy(dtype=object)).tolist())
        spec.categories = [c for c in spec.category_order if c in observed]
        return spec
    _refuse_bytes(name, present)
    if _text_needs_str(series):
        spec.cast_to_str = True
        values = _as_str_values(present.to_numpy(dtype=object))
    else:
        values = present.to_numpy(dtype=object)
    uniques = [to_python_scalar(v) for v in pd.unique(values).tolist()]
    spec.categories = sorted(uniques)
    return spec


def _refuse_bytes(name: Any, present: pd.Series) -> None:
    """Raw ``bytes`` have no text form to round-trip (``str()`` needs an encoding): refuse."""
    inferred = pdt.infer_dtype(present, skipna=True)
    if inferred in _BASIC_INFERRED or inferred in ("empty", "categorical"):
        return
    is_bytes = present.map(lambda v: isinstance(v, (bytes, bytearray, memoryview))).to_numpy()
    if is_bytes.any():
        pos = int(np.flatnonzero(is_bytes)[0])
        raise ValueError(
            f"column {name!r} holds bytes values (first {present.iloc[pos]!r}); genbalance models "
            "text, numbers and booleans: decode them first, e.g. X[col].str.decode('utf-8')"
        )


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


def validate_frame(X: pd.DataFrame, what: str = "X") -> None:
    """Checks every table must pass: a DataFrame, non-empty, unique column names, finite."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{what} must be a pandas DataFrame here; got {type(X).__name__} "
            "(genbalance.schema.as_frame converts arrays and lists)"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {X.shape}); need at least one row and one column")
    dup = X.columns[X.columns.duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"{what} has duplicate column names {dup[:10]!r}; rename them")
    for name in X.columns:
        _family(name, X[name].dtype)
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
    names = [f"x{i}" for i in range(arr.shape[1])]
    frame = pd.DataFrame(arr, columns=pd.Index(names, dtype=object))
    if arr.dtype == object:
        frame = frame.infer_objects()
    # Lists come back as whatever common numpy dtype pandas picks for the output.
    dtype = str(arr.dtype) if container == "numpy" else None
    return frame, {"container": container, "names": names, "dtype": dtype}


def restore_output(df: pd.DataFrame, origin: dict[str, Any]) -> Any:
    """Give ``df`` back in the container the user passed to :func:`as_frame`.

    numpy in -> numpy out with the same dtype; DataFrame in -> DataFrame with the original
    column labels, order and dtypes (and a fresh RangeIndex); list in -> numpy array.
    """
    names = origin["names"]
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(f"cannot restore output: columns {missing[:10]!r} are missing")
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


def check_X_y(X: Any, y: Any) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """Validate features and labels together; return ``(frame, labels, origin)``.

    Labels are kept as given (ints or strings). ``origin`` holds what :func:`restore_output`
    and :func:`restore_labels` need to give results back in the user's containers.
    NaN in feature columns is allowed; NaN in ``y`` is not.
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
    validate_frame(frame)
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


_SCALAR_LABELS = (str, bool, int, float, np.generic)
_LABEL_INFERRED = {"string", "integer", "floating", "boolean", "mixed-integer-float", "empty"}


def check_labels(y: Any, what: str = "y", allow_float: bool = True) -> np.ndarray:
    """Class labels as a 1-D array, refusing what cannot name a class, with a clear message.

    Accepted: all text, all integers, all booleans, or all numbers. ``allow_float=False`` (the
    imbalanced-learn samplers) also refuses non-whole floats, which scikit-learn reads as a
    regression target. Missing labels, non-scalar labels (lists, dicts) and labels that mix
    types (``[1, "a"]``: numpy would silently turn the 1 into ``"1"``) are refused.
    """
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"{what} must be 1-D (one label per row) but has shape {y.shape}")
        y = y.iloc[:, 0]
    if isinstance(y, (pd.Series, pd.Index)):
        values = y.to_numpy()
    elif isinstance(y, (list, tuple)):
        values = np.empty(len(y), dtype=object)  # no 2-D coercion of list labels, no str cast
        values[:] = list(y)
    else:
        values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one label per row) but has shape {values.shape}")
    if values.dtype == object and len(values):
        kinds = pd.Series(values).map(type)
        odd = ~kinds.map(lambda t: issubclass(t, _SCALAR_LABELS) or t is type(None)).to_numpy()
        if odd.any():
            pos = int(np.flatnonzero(odd)[0])
            raise ValueError(
                f"{what} holds a non-scalar label at row {pos} ({type(values[pos]).__name__}: "
                f"{str(values[pos])[:80]}); class labels must be text, integers or booleans"
            )
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
            kinds = pd.Series(values).map(lambda v: type(v).__name__)
            first = {
                kinds.iloc[i]: to_python_scalar(values[i]) for i in kinds.drop_duplicates().index
            }
            raise ValueError(
                f"{what} mixes label types {sorted(first)} (e.g. {list(first.values())[:4]!r}); "
                "class labels must all "
                "be text, all integers or all booleans -- convert them, e.g. y.astype(str)"
            )
        if inferred != "string" and isinstance(y, (list, tuple)):
            values = np.asarray(values.tolist())  # plain numbers/bools get their numpy dtype
    floats = values.dtype.kind == "f" or (
        values.dtype == object and pdt.infer_dtype(values) in ("floating", "mixed-integer-float")
    )
    if floats and not allow_float:
        as_float = values.astype(np.float64)
        frac = np.flatnonzero(as_float != np.round(as_float))
        if frac.size:
            raise ValueError(
                f"{what} holds non-whole numbers as labels "
                f"(e.g. {to_python_scalar(values[frac[0]])!r}), which "
                "scikit-learn reads as a regression target; pass class labels as integers or "
                "text (e.g. y.astype(str))"
            )
    return values


def restore_labels(labels: np.ndarray, origin: dict[str, Any]) -> Any:
    """Give labels back as the user passed ``y``: a named Series or a numpy array."""
    y_origin = origin.get("y", {"container": "numpy"})
    if y_origin["container"] == "pandas":
        return pd.Series(labels, name=y_origin.get("name")).astype(y_origin["dtype"])
    return np.asarray(labels)
