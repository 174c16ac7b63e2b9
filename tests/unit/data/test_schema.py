"""Input validation: every bad input is refused with a message naming what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genbalance.schema import (
    ColumnKind,
    ColumnSpec,
    as_frame,
    check_X_y,
    infer_schema,
    resolve_categorical,
    restore_labels,
    restore_output,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "num": [0.5, 1.5, np.nan, 3.0],
            "count": np.array([1, 2, 2, 3], dtype="int16"),
            "flag": [True, False, True, True],
            "color": pd.Series(["red", "blue", None, "red"]),
            "size": pd.Categorical(["S", "M", "S", "L"], categories=["S", "M", "L", "XL"]),
        }
    )


# --------------------------------------------------------------------------- resolve_categorical
def test_auto_detects_text_category_bool_but_not_integers(frame):
    assert resolve_categorical(frame, "auto") == [False, False, True, True, True]
    assert resolve_categorical(frame, None) == [False, False, True, True, True]


def test_names_positions_and_mask_add_numeric_columns(frame):
    expected = [False, True, True, True, True]
    assert resolve_categorical(frame, ["count"]) == expected
    assert resolve_categorical(frame, [1]) == expected
    assert resolve_categorical(frame, np.array([1])) == expected
    assert resolve_categorical(frame, [False, True, False, False, False]) == expected
    assert resolve_categorical(frame, []) == [False, False, True, True, True]


def test_unknown_name_is_named(frame):
    with pytest.raises(ValueError, match=r"unknown column.*'colour'.*'color'"):
        resolve_categorical(frame, ["colour"])


def test_position_out_of_range_is_named(frame):
    with pytest.raises(ValueError, match=r"position 7.*5 columns"):
        resolve_categorical(frame, [0, 7])
    with pytest.raises(ValueError, match=r"position -1"):
        resolve_categorical(frame, [-1])


def test_mask_of_wrong_length(frame):
    with pytest.raises(ValueError, match=r"boolean mask of length 2 but X has 5 columns"):
        resolve_categorical(frame, [True, False])


def test_mixed_entry_types(frame):
    with pytest.raises(ValueError, match=r"mixes entry types.*names.*positions"):
        resolve_categorical(frame, ["color", 1])


def test_bare_string_suggests_a_list(frame):
    with pytest.raises(ValueError, match=r"did you mean \['color'\]"):
        resolve_categorical(frame, "color")


# --------------------------------------------------------------------------- infer_schema
def test_infer_schema_kinds_and_facts(frame):
    specs = {s.name: s for s in infer_schema(frame)}
    assert specs["num"].kind == ColumnKind.continuous
    assert specs["num"].has_missing and (specs["num"].min, specs["num"].max) == (0.5, 3.0)
    assert specs["count"].kind == ColumnKind.integer and specs["count"].dtype == "int16"
    assert (specs["count"].min, specs["count"].max) == (1, 3)
    assert specs["flag"].kind == ColumnKind.boolean and specs["flag"].categories == [False, True]
    assert specs["color"].kind == ColumnKind.categorical
    assert specs["color"].categories == ["blue", "red"] and specs["color"].has_missing
    size = specs["size"]
    assert size.categories == ["S", "M", "L"]  # observed, in the dtype's order
    assert size.category_order == ["S", "M", "L", "XL"]
    assert size.pandas_dtype() == frame["size"].dtype


def test_whole_float_column_is_integer_kind_but_keeps_dtype():
    spec = infer_schema(pd.DataFrame({"a": [1.0, np.nan, 3.0]}))[0]
    assert spec.kind == ColumnKind.integer and spec.dtype == "float64" and spec.has_missing


def test_mixed_object_column_becomes_strings():
    df = pd.DataFrame({"m": pd.Series(["a", 1.5, None, 2], dtype=object)})
    spec = infer_schema(df)[0]
    assert spec.kind == ColumnKind.categorical and spec.cast_to_str
    assert spec.categories == ["1.5", "2", "a"] and spec.has_missing


def test_specs_are_plain_json(frame):
    for spec in infer_schema(frame, ["count"]):
        text = json.dumps(spec.to_json())
        assert ColumnSpec.from_json(json.loads(text)) == spec


def test_datetime_column_is_refused_by_name():
    df = pd.DataFrame({"when": pd.to_datetime(["2020-01-01", "2021-01-01"])})
    with pytest.raises(ValueError, match=r"column 'when' has dtype datetime64"):
        infer_schema(df)


# --------------------------------------------------------------------------- as_frame / restore
def test_numpy_round_trip_keeps_dtype():
    arr = np.arange(12, dtype=np.int32).reshape(4, 3)
    df, origin = as_frame(arr)
    assert list(df.columns) == ["x0", "x1", "x2"]
    back = restore_output(df, origin)
    assert isinstance(back, np.ndarray) and back.dtype == np.int32
    np.testing.assert_array_equal(back, arr)


def test_dataframe_round_trip_keeps_labels_order_dtypes(frame):
    odd = frame.rename(columns={"num": 7})
    df, origin = as_frame(odd)
    assert list(df.columns) == ["7", "count", "flag", "color", "size"]
    back = restore_output(df[df.columns[::-1]], origin)
    pd.testing.assert_frame_equal(back, odd)


def test_list_of_rows_reads_each_column():
    df, origin = as_frame([[1, "a"], [2, "b"]])
    assert df["x0"].dtype == np.int64 and df["x1"].tolist() == ["a", "b"]
    assert isinstance(restore_output(df, origin), np.ndarray)


# --------------------------------------------------------------------------- check_X_y
def test_check_X_y_accepts_nan_features_and_keeps_labels(frame):
    X, y, origin = check_X_y(frame, pd.Series(["a", "b", "a", "a"], name="target"))
    assert X.shape == (4, 5) and list(y) == ["a", "b", "a", "a"]
    back = restore_labels(y, origin)
    assert isinstance(back, pd.Series) and back.name == "target"
    _, y2, _ = check_X_y(np.ones((3, 2)), [0, 1, 1])
    assert y2.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("X", "y", "pattern"),
    [
        (np.ones((4, 2)), [0, 1, 0], r"X has 4 rows but y has 3 labels"),
        (np.ones((0, 2)), [], r"empty.*\(0, 2\)"),
        (np.ones((3, 0)), [0, 1, 0], r"empty.*\(3, 0\)"),
        (np.ones(4), [0, 1, 0, 1], r"2-D.*1-D.*reshape\(-1, 1\)"),
        (np.ones((4, 2, 2)), [0, 1, 0, 1], r"2-D.*3-D.*\(4, 2, 2\)"),
        (pd.Series([1.0, 2.0]), [0, 1], r"2-D.*Series"),
        (np.ones((3, 2)), [0, None, 1], r"y has 1 missing label.*rows \[1\]"),
        (np.ones((3, 2)), [0.0, np.nan, 1.0], r"y has 1 missing label"),
        (np.ones((3, 2)), ["cat", "cat", "cat"], r"only one class \('cat'\)"),
        (np.ones((3, 2)), np.ones((3, 2)), r"y must be 1-D"),
    ],
)
def test_check_X_y_refuses(X, y, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_X_y(X, y)


def test_duplicate_column_names_are_named():
    X = pd.DataFrame(np.ones((3, 3)), columns=["a", "b", "a"])
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        check_X_y(X, [0, 1, 0])


def test_infinity_names_column_and_row():
    X = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "bad": [1.0, 2.0, -np.inf]}, index=[10, 11, 12])
    with pytest.raises(ValueError, match=r"column 'bad'.*row 2 \(index 12\)"):
        check_X_y(X, [0, 1, 0])
    with pytest.raises(ValueError, match=r"column 'x1'.*row 0"):
        check_X_y(np.array([[1.0, np.inf], [2.0, 3.0]]), [0, 1])
