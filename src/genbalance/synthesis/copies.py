"""Generated rows that copy a training row exactly are replaced by fresh draws.

The guard keeps 64-bit hashes of the training rows, in memory only: hashes in a shared model
file would let anyone test whether a given row was in the training data, so a synthesizer
loaded from a file has no guard.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from genbalance.encoders.rows import row_hashes_like, training_row_hashes
from genbalance.utils import user_stacklevel

#: fresh draws before copies that keep coming back are kept (with a warning): a model that
#: puts half its mass on seen rows leaves ~300 x 0.5^6 ~ 5 of 300 rows after five rounds,
#: ~1e-4 after twenty; each round redraws only the rows still copying
MAX_ROUNDS = 20
#: seed step between rounds (kept so that seeded results stay what they were)
ROUND_SEED_STEP = 104729


class CopyGuard:
    """Finds generated rows equal in every column to a training row, and redraws them."""

    def __init__(self, frame: pd.DataFrame, categorical_features: Any) -> None:
        self.columns = list(frame.columns)
        self.hashes, self.split = training_row_hashes(frame, categorical_features)

    def copies(self, rows: pd.DataFrame) -> np.ndarray:
        """Positions of the rows of ``rows`` that copy a training row."""
        hashes = row_hashes_like(rows[self.columns], self.split)
        return np.flatnonzero(np.isin(hashes, self.hashes))

    def replace(
        self,
        rows: pd.DataFrame,
        codes: np.ndarray,
        seed: int,
        redraw: Callable[[np.ndarray, int], pd.DataFrame],
    ) -> tuple[pd.DataFrame, int]:
        """Replace copies in ``rows`` (class codes ``codes``) with ``redraw(codes, seed)`` rows,
        up to :data:`MAX_ROUNDS` rounds; returns the rows and how many were replaced."""
        bad, replaced = self.copies(rows), 0
        for round_ in range(1, MAX_ROUNDS + 1):
            if not bad.size:
                break
            replaced += int(bad.size)
            fresh = redraw(codes[bad], seed + ROUND_SEED_STEP * round_)
            for j, col in enumerate(rows.columns):  # column by column: dtypes stay
                rows.iloc[bad, j] = fresh[col].to_numpy()
            bad = bad[self.copies(fresh)]
        if bad.size:
            warnings.warn(
                f"{bad.size} generated rows still copy a training row after {MAX_ROUNDS} fresh "
                "draws (the table may have few distinct rows); kept them",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return rows, replaced


def categorical_without(categorical: Any, frame: pd.DataFrame, dropped: list[Any]) -> Any:
    """``categorical_features`` for ``frame`` without the ``dropped`` columns (names, positions
    or a boolean mask are re-based; "auto"/None stay)."""
    if not dropped or categorical is None or isinstance(categorical, str):
        return categorical
    gone = set(dropped)
    keep = [i for i, c in enumerate(frame.columns) if c not in gone]
    values = list(np.asarray(categorical).tolist())
    if values and all(isinstance(v, bool) for v in values):  # a boolean mask
        return [values[i] for i in keep]
    if values and all(isinstance(v, int) for v in values):  # positions
        new_position = {old: new for new, old in enumerate(keep)}
        return [new_position[i] for i in values if i in new_position]
    return [v for v in values if v not in gone]
