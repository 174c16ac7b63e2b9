"""Datetime and date columns, modelled as whole numbers of their resolution since the epoch.

At fit a :class:`TimeFormat` learns, per column:

- its kind: ``"datetime"`` (a ``datetime64`` column, naive or timezone-aware) or ``"date"`` (an
  object column of ``datetime.date`` values);
- its dtype, as given (``datetime64[ns]``, ``datetime64[us, Europe/Paris]``, ``object``), which
  fixes the storage unit (s, ms, us or ns; days for dates) and the timezone;
- its resolution: the coarsest of day, hour, minute, second, millisecond, microsecond and
  nanosecond that every value is a whole multiple of, measured on local wall-clock time for a
  timezone-aware column, so that a column of local midnights is a day column.

The model sees the local wall-clock time as a count of that resolution since 1970-01-01, an
ordinary numeric column (mixture modes, missing indicator, observed range). Decoding rounds to
whole counts, so times come back on the learned grid, and rebuilds the dtype: the same unit and
timezone (wall-clock times that a daylight-saving change skips are moved forward, repeated ones
read as standard time), or ``datetime.date`` objects (``None`` where missing) for date columns.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.data.kinds import time_kind
from genbalance.encoders.numeric import NumericCodec
from genbalance.spans import OutputSpan

__all__ = ["RESOLUTIONS", "TIME_KINDS", "DatetimeCodec", "TimeFormat"]

#: resolutions a time column can have, coarsest first
RESOLUTIONS = ("D", "h", "m", "s", "ms", "us", "ns")
TIME_KINDS = ("datetime", "date")
_NS = {
    "D": 86_400 * 10**9,
    "h": 3_600 * 10**9,
    "m": 60 * 10**9,
    "s": 10**9,
    "ms": 10**6,
    "us": 10**3,
    "ns": 1,
}
_STORAGE_UNITS = ("s", "ms", "us", "ns")
_INT64_SAFE = float(2**62)  # decoded counts are clipped well inside int64
_DATE_DAYS = (-719_162.0, 2_932_896.0)  # 0001-01-01 and 9999-12-31: what datetime.date holds


class TimeFormat:
    """How one time column is turned into numbers and back (see the module docstring)."""

    def __init__(self, name: Any, kind: str, dtype: str, resolution: str) -> None:
        self.name = name
        self.kind = kind
        self.dtype = dtype
        self.resolution = resolution
        self.pandas_dtype = None if kind == "date" else pdt.pandas_dtype(dtype)
        self.tz = getattr(self.pandas_dtype, "tz", None)
        self.unit = "D" if kind == "date" else _unit_of(self.pandas_dtype)
        self.factor = _NS[resolution] // _NS[self.unit]

    @classmethod
    def fit(cls, name: Any, series: pd.Series) -> TimeFormat:
        """Kind, dtype and resolution of ``series`` (a column :func:`time_kind` recognised)."""
        kind = time_kind(series)
        if kind is None:
            raise ValueError(f"column {name!r} is not a datetime or date column")
        dtype = "object" if kind == "date" else str(series.dtype)
        if kind == "datetime":
            try:
                rebuilt = pdt.pandas_dtype(dtype)
            except (TypeError, ValueError):
                rebuilt = None
            if rebuilt != series.dtype or _unit_of(series.dtype) not in _STORAGE_UNITS:
                raise ValueError(
                    f"column {name!r} has dtype {series.dtype}, whose timezone or unit cannot be "
                    "stored; convert it first, e.g. X[col].dt.tz_convert('UTC')"
                )
        probe = cls(name, kind, dtype, "D" if kind == "date" else _unit_of(series.dtype))
        ticks, missing = probe.ticks(series)
        ticks = ticks[~missing]
        resolution = probe.resolution
        for candidate in RESOLUTIONS:
            step = _NS[candidate] // _NS[probe.unit] if _NS[candidate] >= _NS[probe.unit] else 0
            if step and bool(np.all(ticks % step == 0)):
                resolution = candidate
                break
        return cls(name, kind, dtype, resolution)

    # ------------------------------------------------------------------ to numbers
    def ticks(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Wall-clock int64 counts of the storage unit since the epoch, and a missing mask;
        refuses a column whose kind or timezone differs from fit, naming it."""
        name = self.name
        missing = series.isna().to_numpy()
        if self.kind == "date":
            return _date_ticks(name, series, missing), missing
        if not pdt.is_datetime64_any_dtype(series.dtype):
            raise ValueError(
                f"column {name!r} was a datetime column ({self.dtype}) at fit but now has dtype "
                f"{series.dtype}; pass datetimes (e.g. pd.to_datetime(X[col]))"
            )
        aware = getattr(series.dtype, "tz", None) is not None
        if aware != (self.tz is not None):
            raise ValueError(
                f"column {name!r} was {'timezone-aware' if self.tz else 'naive'} ({self.dtype}) at "
                f"fit but now has dtype {series.dtype}; localize or convert it to match"
            )
        if aware:
            series = series.dt.tz_convert(self.tz).dt.tz_localize(None)
        try:
            series = series.dt.as_unit(self.unit)
        except (OverflowError, ValueError) as exc:
            raise ValueError(
                f"column {name!r} cannot be held in unit {self.unit!r}: {exc}"
            ) from None
        ticks = series.to_numpy(dtype=f"datetime64[{self.unit}]").view(np.int64).copy()
        ticks[missing] = 0
        return ticks, missing

    def to_units(self, series: pd.Series) -> np.ndarray:
        """The column as float64 counts of its resolution since the epoch (NaN = missing)."""
        ticks, missing = self.ticks(series)
        units = np.floor_divide(ticks, self.factor).astype(np.float64)
        units[missing] = np.nan
        return units

    # ------------------------------------------------------------------ back
    def from_units(self, units: np.ndarray) -> Any:
        """Decoded counts (float64, NaN = missing) as the column's original dtype."""
        missing = np.isnan(units)
        low, high = _DATE_DAYS if self.kind == "date" else (-_INT64_SAFE, _INT64_SAFE)
        low, high = low / self.factor, high / self.factor
        counts = np.round(np.clip(np.where(missing, 0.0, units), low, high)).astype(np.int64)
        ticks = counts * self.factor
        if self.kind == "date":
            days = ticks.view("datetime64[D]").copy()
            days[missing] = np.datetime64("NaT")
            return pd.Series(days.astype(object), dtype=object)
        stamps = ticks.view(f"datetime64[{self.unit}]").copy()
        stamps[missing] = np.datetime64("NaT")
        out = pd.Series(stamps)
        if self.tz is not None:
            out = out.dt.tz_localize(
                self.tz, ambiguous=np.zeros(len(out), dtype=bool), nonexistent="shift_forward"
            )
        return out.astype(self.pandas_dtype).array

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype, "resolution": self.resolution}

    @classmethod
    def from_json(cls, name: Any, d: dict[str, Any]) -> TimeFormat:
        """A stored time format, checked: a known kind and resolution, and a datetime dtype
        (with a storage unit no finer than the resolution) or ``object`` for dates."""
        kind, dtype, resolution = d["kind"], d["dtype"], d["resolution"]
        if kind not in TIME_KINDS:
            raise ValueError(f"column {name!r}: time kind {kind!r} is not one of {TIME_KINDS}")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"column {name!r}: resolution {resolution!r} not in {RESOLUTIONS}")
        if not isinstance(dtype, str) or not 0 < len(dtype) <= 64:
            raise ValueError(f"column {name!r}: time dtype {dtype!r} is not a dtype name")
        if kind == "date":
            if dtype != "object" or resolution != "D":
                raise ValueError(f"column {name!r}: a date column is stored as object, by day")
            return cls(name, kind, dtype, resolution)
        try:
            parsed = pdt.pandas_dtype(dtype)
        except (TypeError, ValueError):
            raise ValueError(f"column {name!r}: {dtype!r} is not a datetime dtype") from None
        if not pdt.is_datetime64_any_dtype(parsed) or _unit_of(parsed) not in _STORAGE_UNITS:
            raise ValueError(
                f"column {name!r}: {dtype!r} is not a datetime dtype genbalance writes"
            )
        if _NS[resolution] < _NS[_unit_of(parsed)]:
            raise ValueError(f"column {name!r}: resolution {resolution!r} is finer than {dtype}")
        return cls(name, kind, dtype, resolution)


