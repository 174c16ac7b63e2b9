"""One-hot coding of categorical and boolean columns, with rare categories grouped.

A column becomes ``softmax(k)``: one slot per kept category, then an "other" slot if rare
categories were grouped (decoded by drawing among them in proportion to their training
frequency), then a missing slot if the column had missing values at fit.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.data.kinds import MAX_DECIMALS, ColumnKind, ColumnSpec, as_str_values
from genbalance.encoders.dtypes import to_category_dtype
from genbalance.spans import OutputSpan
from genbalance.utils import user_stacklevel

__all__ = [
    "MAX_STORED_MODES",
    "MAX_STORED_STRING_WIDTH",
    "CategoricalCodec",
    "check_stored_dtype",
    "check_stored_spec",
]

#: the most mixture modes a saved numeric column may have (``max_modes`` plus a catch-all mode
#: is far below it): bounds what a crafted model file can make the encoder hold
MAX_STORED_MODES = 1024
#: the widest fixed-width text dtype (``"<U64"``) a saved column may name, in characters;
#: genbalance itself writes object / str dtypes, so this only bounds crafted files
MAX_STORED_STRING_WIDTH = 4096
# the pandas extension dtypes a fitted table can have (nullable numbers, booleans, text)
_EXTENSION_DTYPES = (
    pd.BooleanDtype,
    pd.StringDtype,
    pd.Int8Dtype,
    pd.Int16Dtype,
    pd.Int32Dtype,
    pd.Int64Dtype,
    pd.UInt8Dtype,
    pd.UInt16Dtype,
    pd.UInt32Dtype,
    pd.UInt64Dtype,
    pd.Float32Dtype,
    pd.Float64Dtype,
)
_ACCEPTED_DTYPES = (
    "accepted: numpy bool, integer, float and object dtypes, fixed-width text up to "
    f"{MAX_STORED_STRING_WIDTH} characters, pandas nullable numbers/booleans, 'str'/'string' "
    "and 'category'"
)


class CategoricalCodec:
    """One-hot of one categorical/boolean column, with rare categories grouped if too many."""

    def __init__(
        self,
        spec: ColumnSpec,
        kept: list[Any],
        other: list[Any],
        other_counts: list[int],
    ) -> None:
        self.spec = spec
        self.kept = list(kept)
        self.other = list(other)
        self.other_counts = [int(c) for c in other_counts]
        self.n_slots = len(self.kept) + bool(self.other) + bool(spec.has_missing)
        self._index = pd.Index(self.kept + self.other, dtype=object)
        self._slot_of = np.concatenate(
            [np.arange(len(self.kept)), np.full(len(self.other), len(self.kept))]
        ).astype(np.int64)
        self._kept_arr = _object_array(self.kept)
        self._other_arr = _object_array(self.other)
        counts = np.asarray(self.other_counts, dtype=np.float64)
        self._other_p = counts / counts.sum() if counts.size else counts

    @property
    def kind(self) -> str:
        """The kind ``column_layout`` reports for the column (its spec's)."""
        return self.spec.kind.value

    def spans(self) -> list[OutputSpan]:
        """One softmax over every slot (kept categories, "other", missing)."""
        return [OutputSpan(self.n_slots, "softmax")]

    def parts(self) -> list[str]:
        """Role of each span (``column_layout`` names them for users of the encoding)."""
        return ["category"]

    @classmethod
    def fit(cls, spec: ColumnSpec, series: pd.Series, max_categories: int) -> CategoricalCodec:
        """All categories if they fit ``max_categories`` slots; else the most frequent plus one
        "other" slot (with a warning), so an id-like column cannot blow up the encoding."""
        cats = list(spec.categories or [])
        budget = max_categories - int(spec.has_missing)
        if len(cats) <= budget:
            return cls(spec, cats, [], [])
        values, missing = _category_values(series, spec)
        codes = pd.Index(cats, dtype=object).get_indexer(values[~missing])
        counts = np.bincount(codes, minlength=len(cats))
        n_keep = max(budget - 1, 0)
        by_freq = np.argsort(-counts, kind="stable")
        keep_idx = np.sort(by_freq[:n_keep])
        other_idx = np.sort(by_freq[n_keep:])
        warnings.warn(
            f"column {spec.name!r} has {len(cats)} categories, more than max_categories="
            f"{max_categories}: kept the {n_keep} most frequent and grouped the other "
            f"{other_idx.size} into one 'other' slot (decoded by drawing from them in "
            "proportion to their training frequency)",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        return cls(
            spec,
            [cats[i] for i in keep_idx],
            [cats[i] for i in other_idx],
            counts[other_idx].tolist(),
        )

    def encode(self, series: pd.Series, out: np.ndarray) -> None:
        """Write the one-hot slots into ``out``; refuses categories unseen at fit (no slot)."""
        name = self.spec.name
        values, missing = _category_values(series, self.spec)
        if missing.any() and not self.spec.has_missing:
            pos = int(np.flatnonzero(missing)[0])
            raise ValueError(
                f"column {name!r} has missing values (first at row {pos}) but had none when the "
                "encoder was fitted; fit on data that includes missing values"
            )
        present = ~missing
        codes = self._index.get_indexer(values[present])
        if (codes < 0).any():
            unseen = pd.unique(values[present][codes < 0])
            shown = ", ".join(repr(v) for v in unseen[:5].tolist())
            raise ValueError(
                f"column {name!r} has {unseen.size} categor{'y' if unseen.size == 1 else 'ies'} "
                f"not seen at fit: {shown}{', ...' if unseen.size > 5 else ''}"
            )
        slot = np.full(values.size, self.n_slots - 1, dtype=np.int64)  # missing slot is last
        slot[present] = self._slot_of[codes]
        out[np.arange(values.size), slot] = 1.0

    def decode(self, block: np.ndarray, rng: np.random.Generator) -> Any:
        """Argmax per row; the "other" slot draws one grouped category from ``rng``."""
        slot = block.argmax(axis=1)
        n_kept = len(self.kept)
        values = np.empty(slot.size, dtype=object)
        kept = slot < n_kept
        values[kept] = np.take(self._kept_arr, slot[kept])
        if self.other:
            grouped = slot == n_kept
            draws = rng.choice(len(self.other), size=int(grouped.sum()), p=self._other_p)
            values[grouped] = np.take(self._other_arr, draws)
        if self.spec.has_missing:
            values[slot == self.n_slots - 1] = np.nan
        return to_category_dtype(values, self.spec.pandas_dtype())

    def to_json(self) -> dict[str, Any]:
        """Fitted state as plain JSON types (model files hold no pickles)."""
        return {
            "type": "categorical",
            "kept": self.kept,
            "other": self.other,
            "other_counts": self.other_counts,
        }

    @classmethod
    def from_json(cls, spec: ColumnSpec, d: dict[str, Any]) -> CategoricalCodec:
        """The codec saved by :meth:`to_json`, checked: a model file is not trusted, so lists
        of plain values, counts that are non-negative integers, and no repeated category."""
        check_stored_spec(spec)
        name = spec.name
        kept, other, counts = d["kept"], d["other"], d["other_counts"]
        for key, value in (("kept", kept), ("other", other), ("other_counts", counts)):
            if not isinstance(value, list):
                raise ValueError(f"column {name!r}: {key} is a {type(value).__name__}, not a list")
        for v in kept + other:
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise ValueError(
                    f"column {name!r}: category {v!r} ({type(v).__name__}) is not a plain value"
                )
        if len(set(kept + other)) != len(kept) + len(other):  # the lookup needs unique keys
            raise ValueError(f"column {name!r}: a category is listed twice")
        if len(counts) != len(other) or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts
        ):
            raise ValueError(
                f"column {name!r}: other_counts must be one non-negative integer per grouped "
                f"category ({len(other)}), got {counts[:5]!r}"
            )
        if other and sum(counts) == 0:
            raise ValueError(f"column {name!r}: grouped categories with zero counts")
        if not kept and not other and not spec.has_missing:
            raise ValueError(f"column {name!r}: no categories")
        return cls(spec, kept, other, counts)


def check_stored_dtype(value: Any, what: str) -> str:
    """A dtype name read from a model file, refused unless it is one a fitted table can have.

    Decoding casts generated values to this dtype, so a crafted name such as ``"U100000000"``
    (100 million characters a value) would make ``sample(20)`` allocate gigabytes; datetime,
    complex, void and object-like extension dtypes never come from genbalance either.
    """
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValueError(f"{what} {value!r} is not a dtype name; {_ACCEPTED_DTYPES}")
    if value == "category":
        return value
    try:
        dtype = pdt.pandas_dtype(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a dtype; {_ACCEPTED_DTYPES}") from None
    if isinstance(dtype, np.dtype):
        if dtype.kind in "biufO":
            return value
        if dtype.kind in "US":
            width = dtype.itemsize // (4 if dtype.kind == "U" else 1)
            if 0 < width <= MAX_STORED_STRING_WIDTH:
                return value
            raise ValueError(
                f"{what} {value!r} is text {width} characters wide; {_ACCEPTED_DTYPES}"
            )
    elif isinstance(dtype, _EXTENSION_DTYPES):
        return value
    raise ValueError(f"{what} {value!r} is not a dtype genbalance models; {_ACCEPTED_DTYPES}")


def check_stored_spec(spec: ColumnSpec) -> None:
    """A column description read from a model file: dtypes genbalance writes, plain flags,
    finite bounds, lists where lists belong, and a dtype that fits the column's kind."""
    name = spec.name
    if isinstance(name, bool) or not isinstance(name, (str, int)):
        raise ValueError(f"column name {name!r} is not text or an integer")
    check_stored_dtype(spec.dtype, f"column {name!r}: dtype")
    if spec.categories_dtype is not None:
        check_stored_dtype(spec.categories_dtype, f"column {name!r}: categories dtype")
    for flag in ("has_missing", "cast_to_str", "ordered"):
        if not isinstance(getattr(spec, flag), bool):
            raise ValueError(f"column {name!r}: {flag} is {getattr(spec, flag)!r}, not a boolean")
    for key in ("categories", "category_order"):
        value = getattr(spec, key)
        if value is not None and not isinstance(value, list):
            raise ValueError(f"column {name!r}: {key} is a {type(value).__name__}, not a list")
    for key in ("min", "max"):
        value = getattr(spec, key)
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise ValueError(f"column {name!r}: {key} {value!r} is not a finite number")
    decimals = spec.decimals
    if decimals is not None and (
        isinstance(decimals, bool)
        or not isinstance(decimals, int)
        or not 0 <= decimals <= MAX_DECIMALS
    ):
        raise ValueError(
            f"column {name!r}: decimals {decimals!r} is not an integer from 0 to {MAX_DECIMALS}"
        )
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        raise ValueError(f"column {name!r}: min {spec.min} is above max {spec.max}")
    if spec.kind in (ColumnKind.continuous, ColumnKind.integer):
        dtype = pdt.pandas_dtype(spec.dtype) if spec.dtype != "category" else None
        if getattr(dtype, "kind", None) not in ("i", "u", "f"):
            raise ValueError(
                f"column {name!r} is {spec.kind.value} but its dtype is {spec.dtype!r}; a "
                "numeric column needs an integer or float dtype"
            )


def _object_array(values: list[Any]) -> np.ndarray:
    """``values`` as they are in an object array (``np.array`` would coerce or nest them)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _category_values(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Values as an object array (converted to str where the schema says so) and a missing mask."""
    values = series.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool)
    if spec.cast_to_str:
        values = as_str_values(values)
    return values, missing
