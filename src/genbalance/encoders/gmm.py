"""Variational Gaussian mixtures for many 1-D columns at once.

:class:`~genbalance.encoders.tabular.TabularEncoder` needs the modes of every numeric column
(CTGAN's mode-specific normalisation). Fitting scikit-learn's ``BayesianGaussianMixture`` column
by column costs one to two seconds per column on 20k rows; here all columns are fitted together
with tensors of shape ``(columns, rows, modes)``, so one numpy operation serves every column.

The model is the one scikit-learn fits with ``weight_concentration_prior_type=
"dirichlet_process"``, in one dimension:

- weights: truncated stick-breaking (Dirichlet-process) prior with a small concentration
  (``1e-3``), so surplus components starve and are pruned (weight below ``weight_min``);
- each component: a Normal-Gamma prior on (mean, precision) centred on the column's mean with
  the column's variance as scale (one pseudo-observation, one degree of freedom);
- mean-field variational EM: responsibilities from expected log-weights and expected
  log-densities, then closed-form posterior updates.

Initialisation is k-means++ (seeded) followed by a few Lloyd iterations, all vectorised over
columns. Exact duplicates are folded into weighted points first, so discrete columns cost as
much as their number of distinct values. Columns stop updating once their average lower-bound
proxy changes by less than ``tol``; the loop ends when every column has converged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.special import digamma

__all__ = ["fit_mixtures"]

_REG = 1e-6  # added to every variance (as scikit-learn's reg_covar)
_SIGMA_FLOOR = 1e-6
_BETA0, _NU0 = 1.0, 1.0  # Normal-Gamma prior: one pseudo-observation, one degree of freedom


def _pack(samples: Sequence[np.ndarray], n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns as weighted points padded to one ``(columns, points)`` array.

    A column with at most ``n_bins`` distinct values becomes its distinct values with their
    counts (exact). A longer column is sorted and cut into ``n_bins`` bins of equal count, each
    kept as (count, mean, within-bin variance): the EM below uses the exact first two moments of
    every bin, so the only approximation is one responsibility per bin of neighbouring values.
    Returns values, counts and within-point variances; padding has count zero.
    """
    packed = []
    for s in samples:
        vals, counts = np.unique(np.asarray(s, dtype=np.float64), return_counts=True)
        if vals.size <= n_bins:
            packed.append((vals, counts.astype(np.float64), np.zeros(vals.size)))
            continue
        xs = np.repeat(vals, counts)  # sorted sample
        starts = np.linspace(0, xs.size, n_bins + 1).astype(np.int64)[:-1]
        n_b = np.diff(np.append(starts, xs.size)).astype(np.float64)
        s1 = np.add.reduceat(xs, starts)
        mean = s1 / n_b
        dev = xs - np.repeat(mean, n_b.astype(np.int64))
        var = np.add.reduceat(dev * dev, starts) / n_b
        packed.append((mean, n_b, var))
    width = max(p[0].size for p in packed)
    x = np.zeros((len(samples), width))
    w = np.zeros((len(samples), width))
    v = np.zeros((len(samples), width))
    for i, (vals, counts, var) in enumerate(packed):
        x[i, : vals.size] = vals
        x[i, vals.size :] = vals[0]
        w[i, : vals.size] = counts
        v[i, : vals.size] = var
    return x, w, v


