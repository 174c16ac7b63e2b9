"""benchmarks/ab_speed.py: a version's fits are timed fold by fold in a subprocess, and the
summary gives both versions' medians and the median per-fold ratio."""

from __future__ import annotations

from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[3] / "src")


def test_the_summary_gives_medians_and_the_per_fold_ratio(benchmark_script):
    ab = benchmark_script("ab_speed")
    text = ab.summary({"base": [2.0, 4.0, 3.0], "this": [1.0, 1.0, 3.0]}, "/old/src", "toy")
    assert "| median | 3.000 | 1.000 |" in text
    assert "**2.000x**" in text  # ratios 2, 4, 1: median 2
    assert "Base: `/old/src`" in text and text.startswith("# Interleaved fit times")


@pytest.mark.slow
def test_a_version_is_timed_fold_by_fold_in_its_own_process(benchmark_script):
    ab = benchmark_script("ab_speed")
    times = ab.time_version(SRC, "iris0", repeats=1, folds=2, seed=0)
    assert len(times) == 2 and all(0 < t < 60 for t in times)
