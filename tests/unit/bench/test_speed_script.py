"""benchmarks/speed.py: the fold row times further samplers (--also) beside the default, and the
summary gives their median and ratio to the default."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_also_samplers_are_timed_and_summarised(benchmark_script):
    speed = benchmark_script("speed")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = pd.Series(["neg"] * 70 + ["pos"] * 10)
    row = speed.fold_row("toy", 0, X, y, seed=0, also=("gb:gan,epochs=1",))
    assert row["gb:gan,epochs=1_s"] > 0 and row["gb_default_s"] > 0
    cells = pd.DataFrame([row, {**row, "fold": 1}])
    text = speed.summary(cells, {"import_s": 0.1, "first_fit_s": 0.2}, "toy run")
    assert "| `gb:gan,epochs=1` |" in text and "ratio to the default" in text
