"""What each column is: its dtype family, whether it is categorical, and its :class:`ColumnSpec`.

This is the one home of the categorical-detection rule (:func:`categorical_by_default`), so the
encoder, the metrics, the benchmark and the file scanner cannot disagree on what a column is.

Rules worth knowing:

- Text (``object``/``str``/``string``), pandas ``category`` and boolean columns are always
  categorical; ``categorical_features`` can additionally mark numeric columns as categorical.
- Integer columns are never auto-detected as categorical, however few distinct values they have:
  they stay ``integer`` (rounded on decode). A float column whose observed values are all whole
  numbers (below 2**53 in size) is also ``integer`` kind but keeps its float dtype.
- An ``object`` column that mixes value types (say strings and floats) is categorical and its
  non-missing values are converted with ``str()``; decoding gives those strings back.
- A continuous column remembers its observed precision (``decimals``: the fewest decimals, at
  most :data:`MAX_DECIMALS`, that write every value exactly; None when more are needed), so
  decoded amounts can be rounded back to cents (see docs/constraints.md).
- Datetime columns (``datetime64``, naive or timezone-aware) and object columns of
  ``datetime.date`` values are recognised by :func:`time_kind`; the schema itself refuses them
  and :class:`~genbalance.encoders.tabular.TabularEncoder` models them as numbers. Timedelta,
  complex and other exotic dtypes are refused: convert them first.
- Cells that are not scalars follow one rule (:func:`cell_column_kind`, kept in
  :mod:`genbalance.data.cells` and re-exported here): a column whose every
  non-missing cell is a 2-D ``(H, W)`` or 3-D ``(H, W, C)`` numpy array, or whose every
  non-missing cell is text naming a ``.png`` / ``.jpg`` / ``.jpeg`` / ``.npy`` file, is an
  *image column* (modelled with the table by ``synthesis.records``, docs/multimodal.md); 1-D
  arrays, lists, tuples, dicts, sets and arrays mixed with scalars are refused, naming the
  column and a row, instead of being stringified into categories.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.data.cells import (
    IMAGE_FILE_SUFFIXES,
    cell_column_kind,
    refuse_image_column,
    row_name,
)
from genbalance.utils import to_python_scalar

__all__ = [
    "MAX_DECIMALS",
    "NUMERIC_FAMILIES",
    "ColumnKind",
    "ColumnSpec",
    "IMAGE_FILE_SUFFIXES",
    "as_str_values",
    "categorical_by_default",
    "cell_column_kind",
    "refuse_image_column",
    "row_name",
    "dtype_family",
    "infer_schema",
    "observed_decimals",
    "resolve_categorical",
    "time_kind",
]

#: Dtype families modelled as numbers; every other supported family is categorical.
NUMERIC_FAMILIES = ("int", "float")

_ACCEPTED_CATEGORICAL = (
    "categorical_features accepts None or 'auto' (auto-detect), a list of column names, "
    "a list of integer column positions, or a boolean mask with one entry per column"
)
_BASIC_INFERRED = {"string", "integer", "floating", "boolean"}
_MAX_EXACT_INT = 2.0**53
#: the most decimals a column's observed precision can have; finer values are not rounded
MAX_DECIMALS = 6
_ULPS = 4  # float noise (in units in the last place) a value may carry and still count as exact
_TO_STR = np.frompyfunc(str, 1, 1)
_TIME_HINT = (
    " genbalance.Synthesizer and TabularEncoder model datetime columns themselves "
    "(docs/constraints.md)."
)


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
    categories that never occurred). ``decimals`` is a continuous column's observed precision
    (None: not learned, or finer than :data:`MAX_DECIMALS`); older saved states lack it.
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
    decimals: int | None = None

    @property
    def is_numeric(self) -> bool:
        """Modelled as a number (continuous or integer) rather than as categories."""
        return self.kind in (ColumnKind.continuous, ColumnKind.integer)

    def pandas_dtype(self) -> Any:
        """The original pandas dtype, rebuilt from the stored strings."""
        if self.dtype == "category":
            cats = pd.Index(self.category_order or [], dtype=self.categories_dtype)
            return pd.CategoricalDtype(cats, ordered=self.ordered)
        return pdt.pandas_dtype(self.dtype)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for the encoder's saved state."""
        out = asdict(self)
        out["kind"] = self.kind.value
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ColumnSpec:
        """The spec saved by :meth:`to_json`."""
        d = dict(d)
        d["kind"] = ColumnKind(d["kind"])
        return cls(**d)


