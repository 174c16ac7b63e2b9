"""Reversible map between a raw table and the float vectors generative models work on.

Numbers get the mode-specific normalisation of CTGAN (Xu et al. 2019): a variational Gaussian
mixture per column finds its modes, and a value becomes ``[scalar in [-1, 1], one-hot mode]``.
The mixtures of all numeric columns are fitted together by :mod:`genbalance.encoders.gmm`
(``gmm="fast"``, the default) or one by one with scikit-learn (``gmm="sklearn"``).
Categories become one-hot groups. Every group is an :class:`OutputSpan` so a model knows which
activation produces it. Encoding and decoding are vectorised over rows (only columns are looped).

Layout of one column in the encoded vector, in order:

- continuous / integer: ``tanh(1)`` scalar, ``softmax(n_modes)`` mode, then ``sigmoid(1)``
  missing indicator if the column had missing values at fit (1 = missing). ``n_modes`` is at most
  ``max_modes``, plus one wide catch-all mode when training outliers fall outside every kept
  mode's +/-4 sigma window (so they still decode exactly);
- categorical / boolean: ``softmax(k)`` with one slot per kept category, then an "other" slot if
  rare categories were grouped, then a missing slot if the column had missing values at fit.

Decoding takes an argmax over each softmax span, so it accepts probabilities or raw logits alike;
the ``tanh`` scalar is clipped to [-1, 1] and the missing indicator is read as ``> 0.5`` (so it
expects a sigmoid output or a 0/1 value, not a logit).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from genbalance.encoders.gmm import fit_mixtures
from genbalance.schema import (
    ColumnKind,
    ColumnSpec,
    _as_str_values,
    check_finite,
    infer_schema,
    validate_frame,
)
from genbalance.spans import OutputSpan

if TYPE_CHECKING:
    import torch

__all__ = ["TabularEncoder"]

_FORMAT = "genbalance.TabularEncoder"
_VERSION = 1
_SIGMA_FLOOR = 1e-6  # smallest mode std, in standardised units (avoids division by zero)
_SCALE_FLOOR = 1e-12  # smallest standardisation scale, relative to the column's max |value|
_WEIGHT_MIN = 0.005  # mixture components lighter than this are dropped
_N_STD = 4.0  # the scalar is (x - mu) / (4 sigma)
_CHUNK = 1 << 17  # rows per block when computing responsibilities (bounds memory)
_GMM_BACKENDS = ("fast", "sklearn")  # encoders/gmm.py (all columns at once) | one sklearn fit each


def _json_scalar(value: Any, what: str) -> Any:
    """A value that ``json.dumps`` keeps as is; refuses anything else, naming it."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(
        f"{what} {value!r} ({type(value).__name__}) cannot be stored as JSON; use string or "
        "integer column names (genbalance.schema.as_frame converts them)"
    )


