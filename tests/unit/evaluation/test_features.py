"""Metric column handling: one "same columns" message that names the frames involved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genbalance.evaluation import privacy, utility
from genbalance.evaluation.features import check_same_columns, encode_pair


def frame(cols: str, n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({c: rng.normal(size=n) for c in cols})


def test_check_same_columns_names_both_frames_and_the_culprits():
    check_same_columns(frame("ab"), frame("ba"))
    with pytest.raises(
        ValueError,
        match=r"^`synthetic` does not have the columns of `real`: missing column\(s\) \['b'\]; "
        r"unexpected column\(s\) \['z'\]$",
    ):
        check_same_columns(frame("ab"), frame("az"))
    with pytest.raises(TypeError, match=r"`synth` must be a pandas DataFrame, got ndarray"):
        check_same_columns(frame("a"), np.zeros((2, 1)), ("real_train", "synth"))


def test_metrics_name_the_arguments_that_differ():
    with pytest.raises(ValueError, match=r"`others\[0\]` does not have the columns of `fit_on`"):
        encode_pair(frame("ab"), [frame("a")])
    with pytest.raises(ValueError, match=r"`holdout` does not have the columns of `real_train`"):
        privacy.dcr(frame("ab"), frame("ab"), frame("a"))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"`real_X` does not have the columns of `synth_X`"):
        utility.tstr(frame("ab"), y, frame("a"), y)
