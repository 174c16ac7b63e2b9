"""The region filter of the table sampler (``filter="knn"``): a generated row is kept when one
of its nearest real rows is of its own class, so rows deep inside another class's region are
replaced."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors


class RegionFilter:
    """k-NN over the real rows (one-hot + min-max features): who lives near a synthetic row."""

    def __init__(self, X: pd.DataFrame, y: np.ndarray, k: int, categorical_features: Any) -> None:
        from genbalance.evaluation.features import encode_pair

        self.X, self.y = X, y
        self.cat = None if isinstance(categorical_features, str) else categorical_features
        (self.features,) = encode_pair(X, [], self.cat, "minmax")
        self.k = min(k, len(X))
        self.nn = NearestNeighbors(n_neighbors=self.k).fit(self.features)

    def same_class_share(self, rows: pd.DataFrame, cls) -> np.ndarray:
        from genbalance.evaluation.features import encode_pair

        _, feats = encode_pair(self.X, [rows], self.cat, "minmax")
        idx = self.nn.kneighbors(feats, return_distance=False)
        return (self.y[idx] == cls).mean(axis=1)

    def judge(self, rows: pd.DataFrame, cls) -> tuple[np.ndarray, np.ndarray]:
        """A row is accepted when at least one of its nearest real rows is of its class."""
        share = self.same_class_share(rows, cls)
        return share, share > 0