# --------------------------------------------------------------------------- numeric columns
class _NumericCodec:
    """Mode-specific normalisation of one continuous or integer column."""

    def __init__(
        self,
        spec: ColumnSpec,
        absmax: float,
        center: float,
        scale: float,
        means: np.ndarray,
        stds: np.ndarray,
        weights: np.ndarray,
        fill_mode: int,
    ) -> None:
        self.spec = spec
        # The column is standardised as z = (x / absmax - center) / scale: dividing by the
        # largest |x| first keeps every step finite even for values near 1e308.
        self.absmax = float(absmax)
        self.center = float(center)
        self.scale = float(scale)
        self.means = np.asarray(means, dtype=np.float64)
        self.stds = np.asarray(stds, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.fill_mode = int(fill_mode)
        self._log_w = np.log(self.weights) - np.log(self.stds)

    @property
    def n_modes(self) -> int:
        return int(self.means.size)

    def spans(self) -> list[OutputSpan]:
        spans = [OutputSpan(1, "tanh"), OutputSpan(self.n_modes, "softmax")]
        if self.spec.has_missing:
            spans.append(OutputSpan(1, "sigmoid"))
        return spans

    def parts(self) -> list[str]:
        return ["value", "mode"] + (["missing"] if self.spec.has_missing else [])

    @staticmethod
    def prepare(
        values: np.ndarray, fit_sample_size: int, rng: np.random.Generator
    ) -> tuple[float, float, float, np.ndarray, np.ndarray] | None:
        """Standardisation and the mixture-fit sample of one column (None if all missing).

        Returns ``absmax, center, scale``, the standardised present values ``z`` and a random
        subsample of ``z`` of at most ``fit_sample_size`` values.
        """
        present = values[~np.isnan(values)]
        if present.size == 0:
            return None
        absmax = float(np.max(np.abs(present))) or 1.0
        unit = present / absmax
        center = float(np.median(unit))
        q25, q75 = np.percentile(unit, [25.0, 75.0])
        scale = float(q75 - q25) / 1.349  # IQR of a normal is 1.349 sigma; robust to outliers
        if scale <= _SCALE_FLOOR:
            scale = float(np.std(unit))
        if scale <= _SCALE_FLOOR:
            scale = 1.0
        z = (unit - center) / scale
        sample = z
        if z.size > fit_sample_size:
            sample = z[rng.choice(z.size, size=fit_sample_size, replace=False)]
        return absmax, center, scale, z, sample

    @classmethod
    def placeholder(cls, spec: ColumnSpec) -> _NumericCodec:
        """Codec of an all-missing column: one dummy mode, the indicator does the work."""
        return cls(spec, 1.0, 0.0, 1.0, np.zeros(1), np.full(1, _SIGMA_FLOOR), np.ones(1), 0)

    @classmethod
    def from_mixture(
        cls,
        spec: ColumnSpec,
        prepared: tuple[float, float, float, np.ndarray, np.ndarray],
        means: np.ndarray,
        stds: np.ndarray,
        weights: np.ndarray,
    ) -> _NumericCodec:
        """The codec for fitted modes; adds a catch-all mode if training outliers need one."""
        absmax, center, scale, z, _ = prepared
        codec = cls(spec, absmax, center, scale, means, stds, weights, 0)
        _, mode, covered = codec._assign(z)
        if not covered.all():
            # Outliers outside every mode's window (their own component was too light to keep)
            # get one wide catch-all mode, so every training value still decodes exactly.
            lo, hi = z[~covered].min(), z[~covered].max()
            wide = max((hi - lo) / (2 * _N_STD - 0.1), _SIGMA_FLOOR)
            codec = cls(
                spec,
                absmax,
                center,
                scale,
                np.append(means, (lo + hi) / 2),
                np.append(stds, wide),
                np.append(weights * covered.mean(), 1.0 - covered.mean()),
                0,
            )
            _, mode, _ = codec._assign(z)
        codec.fill_mode = int(np.bincount(mode, minlength=codec.n_modes).argmax())
        return codec

    @classmethod
    def fit(
        cls,
        spec: ColumnSpec,
        values: np.ndarray,
        max_modes: int,
        fit_sample_size: int,
        rng: np.random.Generator,
    ) -> _NumericCodec:
        """One column with scikit-learn's BayesianGaussianMixture (the ``gmm="sklearn"`` path)."""
        prepared = cls.prepare(values, fit_sample_size, rng)
        if prepared is None:
            return cls.placeholder(spec)
        sample = prepared[4]
        seed = int(rng.integers(2**31 - 1))
        n_unique = np.unique(sample).size
        if n_unique <= 1:
            means, stds, weights = sample[:1].copy(), np.full(1, _SIGMA_FLOOR), np.ones(1)
        else:
            means, stds, weights = _fit_mixture(sample, min(max_modes, n_unique), seed)
        return cls.from_mixture(spec, prepared, means, stds, weights)

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return (x / self.absmax - self.center) / self.scale

    def _assign(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scalar in [-1, 1], mode index and "inside some window" flag per standardised value.

        The mode is the argmax of the responsibility among the modes whose +/-4 sigma window
        holds the value (so training values encode without clipping and decode back exactly);
        a value outside every window goes to the mode it is nearest to in sigmas.
        """
        n = z.size
        scalar = np.empty(n, dtype=np.float64)
        mode = np.empty(n, dtype=np.int64)
        covered = np.empty(n, dtype=bool)
        for start in range(0, n, _CHUNK):
            zc = z[start : start + _CHUNK]
            with np.errstate(over="ignore", invalid="ignore"):
                d = (zc[:, None] - self.means[None, :]) / self.stds[None, :]
                log_r = self._log_w[None, :] - 0.5 * d * d
            fits = np.abs(d) <= _N_STD
            best = np.where(fits, log_r, -np.inf).argmax(axis=1)
            nearest = np.abs(d).argmin(axis=1)
            inside = fits.any(axis=1)
            m = np.where(inside, best, nearest)
            mode[start : start + _CHUNK] = m
            covered[start : start + _CHUNK] = inside
            chosen = np.take_along_axis(d, m[:, None], axis=1)[:, 0]
            scalar[start : start + _CHUNK] = np.clip(chosen / _N_STD, -1.0, 1.0)
        return scalar, mode, covered

    def encode(self, series: pd.Series, out: np.ndarray) -> None:
        name = self.spec.name
        try:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise ValueError(
                f"column {name!r} was numeric at fit but now has dtype {series.dtype} with "
                "values that are not numbers"
            ) from None
        missing = np.isnan(values)
        if missing.any() and not self.spec.has_missing:
            pos = int(np.flatnonzero(missing)[0])
            raise ValueError(
                f"column {name!r} has missing values (first at row {pos}) but had none when the "
                "encoder was fitted; fit on data that includes missing values"
            )
        z = self._standardise(np.where(missing, self.absmax * self.center, values))
        scalar, mode, _ = self._assign(z)
        scalar[missing] = 0.0
        mode[missing] = self.fill_mode
        out[:, 0] = scalar
        out[np.arange(values.size), 1 + mode] = 1.0
        if self.spec.has_missing:
            out[:, -1] = missing

    def decode(self, block: np.ndarray, clip_to_range: bool) -> Any:
        scalar = np.clip(block[:, 0].astype(np.float64), -1.0, 1.0)
        mode = block[:, 1 : 1 + self.n_modes].argmax(axis=1)
        z = scalar * _N_STD * self.stds[mode] + self.means[mode]
        with np.errstate(over="ignore", invalid="ignore"):
            x = (z * self.scale + self.center) * self.absmax
        spec = self.spec
        if clip_to_range and spec.min is not None:
            x = np.clip(x, spec.min, spec.max)
        if spec.kind == ColumnKind.integer:
            x = np.round(x)
        if spec.has_missing:
            x[block[:, -1] > 0.5] = np.nan
        return _to_numeric_dtype(x, spec.pandas_dtype())

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "numeric",
            "absmax": self.absmax,
            "center": self.center,
            "scale": self.scale,
            "means": self.means.tolist(),
            "stds": self.stds.tolist(),
            "weights": self.weights.tolist(),
            "fill_mode": self.fill_mode,
        }

    @classmethod
    def from_json(cls, spec: ColumnSpec, d: dict[str, Any]) -> _NumericCodec:
        return cls(
            spec,
            d["absmax"],
            d["center"],
            d["scale"],
            np.asarray(d["means"], dtype=np.float64),
            np.asarray(d["stds"], dtype=np.float64),
            np.asarray(d["weights"], dtype=np.float64),
            d["fill_mode"],
        )


def _fit_mixture(sample: np.ndarray, n_components: int, seed: int) -> tuple[np.ndarray, ...]:
    """Means, stds and weights of the significant modes of a 1-D sample, sorted by mean."""
    gmm = BayesianGaussianMixture(
        n_components=n_components,
        covariance_type="diag",  # same model as "full" in 1-D, several times faster
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=1e-3,
        max_iter=100,
        n_init=1,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(sample.reshape(-1, 1))
    weights = gmm.weights_
    keep = weights > _WEIGHT_MIN
    if not keep.any():
        keep = weights == weights.max()
    means = gmm.means_.reshape(-1)[keep]
    stds = np.maximum(np.sqrt(gmm.covariances_.reshape(-1)[keep]), _SIGMA_FLOOR)
    weights = weights[keep] / weights[keep].sum()
    order = np.argsort(means, kind="stable")
    return means[order], stds[order], weights[order]


def _nullable(dtype: np.dtype) -> str:
    """The pandas nullable dtype that holds the same numbers plus NA."""
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind in "iu":
        return f"{'UInt' if dtype.kind == 'u' else 'Int'}{dtype.itemsize * 8}"
    return str(dtype)


def _to_numeric_dtype(x: np.ndarray, dtype: Any) -> Any:
    """Cast decoded float64 numbers to the column's original dtype without overflow."""
    has_nan = bool(np.isnan(x).any())
    target = dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype
    if isinstance(target, np.dtype) and target.kind in "iu":
        info = np.iinfo(target)
        hi = float(info.max)
        if int(hi) > info.max:
            hi = float(np.nextafter(hi, 0.0))
        x = np.clip(x, float(info.min), hi)
    elif isinstance(target, np.dtype) and target.kind == "f":
        info = np.finfo(target)
        x = np.clip(x, float(info.min), float(info.max))
    if isinstance(dtype, np.dtype):
        if has_nan and dtype.kind in "iub":
            return pd.array(x, dtype="Float64").astype(_nullable(dtype))
        return x.astype(dtype)
    return pd.array(x, dtype="Float64").astype(dtype)


# --------------------------------------------------------------------------- categorical columns
class _CategoricalCodec:
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
        return [OutputSpan(self.n_slots, "softmax")]

    def parts(self) -> list[str]:
        return ["category"]

    @classmethod
    def fit(cls, spec: ColumnSpec, series: pd.Series, max_categories: int) -> _CategoricalCodec:
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
        return _to_category_dtype(values, self.spec.pandas_dtype())

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "categorical",
            "kept": self.kept,
            "other": self.other,
            "other_counts": self.other_counts,
        }

    @classmethod
    def from_json(cls, spec: ColumnSpec, d: dict[str, Any]) -> _CategoricalCodec:
        return cls(spec, d["kept"], d["other"], d["other_counts"])


def _object_array(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _category_values(series: pd.Series, spec: ColumnSpec) -> tuple[np.ndarray, np.ndarray]:
    """Values as an object array (converted to str where the schema says so) and a missing mask."""
    values = series.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool)
    if spec.cast_to_str:
        values = _as_str_values(values)
    return values, missing


def _to_category_dtype(values: np.ndarray, dtype: Any) -> Any:
    """Cast decoded category values (object array, NaN = missing) to the original dtype."""
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Categorical(values, dtype=dtype)
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":  # a Series keeps object (a DataFrame would infer str)
            return pd.Series(values, dtype=object)
        if dtype.kind in "iub" and pd.isna(values).any():
            dtype = pd.api.types.pandas_dtype(_nullable(dtype))
        else:
            return values.astype(dtype)
    return pd.array(values, dtype=dtype)


# --------------------------------------------------------------------------- the encoder
class TabularEncoder:
    """Reversible map between a raw table and float32 vectors for a generative model.

    ``fit`` learns the schema and per-column codecs; ``transform`` gives an array whose layout
    is described by ``spans`` (and per column by ``column_layout``); ``inverse_transform``
    gives back a DataFrame with the fit input's columns, order and dtypes.

    ``gmm`` picks the mixture fitter: ``"fast"`` (all numeric columns in one vectorised
    variational EM, :mod:`genbalance.encoders.gmm`) or ``"sklearn"`` (one
    ``BayesianGaussianMixture`` per column, slower, the reference).
    """

    def __init__(
        self,
        categorical_features: Any = "auto",
        max_modes: int = 10,
        fit_sample_size: int = 20_000,
        max_categories: int = 200,
        clip_to_range: bool = True,
        random_state: int | None = None,
        gmm: str = "fast",
    ) -> None:
        if gmm not in _GMM_BACKENDS:
            raise ValueError(f"gmm must be one of {', '.join(_GMM_BACKENDS)}; got {gmm!r}")
        for pname, value, low in (
            ("max_modes", max_modes, 1),
            ("fit_sample_size", fit_sample_size, 2),
            ("max_categories", max_categories, 2),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{pname} must be an integer >= {low}; got {value!r}")
        if random_state is not None and (
            isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))
        ):
            raise ValueError(f"random_state must be an int or None; got {random_state!r}")
        self.categorical_features = categorical_features
        self.max_modes = int(max_modes)
        self.fit_sample_size = int(fit_sample_size)
        self.max_categories = int(max_categories)
        self.clip_to_range = bool(clip_to_range)
        self.random_state = None if random_state is None else int(random_state)
        self.gmm = gmm
        self.schema: list[ColumnSpec] = []
        self.spans: list[OutputSpan] = []
        self.output_dim: int = 0
        self.column_layout: list[dict[str, Any]] = []
        self._codecs: list[_NumericCodec | _CategoricalCodec] = []
        self._columns_dtype: str = "object"
        self._rng = np.random.default_rng(self.random_state)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame) -> TabularEncoder:
        """Learn column kinds, mixture modes and category sets from ``X``."""
        validate_frame(X)
        self.schema = infer_schema(X, self.categorical_features)
        rng = np.random.default_rng(self.random_state)
        codecs: list[_NumericCodec | _CategoricalCodec | None] = []
        pending: list[tuple[int, ColumnSpec, tuple]] = []  # numeric columns for the fast fit
        for spec in self.schema:
            series = X[spec.name]
            if not spec.is_numeric:
                codecs.append(_CategoricalCodec.fit(spec, series, self.max_categories))
                continue
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            if self.gmm == "sklearn":
                codecs.append(
                    _NumericCodec.fit(spec, values, self.max_modes, self.fit_sample_size, rng)
                )
                continue
            prepared = _NumericCodec.prepare(values, self.fit_sample_size, rng)
            if prepared is None:
                codecs.append(_NumericCodec.placeholder(spec))
            elif np.unique(prepared[4]).size <= 1:
                one = prepared[4][:1].copy()
                codecs.append(
                    _NumericCodec.from_mixture(
                        spec, prepared, one, np.full(1, _SIGMA_FLOOR), np.ones(1)
                    )
                )
            else:
                pending.append((len(codecs), spec, prepared))
                codecs.append(None)
        if pending:
            samples = [p[4] for _, _, p in pending]
            n_comp = [min(self.max_modes, np.unique(s).size) for s in samples]
            seed = int(rng.integers(2**31 - 1))
            fits = fit_mixtures(samples, n_comp, seed=seed, weight_min=_WEIGHT_MIN)
            for (pos, spec, prepared), (means, stds, weights) in zip(pending, fits, strict=True):
                codecs[pos] = _NumericCodec.from_mixture(spec, prepared, means, stds, weights)
        self._codecs = codecs
        self._columns_dtype = str(X.columns.dtype)
        self._finish()
        return self

    def _finish(self) -> None:
        """Derive spans, output_dim and layout from the codecs; reset the decode generator."""
        self.spans = []
        self.column_layout = []
        start = 0
        for spec, codec in zip(self.schema, self._codecs, strict=True):
            parts = []
            col_start = start
            for role, span in zip(codec.parts(), codec.spans(), strict=True):
                parts.append({"role": role, "start": start, "stop": start + span.size})
                self.spans.append(span)
                start += span.size
            self.column_layout.append(
                {
                    "column": spec.name,
                    "kind": spec.kind.value,
                    "start": col_start,
                    "stop": start,
                    "parts": parts,
                }
            )
        self.output_dim = start
        self._rng = np.random.default_rng(self.random_state)

    def _check_fitted(self) -> None:
        if not self._codecs:
            raise RuntimeError("this TabularEncoder is not fitted yet; call fit(X) first")

    @property
    def columns(self) -> list[Any]:
        """Column names of the fit input, in order."""
        return [spec.name for spec in self.schema]

    # ------------------------------------------------------------------ encoding
    def _align(self, X: pd.DataFrame) -> pd.DataFrame:
        """Check ``X`` has exactly the fit columns; reorder them if only the order differs."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame; got {type(X).__name__}")
        dup = X.columns[X.columns.duplicated()].unique().tolist()
        if dup:
            raise ValueError(f"X has duplicate column names {dup[:10]!r}; rename them")
        expected = self.columns
        have = list(X.columns)
        if have == expected:
            return X
        missing = [c for c in expected if c not in set(have)]
        extra = [c for c in have if c not in set(expected)]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {missing[:10]!r}")
            if extra:
                parts.append(f"unexpected column(s) {extra[:10]!r}")
            raise ValueError(
                f"X does not have the columns the encoder was fitted on: {'; '.join(parts)}"
            )
        return X.loc[:, expected]

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Encode ``X`` into a float32 array of shape ``(n, output_dim)``."""
        self._check_fitted()
        X = self._align(X)
        check_finite(X)
        out = np.zeros((X.shape[0], self.output_dim), dtype=np.float32)
        for layout, codec in zip(self.column_layout, self._codecs, strict=True):
            codec.encode(X[layout["column"]], out[:, layout["start"] : layout["stop"]])
        return out

    def fit_transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(
        self,
        Z: np.ndarray | torch.Tensor,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.DataFrame:
        """Decode encoded rows back to a DataFrame with the fit input's columns and dtypes.

        ``random_state`` (optional) drives the draws for grouped rare categories; by default
        the encoder's own generator (seeded from ``random_state`` at fit) is used.
        """
        self._check_fitted()
        if hasattr(Z, "detach"):
            Z = Z.detach().cpu().numpy()
        Z = np.asarray(Z)
        if Z.dtype not in (np.float32, np.float64):  # models emit float32: no 2x copy of it
            Z = Z.astype(np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.output_dim:
            raise ValueError(f"Z must have shape (n, {self.output_dim}) to decode; got {Z.shape}")
        bad = ~np.isfinite(Z)
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise ValueError(
                f"Z holds {int(bad.sum())} NaN/inf value(s), first at row {row}, position {col}; "
                "the model output diverged"
            )
        if random_state is None:
            rng = self._rng
        elif isinstance(random_state, np.random.Generator):
            rng = random_state
        else:
            rng = np.random.default_rng(random_state)
        data = {}
        for layout, codec in zip(self.column_layout, self._codecs, strict=True):
            block = Z[:, layout["start"] : layout["stop"]]
            if isinstance(codec, _NumericCodec):
                data[layout["column"]] = codec.decode(block, self.clip_to_range)
            else:
                data[layout["column"]] = codec.decode(block, rng)
        frame = pd.DataFrame(data, index=pd.RangeIndex(Z.shape[0]))
        frame.columns = pd.Index(self.columns, dtype=self._columns_dtype)
        return frame

    # ------------------------------------------------------------------ saving
    def to_json(self) -> dict[str, Any]:
        """Complete fitted state as plain JSON types (no numpy, no pickle)."""
        self._check_fitted()
        cf = self.categorical_features
        if isinstance(cf, (np.ndarray, pd.Index, pd.Series, list, tuple)):
            cf = [_json_scalar(v, "categorical_features entry") for v in np.asarray(cf).tolist()]
        schema = []
        for spec in self.schema:
            d = spec.to_json()
            d["name"] = _json_scalar(spec.name, "column name")
            schema.append(d)
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "params": {
                "categorical_features": cf,
                "max_modes": self.max_modes,
                "fit_sample_size": self.fit_sample_size,
                "max_categories": self.max_categories,
                "clip_to_range": self.clip_to_range,
                "random_state": self.random_state,
                "gmm": self.gmm,
            },
            "columns_dtype": self._columns_dtype,
            "schema": schema,
            "codecs": [codec.to_json() for codec in self._codecs],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TabularEncoder:
        """Rebuild a fitted encoder from :meth:`to_json` output; refuses malformed state."""
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise ValueError("not a genbalance TabularEncoder state (missing or wrong 'format')")
        if d.get("version") != _VERSION:
            raise ValueError(
                f"TabularEncoder state version {d.get('version')!r} is not supported "
                f"(this genbalance reads version {_VERSION})"
            )
        try:
            enc = cls(**d["params"])
            enc.schema = [ColumnSpec.from_json(s) for s in d["schema"]]
            codecs: list[_NumericCodec | _CategoricalCodec] = []
            for spec, c in zip(enc.schema, d["codecs"], strict=True):
                if c["type"] == "numeric" and spec.is_numeric:
                    codecs.append(_NumericCodec.from_json(spec, c))
                elif c["type"] == "categorical" and not spec.is_numeric:
                    codecs.append(_CategoricalCodec.from_json(spec, c))
                else:
                    raise ValueError(f"codec type {c['type']!r} does not fit column {spec.name!r}")
            if not codecs:
                raise ValueError("no columns")
            enc._codecs = codecs
            enc._columns_dtype = d["columns_dtype"]
            enc._finish()
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"TabularEncoder state is malformed: {exc!r}") from None
        return enc

    def __repr__(self) -> str:
        if not self._codecs:
            return "TabularEncoder(unfitted)"
        return f"TabularEncoder(columns={len(self.schema)}, output_dim={self.output_dim})"