# --------------------------------------------------------------------------- dtype families
def _family_or_none(dtype: Any) -> str | None:
    """Coarse dtype family, or None for a dtype genbalance cannot model."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pdt.is_bool_dtype(dtype):
        return "bool"
    if pdt.is_complex_dtype(dtype):
        return None
    if pdt.is_integer_dtype(dtype):
        return "int"
    if pdt.is_float_dtype(dtype):
        return "float"
    if pdt.is_object_dtype(dtype) or pdt.is_string_dtype(dtype):
        return "text"
    return None


def dtype_family(name: Any, dtype: Any) -> str:
    """``"category"``, ``"bool"``, ``"int"``, ``"float"`` or ``"text"``.

    Refuses dtypes genbalance cannot model, naming the column, so a bad input fails early with
    a message that says how to convert it.
    """
    family = _family_or_none(dtype)
    if family is None:
        hint = _TIME_HINT if pdt.is_datetime64_any_dtype(dtype) else ""
        raise ValueError(
            f"column {name!r} has dtype {dtype}, which genbalance cannot model; accepted are "
            "numbers, booleans, text and pandas 'category'. Convert it first (e.g. datetimes to "
            f"numbers with .astype('int64') or to text with .astype(str)).{hint}"
        )
    return family


def time_kind(series: pd.Series) -> str | None:
    """``"datetime"`` for a datetime64 column (naive or timezone-aware), ``"date"`` for an object
    column whose values are all ``datetime.date`` (not ``datetime``), else None.

    The one rule for which columns the encoder models as points in time; kept apart from
    :func:`dtype_family`, which still refuses datetimes for callers that cannot model them.
    """
    dtype = series.dtype
    if pdt.is_datetime64_any_dtype(dtype):
        return "datetime"
    if not pdt.is_object_dtype(dtype) or pdt.infer_dtype(series, skipna=True) != "date":
        return None
    present = series[series.notna()]
    # infer_dtype says "date" for datetimes mixed in too; those are not date-only columns
    if present.map(lambda v: isinstance(v, datetime.datetime)).any():
        return None
    return "date"


def observed_decimals(values: np.ndarray, dtype: Any = np.float64) -> int | None:
    """The fewest decimals (0 to :data:`MAX_DECIMALS`) that write every value exactly, or None.

    "Exactly" allows the few units in the last place that parsing and arithmetic leave in a
    float (``0.1 + 0.2``) in the column's own float precision, and never more than a millionth
    of the value, so tiny measurements (1e-9, subnormals) are not mistaken for whole numbers.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (np.abs(values) < _MAX_EXACT_INT)]
    if values.size == 0:
        return None
    target = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    if target.kind != "f":
        target = np.dtype(np.float64)
    magnitude = np.abs(values)
    spacing = np.spacing(magnitude.astype(target)).astype(np.float64)
    tolerance = np.minimum(_ULPS * spacing, 1e-6 * magnitude)
    for decimals in range(MAX_DECIMALS + 1):
        if bool(np.all(np.abs(np.round(values, decimals) - values) <= tolerance)):
            return decimals
    return None


def categorical_by_default(dtype: Any) -> bool | None:
    """The library's one categorical-detection rule, for a column nobody listed.

    True for text, ``category`` and boolean dtypes (they cannot be modelled as numbers), False
    for integer and float dtypes (integers stay numbers however few values they take), None
    for dtypes genbalance cannot model (datetimes, complex, ...): each caller then refuses
    them (:func:`resolve_categorical`) or applies its own documented treatment.
    """
    family = _family_or_none(dtype)
    if family is None:
        return None
    return family not in NUMERIC_FAMILIES


def as_str_values(values: np.ndarray) -> np.ndarray:
    """Convert non-missing values of an object array to ``str`` (vectorised), keep missing.

    Mixed-type object columns are compared as text, at fit and at transform alike.
    """
    out = np.asarray(values, dtype=object).copy()
    present = ~pd.isna(out)
    if present.any():  # not .astype(str): numpy's fixed-width strings drop trailing NULs
        out[present] = _TO_STR(out[present])
    return out