def _kmeans_pp(
    x: np.ndarray, w: np.ndarray, k_max: int, n_comp: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """k-means++ seeds, vectorised over columns: (columns, k_max) centres."""
    n_cols = x.shape[0]
    rows = np.arange(n_cols)
    centres = np.empty((n_cols, k_max))
    # first centre: a point drawn in proportion to its count
    cum = np.cumsum(w, axis=1)
    pick = (cum < rng.random(n_cols)[:, None] * cum[:, -1:]).sum(1)
    centres[:, 0] = x[rows, np.minimum(pick, x.shape[1] - 1)]
    d2 = (x - centres[:, :1]) ** 2
    for k in range(1, k_max):
        p = d2 * w
        cum = np.cumsum(p, axis=1)
        total = cum[:, -1:]
        u = rng.random(n_cols)[:, None] * total
        pick = np.minimum((cum < u).sum(1), x.shape[1] - 1)
        new = x[rows, pick]
        # a column with fewer components (or no spread left) repeats its last centre
        done = (k >= n_comp) | (total[:, 0] <= 0)
        new = np.where(done, centres[:, k - 1], new)
        centres[:, k] = new
        d2 = np.minimum(d2, (x - new[:, None]) ** 2)
    return centres


def _lloyd(
    x: np.ndarray, w: np.ndarray, centres: np.ndarray, active: np.ndarray, n_iter: int
) -> np.ndarray:
    """A few weighted k-means steps; returns hard responsibilities (columns, rows, k)."""
    k_max = centres.shape[1]
    for it in range(n_iter + 1):
        d2 = (x[:, :, None] - centres[:, None, :]) ** 2
        d2 = np.where(active[:, None, :], d2, np.inf)
        label = d2.argmin(2)
        resp = (label[:, :, None] == np.arange(k_max)).astype(np.float64)
        if it == n_iter:
            return resp
        rw = resp * w[:, :, None]
        nk = rw.sum(1)
        mean = (rw * x[:, :, None]).sum(1) / np.maximum(nk, 1e-300)
        centres = np.where(nk > 0, mean, centres)
    return resp  # pragma: no cover


def fit_mixtures(
    samples: Sequence[np.ndarray],
    n_components: Sequence[int] | int,
    seed: int = 0,
    weight_min: float = 0.005,
    concentration: float = 1e-3,
    max_iter: int = 200,
    tol: float = 1e-7,
    kmeans_iter: int = 10,
    n_bins: int = 2048,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Fit one variational 1-D Gaussian mixture per sample, all at once.

    Parameters
    ----------
    samples : one 1-D float array per column (finite values, at least two distinct each).
    n_components : the most components per column (one int for all, or one per column).
    seed : drives the k-means++ initialisation; the same seed gives the same result.
    weight_min : components with a weight at or below it are dropped (the survivors are
        renormalised); if none is above it the heaviest one is kept.
    n_bins : a column with more distinct values is summarised by this many equal-count bins
        (exact count, mean and variance per bin); the cost no longer grows with its length.

    Returns one ``(means, stds, weights)`` triple per column, sorted by mean (the contract of
    :func:`genbalance.encoders.numeric.fit_mixture`).
    """
    if len(samples) == 0:
        return []
    if isinstance(n_components, (int, np.integer)):
        n_components = [int(n_components)] * len(samples)
    n_comp = np.asarray(n_components, dtype=np.int64)
    if n_comp.shape != (len(samples),) or (n_comp < 1).any():
        raise ValueError("n_components must be >= 1, one per column")
    x, w, v = _pack(samples, n_bins)
    k_max = int(n_comp.max())
    active = np.arange(k_max)[None, :] < n_comp[:, None]  # (C, K)
    rng = np.random.default_rng(seed)
    scaled = _Scaled.of(x, w, v)
    x, v = scaled.x, scaled.v
    # per-point features: E-step log-densities and M-step moments are both matrix products
    feats = np.stack([np.ones_like(x), x, x * x + v], axis=2)  # (C, N, 3)
    wfeats = np.swapaxes(feats * w[:, :, None], 1, 2)  # (C, 3, N)
    resp = _lloyd(x, w, _kmeans_pp(x, w, k_max, n_comp, rng), active, kmeans_iter)
    state = _variational_em(feats, wfeats, w, scaled, resp, active, concentration, max_iter, tol)
    return _kept_modes(state, active, scaled, weight_min)


class _Scaled(NamedTuple):
    """Packed columns standardised by their own mean and std, and how to undo it.

    The model is affine-equivariant, so standardising first only makes the sums
    well-conditioned; the priors are scikit-learn's defaults in 1-D on the standardised data.
    """

    x: np.ndarray
    v: np.ndarray
    n_tot: np.ndarray  # (C,) total weight per column
    mean0: np.ndarray
    var0: np.ndarray
    sd0: np.ndarray
    reg: np.ndarray  # (C, 1) _REG in standardised units

    @classmethod
    def of(cls, x: np.ndarray, w: np.ndarray, v: np.ndarray) -> _Scaled:
        """Standardise packed values ``x`` (weights ``w``, within-point variances ``v``)."""
        n_tot = w.sum(1)  # (C,)
        mean0 = (w * x).sum(1) / n_tot
        var0 = (w * ((x - mean0[:, None]) ** 2 + v)).sum(1) / n_tot + _REG
        sd0 = np.sqrt(var0)
        x = (x - mean0[:, None]) / sd0[:, None]
        v = v / var0[:, None]
        reg = (_REG / var0)[:, None]
        return cls(x, v, n_tot, mean0, var0, sd0, reg)


def _variational_em(
    feats: np.ndarray,
    wfeats: np.ndarray,
    w: np.ndarray,
    scaled: _Scaled,
    resp: np.ndarray,
    active: np.ndarray,
    concentration: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, ...]:
    """Mean-field EM until every column's bound proxy settles; the posterior parameters.

    A column that has converged keeps its parameters and leaves the computation while the
    others go on (one slow column used to keep every column's arrays in each of the up to
    ``max_iter`` passes). Columns never mix, so a column's result does not depend on which
    other columns it was fitted with, nor on when they converged.
    """
    live = np.arange(feats.shape[0])  # the columns still updating
    prev_bound = np.full(live.size, -np.inf)
    state: tuple[np.ndarray, ...] | None = None
    reg, n_tot = scaled.reg, scaled.n_tot
    for _ in range(max_iter):
        new_state = _m_step(wfeats, resp, active, reg, concentration)
        if state is None:
            state = new_state
        else:
            for full, new in zip(state, new_state, strict=True):
                full[live] = new
        resp, log_norm = _e_step(feats, new_state, active)
        bound = (w * log_norm).sum(1) / n_tot
        going = ~(np.abs(bound - prev_bound) < tol)
        if not going.all():  # drop the converged columns from every per-column array
            if not going.any():
                break
            live, prev_bound, resp = live[going], bound[going], resp[going]
            feats, wfeats, w, active = feats[going], wfeats[going], w[going], active[going]
            reg, n_tot = reg[going], n_tot[going]
        else:
            prev_bound = bound
    return state


def _m_step(
    wfeats: np.ndarray, resp: np.ndarray, active: np.ndarray, reg: np.ndarray, concentration: float
) -> tuple[np.ndarray, ...]:
    """Posterior parameters ``(nk, m, w_inv, nu, beta, a, b)`` from the weighted moments."""
    moments = wfeats @ resp  # (C, 3, K): sum r w, sum r w x, sum r w (x^2 + v)
    nk = moments[:, 0] + 10 * np.finfo(np.float64).eps
    xbar = moments[:, 1] / nk
    sk = np.maximum(moments[:, 2] / nk - xbar * xbar, 0.0) + reg
    beta = _BETA0 + nk
    m = nk * xbar / beta  # the mean prior is 0 after standardising
    nu = _NU0 + nk
    w_inv = 1.0 + nk * sk + _BETA0 * nk / beta * xbar * xbar
    # stick-breaking posterior Beta(a, b) over the active components
    nk_act = np.where(active, nk, 0.0)
    tail = np.cumsum(nk_act[:, ::-1], axis=1)[:, ::-1] - nk_act  # sum_{j>k} N_j
    a = 1.0 + nk_act
    b = concentration + tail
    return (nk_act, m, w_inv, nu, beta, a, b)


def _e_step(
    feats: np.ndarray, state: tuple[np.ndarray, ...], active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities from expected log-weights and log-densities, and the log-normaliser
    per point (the bound proxy is its weighted mean)."""
    _, m, w_inv, nu, beta, a, b = state
    n_cols = feats.shape[0]
    dg_ab = digamma(a + b)
    e_log_v = digamma(a) - dg_ab
    e_log_1mv = digamma(b) - dg_ab
    e_log_pi = e_log_v + np.concatenate(
        [np.zeros((n_cols, 1)), np.cumsum(e_log_1mv, axis=1)[:, :-1]], axis=1
    )
    e_log_prec = digamma(0.5 * nu) + np.log(2.0 / w_inv)
    prec = nu / w_inv
    # log rho = c0 + c1 x + c2 (x^2 + v), from -prec/2 ((x - m)^2 + v)
    c0 = e_log_pi + 0.5 * e_log_prec - 0.5 / beta - 0.5 * prec * m * m
    coef = np.stack([np.where(active, c0, -np.inf), prec * m, -0.5 * prec], axis=1)
    log_rho = feats @ np.where(
        active[:, None, :],
        coef,
        np.stack([np.full_like(c0, -np.inf), np.zeros_like(c0), np.zeros_like(c0)], axis=1),
    )
    top = log_rho.max(2, keepdims=True)
    np.subtract(log_rho, top, out=log_rho)
    np.exp(log_rho, out=log_rho)
    total = log_rho.sum(2, keepdims=True)
    resp = np.divide(log_rho, total, out=log_rho)
    return resp, np.log(total[:, :, 0]) + top[:, :, 0]


def _kept_modes(
    state: tuple[np.ndarray, ...], active: np.ndarray, scaled: _Scaled, weight_min: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Means, stds and weights per column in data units, light components dropped."""
    _, m, w_inv, nu, _, a, b = state
    n_cols = m.shape[0]
    # expected stick-breaking weights, as scikit-learn reports them
    frac = a / (a + b)
    rest = np.concatenate([np.ones((n_cols, 1)), np.cumprod(1.0 - frac, axis=1)[:, :-1]], axis=1)
    weights = np.where(active, frac * rest, 0.0)
    weights = weights / weights.sum(1, keepdims=True)
    m = m * scaled.sd0[:, None] + scaled.mean0[:, None]
    var = w_inv / nu * scaled.var0[:, None]
    out = []
    for i in range(n_cols):
        wi = weights[i]
        keep = wi > weight_min
        if not keep.any():
            keep = wi == wi.max()
        means = m[i][keep]
        stds = np.maximum(np.sqrt(var[i][keep]), _SIGMA_FLOOR)
        kept = wi[keep] / wi[keep].sum()
        order = np.argsort(means, kind="stable")
        out.append((means[order], stds[order], kept[order]))
    return out


def mixture_log_likelihood(
    x: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray
) -> float:
    """Average log-density of ``x`` under a 1-D Gaussian mixture (for quality checks)."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    log_p = (
        np.log(weights)[None, :]
        - np.log(stds)[None, :]
        - 0.5 * np.log(2 * np.pi)
        - 0.5 * ((x - means[None, :]) / stds[None, :]) ** 2
    )
    top = log_p.max(1, keepdims=True)
    return float((top[:, 0] + np.log(np.exp(log_p - top).sum(1))).mean())
