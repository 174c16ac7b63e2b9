"""The constraints of a real table, resolved when the table encoder is fitted.

Which columns are IDs (``id_columns``: the rule of :mod:`genbalance.data.identifiers`, or the
user's list), the schema around ID and time columns, and a per-column summary of what decoding
enforces (observed range, decimals, ID format, time resolution). The codecs that enforce them
live in :mod:`genbalance.encoders.identifiers`, :mod:`genbalance.encoders.datetimes` and
:mod:`genbalance.encoders.numeric`; docs/constraints.md explains the options to users.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genbalance.data.identifiers import looks_like_id
from genbalance.data.kinds import ColumnKind, ColumnSpec, infer_schema, resolve_categorical
from genbalance.encoders.categorical import CategoricalCodec
from genbalance.encoders.datetimes import DatetimeCodec, TimeFormat
from genbalance.encoders.identifiers import IdCodec
from genbalance.encoders.numeric import NumericCodec

__all__ = [
    "ID_POLICIES",
    "Codec",
    "checked_id_columns",
    "describe_constraints",
    "find_id_columns",
    "listed_categorical",
    "refuse_ids",
    "schema_with",
]

#: what the encoder does with ID columns: new values that never equal a real ID, or an error
ID_POLICIES = ("regenerate", "refuse")
#: the codecs a fitted table encoder holds, one per column
Codec = NumericCodec | CategoricalCodec | DatetimeCodec | IdCodec
_ID_COLUMNS = (
    "id_columns accepts 'auto' (detect ID columns, docs/constraints.md), None (no ID handling: "
    "every column is modelled) or a list of column names"
)


def checked_id_columns(value: Any) -> Any:
    """``id_columns`` as given: "auto", None, or a list of column names (refused otherwise)."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{_ID_COLUMNS}; got {value!r} (did you mean [{value!r}]?)")
    if not isinstance(value, (list, tuple, pd.Index, np.ndarray)):
        raise ValueError(f"{_ID_COLUMNS}; got {value!r}")
    names = [v.item() if isinstance(v, np.generic) else v for v in list(value)]
    odd = [v for v in names if isinstance(v, bool) or not isinstance(v, (str, int))]
    if odd:
        raise ValueError(f"{_ID_COLUMNS}; entry {odd[0]!r} is not a column name")
    if len(set(names)) != len(names):
        raise ValueError(f"id_columns lists a column twice: {names!r}")
    return names


def listed_categorical(X: pd.DataFrame, categorical_features: Any) -> set[Any]:
    """Columns the user named in ``categorical_features`` (names, positions or a mask)."""
    cf = categorical_features
    if cf is None or (isinstance(cf, str) and cf == "auto"):
        return set()
    probe = pd.DataFrame(np.zeros((1, X.shape[1])), columns=X.columns)  # all numeric: only
    mask = resolve_categorical(probe, cf)  # the listed columns come out marked
    return {c for c, listed in zip(X.columns, mask, strict=True) if listed}


def find_id_columns(
    X: pd.DataFrame, id_columns: Any, categorical_features: Any, times: dict[Any, TimeFormat]
) -> list[Any]:
    """The ID columns of ``X`` in column order: the automatic rule (a column listed in
    ``categorical_features`` is modelled as listed, never an ID) or the user's list, checked."""
    if id_columns is None:
        return []
    listed = listed_categorical(X, categorical_features)
    if isinstance(id_columns, str):  # "auto"
        return [
            c for c in X.columns if c not in times and c not in listed and looks_like_id(c, X[c])
        ]
    have = set(X.columns)
    unknown = [c for c in id_columns if c not in have]
    if unknown:
        shown = ", ".join(repr(c) for c in list(X.columns)[:10])
        more = ", ..." if X.shape[1] > 10 else ""
        raise ValueError(
            f"id_columns names unknown column(s) {unknown[:5]!r}; X has columns [{shown}{more}]"
        )
    for c in id_columns:
        if c in times:
            raise ValueError(
                f"column {c!r} is listed in id_columns but is a {times[c].kind} column; dates "
                "and times are modelled, not regenerated: leave it out of id_columns"
            )
        if c in listed:
            raise ValueError(
                f"column {c!r} is listed in both id_columns and categorical_features; an ID is "
                "regenerated, a category is modelled: list it in one of them"
            )
    chosen = set(id_columns)
    return [c for c in X.columns if c in chosen]


def refuse_ids(ids: list[Any], id_columns: Any) -> None:
    """The ``id_policy="refuse"`` error: which columns, why, and the ways out."""
    why = (
        "listed in id_columns"
        if isinstance(id_columns, list)
        else ("every value distinct, and an ID-like name or code-like values")
    )
    raise ValueError(
        f"column(s) {ids!r} hold IDs ({why}), and synthetic rows must not carry real IDs: drop "
        "them, pass id_policy='regenerate' for new IDs that never equal a real one, or "
        "id_columns=None to model them as ordinary columns (docs/constraints.md)"
    )


def schema_with(
    view: pd.DataFrame,
    categorical_features: Any,
    times: dict[Any, TimeFormat],
    ids: dict[Any, IdCodec],
) -> list[ColumnSpec]:
    """The schema when some columns are times (``view`` holds their counts) or IDs (their
    codecs hold their specs); every other column gets :func:`infer_schema`'s spec."""
    mask = resolve_categorical(view, categorical_features)
    for name, is_cat in zip(view.columns, mask, strict=True):
        if is_cat and name in times:
            raise ValueError(
                f"column {name!r} is a {times[name].kind} column and cannot be listed in "
                "categorical_features; convert it to text first (X[col].astype(str)) if it "
                "should be a category"
            )
    rest = [c for c in view.columns if c not in ids]
    rest_mask = [m for c, m in zip(view.columns, mask, strict=True) if c not in ids]
    specs = iter(infer_schema(view[rest], rest_mask) if rest else [])
    return [ids[c].spec if c in ids else next(specs) for c in view.columns]


def describe_constraints(schema: list[ColumnSpec], codecs: list[Codec]) -> list[dict[str, Any]]:
    """One plain dict per column: its kind and what decoding keeps it to."""
    out = []
    for spec, codec in zip(schema, codecs, strict=True):
        row: dict[str, Any] = {"column": spec.name, "kind": codec.kind}
        if isinstance(codec, IdCodec):
            row["id_format"] = codec.mode
        elif isinstance(codec, DatetimeCodec):
            fmt = codec.format
            row["dtype"], row["resolution"] = fmt.dtype, fmt.resolution
            row["timezone"] = None if fmt.tz is None else str(fmt.tz)
            row["min"] = row["max"] = None
            if spec.min is not None:
                bounds = fmt.from_units(np.array([spec.min, spec.max], dtype=np.float64))
                row["min"], row["max"] = bounds[0], bounds[1]
        elif spec.is_numeric:
            row["min"], row["max"] = spec.min, spec.max
            row["decimals"] = 0 if spec.kind == ColumnKind.integer else spec.decimals
        out.append(row)
    return out
