"""Integers that float64 cannot hold: refused, never rounded.

Numeric columns are modelled in float64, which holds every integer only below 2**53. An integer
column with a larger value (a 64-bit hash, a nanosecond counter) would come back rounded without
a word, so both reading paths -- in memory (the table encoder) and streamed (``data.chunks``) --
refuse it with the same message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

#: integers from 2**53 on cannot all be held by float64, the type numeric columns are modelled in
EXACT_INT_LIMIT = 2**53


def inexact_integer_message(where: str, name: Any, top: float) -> str:
    """The one wording of the refusal, for the in-memory and the streamed path."""
    return (
        f"{where}integer column {name!r} holds a value of magnitude {top:.17g}, at or beyond "
        f"2**53 = {EXACT_INT_LIMIT}, where float64 (what genbalance models numbers in) cannot "
        "hold every integer: it would be rounded silently. Drop the column (an id?), scale it, "
        "or convert it to text to model it as a category"
    )


def refuse_inexact_integers(name: Any, column: pd.Series) -> None:
    """Raise ``ValueError`` when an integer column holds a value float64 would round."""
    if not pdt.is_integer_dtype(column.dtype) or pdt.is_bool_dtype(column.dtype):
        return
    values = column.dropna()
    if values.empty:
        return
    # compared as Python ints: abs(int64 min) overflows in numpy, uint64 max does not fit int64
    top = max(abs(int(values.min())), abs(int(values.max())))
    if top >= EXACT_INT_LIMIT:
        raise ValueError(inexact_integer_message("", name, float(np.float64(top))))
