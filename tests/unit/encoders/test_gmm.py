"""The batched 1-D mixtures: each column's fit is its own, whatever it is fitted with.

Columns that have converged leave the EM loop while slower ones go on; these tests pin that a
column's result depends neither on its company nor on when that company converged.
"""

from __future__ import annotations

import numpy as np

from genbalance.encoders.gmm import fit_mixtures

RNG = np.random.default_rng(0)
#: five components on a flat density: it uses the whole budget of passes; one component needs
#: a few
SLOW = RNG.uniform(0.0, 1.0, 400)
BIMODAL = np.r_[RNG.normal(-5, 1, 200), RNG.normal(5, 1, 200)]
SKEWED = RNG.exponential(2.0, 400)  # as many distinct values as BIMODAL: the same padding
QUICK = np.r_[RNG.normal(0, 1, 200), RNG.normal(10, 1, 200)]


def _assert_same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_fast_column_is_the_same_alone_and_beside_a_slow_one():
    """One component: its start does not depend on the random draws, so only the loop could
    make the fits differ (it stops updating after a few passes, the slow column after ~200).
    Alone its points are padded less, which may move sums in the last bit."""
    alone = fit_mixtures([SKEWED], 1, seed=0)[0]
    first = fit_mixtures([SKEWED, SLOW], [1, 5], seed=0)[0]
    for a, b in zip(alone, first, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    _assert_same(first, fit_mixtures([SLOW, SKEWED], [5, 1], seed=0)[1])


def test_a_column_does_not_depend_on_when_its_company_converged():
    """The bimodal column settles after a few dozen passes. Beside the slow column (which
    uses the whole budget) and beside a quick one, its fit is the same: it stops updating
    when it has converged, not when the last column has. Both pairs get the same random
    draws for it (two columns, five components at most) and the same padding."""
    beside_slow = fit_mixtures([BIMODAL, SLOW], 5, seed=0)[0]
    beside_quick = fit_mixtures([BIMODAL, QUICK], 5, seed=0)[0]
    _assert_same(beside_slow, beside_quick)


def test_the_bimodal_column_gets_its_two_modes():
    means, stds, weights = fit_mixtures([BIMODAL, SLOW], 5, seed=0)[0]
    assert len(means) == 2
    np.testing.assert_allclose(means, [-5, 5], atol=0.3)
    np.testing.assert_allclose(stds, [1, 1], atol=0.2)
    np.testing.assert_allclose(weights, [0.5, 0.5], atol=0.05)


def test_a_budget_beyond_convergence_changes_nothing():
    """Once every column has converged the loop ends: a larger budget gives the same fit."""
    _assert_same(
        fit_mixtures([BIMODAL], 3, seed=0, max_iter=2000)[0],
        fit_mixtures([BIMODAL], 3, seed=0, max_iter=20000)[0],
    )
