"""Constraints of real tables through the TabularEncoder and the Synthesizer: ID columns are
regenerated (never a real ID), amounts keep their decimals, values stay in the observed range,
datetimes and dates come back with their dtype, timezone and resolution."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest

import genbalance
from genbalance.data.validation import validate_frame
from genbalance.encoders.identifiers import ID_RANGE, IdCodec, distinct_draws
from genbalance.encoders.tabular import TabularEncoder

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
N = 300


def messy_table(n: int = N, seed: int = 0) -> pd.DataFrame:
    """A shop's orders as they come: keys, money with cents, a bounded percentage, local
    timestamps across a daylight-saving change, birth dates, gaps everywhere."""
    rng = np.random.default_rng(seed)
    gaps = lambda p: rng.random(n) < p  # noqa: E731
    amount = np.round(rng.gamma(2.0, 40.0, n), 2)
    amount[gaps(0.05)] = np.nan
    created = pd.Series(
        pd.Timestamp("2024-03-01", tz="Europe/Paris")
        + pd.to_timedelta(rng.integers(0, 60 * 86_400, n), unit="s")
    )
    created[gaps(0.05)] = pd.NaT
    born = pd.Series(
        [dt.date(1950, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 20_000, n)],
        dtype=object,
    )
    born[gaps(0.05)] = None
    ref = pd.Series([f"ORD-{i:06d}" for i in rng.permutation(n) + 17], dtype=object)
    ref[gaps(0.03)] = None
    return pd.DataFrame(
        {
            "customer_id": (rng.permutation(5 * n)[:n] + 1000).astype(np.int64),
            "order_ref": ref,
            "token": [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)],
            "amount": amount,
            "discount_pct": np.round(rng.beta(2, 5, n) * 100, 1),
            "created": created,
            "day": pd.Series(
                pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D")
            ),
            "birth_date": born,
            "segment": rng.choice(np.array(["retail", "sme", "corp", None], dtype=object), n),
            "items": rng.poisson(3, n),
            "score": rng.normal(size=n),
        }
    )


IDS = ["customer_id", "order_ref", "token"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return messy_table()


@pytest.fixture(scope="module")
def fitted(table) -> TabularEncoder:
    return TabularEncoder(random_state=0).fit(table)


def random_rows(enc: TabularEncoder, n: int, seed: int) -> pd.DataFrame:
    """Decode model-space noise (what an untrained model would emit)."""
    rng = np.random.default_rng(seed)
    return enc.inverse_transform(rng.normal(size=(n, enc.output_dim)) * 2, random_state=seed)


def decimals_of(values: pd.Series) -> int:
    return max(len(repr(float(v)).split(".")[1].rstrip("0")) for v in values.dropna())


# --------------------------------------------------------------------------- detection
def test_the_messy_table_is_understood(fitted):
    kinds = {row["column"]: row["kind"] for row in fitted.constraints()}
    assert kinds == {
        "customer_id": "id",
        "order_ref": "id",
        "token": "id",
        "amount": "continuous",
        "discount_pct": "continuous",
        "created": "datetime",
        "day": "datetime",
        "birth_date": "date",
        "segment": "categorical",
        "items": "integer",
        "score": "continuous",
    }
    assert fitted.id_column_names == IDS
    rows = {row["column"]: row for row in fitted.constraints()}
    assert [rows[c]["id_format"] for c in IDS] == ["integer", "numbered", "template"]
    assert rows["amount"]["decimals"] == 2 and rows["discount_pct"]["decimals"] == 1
    assert rows["score"]["decimals"] is None  # full precision: left alone
    assert rows["created"]["resolution"] == "s" and rows["created"]["timezone"] == "Europe/Paris"
    assert rows["day"]["resolution"] == "D" and rows["birth_date"]["resolution"] == "D"
    assert isinstance(rows["birth_date"]["min"], dt.date)
    layout = {c["column"]: c for c in fitted.column_layout}
    # IDs take no part in the model, except the missing indicator of a column with gaps
    assert layout["customer_id"]["parts"] == [] and layout["order_ref"]["parts"] == [
        {
            "role": "missing",
            "start": layout["order_ref"]["start"],
            "stop": layout["order_ref"]["stop"],
        }
    ]


def test_listing_a_column_as_categorical_keeps_it_out_of_the_id_rule(table):
    enc = TabularEncoder(categorical_features=["order_ref"], max_categories=400).fit(table)
    assert enc.id_column_names == ["customer_id", "token"]
    none = TabularEncoder(id_columns=None, max_categories=400).fit(table.drop(columns=["token"]))
    assert none.id_column_names == []
    assert {c["column"]: c["kind"] for c in none.column_layout}["customer_id"] == "integer"


@pytest.mark.filterwarnings("ignore:column 'order_ref' has")
def test_listed_id_columns_replace_the_rule(table):
    enc = TabularEncoder(id_columns=["token", "items"]).fit(table)
    assert enc.id_column_names == ["token", "items"]  # frame order, only these
    out = random_rows(enc, 200, 1)
    assert not out["items"].isin(table["items"]).any() and out["items"].is_unique


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"id_columns": ["nope"]}, r"id_columns names unknown column\(s\) \['nope'\]"),
        (
            {"id_columns": ["created"]},
            r"column 'created' is listed in id_columns but is a datetime",
        ),
        ({"id_columns": ["score"]}, r"column 'score' is an ID column but has dtype float64"),
        ({"id_columns": ["segment"], "categorical_features": ["segment"]}, r"both id_columns"),
        ({"categorical_features": ["created"]}, r"column 'created' is a datetime column"),
        ({"id_policy": "refuse"}, r"\['customer_id', 'order_ref', 'token'\] hold IDs"),
    ],
)
def test_bad_constraint_options_are_refused_naming_the_column(table, options, message):
    with pytest.raises(ValueError, match=message):
        TabularEncoder(**options).fit(table)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"id_policy": "drop"}, r"id_policy must be one of regenerate, refuse"),
        ({"id_columns": "token"}, r"did you mean \['token'\]"),
        ({"id_columns": [1.5]}, r"entry 1.5 is not a column name"),
        ({"id_columns": ["a", "a"]}, r"lists a column twice"),
        ({"learn_precision": "yes"}, r"learn_precision must be True or False"),
    ],
)
def test_bad_option_values_fail_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        TabularEncoder(**options)


def test_refuse_policy_passes_tables_without_ids(table):
    enc = TabularEncoder(id_policy="refuse").fit(table.drop(columns=IDS))
    assert enc.id_column_names == []


def test_a_table_of_ids_alone_has_nothing_to_model(table):
    with pytest.raises(ValueError, match=r"every column of X is an ID column"):
        TabularEncoder().fit(table[["customer_id", "token"]])


# --------------------------------------------------------------------------- IDs
def test_regenerated_ids_never_equal_a_real_one_and_keep_type_and_format(fitted, table):
    for seed in range(3):
        out = random_rows(fitted, 2000, seed)
        for col in IDS:
            present = out[col].dropna()
            assert not present.isin(table[col].dropna()).any(), col
            assert present.is_unique, col
            assert out[col].dtype == table[col].dtype, col
        assert out["customer_id"].min() > table["customer_id"].max()
        assert out["customer_id"].max() <= table["customer_id"].max() + ID_RANGE
        refs = out["order_ref"].dropna()
        assert refs.str.fullmatch(r"ORD-\d{6,}").all()  # the prefix and the zero-padded width
        assert refs.str[4:].astype(int).min() > 316  # above every real number
        assert out["token"].str.fullmatch(UUID).all()  # random enough: the format is kept


def test_missing_ids_follow_the_missing_indicator(fitted):
    start = {c["column"]: c for c in fitted.column_layout}["order_ref"]["start"]
    Z = np.zeros((10, fitted.output_dim), dtype=np.float32)
    Z[:4, start] = 1.0
    out = fitted.inverse_transform(Z, random_state=0)
    assert out["order_ref"].isna().tolist() == [True] * 4 + [False] * 6
    assert out["customer_id"].notna().all()  # never missing at fit: never missing now


def test_id_formats_that_leave_no_room_grow_by_one_character():
    codes = [f"{a}{d}" for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for d in "0123456789"]
    codec = IdCodec.fit("code", pd.Series(codes))  # every letter and digit used: no marker
    assert codec.fmt["marker"] is None and codec.fmt["longer"]
    new = codec.decode(np.zeros((500, 0)), np.random.default_rng(0))
    assert pd.Series(new).str.fullmatch(r"[A-Z]\d\d").all()
    assert not pd.Series(new).isin(codes).any() and pd.Series(new).is_unique


def test_template_ids_use_a_marker_character_when_one_is_free():
    codes = [f"X{c}{i:03d}" for c, i in zip("ABC" * 40, range(120), strict=True)]
    codec = IdCodec.fit("sku", pd.Series(codes))
    assert codec.mode == "template" and codec.fmt["marker"] == 0
    assert codec.fmt["marker_chars"] == "DEFGHIJKLMNOPQRSTUVWXYZ"  # letters no real SKU uses
    new = pd.Series(codec.decode(np.zeros((300, 0)), np.random.default_rng(1)))
    assert new.str.fullmatch(r"X[A-Z]\d{3}").all()
    assert not new.isin(codes).any() and new.is_unique


def test_integer_ids_near_the_dtype_limit_are_refused_clearly():
    full = pd.Series(np.arange(32_767 - 30, 32_768, dtype=np.int16))
    with pytest.raises(ValueError, match=r"column 'id'.*no room for new IDs"):
        IdCodec.fit("id", full)
    tight = IdCodec.fit("id", full.iloc[:-5])
    with pytest.raises(ValueError, match=r"column 'id': 10 new IDs asked for, but only 5"):
        tight.decode(np.zeros((10, 0)), np.random.default_rng(0))


def test_ids_with_gaps_keep_their_nullable_dtypes():
    frame = pd.DataFrame(
        {
            "row_id": np.where(np.arange(60) % 7 == 0, np.nan, np.arange(60) * 3.0),  # floats
            "account": pd.array([f"AC{i:05d}" if i % 5 else None for i in range(60)], "string"),
            "user_id": pd.array([i if i % 4 else None for i in range(60)], dtype="Int64"),
            "x": np.linspace(0, 1, 60),
        }
    )
    enc = TabularEncoder(id_columns=["row_id", "account", "user_id"], random_state=0).fit(frame)
    Z = np.zeros((200, enc.output_dim), dtype=np.float32)
    Z[::3, [c["parts"][0]["start"] for c in enc.column_layout[:3]]] = 1.0  # every third missing
    out = enc.inverse_transform(Z, random_state=0)
    assert list(out.dtypes) == list(frame.dtypes)
    for col in ["row_id", "account", "user_id"]:
        assert out[col].isna().sum() == 67, col
        present = out[col].dropna()
        assert present.is_unique and not present.isin(frame[col].dropna()).any(), col
    assert (out["row_id"].dropna() % 1 == 0).all() and out["row_id"].min() > 177


def test_distinct_draws_are_distinct_without_allocating_the_range():
    rng = np.random.default_rng(0)
    big = distinct_draws(rng, 10**15, 50_000)
    assert np.unique(big).size == 50_000 and big.min() >= 0 and big.max() < 10**15
    with pytest.raises(ValueError, match="cannot draw 11 distinct values from 10"):
        distinct_draws(rng, 10, 11)


# --------------------------------------------------------------------------- precision, range
def test_round_trip_is_exact_and_amounts_keep_their_cents(fitted, table):
    back = fitted.inverse_transform(fitted.transform(table), random_state=0)
    for col in ["amount", "discount_pct", "items", "segment", "created", "day", "birth_date"]:
        pd.testing.assert_series_equal(back[col], table[col], check_names=True, obj=col)
    np.testing.assert_allclose(back["score"], table["score"], rtol=1e-6)
    out = random_rows(fitted, 1000, 3)
    assert decimals_of(out["amount"]) <= 2 and decimals_of(out["discount_pct"]) <= 1
    assert decimals_of(out["score"]) > 6  # a full-precision column is not rounded


def test_learn_precision_false_keeps_the_raw_decoded_numbers(table):
    enc = TabularEncoder(random_state=0, learn_precision=False).fit(table)
    assert all(r.get("decimals") in (None, 0) for r in enc.constraints())
    assert decimals_of(random_rows(enc, 500, 3)["amount"]) > 2


def test_decoded_values_stay_in_the_observed_range(fitted, table):
    out = random_rows(fitted, 3000, 4)
    for col in ["amount", "discount_pct", "items", "created", "day", "birth_date"]:
        real, fake = table[col].dropna(), out[col].dropna()
        assert fake.min() >= real.min() and fake.max() <= real.max(), col
    assert out["discount_pct"].between(0, 100).all()


def test_clip_to_range_off_lets_values_leave_the_range(table):
    enc = TabularEncoder(random_state=0, clip_to_range=False).fit(table[["amount", "segment"]])
    value, mode = {c["column"]: c for c in enc.column_layout}["amount"]["parts"][:2]
    highs = []
    for m in range(mode["stop"] - mode["start"]):  # +4 sigma of every mode in turn
        Z = np.zeros((1, enc.output_dim), dtype=np.float32)
        Z[0, value["start"]] = 1.0
        Z[0, mode["start"] + m] = 1.0
        highs.append(enc.inverse_transform(Z)["amount"].iloc[0])
    assert max(highs) > table["amount"].max()
    clipped = TabularEncoder(random_state=0).fit(table[["amount", "segment"]])
    Z = np.zeros((len(highs), clipped.output_dim), dtype=np.float32)
    Z[:, value["start"]] = 1.0
    Z[np.arange(len(highs)), mode["start"] + np.arange(len(highs))] = 1.0
    assert clipped.inverse_transform(Z)["amount"].max() <= table["amount"].max()


# --------------------------------------------------------------------------- datetimes
def test_time_columns_keep_dtype_timezone_and_resolution(fitted, table):
    out = random_rows(fitted, 500, 5)
    assert out["created"].dtype == table["created"].dtype  # datetime64[us, Europe/Paris]
    assert (out["created"].dropna().dt.microsecond == 0).all()  # second resolution
    assert out["day"].dtype == table["day"].dtype
    assert (out["day"].dt.normalize() == out["day"]).all()  # a date-only column: midnights
    dates = out["birth_date"].dropna()
    assert out["birth_date"].dtype == object and len(dates) > 0
    assert all(type(v) is dt.date for v in dates)


TIME_CASES = {
    "dst-change": pd.date_range("2021-03-28 00:30", periods=40, freq="20min", tz="Europe/Berlin"),
    "fixed-offset": pd.date_range(
        "2021-01-01", periods=40, freq="7h", tz=dt.timezone(dt.timedelta(hours=-3))
    ),
    "seconds-unit": pd.date_range("1900-01-01", periods=40, freq="37D").as_unit("s"),
    "nanoseconds": pd.to_datetime(np.arange(40, dtype="int64") * 1_500_000_001, unit="ns"),
}


@pytest.mark.parametrize("case", sorted(TIME_CASES))
def test_datetime_columns_round_trip(case):
    frame = pd.DataFrame({"t": pd.Series(TIME_CASES[case]), "x": np.linspace(0, 1, 40)})
    frame.loc[3, "t"] = pd.NaT
    enc = TabularEncoder(random_state=0).fit(frame)
    state = json.loads(json.dumps(enc.to_json()))
    for codec in (enc, TabularEncoder.from_json(state)):
        back = codec.inverse_transform(enc.transform(frame))["t"]
        assert back.dtype == frame["t"].dtype and back.isna().tolist() == frame["t"].isna().tolist()
        if case == "nanoseconds":  # a float32 model space holds ~7 digits: close, not exact
            gap = (back - frame["t"]).dropna().abs().max()
            assert gap < pd.Timedelta(microseconds=10)
        else:
            pd.testing.assert_series_equal(back, frame["t"])


def test_transform_converts_timezones_and_refuses_other_kinds(fitted, table):
    moved = table.copy()
    moved["created"] = moved["created"].dt.tz_convert("UTC")  # the same instants
    np.testing.assert_array_equal(fitted.transform(moved), fitted.transform(table))
    naive = table.copy()
    naive["created"] = naive["created"].dt.tz_localize(None)
    with pytest.raises(ValueError, match=r"column 'created' was timezone-aware"):
        fitted.transform(naive)
    text = table.copy()
    text["birth_date"] = text["birth_date"].astype(str)
    with pytest.raises(ValueError, match=r"column 'birth_date' was a date column"):
        fitted.transform(text)


def test_only_the_encoder_accepts_datetimes():
    frame = pd.DataFrame({"when": pd.date_range("2020", periods=3)})
    with pytest.raises(ValueError, match=r"column 'when' has dtype .*model datetime columns"):
        validate_frame(frame)
    validate_frame(frame, allow_time=True)


# --------------------------------------------------------------------------- saved state
def test_state_round_trips_through_json(fitted, table):
    state = json.loads(json.dumps(fitted.to_json()))
    text = json.dumps(state)
    for col in ["token", "order_ref"]:  # the format is stored, never a real ID
        assert not any(real in text for real in table[col].dropna())
    again = TabularEncoder.from_json(state)
    Z = np.random.default_rng(0).normal(size=(50, fitted.output_dim))
    pd.testing.assert_frame_equal(
        again.inverse_transform(Z, random_state=1), fitted.inverse_transform(Z, random_state=1)
    )
    assert again.constraints() == fitted.constraints()


def test_state_written_before_the_constraints_still_loads(table):
    old_table = table[["amount", "items", "segment", "score"]]
    enc = TabularEncoder(random_state=0).fit(old_table)
    state = json.loads(json.dumps(enc.to_json()))
    for key in ("id_columns", "id_policy", "learn_precision"):
        del state["params"][key]
    for spec in state["schema"]:
        del spec["decimals"]  # files from before learned precision
    old = TabularEncoder.from_json(state)
    Z = np.random.default_rng(0).normal(size=(200, enc.output_dim))
    out = old.inverse_transform(Z, random_state=0)
    assert decimals_of(out["amount"]) > 2  # no precision stored: decoded as before
    assert old.id_columns == "auto" and old.id_policy == "regenerate"


@pytest.mark.parametrize(
    ("column", "edit", "message"),
    [
        ("order_ref", lambda c: c.update(mode="secret"), "ID mode"),
        ("customer_id", lambda c: c.update(high=c["low"] + 10 * ID_RANGE), "out of bounds"),
        ("token", lambda c: c.update(marker=99), "marker"),
        ("token", lambda c: c.update(alphabets=[""] * 36), "no characters"),
        ("created", lambda c: c.update(dtype="complex128"), "not a datetime dtype"),
        ("created", lambda c: c.update(resolution="fortnight"), "resolution"),
        ("birth_date", lambda c: c.update(dtype="datetime64[ns]"), "stored as object"),
    ],
)
def test_tampered_constraint_state_is_refused(fitted, column, edit, message):
    state = json.loads(json.dumps(fitted.to_json()))
    edit(state["codecs"][fitted.columns.index(column)])
    with pytest.raises(ValueError, match=message):
        TabularEncoder.from_json(state)


def test_tampered_decimals_are_refused(fitted):
    state = json.loads(json.dumps(fitted.to_json()))
    state["schema"][fitted.columns.index("amount")]["decimals"] = 40
    with pytest.raises(ValueError, match=r"decimals 40 is not an integer from 0 to 6"):
        TabularEncoder.from_json(state)


# --------------------------------------------------------------------------- the synthesizer
@pytest.fixture(scope="module")
def synth(table):
    y = np.where(np.random.default_rng(1).random(len(table)) < 0.25, "fraud", "ok")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an undertrained model: health warnings
        return genbalance.Synthesizer("vae", epochs=2, random_state=0, progress=False).fit(table, y)


def test_synthesizer_rows_respect_the_constraints(synth, table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = synth.sample(400, y={"fraud": 200, "ok": 200})
    assert list(out.columns) == list(table.columns)
    assert list(out.dtypes) == list(table.dtypes)
    for col in IDS:
        assert not out[col].dropna().isin(table[col].dropna()).any(), col
        assert out[col].dropna().is_unique, col
    assert decimals_of(out["amount"]) <= 2 and decimals_of(out["discount_pct"]) <= 1
    for col in ["amount", "discount_pct", "items", "created", "day", "birth_date"]:
        real, fake = table[col].dropna(), out[col].dropna()
        assert fake.min() >= real.min() and fake.max() <= real.max(), col
    assert str(out["created"].dt.tz) == "Europe/Paris"
    assert all(type(v) is dt.date for v in out["birth_date"].dropna())


def test_synthesizer_file_keeps_the_constraints(synth, table, tmp_path):
    path = tmp_path / "shop.safetensors"
    synth.save(path)
    loaded = genbalance.Synthesizer.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = synth.sample(100, y="ok", random_state=7)
        b = loaded.sample(100, y="ok", random_state=7)
    pd.testing.assert_frame_equal(a, b)
    raw = path.read_bytes()
    for real in table["token"].head(20):
        assert real.encode() not in raw  # no real ID is stored in the model file


def test_synthesizer_refuses_ids_when_asked(table):
    y = np.arange(len(table)) % 2
    s = genbalance.Synthesizer("vae", epochs=1, encoder_options={"id_policy": "refuse"})
    with pytest.raises(ValueError, match=r"hold IDs"):
        s.fit(table, y)
