"""TabularEncoder: exact round trips, span layout, JSON state, high cardinality, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genbalance.encoders.tabular import TabularEncoder
from genbalance.models.base import OutputSpan

CONTINUOUS = ["bimodal", "small", "with_nan", "huge", "tiny", "constant"]


def mixed_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bimodal = np.where(rng.random(n) < 0.5, rng.normal(-10, 1, n), rng.normal(20, 2, n))
    return pd.DataFrame(
        {
            "bimodal": bimodal,
            "small": rng.normal(0, 1, n).astype("float32"),
            "with_nan": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(5, n)),
            "huge": rng.normal(0, 1, n) * 1e300,
            "tiny": rng.normal(0, 1, n) * 1e-300,
            "constant": np.full(n, 3.25),
            "count": rng.integers(-100, 100, n).astype("int8"),
            "nullable_int": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.integers(0, 1000, n)), dtype="Int64"
            ),
            "whole_floats": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 5, n) * 1.0),
            "flag": rng.random(n) < 0.3,
            "maybe": pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5), "boolean"),
            "size": pd.Categorical(
                rng.choice(["S", "M", "L"], n), categories=["XS", "S", "M", "L"], ordered=True
            ),
            "city": pd.Series(np.where(rng.random(n) < 0.1, None, rng.choice(["ab", "cd"], n))),
            "code": pd.Series(rng.choice(["u", "v", "w"], n), dtype=object),
        }
    )


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return mixed_frame()


@pytest.fixture(scope="module")
def fitted(data) -> TabularEncoder:
    return TabularEncoder(max_modes=5, random_state=0).fit(data)


def assert_round_trip(original: pd.DataFrame, decoded: pd.DataFrame, rel: float = 1e-3) -> None:
    """Same columns/order/dtypes; exact for everything but continuous floats (tight tolerance)."""
    assert list(decoded.columns) == list(original.columns)
    assert decoded.shape == original.shape
    for name in original.columns:
        a, b = original[name], decoded[name]
        assert b.dtype == a.dtype, name
        np.testing.assert_array_equal(a.isna().to_numpy(), b.isna().to_numpy(), err_msg=name)
        # floats beyond 2**53 are all whole numbers, so "integral" says nothing about them
        if a.dtype.kind == "f" and not np.all(
            np.isnan(a) | ((a == np.round(a)) & (np.abs(a) < 2.0**53))
        ):
            x = a.to_numpy(dtype=np.float64)
            y = b.to_numpy(dtype=np.float64)
            span = np.nanmax(x) - np.nanmin(x)
            tol = rel * span if span > 0 else 1e-12 * max(1.0, np.nanmax(np.abs(x)))
            ok = np.isnan(x) | (np.abs(x - y) <= tol)
            assert ok.all(), f"{name}: max error {np.nanmax(np.abs(x - y))} > {tol}"
        else:
            pd.testing.assert_series_equal(b, a, check_names=True)


# --------------------------------------------------------------------------- round trip, layout
def test_round_trip_mixed_frame(data, fitted):
    Z = fitted.transform(data)
    assert Z.dtype == np.float32 and Z.shape == (len(data), fitted.output_dim)
    assert_round_trip(data, fitted.inverse_transform(Z))


def test_spans_cover_output_and_softmax_spans_are_one_hot(data, fitted):
    assert all(isinstance(s, OutputSpan) for s in fitted.spans)
    assert sum(s.size for s in fitted.spans) == fitted.output_dim
    Z = fitted.transform(data)
    start = 0
    for span in fitted.spans:
        block = Z[:, start : start + span.size]
        if span.activation == "softmax":
            assert set(np.unique(block)) <= {0.0, 1.0}
            np.testing.assert_array_equal(block.sum(axis=1), 1.0)
        elif span.activation == "tanh":
            assert block.min() >= -1.0 and block.max() <= 1.0
        else:
            assert span.activation == "sigmoid" and set(np.unique(block)) <= {0.0, 1.0}
        start += span.size
    assert start == fitted.output_dim
    layout = {entry["column"]: entry for entry in fitted.column_layout}
    assert [p["role"] for p in layout["with_nan"]["parts"]] == ["value", "mode", "missing"]
    assert [p["role"] for p in layout["size"]["parts"]] == ["category"]
    assert layout["size"]["stop"] - layout["size"]["start"] == 3  # observed S, M, L
    assert layout["city"]["stop"] - layout["city"]["start"] == 3  # ab, cd, missing


def test_missing_numbers_encode_as_zero_scalar_in_the_most_common_mode(data, fitted):
    entry = next(e for e in fitted.column_layout if e["column"] == "with_nan")
    value, mode, missing = (slice(p["start"], p["stop"]) for p in entry["parts"])
    Z = fitted.transform(data)
    is_nan = data["with_nan"].isna().to_numpy()
    np.testing.assert_array_equal(Z[:, missing][:, 0], is_nan)
    np.testing.assert_array_equal(Z[is_nan, value], 0.0)
    modes = Z[:, mode].argmax(axis=1)
    most_common = np.bincount(modes[~is_nan]).argmax()
    assert (modes[is_nan] == most_common).all()


def test_bimodal_column_gets_two_modes(fitted):
    entry = next(e for e in fitted.column_layout if e["column"] == "bimodal")
    mode = next(p for p in entry["parts"] if p["role"] == "mode")
    assert mode["stop"] - mode["start"] >= 2
    constant = next(e for e in fitted.column_layout if e["column"] == "constant")
    assert constant["stop"] - constant["start"] == 2  # scalar + a single mode


def test_outlier_still_decodes_exactly():
    x = np.append(np.random.default_rng(1).normal(size=999), 1e6)
    df = pd.DataFrame({"x": x})
    enc = TabularEncoder(random_state=0).fit(df)
    assert_round_trip(df, enc.inverse_transform(enc.transform(df)), rel=1e-9)


def test_decoding_generator_output_respects_range_and_types(data, fitted):
    """Random activations (as a generator would emit) decode to valid, in-range values."""
    rng = np.random.default_rng(3)
    parts = []
    for span in fitted.spans:
        raw = rng.normal(0, 3, (500, span.size))
        if span.activation == "tanh":
            parts.append(np.tanh(raw))
        elif span.activation == "sigmoid":
            parts.append(1 / (1 + np.exp(-raw)))
        else:
            parts.append(raw)  # logits: argmax reads them the same as probabilities
    out = fitted.inverse_transform(torch.tensor(np.hstack(parts), dtype=torch.float32))
    assert (out.dtypes == data.dtypes).all()
    for name in ["bimodal", "count", "nullable_int", "with_nan"]:
        assert out[name].min() >= data[name].min() and out[name].max() <= data[name].max()
    assert out["nullable_int"].isna().any() and not out["count"].isna().any()
    assert set(out["city"].dropna()) <= {"ab", "cd"} and out["city"].isna().any()
    assert out["size"].dtype == data["size"].dtype


# --------------------------------------------------------------------------- JSON state
def test_json_round_trip_is_exact(data, fitted):
    state = json.loads(json.dumps(fitted.to_json(), allow_nan=False))
    again = TabularEncoder.from_json(state)
    assert again.spans == fitted.spans and again.output_dim == fitted.output_dim
    assert again.schema == fitted.schema
    Z = fitted.transform(data)
    np.testing.assert_array_equal(again.transform(data), Z)
    pd.testing.assert_frame_equal(
        again.inverse_transform(Z, random_state=5), fitted.inverse_transform(Z, random_state=5)
    )


def test_from_json_refuses_tampered_state(fitted):
    with pytest.raises(ValueError, match="not a genbalance TabularEncoder"):
        TabularEncoder.from_json({"format": "pickle"})
    state = fitted.to_json()
    state["codecs"] = state["codecs"][:-1]
    with pytest.raises(ValueError, match="malformed"):
        TabularEncoder.from_json(state)


# --------------------------------------------------------------------------- high cardinality
def test_high_cardinality_is_grouped_and_bounded():
    rng = np.random.default_rng(0)
    n, k = 20_000, 5000
    weights = 1.0 / np.arange(1, k + 1)
    cities = np.array([f"c{i}" for i in range(k)], dtype=object)
    df = pd.DataFrame(
        {
            "city": cities[rng.choice(k, n, p=weights / weights.sum())],
            "x": rng.normal(size=n),
        }
    )
    n_seen = df["city"].nunique()
    enc = TabularEncoder(max_categories=50, fit_sample_size=500, max_modes=3, random_state=0)
    with pytest.warns(UserWarning, match=rf"column 'city' has {n_seen} categories.*49 most"):
        enc.fit(df)
    city = enc.column_layout[0]
    assert city["stop"] - city["start"] == 50
    assert enc.output_dim <= 50 + 1 + (3 + 1)  # x: scalar + modes (+1 outlier catch-all)
    Z = enc.transform(df)
    out = enc.inverse_transform(Z)
    assert set(out["city"]) <= set(df["city"])
    top = df["city"].value_counts().index[:49]
    kept = df["city"].isin(top)
    pd.testing.assert_series_equal(out["city"][kept], df["city"][kept])
    # "other" rows are drawn from the grouped categories only
    assert not out["city"][~kept].isin(top).any()
    assert out["city"][~kept].nunique() > 100
    # same seed, same draws, also after a JSON round trip
    again = TabularEncoder.from_json(json.loads(json.dumps(enc.to_json())))
    pd.testing.assert_frame_equal(
        again.inverse_transform(Z, random_state=1), enc.inverse_transform(Z, random_state=1)
    )


# --------------------------------------------------------------------------- bad input
def test_unseen_category_is_named(data, fitted):
    bad = data.copy()
    bad.loc[3, "code"] = "zebra"
    with pytest.raises(ValueError, match=r"column 'code'.*not seen at fit: 'zebra'"):
        fitted.transform(bad)


def test_column_mismatch_is_named_and_order_is_fixed(data, fitted):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['flag'\]"):
        fitted.transform(data.drop(columns=["flag"]))
    with pytest.raises(ValueError, match=r"unexpected column\(s\) \['extra'\]"):
        fitted.transform(data.assign(extra=1))
    reordered = data[data.columns[::-1]]
    np.testing.assert_array_equal(fitted.transform(reordered), fitted.transform(data))


def test_missing_values_not_seen_at_fit_are_refused(data, fitted):
    bad = data.copy()
    bad.loc[5, "bimodal"] = np.nan
    with pytest.raises(ValueError, match=r"column 'bimodal' has missing values.*row 5"):
        fitted.transform(bad)


def test_bad_decode_input(fitted):
    with pytest.raises(ValueError, match=r"shape \(n, \d+\)"):
        fitted.inverse_transform(np.zeros((2, fitted.output_dim + 1)))
    Z = np.zeros((2, fitted.output_dim))
    Z[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf.*row 1"):
        fitted.inverse_transform(Z)


def test_bad_parameters_and_unfitted():
    with pytest.raises(ValueError, match="max_categories"):
        TabularEncoder(max_categories=1)
    with pytest.raises(RuntimeError, match="not fitted"):
        TabularEncoder().transform(pd.DataFrame({"a": [1.0]}))


def test_mixed_object_column_decodes_to_strings():
    df = pd.DataFrame({"m": pd.Series(["a", 1.5, None, "a"], dtype=object)})
    enc = TabularEncoder(random_state=0).fit(df)
    out = enc.inverse_transform(enc.transform(df))
    assert out["m"].dtype == object
    assert out["m"].tolist()[:2] == ["a", "1.5"] and pd.isna(out["m"][2])


def test_transform_is_vectorised_on_large_data():
    """Speed sanity (no timing assertion): 200k x 5 numeric encode + decode."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(200_000, 5)), columns=list("abcde"))
    enc = TabularEncoder(max_modes=4, fit_sample_size=1000, random_state=0).fit(df)
    Z = enc.transform(df)
    assert Z.shape == (200_000, enc.output_dim)
    out = enc.inverse_transform(Z)
    assert np.abs(out.to_numpy() - df.to_numpy()).max() < 1e-3 * 10


# --------------------------------------------------------------------------- property test
@st.composite
def random_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 25))
    kinds = draw(
        st.lists(
            st.sampled_from(["float", "float_nan", "int", "str", "bool"]), min_size=1, max_size=5
        )
    )
    columns = {}
    for i, kind in enumerate(kinds):
        if kind in ("float", "float_nan"):
            values = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
            arr = np.array(values, dtype=np.float64)
            if kind == "float_nan":
                arr[np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))] = np.nan
            columns[f"c{i}"] = arr
        elif kind == "int":
            values = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))
            columns[f"c{i}"] = np.array(values, dtype=np.int64)
        elif kind == "str":
            values = draw(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n, max_size=n))
            columns[f"c{i}"] = pd.Series(values, dtype="str")
        else:
            values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            columns[f"c{i}"] = np.array(values, dtype=bool)
    return pd.DataFrame(columns)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_frames())
def test_property_round_trip(df):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray warnings on ordinary data
        enc = TabularEncoder(max_modes=3, random_state=0).fit(df)
    Z = enc.transform(df)
    assert Z.shape == (len(df), enc.output_dim)
    assert_round_trip(df, enc.inverse_transform(Z))
