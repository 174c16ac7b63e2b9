"""ID columns through ``Synthesizer.fit_file``: detected as in memory, regenerated, never real.

The streamed encoder is fitted on a sample; the IDs it must avoid are those of the whole file,
so the tables here are bigger than the sample and hold their largest IDs (and a rare
character) outside it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from genbalance import Synthesizer


@pytest.fixture(scope="module")
def id_table(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 1500
    tokens = ["".join(rng.choice(list("ABCDEF0123"), 7)) for _ in range(n)]
    tokens[-1] = "Z" + tokens[-1][1:]  # a character only the last row has
    df = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),  # the largest IDs come last in the file
            "code": [f"C-{i:05d}" for i in range(n)],
            "token": tokens,
            "x": rng.normal(size=n).round(2),
            "y": np.where(np.arange(n) % 7 == 0, "rare", "common"),
        }
    ).drop_duplicates("token")
    path = tmp_path_factory.mktemp("stream_ids") / "ids.csv"
    df.to_csv(path, index=False)
    return path, df


def _fit(**options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(epochs=1, random_state=0, progress=False, **options)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streamed_ids_are_detected_like_in_memory_and_never_real(id_table, tmp_path, suffix):
    path, df = id_table
    if suffix == ".parquet":
        path = tmp_path / "ids.parquet"
        df.to_parquet(path, index=False)
    memory = _fit().fit(df.drop(columns="y"), df["y"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        streamed = _fit(encoder_options={"fit_sample_size": 100}).fit_file(
            path, "y", chunk_rows=400
        )
    assert streamed.encoder_.id_column_names == memory.encoder_.id_column_names
    assert streamed.encoder_.id_column_names == ["customer_id", "code", "token"]
    rows = streamed.sample(3000, random_state=1)
    for col in ("customer_id", "code", "token"):
        assert not rows[col].isin(set(df[col])).any(), col  # not one real ID
        assert rows[col].is_unique, col
    assert rows["customer_id"].min() > df["customer_id"].max()  # above the file's largest ID


def test_streamed_refuse_policy_names_the_id_columns(id_table):
    path, _ = id_table
    synth = _fit(encoder_options={"id_policy": "refuse", "fit_sample_size": 100})
    with pytest.raises(ValueError, match="customer_id"):
        synth.fit_file(path, "y", chunk_rows=400)


def test_streamed_ids_off_models_them_as_columns(id_table):
    path, _ = id_table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = _fit(encoder_options={"id_columns": None}).fit_file(path, "y", chunk_rows=400)
    assert synth.encoder_.id_column_names == []