# --------------------------------------------------------------------------- categorical mask
def resolve_categorical(X: pd.DataFrame, categorical_features: Any = "auto") -> list[bool]:
    """Which columns are modelled as categorical, as a mask with one entry per column.

    ``None``/``"auto"`` applies :func:`categorical_by_default` (text, ``category`` and boolean
    columns; integer columns stay integer, however few values they take). A list of names, a
    list of positions or a boolean mask marks numeric columns *in addition*: text, category
    and boolean columns are always categorical because they cannot be modelled as numbers.
    """
    columns = list(X.columns)
    forced = []
    for c in columns:
        auto = categorical_by_default(X[c].dtype)
        if auto is None:
            dtype_family(c, X[c].dtype)  # raises, naming the column and how to convert it
        forced.append(bool(auto))
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
    return _mark_entries(columns, forced, entries)


def _mark_entries(columns: list[Any], forced: list[bool], entries: list[Any]) -> list[bool]:
    """``forced`` plus the columns named by ``entries`` (all names, positions or booleans)."""
    n = len(columns)
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


# --------------------------------------------------------------------------- column specs
def infer_schema(X: pd.DataFrame, categorical_features: Any = "auto") -> list[ColumnSpec]:
    """One :class:`ColumnSpec` per column of ``X``, in order."""
    mask = resolve_categorical(X, categorical_features)
    specs = []
    for name, is_cat in zip(X.columns, mask, strict=True):
        specs.append(_infer_column(name, X[name], is_cat))
    return specs


def _infer_column(name: Any, series: pd.Series, is_cat: bool) -> ColumnSpec:
    """The spec of one column; ``is_cat`` comes from :func:`resolve_categorical`."""
    family = dtype_family(name, series.dtype)
    missing = series.isna().to_numpy()
    spec = ColumnSpec(name=name, kind=ColumnKind.categorical, dtype=str(series.dtype))
    spec.has_missing = bool(missing.any())
    if family in NUMERIC_FAMILIES and not is_cat:
        return _numeric_spec(spec, family, series, missing)
    if family == "bool":
        spec.kind = ColumnKind.boolean
    present = series[~missing]
    if family == "category":
        return _category_dtype_spec(spec, series.dtype, present)
    if cell_column_kind(name, series) == "image":
        refuse_image_column(name, "the table encoder")
    _refuse_bytes(name, present)
    if _text_needs_str(series):
        spec.cast_to_str = True
        values = as_str_values(present.to_numpy(dtype=object))
    else:
        values = present.to_numpy(dtype=object)
    uniques = [to_python_scalar(v) for v in pd.unique(values).tolist()]
    spec.categories = sorted(uniques)
    return spec


def _numeric_spec(
    spec: ColumnSpec, family: str, series: pd.Series, missing: np.ndarray
) -> ColumnSpec:
    """Kind (integer or continuous) and observed range of a column modelled as a number."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)[~missing]
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"column {spec.name!r} holds infinite values; replace them first")
    integral = family == "int" or (
        values.size > 0
        and bool(np.all(np.abs(values) < _MAX_EXACT_INT))
        and bool(np.all(values == np.round(values)))
    )
    spec.kind = ColumnKind.integer if integral else ColumnKind.continuous
    if values.size:
        lo, hi = values.min(), values.max()
        spec.min, spec.max = (int(lo), int(hi)) if integral else (float(lo), float(hi))
    if not integral:
        spec.decimals = observed_decimals(values, series.dtype)
    return spec


def _category_dtype_spec(spec: ColumnSpec, dtype: Any, present: pd.Series) -> ColumnSpec:
    """A pandas ``category`` column: its full category order, plus the ones that occurred."""
    order = dtype.categories
    inferred = pdt.infer_dtype(order, skipna=True)
    if inferred not in _BASIC_INFERRED and len(order):
        raise ValueError(
            f"column {spec.name!r} is a 'category' column whose categories are {inferred}; "
            "only text, number or boolean categories are supported (use .astype(str))"
        )
    spec.category_order = [to_python_scalar(v) for v in order.tolist()]
    spec.ordered = bool(dtype.ordered)
    spec.categories_dtype = str(order.dtype)
    observed = set(pd.unique(present.to_numpy(dtype=object)).tolist())
    spec.categories = [c for c in spec.category_order if c in observed]
    return spec


def _text_needs_str(series: pd.Series) -> bool:
    """True when an object column mixes value types, so values are compared as ``str``."""
    if not pdt.is_object_dtype(series.dtype):
        return False
    inferred = pdt.infer_dtype(series, skipna=True)
    return inferred not in _BASIC_INFERRED and inferred != "empty"


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
