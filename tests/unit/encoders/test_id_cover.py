"""``format_cover``: a few values of an ID column that give the format of all of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genbalance.encoders.id_cover import format_cover
from genbalance.encoders.identifiers import IdCodec


def _format(values: pd.Series) -> dict:
    fmt = dict(IdCodec.fit("id", values).fmt)
    fmt.pop("counts", None)  # length frequencies are the one thing a cover does not keep
    return fmt


def _chunked_cover(values: pd.Series, size: int) -> pd.Series:
    cover = values.iloc[:0]
    for start in range(0, len(values), size):
        cover = format_cover(pd.concat([cover, values.iloc[start : start + size]]))
    return cover


rng = np.random.default_rng(3)
TEMPLATES = ["".join(rng.choice(list("ABCD12"), 5)) for _ in range(2000)]
TEMPLATES[1500] = "Q" + TEMPLATES[1500][1:]  # one rare character at position 0
CASES = {
    "integer": pd.Series(rng.permutation(10**6)[:3000]),
    "numbered": pd.Series([f"ORD-{i:07d}" for i in rng.permutation(10**6)[:3000]]),
    "numbered_unpadded": pd.Series([f"X{i}" for i in rng.permutation(10**5)[:3000]]),
    "template": pd.Series(list(dict.fromkeys(TEMPLATES))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cover_merged_chunk_by_chunk_gives_the_full_format(case):
    values = CASES[case]
    cover = _chunked_cover(values, 300)
    assert len(cover) < len(values) // 10
    sample = values.sample(50, random_state=0)
    assert _format(pd.concat([sample, cover])) == _format(values)


def test_a_sample_alone_misses_what_the_cover_keeps():
    values = CASES["template"]
    sample = values.drop(index=values.index[values.str.startswith("Q")]).sample(50, random_state=0)
    assert _format(sample) != _format(values)  # the rare character changes the marker
    assert _format(pd.concat([sample, _chunked_cover(values, 300)])) == _format(values)


def test_cover_drops_missing_and_keeps_the_dtype():
    values = pd.Series([3.0, np.nan, 7.0, 5.0])
    cover = format_cover(values)
    assert sorted(cover.tolist()) == [3.0, 7.0] and cover.dtype == values.dtype
    assert format_cover(pd.Series([np.nan, np.nan])).empty
