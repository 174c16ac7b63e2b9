"""Which columns are identifiers (row keys, customer numbers, UUIDs): the one detection rule.

An ID carries no distribution to learn, and a synthetic row that carries a real one points at a
real person; the table encoder therefore regenerates ID columns (or refuses them) instead of
modelling them. This module only decides *which* columns are IDs, so the rule is written once.

The automatic rule (``id_columns="auto"``) flags a column when all of these hold:

1. it is not listed in ``categorical_features`` (a listed column is modelled as the user said);
2. it holds at least :data:`MIN_ID_VALUES` non-missing values, all distinct;
3. its dtype is integer, or it is text (every non-missing value a ``str``), or it is a float
   column with at least one missing value whose other values are all whole numbers (an
   integer key as ``pandas.read_csv`` gives it when a cell is blank: ``100231.0, nan, ...``);
   other float columns (a unique measurement is not an ID, nor is a complete whole-number
   float column), boolean, ``category`` and date/time columns are never flagged;
4. and one of:

   - its name looks like an ID (:func:`id_like_name`): a token ``id``/``ids``/``uuid``/``guid``
     anywhere, or ``key``/``pk`` as the last token (``customer_id``, ``CustomerID``, ``userId``,
     ``order-uuid``, ``ID``); tokens are split at non-alphanumerics and camelCase humps, so
     ``paid``, ``valid`` or ``userid`` do not match;
   - integers: at least :data:`MIN_DENSE_VALUES` values that fill at least half of their range
     (row numbers, autoincrement keys, a saved index such as ``Unnamed: 0``);
   - text: the values are codes (:func:`code_like`): none has whitespace or more than
     :data:`MAX_CODE_LENGTH` characters, at least half of them hold a letter and at least half
     a digit (``"AB1234"``, hex hashes, UUIDs; not words, not numbers written as text), and they
     are not dates or times in ISO 8601 (``"2024-01-05T10:00Z"`` is a timestamp, not a key).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

__all__ = [
    "MAX_CODE_LENGTH",
    "MIN_DENSE_VALUES",
    "MIN_ID_VALUES",
    "code_like",
    "id_like_name",
    "id_value_kind",
    "integer_like",
    "looks_like_id",
]

#: fewest non-missing values for the automatic rule (uniqueness of a handful proves nothing)
MIN_ID_VALUES = 20
#: fewest values for a unique integer column without an ID-like name to count as a key
MIN_DENSE_VALUES = 100
#: longest text value the automatic rule takes for a code
MAX_CODE_LENGTH = 64

_CODE_SHARE = 0.5  # codes mix letters and digits: each in at least half of the values
_TOKENS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ANYWHERE = {"id", "ids", "uuid", "guid"}
_LAST = {"key", "pk"}
_MAX_EXACT_INT = 2.0**53


def id_like_name(name: Any) -> bool:
    """True when a column name reads as an identifier (see the module docstring)."""
    if not isinstance(name, str):
        return False
    tokens = [t.lower() for t in _TOKENS.findall(name)]
    if not tokens:
        return False
    return bool(_ANYWHERE.intersection(tokens)) or tokens[-1] in _LAST


def id_value_kind(series: pd.Series) -> str | None:
    """``"integer"`` or ``"text"``: how an ID column's values are regenerated; None when the
    column cannot be an ID (floats with fractions, booleans, categories, dates, mixed types).

    Integer dtypes and float columns holding whole numbers only (an integer key read with
    missing values) are integers; object/string columns whose values are all ``str`` are text.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pdt.is_bool_dtype(dtype):
        return None
    if pdt.is_integer_dtype(dtype):
        return "integer"
    if pdt.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[~np.isnan(values)]
        whole = bool(np.all(np.isfinite(values) & (np.abs(values) < _MAX_EXACT_INT)))
        return "integer" if whole and bool(np.all(values == np.round(values))) else None
    if pdt.is_object_dtype(dtype) or pdt.is_string_dtype(dtype):
        inferred = pdt.infer_dtype(series, skipna=True)
        return "text" if inferred == "string" else None
    return None


def integer_like(series: pd.Series) -> bool:
    """True for integer dtypes, and for whole-number floats with a missing value: what
    ``pandas.read_csv`` makes of an integer column with blank cells. A complete float column
    of whole numbers is left alone: nothing says it was ever integer (``1.0, 2.0`` written out
    as floats), and a measurement must not turn into an ID."""
    if pdt.is_integer_dtype(series.dtype):
        return True
    return id_value_kind(series) == "integer" and bool(series.isna().any())


def code_like(values: pd.Series) -> bool:
    """True when the (non-missing, str) values look like generated codes, not words,
    sentences, numbers or ISO timestamps written as text."""
    text = values.astype(str)
    lengths = text.str.len()
    if lengths.max() > MAX_CODE_LENGTH or lengths.min() == 0:
        return False
    if text.str.contains(r"\s", regex=True).any():
        return False
    letters = text.str.contains(r"[^\W\d_]", regex=True).mean()
    digits = text.str.contains(r"\d", regex=True).mean()
    if letters < _CODE_SHARE or digits < _CODE_SHARE:
        return False
    try:
        parsed = pd.to_datetime(text.iloc[:50], errors="coerce", format="ISO8601", utc=True)
    except (TypeError, ValueError):
        return True
    return not bool(parsed.notna().all())


def looks_like_id(name: Any, series: pd.Series) -> bool:
    """The automatic rule of the module docstring for one column (not the listing check)."""
    kind = id_value_kind(series)
    if kind is None or (kind == "integer" and not integer_like(series)):
        return False
    present = series[series.notna()]
    n = len(present)
    if n < MIN_ID_VALUES or present.nunique() != n:
        return False
    if id_like_name(name):
        return True
    if kind == "integer":
        values = present.to_numpy(dtype=np.float64)
        span = float(values.max()) - float(values.min()) + 1.0
        return n >= MIN_DENSE_VALUES and span <= 2.0 * n
    return code_like(present)