class DatetimeCodec:
    """A time column: a :class:`NumericCodec` over its counts, and the :class:`TimeFormat`
    that turns them back into datetimes or dates."""

    def __init__(self, fmt: TimeFormat, numeric: NumericCodec) -> None:
        self.format = fmt
        self.numeric = numeric
        self.spec = numeric.spec

    @property
    def kind(self) -> str:
        """``"datetime"`` or ``"date"`` (the kind ``column_layout`` reports)."""
        return self.format.kind

    def spans(self) -> list[OutputSpan]:
        return self.numeric.spans()

    def parts(self) -> list[str]:
        return self.numeric.parts()

    def encode(self, series: pd.Series, out: np.ndarray) -> None:
        """Write the encoding of the column's counts into ``out``."""
        self.numeric.encode(pd.Series(self.format.to_units(series), name=series.name), out)

    def decode(self, block: np.ndarray, clip_to_range: bool) -> Any:
        """The column from its encoded block, in its original dtype."""
        units = np.asarray(self.numeric.decode(block, clip_to_range), dtype=np.float64)
        return self.format.from_units(units)

    def to_json(self) -> dict[str, Any]:
        return {"type": "datetime", **self.format.to_json(), "numeric": self.numeric.to_json()}

    @classmethod
    def from_json(cls, spec: Any, d: dict[str, Any]) -> DatetimeCodec:
        """The codec saved by :meth:`to_json`; the numbers' spec must be float64."""
        if spec.dtype != "float64":
            raise ValueError(f"column {spec.name!r}: a time column's counts are float64")
        return cls(TimeFormat.from_json(spec.name, d), NumericCodec.from_json(spec, d["numeric"]))


def _unit_of(dtype: Any) -> str:
    """The storage unit of a datetime64 dtype (naive or timezone-aware)."""
    unit = getattr(dtype, "unit", None)
    if unit is None:
        unit = np.datetime_data(np.dtype(dtype))[0]
    return str(unit)


def _date_ticks(name: Any, series: pd.Series, missing: np.ndarray) -> np.ndarray:
    """Days since the epoch of a column of ``datetime.date`` values (0 where missing)."""
    values = series.to_numpy(dtype=object)[~missing]
    bad = [
        v for v in values if not isinstance(v, datetime.date) or isinstance(v, datetime.datetime)
    ]
    if bad:
        raise ValueError(
            f"column {name!r} was a date column at fit but holds {type(bad[0]).__name__} values "
            f"(e.g. {bad[0]!r}); pass datetime.date values"
        )
    ticks = np.zeros(missing.size, dtype=np.int64)
    ticks[~missing] = np.array(list(values), dtype="datetime64[D]").view(np.int64)
    return ticks
