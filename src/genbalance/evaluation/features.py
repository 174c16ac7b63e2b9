"""Shared column handling for the metrics: which columns are categorical, how values compare.

Every metric must agree on what a column *is*, otherwise a score computed by fidelity and one
computed by privacy would silently look at different data. This module is that single answer
for the metrics; the rules themselves live lower down and are re-exported here:
:func:`genbalance.data.kinds.resolve_categorical` (which columns are categorical),
:mod:`genbalance.encoders.onehot` (how values compare and how tables are one-hot + scaled) and
:func:`genbalance.data.validation.check_columns` (the "same columns" check), and
:func:`genbalance.encoders.constraints.find_id_columns` (which columns are IDs: the table
encoder regenerates them, so they are never compared as features, see :func:`without_ids`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from genbalance.data.validation import check_columns
from genbalance.encoders.constraints import find_id_columns
from genbalance.encoders.onehot import (
    MISSING_TOKEN,
    OneHotScaler,
    ScalerName,
    as_category_strings,
    as_numbers,
    normalise_frame,
    one_hot_scaler,
)
from genbalance.encoders.rows import CategoricalSpec, split_columns

__all__ = [
    "MISSING_TOKEN",
    "CategoricalSpec",
    "ScalerName",
    "as_category_strings",
    "as_numbers",
    "check_same_columns",
    "encode_pair",
    "make_encoder",
    "normalise_frame",
    "split_columns",
    "without_ids",
]


def check_same_columns(
    real: pd.DataFrame, synthetic: pd.DataFrame, names: tuple[str, str] = ("real", "synthetic")
) -> None:
    """Refuse frames whose columns differ, naming the culprits (metrics would be meaningless).

    ``names`` are how the two frames are called in the message (the caller's argument names).
    """
    for name, frame in zip(names, (real, synthetic), strict=True):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"`{name}` must be a pandas DataFrame, got {type(frame).__name__}.")
    check_columns(synthetic, list(real.columns), f"`{names[1]}`", f"`{names[0]}`")


def make_encoder(
    numeric: Sequence[str], categorical: Sequence[str], scaler: ScalerName = "minmax"
) -> ColumnTransformer:
    """One-hot + scaled features for frames already passed through :func:`normalise_frame`.

    Numeric NaN is imputed with the median plus an indicator column, so "missing" stays
    visible to classifiers and distances (:func:`genbalance.encoders.onehot.one_hot_scaler`).
    """
    return one_hot_scaler(numeric, categorical, scaler, missing="indicator")


def encode_pair(
    fit_on: pd.DataFrame,
    others: Sequence[pd.DataFrame],
    categorical_features: CategoricalSpec = None,
    scaler: ScalerName = "minmax",
) -> list[np.ndarray]:
    """Fit the encoder on ``fit_on`` and return encoded ``[fit_on, *others]`` as float arrays.

    A thin entry point to :class:`genbalance.encoders.onehot.OneHotScaler` with the metrics'
    column rule (:func:`split_columns`) and missing-value policy (``"indicator"``).
    """
    numeric, categorical = split_columns(fit_on, categorical_features)
    encoder = OneHotScaler(numeric, categorical, scaler, missing="indicator")
    encoded = [encoder.fit_transform(fit_on)]
    for i, frame in enumerate(others):
        check_same_columns(fit_on, frame, ("fit_on", f"others[{i}]"))
        encoded.append(encoder.transform(frame))
    return encoded


def without_ids(
    real: pd.DataFrame,
    others: Sequence[pd.DataFrame | None],
    categorical_features: CategoricalSpec = None,
    id_columns: Any = "auto",
) -> tuple[pd.DataFrame, list[pd.DataFrame | None], list[str], list[object]]:
    """``real`` and ``others`` without their ID columns, the categorical column names left,
    and the ID columns dropped.

    A generated ID never equals a real one by construction (the encoder draws fresh ones), so
    comparing ID columns would score every generator as unfaithful, let a detector separate
    the tables on the ID alone, and hide copied rows from the copy and distance checks.
    ``id_columns``: ``"auto"`` (the encoder's rule, on the real table), a list of names, or
    None (compare every column). Categorical columns are resolved by name before the drop,
    so positional ``categorical_features`` keep pointing at the right columns.
    """
    _, categorical = split_columns(real, categorical_features)
    ids = find_id_columns(real, id_columns, categorical_features, {})
    if not ids:
        return real, list(others), list(categorical), []
    kept = [c for c in real.columns if c not in set(ids)]
    if not kept:
        raise ValueError(
            f"every column is an ID column ({ids[:10]}); there are no features to compare. "
            "Pass id_columns=None to compare them anyway"
        )
    gone = set(ids)
    rest = [None if f is None else f[[c for c in f.columns if c not in gone]] for f in others]
    return real[kept], rest, [c for c in categorical if c not in set(ids)], ids
