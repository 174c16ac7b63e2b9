"""Long-tailed subsets of balanced labelled data (class rank r keeps a share that falls with r),
the benchmark's way to build imbalanced image sets from balanced ones."""

from __future__ import annotations

import numpy as np

__all__ = ["long_tail_counts", "make_long_tailed"]


def long_tail_counts(
    n_max: int, n_classes: int, ratio: float = 10, profile: str = "exponential"
) -> np.ndarray:
    """Images kept per class rank: ``n_max * ratio**(-rank/(K-1))`` (exponential) or
    ``n_max`` for the first half and ``n_max / ratio`` for the second half (step); >= 1."""
    if ratio < 1:
        raise ValueError(f"ratio must be >= 1, got {ratio}")
    ranks = np.arange(n_classes)
    if profile == "exponential":
        frac = ratio ** (-ranks / max(n_classes - 1, 1))
    elif profile == "step":
        frac = np.where(ranks < n_classes - n_classes // 2, 1.0, 1.0 / ratio)
    else:
        raise ValueError(f"profile must be 'exponential' or 'step', got {profile!r}")
    return np.maximum(1, np.floor(n_max * frac + 0.5)).astype(np.int64)


def make_long_tailed(
    X,
    y,
    ratio: float = 10,
    profile: str = "exponential",
    random_state: int | None = 0,
    n_max: int | None = None,
):
    """A long-tailed subset of balanced data: class rank r (sorted labels) keeps
    ``n_max * ratio**(-r/(K-1))`` images (exponential) or half the classes are cut by ``ratio``
    (step), at least one each. ``n_max`` defaults to the smallest class count, so every class
    can supply its share; the images kept are drawn with a fixed seed. Returns ``(X_lt, y_lt)``
    in the original order."""
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"X holds {len(X)} images but y {len(y)} labels")
    classes, counts = np.unique(y, return_counts=True)
    n_max = int(counts.min()) if n_max is None else int(n_max)
    if n_max > counts.min():
        raise ValueError(
            f"n_max={n_max} but class {classes[counts.argmin()]!r} has only {counts.min()} images"
        )
    keep_n = long_tail_counts(n_max, len(classes), ratio, profile)
    rng = np.random.default_rng(random_state)
    keep = [
        rng.choice(np.flatnonzero(y == c), size=k, replace=False)
        for c, k in zip(classes, keep_n, strict=True)
    ]
    idx = np.sort(np.concatenate(keep))
    return np.asarray(X)[idx], y[idx]
