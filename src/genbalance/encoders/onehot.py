"""One-hot categories + scaled numbers: the library's one encoder of mixed tables for distances
and classifiers (not reversible: :class:`~genbalance.encoders.tabular.TabularEncoder` is).

The metrics, the k-NN region filter of the samplers and the benchmark all encode tables this
way, so they share one implementation. Two missing-value policies exist because two callers
were built on different ones and their numbers must not move:

- ``missing="indicator"`` (metrics, samplers): numbers are median-imputed plus one indicator
  column, categories are compared as strings (:func:`normalise_frame`) with "missing" as a
  category of its own, so missingness stays visible to distances and classifiers;
- ``missing="impute"`` (benchmark): numbers median-imputed, categories most-frequent-imputed,
  values passed as they are; the classical preprocessing the KEEL benchmark reports with.

Unknown categories at transform time encode as all zeros rather than failing, because
synthetic data may invent categories.
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

__all__ = [
    "MISSING_POLICIES",
    "MISSING_TOKEN",
    "MissingPolicy",
    "OneHotScaler",
    "ScalerName",
    "as_category_strings",
    "as_numbers",
    "make_scaler",
    "normalise_frame",
    "one_hot_scaler",
]

#: Stands in for a missing categorical value, so that "missing" is one category of its own.
MISSING_TOKEN = "__genbalance_missing__"

ScalerName = Literal["minmax", "robust", "standard"]
MissingPolicy = Literal["indicator", "impute"]
MISSING_POLICIES = ("indicator", "impute")


# --------------------------------------------------------------------------- value normalisation
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
    frame: pd.DataFrame, numeric: Sequence[Any], categorical: Sequence[Any]
) -> pd.DataFrame:
    """Return a copy with numeric columns as float64 and categorical ones as plain strings."""
    data = {c: as_numbers(frame[c]) for c in numeric}
    data.update({c: as_category_strings(frame[c]) for c in categorical})
    return pd.DataFrame(data, index=frame.index)[list(numeric) + list(categorical)]


def _as_object(frame: pd.DataFrame, categorical: Sequence[Any]) -> pd.DataFrame:
    """Categorical columns as plain object dtype (sklearn's imputer rejects pandas' str dtype)."""
    if not categorical:
        return frame
    frame = frame.copy()
    for c in categorical:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), np.nan)
    return frame


# --------------------------------------------------------------------------- the encoder
def make_scaler(name: ScalerName) -> MinMaxScaler | RobustScaler | StandardScaler:
    """A fresh scikit-learn scaler by name; refuses unknown names."""
    if name == "minmax":
        return MinMaxScaler()
    if name == "robust":
        return RobustScaler()
    if name == "standard":
        return StandardScaler()
    raise ValueError(f"scaler must be 'minmax', 'robust' or 'standard', got {name!r}.")


def _check_policy(missing: str) -> None:
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {', '.join(MISSING_POLICIES)}; got {missing!r}")


def one_hot_scaler(
    numeric: Sequence[Any],
    categorical: Sequence[Any],
    scaler: ScalerName = "minmax",
    missing: MissingPolicy = "indicator",
) -> ColumnTransformer:
    """The unfitted scikit-learn transformer behind :class:`OneHotScaler`.

    Use it inside a ``Pipeline`` (cross-validation clones and refits it per fold) on frames
    already passed through :meth:`OneHotScaler.prepare` for the same ``missing`` policy.
    """
    _check_policy(missing)
    indicator = missing == "indicator"
    numeric_pipe = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=indicator)),
            ("scale", make_scaler(scaler)),
        ]
    )
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
    categorical_pipe: Pipeline | OneHotEncoder = one_hot
    if not indicator:  # missing categories take the most frequent one instead of a token
        categorical_pipe = Pipeline(
            [("impute", SimpleImputer(strategy="most_frequent")), ("one_hot", one_hot)]
        )
    return ColumnTransformer(
        [("num", numeric_pipe, list(numeric)), ("cat", categorical_pipe, list(categorical))],
        remainder="drop",
        sparse_threshold=0.0,
    )


class OneHotScaler:
    """Fitted on one table, encodes any table with its columns: numeric columns scaled,
    categorical columns one-hot (the caller decides which is which), as float64 arrays.

    Numeric columns come first, then the one-hot groups; with ``missing="indicator"`` the
    numeric block is followed by one indicator per numeric column that had missing values.
    """

    def __init__(
        self,
        numeric: Sequence[Any],
        categorical: Sequence[Any],
        scaler: ScalerName = "minmax",
        missing: MissingPolicy = "indicator",
    ) -> None:
        make_scaler(scaler)  # refuse a bad name now, not at fit
        _check_policy(missing)
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.scaler = scaler
        self.missing = missing
        self.transformer_: ColumnTransformer | None = None

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame as the transformer expects it under this missing-value policy."""
        if self.missing == "indicator":
            return normalise_frame(frame, self.numeric, self.categorical)
        return _as_object(frame, self.categorical)

    def fit(self, frame: pd.DataFrame) -> OneHotScaler:
        """Learn medians, scales and category sets from ``frame`` (a training table only)."""
        self.transformer_ = one_hot_scaler(
            self.numeric, self.categorical, self.scaler, self.missing
        )
        self.transformer_.fit(self.prepare(frame))
        return self

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Fit on ``frame`` and encode it in one pass (scikit-learn's ``fit_transform``)."""
        self.transformer_ = one_hot_scaler(
            self.numeric, self.categorical, self.scaler, self.missing
        )
        return np.asarray(self.transformer_.fit_transform(self.prepare(frame)), dtype=np.float64)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode ``frame`` with what was learnt at fit, as float64."""
        if self.transformer_ is None:
            raise RuntimeError("this OneHotScaler is not fitted yet; call fit(frame) first")
        return np.asarray(self.transformer_.transform(self.prepare(frame)), dtype=np.float64)
