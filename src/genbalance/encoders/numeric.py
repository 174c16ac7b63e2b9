"""Mode-specific normalisation of numeric columns (CTGAN, Xu et al. 2019).

A variational Gaussian mixture per column finds its modes; a value becomes
``[scalar in [-1, 1], one-hot mode]`` (plus a missing indicator when the column had missing
values at fit). The mixtures are fitted all at once by :mod:`genbalance.encoders.gmm`
(``"fast"``) or one column at a time with scikit-learn (``"sklearn"``, the reference).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from genbalance.data.kinds import ColumnKind, ColumnSpec
from genbalance.encoders.dtypes import to_numeric_dtype
from genbalance.encoders.gmm import fit_mixtures
from genbalance.spans import OutputSpan

__all__ = [
    "GMM_BACKENDS",
    "NumericCodec",
    "Standardised",
    "fit_mixture",
    "fit_numeric_codecs",
    "round_to_decimals",
]

GMM_BACKENDS = ("fast", "sklearn")  # encoders/gmm.py (all columns at once) | one sklearn fit each
_SIGMA_FLOOR = 1e-6  # smallest mode std, in standardised units (avoids division by zero)
_SCALE_FLOOR = 1e-12  # smallest standardisation scale, relative to the column's max |value|
_WEIGHT_MIN = 0.005  # mixture components lighter than this are dropped
_N_STD = 4.0  # the scalar is (x - mu) / (4 sigma)
_CHUNK = 1 << 17  # rows per block when computing responsibilities (bounds memory)


class Standardised(NamedTuple):
    """One column standardised as ``z = (x / absmax - center) / scale``, before the mixture fit.

    Dividing by the largest ``|x|`` first keeps every step finite even for values near 1e308.
    ``z`` holds the present values, ``sample`` a random subsample of it for the mixture fit.
    """

    absmax: float
    center: float
    scale: float
    z: np.ndarray
    sample: np.ndarray


class NumericCodec:
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
        self.absmax = float(absmax)
        self.center = float(center)
        self.scale = float(scale)
        self.means = np.asarray(means, dtype=np.float64)
        self.stds = np.asarray(stds, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.fill_mode = int(fill_mode)
        self._log_w = np.log(self.weights) - np.log(self.stds)

    @property
    def kind(self) -> str:
        """The kind ``column_layout`` reports for the column (its spec's)."""
        return self.spec.kind.value

    @property
    def n_modes(self) -> int:
        """Modes kept at fit (the width of the one-hot mode span)."""
        return int(self.means.size)

    def spans(self) -> list[OutputSpan]:
        """The activations a model must produce for this column, in layout order."""
        spans = [OutputSpan(1, "tanh"), OutputSpan(self.n_modes, "softmax")]
        if self.spec.has_missing:
            spans.append(OutputSpan(1, "sigmoid"))
        return spans

    def parts(self) -> list[str]:
        """Role of each span (``column_layout`` names them for users of the encoding)."""
        return ["value", "mode"] + (["missing"] if self.spec.has_missing else [])

    # ------------------------------------------------------------------ fitting
    @staticmethod
    def prepare(
        values: np.ndarray, fit_sample_size: int, rng: np.random.Generator
    ) -> Standardised | None:
        """Standardisation and the mixture-fit sample of one column (None if all missing)."""
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
        return Standardised(absmax, center, scale, z, sample)

    @classmethod
    def placeholder(cls, spec: ColumnSpec) -> NumericCodec:
        """Codec of an all-missing column: one dummy mode, the indicator does the work."""
        return cls(spec, 1.0, 0.0, 1.0, np.zeros(1), np.full(1, _SIGMA_FLOOR), np.ones(1), 0)

    @classmethod
    def single_mode(cls, spec: ColumnSpec, prepared: Standardised) -> NumericCodec:
        """Codec of a column with one distinct (sampled) value: nothing for a mixture to fit."""
        one = prepared.sample[:1].copy()
        return cls.from_mixture(spec, prepared, one, np.full(1, _SIGMA_FLOOR), np.ones(1))

    @classmethod
    def from_mixture(
        cls,
        spec: ColumnSpec,
        prepared: Standardised,
        means: np.ndarray,
        stds: np.ndarray,
        weights: np.ndarray,
    ) -> NumericCodec:
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
    ) -> NumericCodec:
        """One column with scikit-learn's BayesianGaussianMixture (the ``gmm="sklearn"`` path)."""
        prepared = cls.prepare(values, fit_sample_size, rng)
        if prepared is None:
            return cls.placeholder(spec)
        sample = prepared.sample
        seed = int(rng.integers(2**31 - 1))
        n_unique = np.unique(sample).size
        if n_unique <= 1:
            return cls.single_mode(spec, prepared)
        means, stds, weights = fit_mixture(sample, min(max_modes, n_unique), seed)
        return cls.from_mixture(spec, prepared, means, stds, weights)

    # ------------------------------------------------------------------ encoding
    def _standardise(self, x: np.ndarray) -> np.ndarray:
        """Raw values in the units the modes were fitted in (see :class:`Standardised`)."""
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
        """Write the column's encoding into ``out`` (a zeroed view of the encoded rows)."""
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
        """Values of the column from its encoded block, in the column's original dtype."""
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
        elif spec.decimals is not None:
            x = round_to_decimals(x, spec.decimals)
        if spec.has_missing:
            x[block[:, -1] > 0.5] = np.nan
        return to_numeric_dtype(x, spec.pandas_dtype())

    # ------------------------------------------------------------------ saving
    def to_json(self) -> dict[str, Any]:
        """Fitted state as plain JSON types (model files hold no pickles)."""
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
    def from_json(cls, spec: ColumnSpec, d: dict[str, Any]) -> NumericCodec:
        """The codec saved by :meth:`to_json`, checked: a model file is not trusted, so finite
        numbers, one mean, std and weight per mode (positive stds, weights >= 0, at most
        ``MAX_STORED_MODES`` modes) and a fill mode among them."""
        from genbalance.encoders.categorical import MAX_STORED_MODES, check_stored_spec

        check_stored_spec(spec)
        name = spec.name
        scalars = {k: d[k] for k in ("absmax", "center", "scale")}
        for key, value in scalars.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"column {name!r}: {key} {value!r} is not a number")
        arrays = {}
        for key in ("means", "stds", "weights"):
            value = d[key]
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_STORED_MODES:
                raise ValueError(
                    f"column {name!r}: {key} must be a list of 1 to {MAX_STORED_MODES} numbers"
                )
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
                raise ValueError(f"column {name!r}: {key} holds a value that is not a number")
            arrays[key] = np.asarray(value, dtype=np.float64)
        if len({a.size for a in arrays.values()}) != 1:
            raise ValueError(f"column {name!r}: means, stds and weights differ in length")
        if not all(
            np.isfinite(a).all()
            for a in [*arrays.values(), np.array(list(scalars.values()), dtype=np.float64)]
        ):
            raise ValueError(f"column {name!r}: the stored mixture holds NaN or inf")
        if (arrays["stds"] <= 0).any() or (arrays["weights"] < 0).any():
            raise ValueError(f"column {name!r}: mode stds must be positive, weights >= 0")
        if scalars["absmax"] <= 0 or scalars["scale"] <= 0:
            raise ValueError(f"column {name!r}: absmax and scale must be positive")
        fill = d["fill_mode"]
        if (
            isinstance(fill, bool)
            or not isinstance(fill, int)
            or not 0 <= fill < arrays["means"].size
        ):
            raise ValueError(f"column {name!r}: fill_mode {fill!r} is not one of its modes")
        return cls(
            spec,
            scalars["absmax"],
            scalars["center"],
            scalars["scale"],
            arrays["means"],
            arrays["stds"],
            arrays["weights"],
            fill,
        )


