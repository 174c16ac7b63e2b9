"""The few values of an ID column that fix its format: a streamed fit learns it from all rows.

:class:`~genbalance.encoders.identifiers.IdCodec` learns an ID column's format (its range, prefix,
lengths and characters) so that new IDs never equal a real one. A streamed fit sees only a
sample, so the codec is fitted on the sample plus a *cover* of the whole file, built chunk by
chunk here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genbalance.data.identifiers import id_value_kind

__all__ = ["format_cover"]


def format_cover(values: pd.Series) -> pd.Series:
    """The few values of an ID column that :meth:`IdCodec.fit` learns the same format from.

    A streamed fit sees a sample of the file, and new IDs must avoid every real one, not only
    the sampled ones: the format is learnt from the sample plus this cover of the whole file.
    For integers: the smallest and the largest. For text: the smallest and largest string
    (which fix the common prefix), one value per length, one per (position, character), and
    the one with the largest trailing number; only the length frequencies differ from those
    of all values. Covers merge: ``format_cover(concat([format_cover(a), format_cover(b)]))``
    covers ``a`` and ``b``, so a file is covered chunk by chunk. Missing values are dropped.
    """
    present = values.dropna().reset_index(drop=True)  # merged covers repeat index labels
    if present.empty or id_value_kind(present) == "integer":
        if present.empty:
            return present
        order = present.to_numpy(dtype=np.float64).argsort(kind="stable")
        return present.iloc[[int(order[0]), int(order[-1])]]
    text = present.astype(str)
    keep = {text.idxmin(), text.idxmax()}
    lengths = text.str.len()
    keep.update(lengths.drop_duplicates().index)
    for pos in range(int(lengths.max())):
        chars = text.str[pos]
        chars = chars[lengths > pos]
        keep.update(chars.drop_duplicates().index)
    tail = text.str.extract(r"(\d+)$", expand=False).str.lstrip("0").fillna("")
    keep.add((tail.str.len().astype(str).str.zfill(4) + tail).idxmax())
    return present[present.index.isin(list(keep))]
