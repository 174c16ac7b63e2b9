"""The one categorical-detection rule and the one "same columns" check, and their homes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import genbalance.schema as schema
from genbalance.data import kinds, restore, validation
from genbalance.data.kinds import categorical_by_default, dtype_family, resolve_categorical
from genbalance.data.validation import check_columns

PLAIN = {
    "float64": (np.arange(4, dtype=float), False),
    "float32": (np.arange(4, dtype=np.float32), False),
    "int8": (np.arange(4, dtype=np.int8), False),
    "uint64": (np.arange(4, dtype=np.uint64), False),
    "Int64": (pd.array([1, None, 3, 4], dtype="Int64"), False),
    "Float64": (pd.array([1.5, None, 3, 4], dtype="Float64"), False),
    "bool": (np.array([True, False, True, False]), True),
    "boolean": (pd.array([True, None, False, True], dtype="boolean"), True),
    "object": (pd.Series(list("abca"), dtype=object), True),
    "string": (pd.Series(list("abca"), dtype="string"), True),
    "category": (pd.Categorical([1, 2, 1, 2]), True),
}
REFUSED = {
    "datetime": pd.Series(pd.date_range("2020", periods=4)),
    "timedelta": pd.Series(pd.to_timedelta(np.arange(4), unit="s")),
    "complex": pd.Series(np.arange(4) * (1 + 1j)),
    "period": pd.Series(pd.period_range("2020", periods=4, freq="D")),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_categorical_by_default_on_supported_dtypes(name):
    values, expected = PLAIN[name]
    series = pd.Series(values)
    assert categorical_by_default(series.dtype) is expected
    # resolve_categorical (the encoder's and the metrics' mask) applies exactly this rule
    assert resolve_categorical(pd.DataFrame({"c": series})) == [expected]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_categorical_by_default_leaves_unsupported_dtypes_to_the_caller(name):
    frame = pd.DataFrame({"c": REFUSED[name]})
    assert categorical_by_default(frame["c"].dtype) is None
    with pytest.raises(ValueError, match=r"column 'c' has dtype .* cannot model"):
        resolve_categorical(frame)
    with pytest.raises(ValueError, match=r"column 'c' has dtype"):
        dtype_family("c", frame["c"].dtype)


def test_integers_stay_numeric_however_few_values():
    frame = pd.DataFrame({"flag01": [0, 1, 0, 1], "text": list("abab")})
    assert resolve_categorical(frame) == [False, True]
    assert resolve_categorical(frame, ["flag01"]) == [True, True]


# --------------------------------------------------------------------------- same columns
def test_check_columns_names_missing_and_unexpected_columns():
    frame = pd.DataFrame({"a": [1], "z": [2]})
    check_columns(frame, ["z", "a"])  # order does not matter
    with pytest.raises(
        ValueError,
        match=r"^X does not have the columns of the fit table: missing column\(s\) \['b'\]; "
        r"unexpected column\(s\) \['z'\]$",
    ):
        check_columns(frame, ["a", "b"], "X", "the fit table")


def test_check_columns_allow_extra_and_long_lists():
    frame = pd.DataFrame({f"c{i}": [0] for i in range(15)})
    check_columns(frame, ["c0", "c1"], allow_extra=True)
    with pytest.raises(ValueError, match=r"missing column\(s\) \[.*\] \(and 2 more\)$"):
        check_columns(frame.iloc[:, :3], list(frame.columns), allow_extra=True)


def test_restore_output_uses_the_same_check():
    frame, origin = schema.as_frame(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['b'\]"):
        schema.restore_output(frame[["a"]], origin)
    out = schema.restore_output(frame.assign(extra=3), origin)  # extra columns are dropped
    assert list(out.columns) == ["a", "b"]


# --------------------------------------------------------------------------- homes
def test_schema_reexports_the_new_homes():
    homes = {n: m for m in (kinds, validation, restore) for n in m.__all__}
    for name in schema.__all__:
        assert getattr(schema, name) is getattr(homes[name], name), name
