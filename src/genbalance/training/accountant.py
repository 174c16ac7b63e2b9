"""The privacy accountant: epsilon spent by Poisson-subsampled Gaussian steps, and its inverses.

Its own module so that the numbers (epsilon for a run, the noise a budget needs, how many steps
a budget allows) can be computed and tested without Opacus's training hooks or a model; the
training side lives in :mod:`genbalance.training.dp`, which re-exports these names.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

ACCOUNTANTS = ("rdp", "prv")
# the largest number of private steps searched when working out how far a budget reaches
_MAX_STEPS = 10_000_000


def _accountant(kind: str) -> Any:
    from opacus.accountants.utils import create_accountant

    return create_accountant(mechanism=kind)


# RDP orders searched when converting to (epsilon, delta): Opacus's defaults stop at 63, which
# is too low for the large noise multipliers of small budgets (a valid but loose bound, and a
# warning); more orders only ever tighten the bound.
_RDP_ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + list(range(64, 257, 16))


@functools.lru_cache(maxsize=256)
def _rdp_per_step(noise_multiplier: float, sample_rate: float) -> tuple[float, ...]:
    """RDP of one Poisson-subsampled Gaussian step at every order (it adds up over steps)."""
    from opacus.accountants.analysis.rdp import compute_rdp

    return tuple(
        compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=_RDP_ALPHAS)
    )


def _rdp_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    from opacus.accountants.analysis.rdp import get_privacy_spent

    rdp = np.asarray(_rdp_per_step(float(noise_multiplier), float(sample_rate))) * steps
    with warnings.catch_warnings():  # "optimal order is the largest alpha": still a valid bound
        warnings.simplefilter("ignore")
        eps, _ = get_privacy_spent(orders=_RDP_ALPHAS, rdp=rdp, delta=delta)
    return float(eps)


def epsilon_spent(
    kind: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float:
    """Epsilon after ``steps`` Poisson-subsampled Gaussian steps (0 for no steps)."""
    if steps <= 0:
        return 0.0
    if kind == "rdp":
        return _rdp_epsilon(noise_multiplier, sample_rate, int(steps), delta)
    acc = _accountant(kind)
    acc.history = [(noise_multiplier, sample_rate, int(steps))]
    return float(acc.get_epsilon(delta=delta))


def noise_for_budget(
    kind: str, epsilon: float, delta: float, sample_rate: float, steps: int
) -> float:
    """The smallest noise multiplier (to 1%) whose ``steps`` steps spend at most ``epsilon``."""

    def eps(sigma: float) -> float:
        return epsilon_spent(kind, sigma, sample_rate, steps, delta)

    lo, hi = 0.0, 1.0
    while eps(hi) > epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ValueError(f"no noise multiplier up to 1e4 reaches epsilon={epsilon:g}")
    while hi - lo > 0.01 * hi:  # invariant: eps(hi) <= epsilon
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if eps(mid) <= epsilon else (mid, hi)
    return hi


def max_private_steps(
    kind: str,
    noise_multiplier: float,
    sample_rate: float,
    delta: float,
    epsilon: float,
    hint: int = 1,
) -> int:
    """The largest number of private steps whose epsilon stays <= ``epsilon``."""

    def fits(steps: int) -> bool:
        return epsilon_spent(kind, noise_multiplier, sample_rate, steps, delta) <= epsilon

    if not fits(1):
        return 0
    lo, hi = 1, max(2, int(hint))
    while fits(hi):
        lo, hi = hi, hi * 2
        if hi > _MAX_STEPS:
            return _MAX_STEPS
    while hi - lo > 1:  # invariant: fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
