"""The one ID-detection rule (genbalance.data.identifiers) and the observed-precision rule."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pytest

from genbalance.data.identifiers import (
    MIN_DENSE_VALUES,
    MIN_ID_VALUES,
    code_like,
    id_like_name,
    id_value_kind,
    looks_like_id,
)
from genbalance.data.kinds import MAX_DECIMALS, infer_schema, observed_decimals, time_kind

N = 60
RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "name",
    ["id", "ID", "customer_id", "CustomerID", "userId", "order-uuid", "GUID", "primary_key", "pk"],
)
def test_id_like_names(name):
    assert id_like_name(name)


@pytest.mark.parametrize(
    "name", ["paid", "valid", "fluid", "userid", "identity", "keyboard", "amount", 3, None]
)
def test_names_that_only_contain_the_letters_are_not_id_like(name):
    assert not id_like_name(name)


def test_unique_integers_with_an_id_name_are_ids():
    ids = pd.Series(RNG.permutation(10_000)[:N] + 7, dtype=np.int64)
    assert looks_like_id("customer_id", ids)
    assert looks_like_id("customer_id", ids.astype("Int64"))  # nullable too


def test_unique_integers_without_an_id_name_need_a_dense_range_and_many_rows():
    sparse = pd.Series(RNG.permutation(10**6)[:500])  # unique incomes, say
    assert not looks_like_id("income", sparse)
    index = pd.Series(np.arange(MIN_DENSE_VALUES))  # a saved index column
    assert looks_like_id("Unnamed: 0", index)
    assert not looks_like_id("Unnamed: 0", index.iloc[: MIN_DENSE_VALUES - 1])


def test_a_unique_float_measurement_is_never_an_id():
    measure = pd.Series(RNG.normal(size=N))
    assert measure.is_unique
    assert not looks_like_id("weight", measure)
    assert not looks_like_id("sensor_id", measure)  # even with an ID-like name
    # whole-number floats (an integer key read with NaN) count only when listed
    assert not looks_like_id("row_id", pd.Series(np.arange(N, dtype=float)))
    assert id_value_kind(pd.Series([1.0, np.nan, 3.0])) == "integer"


def test_an_integer_key_read_from_csv_with_a_blank_cell_is_an_id(tmp_path):
    """pandas.read_csv turns an integer column with one blank cell into float64; that column
    is still an ID, and generated rows must not carry its real values."""
    from genbalance.encoders.constraints import find_id_columns

    keys = RNG.permutation(10**6)[:N] + 100_000
    frame = pd.DataFrame({"customer_id": keys, "amount": RNG.normal(size=N).round(2)})
    frame["customer_id"] = frame["customer_id"].astype(object)
    frame.loc[3, "customer_id"] = None
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    read = pd.read_csv(path)
    assert read["customer_id"].dtype == np.float64
    assert looks_like_id("customer_id", read["customer_id"])
    assert find_id_columns(read, "auto", None, {}) == ["customer_id"]
    # a whole-number float column without a blank cell is not flagged: nothing says it was an
    # integer key (and a fractional value anywhere rules it out)
    assert not looks_like_id("customer_id", read["customer_id"].dropna())
    fractional = read["customer_id"].copy()
    fractional.iloc[0] += 0.5
    assert not looks_like_id("customer_id", fractional)


def test_repeated_values_or_few_rows_are_not_ids():
    repeated = pd.Series(np.r_[np.arange(N - 1), 0])
    assert not looks_like_id("id", repeated)
    few = pd.Series(np.arange(MIN_ID_VALUES - 1))
    assert not looks_like_id("id", few)
    assert looks_like_id("id", pd.Series(np.arange(MIN_ID_VALUES)))


def test_text_codes_are_ids_but_words_dates_and_numbers_are_not():
    codes = pd.Series([f"AB{i:04d}X" for i in range(N)])
    uuids = pd.Series([str(uuid.UUID(int=int(v))) for v in RNG.integers(2**62, size=N)])
    assert looks_like_id("code", codes) and looks_like_id("token", uuids)
    hashes = pd.Series([f"{v:016x}" for v in RNG.integers(0, 2**62, size=2000)])
    assert looks_like_id("h", hashes)  # a few hashes are all digits: still codes
    words = pd.Series([f"country{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(N)])
    assert not looks_like_id("country", words)  # no digit: a word, not a code
    sentences = pd.Series([f"note {i} about row" for i in range(N)])
    assert not looks_like_id("comment", sentences)  # whitespace
    stamps = pd.Series(pd.date_range("2024-01-01", periods=N, freq="h").strftime("%Y-%m-%dT%H:%MZ"))
    assert not code_like(stamps) and not looks_like_id("when", stamps)
    prices = pd.Series([f"{v:.2f}" for v in np.linspace(1, 99, N)])
    assert not looks_like_id("price", prices)  # no letter
    assert looks_like_id("order_id", prices.str.replace(".", "", regex=False))  # named


def test_booleans_categories_and_mixed_objects_cannot_be_ids():
    assert id_value_kind(pd.Series([True, False])) is None
    assert id_value_kind(pd.Series(pd.Categorical(["a", "b"]))) is None
    assert id_value_kind(pd.Series(["a", 1], dtype=object)) is None
    assert id_value_kind(pd.Series([1.5, 2.0])) is None
    assert id_value_kind(pd.Series(["a", None, "b"], dtype=object)) == "text"


# --------------------------------------------------------------------------- precision
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([12.5, 3.25, 100.0], 2),
        ([0.1 + 0.2, 0.7], 1),  # float noise of a sum still reads as one decimal
        ([1.0, 2.0], 0),
        ([19.99, np.nan, 5.0], 2),  # missing values are ignored
        ([1e-9, 2e-9], None),  # tiny measurements are not rounded to 0
        ([5e-324, 1e-320, 0.0], None),  # subnormals neither
        ([0.1234567], None),  # finer than MAX_DECIMALS
        ([np.nan], None),
    ],
)
def test_observed_decimals(values, expected):
    assert observed_decimals(np.array(values)) == expected


def test_observed_decimals_in_float32_precision():
    values = np.array([0.1, 2.25, 7.5], dtype=np.float32)
    assert observed_decimals(values.astype(np.float64), values.dtype) == 2
    assert MAX_DECIMALS == 6


def test_continuous_specs_record_their_precision():
    frame = pd.DataFrame(
        {
            "amount": [12.5, 3.99, np.nan, 100.01],
            "whole": [1.0, 2.0, 3.0, 4.0],
            "x": RNG.normal(size=4),
        }
    )
    amount, whole, x = infer_schema(frame)
    assert amount.decimals == 2 and amount.kind.value == "continuous"
    assert whole.kind.value == "integer" and whole.decimals is None  # rounded as integers
    assert x.decimals is None


def test_time_kind():
    stamps = pd.Series(pd.date_range("2024-01-01", periods=3, tz="UTC"))
    assert time_kind(stamps) == "datetime"
    assert time_kind(stamps.dt.tz_localize(None)) == "datetime"
    dates = pd.Series([dt.date(2024, 1, 1), None], dtype=object)
    assert time_kind(dates) == "date"
    mixed = pd.Series([dt.date(2024, 1, 1), dt.datetime(2024, 1, 1)], dtype=object)
    assert time_kind(mixed) is None  # not a date-only column
    assert time_kind(pd.Series(["2024-01-01"])) is None
