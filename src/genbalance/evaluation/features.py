"""Shared column handling for the metrics: which columns are categorical, how values compare.

Every metric must agree on what a column *is*, otherwise a score computed by fidelity and one
computed by privacy would silently look at different data. This module is that single answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

from genbalance.schema import resolve_categorical

#: Stands in for a missing categorical value, so that "missing" is one category of its own.
MISSING_TOKEN = "__genbalance_missing__"

ScalerName = Literal["minmax", "robust", "standard"]
#: What ``categorical_features`` accepts: None/"auto", names, positions or a boolean mask.
CategoricalSpec = Any


def check_same_columns(real: pd.DataFrame, synthetic: pd.DataFrame) -> None:
    """Refuse frames whose columns differ, naming the culprits (metrics would be meaningless)."""
    for name, frame in (("real", real), ("synthetic", synthetic)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"`{name}` must be a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in real.columns if c not in synthetic.columns]
    extra = [c for c in synthetic.columns if c not in real.columns]
    if missing or extra:
        raise ValueError(
            "real and synthetic data must have the same columns; "
            f"missing from synthetic: {missing}, not in real: {extra}."
        )


def _is_time(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(
        series.dtype
    )


def split_columns(
    frame: pd.DataFrame, categorical_features: CategoricalSpec = None
) -> tuple[list[Any], list[Any]]:
    """Return ``(numeric, categorical)`` column names, in frame order.

    The rule is the library's one rule, :func:`genbalance.schema.resolve_categorical`: text,
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


def as_category_strings(series: pd.Series) -> pd.Series:
    """Map values to comparable strings; NaN becomes its own category.

    Numbers go through float first so that ``1`` (int column) and ``1.0`` (a float column that
    gained a NaN) are the same category in real and synthetic data.
    """
    values = series
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("float64")
    mask = values.isna().to_numpy()
    out = values.astype("object").astype(str).to_numpy(dtype=object)
    out[mask] = MISSING_TOKEN
    return pd.Series(out, index=series.index, name=series.name, dtype=object)


def as_numbers(series: pd.Series) -> pd.Series:
    """Map a numeric-like column (numbers, booleans, datetimes) to float64, NaN kept."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        mask = series.isna().to_numpy()
        stamps = series.to_numpy(dtype="datetime64[ns]").view("int64").astype("float64")
        stamps[mask] = np.nan
        return pd.Series(stamps, index=series.index, name=series.name)
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        return series.dt.total_seconds()
    try:
        return series.astype("float64")
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"column {series.name!r} was treated as numeric but holds values that are not "
            "numbers; list it in `categorical_features`."
        ) from err


def normalise_frame(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """Return a copy with numeric columns as float64 and categorical ones as plain strings."""
    data = {c: as_numbers(frame[c]) for c in numeric}
    data.update({c: as_category_strings(frame[c]) for c in categorical})
    return pd.DataFrame(data, index=frame.index)[list(numeric) + list(categorical)]


def _scaler(name: ScalerName) -> MinMaxScaler | RobustScaler | StandardScaler:
    if name == "minmax":
        return MinMaxScaler()
    if name == "robust":
        return RobustScaler()
    if name == "standard":
        return StandardScaler()
    raise ValueError(f"scaler must be 'minmax', 'robust' or 'standard', got {name!r}.")


def make_encoder(
    numeric: Sequence[str], categorical: Sequence[str], scaler: ScalerName = "minmax"
) -> ColumnTransformer:
    """One-hot + scaled features for frames already passed through :func:`normalise_frame`.

    Numeric NaN is imputed with the median plus an indicator column, so "missing" stays
    visible to classifiers and distances. Unknown categories at transform time encode as all
    zeros rather than failing, because synthetic data may invent categories.
    """
    numeric_pipe = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", _scaler(scaler)),
        ]
    )
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
    return ColumnTransformer(
        [("num", numeric_pipe, list(numeric)), ("cat", one_hot, list(categorical))],
        remainder="drop",
        sparse_threshold=0.0,
    )


def encode_pair(
    fit_on: pd.DataFrame,
    others: Sequence[pd.DataFrame],
    categorical_features: CategoricalSpec = None,
    scaler: ScalerName = "minmax",
) -> list[np.ndarray]:
    """Fit the encoder on ``fit_on`` and return encoded ``[fit_on, *others]`` as float arrays."""
    numeric, categorical = split_columns(fit_on, categorical_features)
    encoder = make_encoder(numeric, categorical, scaler)
    first = normalise_frame(fit_on, numeric, categorical)
    encoded = [np.asarray(encoder.fit_transform(first), dtype=np.float64)]
    for frame in others:
        check_same_columns(fit_on, frame)
        norm = normalise_frame(frame, numeric, categorical)
        encoded.append(np.asarray(encoder.transform(norm), dtype=np.float64))
    return encoded