def fit_numeric_codecs(
    columns: Iterable[tuple[ColumnSpec, np.ndarray]],
    max_modes: int,
    fit_sample_size: int,
    rng: np.random.Generator,
    backend: str = "fast",
) -> list[NumericCodec]:
    """One codec per ``(spec, float64 values)`` column, in order.

    With ``backend="fast"`` the mixtures of all columns that need one are fitted together in a
    single vectorised EM (one seed drawn after every column's subsample), which is what makes
    wide tables fast; ``"sklearn"`` fits them one by one. ``rng`` is consumed in column order.
    """
    codecs: list[NumericCodec | None] = []
    pending: list[tuple[int, ColumnSpec, Standardised]] = []  # columns for the joint fit
    for spec, values in columns:
        if backend == "sklearn":
            codecs.append(NumericCodec.fit(spec, values, max_modes, fit_sample_size, rng))
            continue
        prepared = NumericCodec.prepare(values, fit_sample_size, rng)
        if prepared is None:
            codecs.append(NumericCodec.placeholder(spec))
        elif np.unique(prepared.sample).size <= 1:
            codecs.append(NumericCodec.single_mode(spec, prepared))
        else:
            pending.append((len(codecs), spec, prepared))
            codecs.append(None)
    if pending:
        samples = [p.sample for _, _, p in pending]
        n_comp = [min(max_modes, np.unique(s).size) for s in samples]
        seed = int(rng.integers(2**31 - 1))
        fits = fit_mixtures(samples, n_comp, seed=seed, weight_min=_WEIGHT_MIN)
        for (pos, spec, prepared), (means, stds, weights) in zip(pending, fits, strict=True):
            codecs[pos] = NumericCodec.from_mixture(spec, prepared, means, stds, weights)
    done = [c for c in codecs if c is not None]
    assert len(done) == len(codecs), "every pending column got its mixture"
    return done


def round_to_decimals(x: np.ndarray, decimals: int) -> np.ndarray:
    """``x`` rounded to ``decimals`` places (the column's observed precision), so amounts come
    back as 12.5 rather than 12.499999999999998. Values too large to have such decimals in
    float64 (and NaN) are left as they are, which also keeps ``x * 10**decimals`` finite."""
    small = np.abs(x) < 2.0**52 / 10.0**decimals
    return np.where(small, np.round(np.where(small, x, 0.0), decimals), x)


def fit_mixture(sample: np.ndarray, n_components: int, seed: int) -> tuple[np.ndarray, ...]:
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
