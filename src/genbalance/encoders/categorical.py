"""One-hot coding of categorical and boolean columns, with rare categories grouped.

A column becomes ``softmax(k)``: one slot per kept category, then an "other" slot if rare
categories were grouped (decoded by drawing among them in proportion to their training
frequency), then a missing slot if the column had missing values at fit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from genbalance.data.kinds import ColumnSpec, as_str_values
from genbalance.encoders.dtypes import to_category_dtype
from genbalance.spans import OutputSpan

__all__ = ["CategoricalCodec"]


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
            stacklevel=4,
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
        """The codec saved by :meth:`to_json`."""
        return cls(spec, d["kept"], d["other"], d["other_counts"])


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
