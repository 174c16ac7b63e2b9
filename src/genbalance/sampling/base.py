"""What the table and image over-samplers share.

Both fit one synthesizer over all classes, then loop over the classes that ``sampling_strategy``
asks rows for: derive a seed per class, generate (optionally a surplus that a filter judges),
label the new rows and append them after the originals. The loop, the seed rule, the filter
protocol and the file rule (``save`` refuses an existing file unless ``overwrite=True``) are
here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from genbalance.synthesis.base import check_count, check_generation
from genbalance.utils import to_python_scalar, user_stacklevel


class CandidateFilter(Protocol):
    """Judges generated candidates of one class against the real data.

    ``judge`` returns, per candidate, a score of how much it looks like its own class (higher
    is better) and whether it is accepted.
    """

    def judge(self, candidates: Any, cls: Any) -> tuple[np.ndarray, np.ndarray]: ...


def pick_candidates(score: np.ndarray, accepted: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` candidates kept: accepted ones first, in generation order, then the
    best-scored of the rest (ties in generation order)."""
    rejected = np.flatnonzero(~accepted)
    order = np.concatenate(
        [np.flatnonzero(accepted), rejected[np.argsort(-score[rejected], kind="stable")]]
    )
    return order[:n]


def check_strategy(strategy: Any, y: np.ndarray) -> None:
    """Refuse counts imbalanced-learn would truncate or misread, before it reads them.

    A dict (or what a callable ``sampling_strategy`` returns for ``y``) must map classes to
    non-negative whole numbers of rows: ``{"min": 2.9}`` or ``{"min": True}`` are refused, not
    read as 2 or 1 rows; a callable that returns anything but such a dict is refused, naming
    what it returned. Strings and floats are imbalanced-learn's to check.
    """
    if callable(strategy):
        result = strategy(y)
        if not isinstance(result, dict):
            shown = repr(result)[:80]
            raise TypeError(
                f"sampling_strategy is a callable that returned {type(result).__name__} "
                f"{shown}; it must return a dict {{class: number of rows}}"
            )
        strategy = result
    if isinstance(strategy, dict):
        for cls, n in strategy.items():
            check_count(n, f"sampling_strategy[{to_python_scalar(cls)!r}]")


def rows_planned(wanted: dict[Any, int], surplus: float = 1.0) -> int:
    """Rows a resample holds at its peak: every class's new rows, plus the candidate surplus
    (``surplus`` times the rows asked for) of the largest class while a filter judges it."""
    if not wanted:
        return 0
    return int(sum(wanted.values()) + math.ceil((surplus - 1.0) * max(wanted.values())))


def class_seed(seed: int | None, index: int, offset: int = 0) -> int | None:
    """The seed of the ``index``-th generated class (None stays None: fresh randomness)."""
    return None if seed is None else int(seed) + offset + index


def new_labels(cls: Any, n: int, dtype: np.dtype) -> np.ndarray:
    """``n`` copies of label ``cls`` in the dtype of the user's labels."""
    if np.dtype(dtype).kind == "O":  # np.full would broadcast a tuple label
        return np.array([cls] * n, dtype=object)
    return np.full(n, cls, dtype=dtype)


class GenerativeSamplerMixin:
    """The per-class loop and the file rule of the generative over-samplers.

    The sampler sets ``synthesizer_`` when fitted and ``n_filtered_`` per resample.
    """

    synthesizer_: Any
    n_filtered_: dict[Any, int]
    #: added to the sampler's seed before the class index (kept per sampler so that seeded
    #: results stay what they were)
    class_seed_offset: int = 0

    def wanted_rows(self, strategy: dict[Any, Any], width: int, surplus: float = 1.0) -> dict:
        """The classes and rows to generate from a resolved ``sampling_strategy_``: whole
        counts (refused, never truncated, otherwise) and a total whose memory estimate fits
        (``width`` encoded values a row; a lower bound before training is fine)."""
        wanted = {
            c: check_count(n, f"sampling_strategy[{to_python_scalar(c)!r}]")
            for c, n in strategy.items()
        }
        wanted = {c: n for c, n in wanted.items() if n > 0}
        check_generation(rows_planned(wanted, surplus), width, "sampling_strategy")
        return wanted

    def generate_classes(
        self,
        wanted: dict[Any, int],
        seed: int | None,
        y: np.ndarray,
        make: Callable[[Any, int, int | None], Any],
        surplus: float = 1.0,
    ) -> tuple[list[Any], list[np.ndarray]]:
        """``make(cls, n, seed)`` for every class with ``n > 0`` rows wanted; the new
        rows and their labels, in the order of ``wanted``. Before the first class, the rows
        planned (with a filter's candidate ``surplus``) are checked against the fitted
        synthesizer's memory estimate: a request that cannot fit is refused before any work."""
        if wanted:
            self.synthesizer_.check_generation_size(
                rows_planned(wanted, surplus), "sampling_strategy"
            )
        pieces, labels = [], []
        for i, (cls, n) in enumerate(wanted.items()):
            pieces.append(make(cls, n, class_seed(seed, i, self.class_seed_offset)))
            labels.append(new_labels(cls, n, y.dtype))
        return pieces, labels

    def filtered(
        self,
        cls: Any,
        n: int,
        draw: Callable[[int], Any],
        judge: CandidateFilter,
        take: Callable[[Any, np.ndarray], Any],
        join: Callable[[list[Any]], Any],
        rounds: int = 1,
    ) -> Any:
        """``n`` candidates of class ``cls`` after the filter: ``draw(round)`` makes a batch of
        candidates, up to ``rounds`` batches until ``n`` are accepted; ``join`` concatenates
        batches and ``take`` selects rows by index. ``n_filtered_[cls]`` counts the rejected."""
        batches, scores, accepted = [], [], []
        for round_ in range(rounds):
            batch = draw(round_)
            score, ok = judge.judge(batch, cls)
            batches.append(batch)
            scores.append(score)
            accepted.append(ok)
            if sum(int(a.sum()) for a in accepted) >= n:
                break
        ok = np.concatenate(accepted)
        self.n_filtered_[to_python_scalar(cls)] = int((~ok).sum())
        chosen = pick_candidates(np.concatenate(scores), ok, n)
        if not ok[chosen].all():
            import warnings

            warnings.warn(
                f"class {to_python_scalar(cls)!r}: the filter accepted fewer than {n} generated "
                "candidates; kept the closest ones",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return take(join(batches), chosen)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the fitted synthesizer to one safetensors file; an existing file is refused
        unless ``overwrite=True`` (the same rule for every sampler and synthesizer)."""
        if not hasattr(self, "synthesizer_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit_resample first")
        return self.synthesizer_.save(path, overwrite=overwrite)


def densify(X: Any) -> tuple[Any, str | None]:
    """A scipy sparse matrix or a DataFrame with sparse columns as dense data, and the sparse
    format to give back (None when ``X`` was dense): the generative model needs every value."""
    from scipy import sparse

    if sparse.issparse(X):
        return X.toarray(), X.format
    if isinstance(X, pd.DataFrame) and any(isinstance(d, pd.SparseDtype) for d in X.dtypes):
        if all(isinstance(d, pd.SparseDtype) for d in X.dtypes):
            return X.sparse.to_dense(), None
        dense = {c: d.subtype for c, d in X.dtypes.items() if isinstance(d, pd.SparseDtype)}
        return X.astype(dense), None
    return X, None
