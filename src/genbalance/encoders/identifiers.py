"""ID columns are regenerated, never modelled: new unique values that never equal a real ID.

An ID column takes no part in the model (only its missing indicator does, when it had missing
values); decoding draws fresh values of the same type and a similar format, in one of three
modes learned at fit:

- ``"integer"`` (integer dtypes, or whole-number floats listed in ``id_columns``): integers
  drawn from a fresh range above the largest real ID, :data:`ID_RANGE` wide (capped by the
  dtype), so no generated ID equals a real one;
- ``"numbered"`` (text: a common prefix and then digits, ``"CUST-000123"``): the same prefix,
  then a number above the largest real one, zero-padded to the real width when the real values
  were, so again never a real ID;
- ``"template"`` (any other text, e.g. UUIDs, hashes, ``"AB-12X"`` codes): the common prefix,
  then per position a character drawn from the characters the real IDs use there, with a
  length drawn from the real lengths. A format with at least 64 bits of randomness (UUIDs,
  hashes) is kept exactly: a match with a real ID has odds below ``n_real * n_new / 2**64``,
  and an encoder fitted in this process also checks the real values it still holds in memory.
  A less random format is kept apart from the real IDs by a *marker*: at the first position
  where the real IDs leave a character of the same class unused (a digit, a hex digit, a
  capital letter, ...) the generated IDs take only unused ones; with no such position they get
  one character more than any real ID; neither can equal a real ID, by construction.

Values are unique within one decode; separate calls draw independently from the same space.
The saved state holds the format (prefix, widths, per-position character sets, the largest
number) but never a real ID.
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from genbalance.data.identifiers import id_value_kind
from genbalance.data.kinds import ColumnKind, ColumnSpec
from genbalance.encoders.dtypes import nullable_dtype, to_category_dtype
from genbalance.spans import OutputSpan

__all__ = ["ID_MODES", "ID_RANGE", "MAX_ID_LENGTH", "IdCodec", "distinct_draws"]

#: how many fresh integers (or numbers after a prefix) a column's new IDs are drawn from
ID_RANGE = 10**9
#: the longest text ID the encoder regenerates (and the longest format a model file may hold)
MAX_ID_LENGTH = 256
ID_MODES = ("integer", "numbered", "template")
_MAX_NUMBER_DIGITS = 18  # digit runs up to this long are numbers; longer ones are templates
_MAX_EXACT_INT = 2**53
_ENTROPY_BITS = 64.0  # a template this random needs no marker
_REDRAW_ROUNDS = 50
_MAX_ALPHABET = 4096  # characters one position of a stored template may list
_CLASSES = {
    "digits": string.digits,
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "hex": string.digits + "abcdef",
    "HEX": string.digits + "ABCDEF",
    "lower+digits": string.digits + string.ascii_lowercase,
    "upper+digits": string.digits + string.ascii_uppercase,
    "letters": string.ascii_letters,
    "alnum": string.digits + string.ascii_letters,
}


def distinct_draws(rng: np.random.Generator, size: int, m: int) -> np.ndarray:
    """``m`` distinct integers from ``range(size)`` in random order, without allocating
    ``size`` when it is large (rejection of repeats)."""
    if m > size:
        raise ValueError(f"cannot draw {m} distinct values from {size}")
    if size <= 1 << 22:
        return rng.choice(size, size=m, replace=False).astype(np.int64)
    got = np.empty(0, dtype=np.int64)
    while got.size < m:
        got = np.concatenate([got, rng.integers(0, size, size=m - got.size + 16)])
        _, first = np.unique(got, return_index=True)
        got = got[np.sort(first)]
    return got[:m]


def _closure(seen: str) -> str | None:
    """The character class a position's characters belong to (digits, hex, letters, ...), or
    None when it holds punctuation or non-ASCII characters (such a position stays literal)."""
    chars = set(seen)
    if not chars or not chars <= set(string.digits + string.ascii_letters):
        return None
    digits = bool(chars & set(string.digits))
    lower = bool(chars & set(string.ascii_lowercase))
    upper = bool(chars & set(string.ascii_uppercase))
    if digits and lower and upper:
        return _CLASSES["alnum"]
    if lower and upper:
        return _CLASSES["letters"]
    if digits and lower:
        return _CLASSES["hex" if chars <= set(_CLASSES["hex"]) else "lower+digits"]
    if digits and upper:
        return _CLASSES["HEX" if chars <= set(_CLASSES["HEX"]) else "upper+digits"]
    if lower:
        return _CLASSES["lower"]
    if upper:
        return _CLASSES["upper"]
    return _CLASSES["digits"]


def _common_prefix(values: list[str]) -> str:
    lo, hi = min(values), max(values)  # the common prefix of all is that of the two extremes
    n = 0
    while n < min(len(lo), len(hi)) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


class IdCodec:
    """Regenerates one identifier column (see the module docstring); the model sees only its
    missing indicator."""

    kind = "id"

    def __init__(self, spec: ColumnSpec, mode: str, fmt: dict[str, Any]) -> None:
        self.spec = spec
        self.mode = mode
        self.fmt = dict(fmt)
        self._seen: frozenset[str] = frozenset()  # real text IDs, in memory only (never saved)
        if mode == "template":
            self._alphabets = [np.array(list(a), dtype="<U1") for a in self.fmt["alphabets"]]
            marker = self.fmt["marker"]
            if marker is not None:
                self._alphabets[marker] = np.array(list(self.fmt["marker_chars"]), dtype="<U1")
            counts = np.asarray(self.fmt["counts"], dtype=np.float64)
            self._p = counts / counts.sum()

    # ------------------------------------------------------------------ layout
    def spans(self) -> list[OutputSpan]:
        """Only the missing indicator, if the column had missing values (else nothing)."""
        return [OutputSpan(1, "sigmoid")] if self.spec.has_missing else []

    def parts(self) -> list[str]:
        """Role of each span (``column_layout`` names them)."""
        return ["missing"] if self.spec.has_missing else []

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, name: Any, series: pd.Series) -> IdCodec:
        """Learn the ID format of ``series``; refuses columns that cannot hold IDs, naming them."""
        kind = id_value_kind(series)
        if kind is None:
            raise ValueError(
                f"column {name!r} is an ID column but has dtype {series.dtype} with values that "
                "are not all integers or all text; IDs must be integers (or whole-number floats) "
                "or strings. Convert it (e.g. .astype(str)) or leave it out of id_columns"
            )
        missing = series.isna().to_numpy()
        present = series[~missing]
        if present.empty:
            raise ValueError(f"column {name!r} is an ID column without any value")
        spec = ColumnSpec(
            name=name,
            kind=ColumnKind.integer if kind == "integer" else ColumnKind.categorical,
            dtype=str(series.dtype),
            has_missing=bool(missing.any()),
        )
        if kind == "integer":
            return cls(spec, "integer", _integer_format(name, series.dtype, present))
        values = [str(v) for v in present.tolist()]
        longest = max(len(v) for v in values)
        if longest > MAX_ID_LENGTH:
            raise ValueError(
                f"column {name!r} is an ID column with values up to {longest} characters long; "
                f"at most {MAX_ID_LENGTH} are regenerated. Leave it out of id_columns (or drop it)"
            )
        codec = cls(spec, *_text_format(values))
        if codec.mode == "template" and codec.fmt["marker"] is None and not codec.fmt["longer"]:
            codec._seen = frozenset(values)  # the random format: also checked in this process
        return codec

    # ------------------------------------------------------------------ encoding
    def encode(self, series: pd.Series, out: np.ndarray) -> None:
        """Write the missing indicator; the values themselves are not encoded."""
        missing = series.isna().to_numpy()
        if missing.any() and not self.spec.has_missing:
            pos = int(np.flatnonzero(missing)[0])
            raise ValueError(
                f"column {self.spec.name!r} has missing values (first at row {pos}) but had none "
                "when the encoder was fitted; fit on data that includes missing values"
            )
        if self.spec.has_missing:
            out[:, 0] = missing

    def decode(self, block: np.ndarray, rng: np.random.Generator) -> Any:
        """New IDs for the rows of ``block`` (missing where its indicator says so)."""
        n = block.shape[0]
        missing = block[:, 0] > 0.5 if self.spec.has_missing else np.zeros(n, dtype=bool)
        m = int((~missing).sum())
        dtype = self.spec.pandas_dtype()
        if self.mode == "integer":
            new = self._draw_integers(m, rng)
            return _integer_output(new, missing, dtype)
        values = np.empty(n, dtype=object)
        values[missing] = np.nan
        values[~missing] = self._draw_text(m, rng)
        return to_category_dtype(values, dtype)

    def _room(self, m: int) -> int:
        room = int(self.fmt["high"]) - int(self.fmt["low"]) + 1
        if m > room:
            raise ValueError(
                f"column {self.spec.name!r}: {m} new IDs asked for, but only {room} fresh values "
                "are left above the largest real ID (in its dtype); generate fewer rows per call "
                "or use a wider integer dtype"
            )
        return room

    def _draw_integers(self, m: int, rng: np.random.Generator) -> np.ndarray:
        offsets = distinct_draws(rng, self._room(m), m)
        low = int(self.fmt["low"])
        if self.fmt["high"] > np.iinfo(np.int64).max:
            return np.uint64(low) + offsets.astype(np.uint64)
        return low + offsets

    def _draw_text(self, m: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty(m, dtype=object)
        todo = np.arange(m)
        for _ in range(_REDRAW_ROUNDS):
            if not todo.size:
                return out
            out[todo] = self._text_once(todo.size, rng)
            drawn = pd.Series(out)
            again = drawn.duplicated(keep="first").to_numpy()
            if self._seen:
                again = again | drawn.isin(self._seen).to_numpy()
            todo = np.flatnonzero(again)
        raise ValueError(
            f"column {self.spec.name!r}: could not draw {m} distinct new IDs in the format of the "
            "real ones (it allows too few values); generate fewer rows per call"
        )

    def _text_once(self, m: int, rng: np.random.Generator) -> np.ndarray:
        prefix = self.fmt["prefix"]
        if self.mode == "numbered":
            numbers = int(self.fmt["low"]) + distinct_draws(rng, self._room(m), m)
            digits = numbers.astype(str)
            if self.fmt["width"]:
                digits = np.char.zfill(digits, self.fmt["width"])
            return np.array([prefix + d for d in digits.tolist()], dtype=object)
        lengths = np.asarray(self.fmt["lengths"], dtype=np.int64)
        length = lengths[rng.choice(lengths.size, size=m, p=self._p)]
        width = int(length.max()) if m else 0
        chars = np.empty((m, max(width, 1)), dtype="<U1")
        for pos in range(width):
            alphabet = self._alphabets[pos]
            chars[:, pos] = alphabet[rng.integers(alphabet.size, size=m)]
        out = np.empty(m, dtype=object)
        for size in np.unique(length).tolist():
            rows = np.flatnonzero(length == size)
            if size == 0:
                out[rows] = prefix
                continue
            joined = np.ascontiguousarray(chars[rows, :size]).view(f"<U{size}").ravel()
            out[rows] = [prefix + v for v in joined.tolist()]
        return out

    # ------------------------------------------------------------------ saving
    def to_json(self) -> dict[str, Any]:
        """The ID format as plain JSON types (never a real ID)."""
        return {"type": "id", "mode": self.mode, **self.fmt}

    @classmethod
    def from_json(cls, spec: ColumnSpec, d: dict[str, Any]) -> IdCodec:
        """The codec saved by :meth:`to_json`, checked (a model file is not trusted)."""
        from genbalance.encoders.categorical import check_stored_spec

        check_stored_spec(spec)
        name = spec.name
        mode = d.get("mode")
        if mode not in ID_MODES:
            raise ValueError(f"column {name!r}: ID mode {mode!r} is not one of {ID_MODES}")
        if (mode == "integer") != (spec.kind == ColumnKind.integer) or spec.kind not in (
            ColumnKind.integer,
            ColumnKind.categorical,
        ):
            raise ValueError(f"column {name!r}: ID mode {mode!r} does not fit kind {spec.kind}")
        if mode in ("integer", "numbered"):
            keys = ("low", "high") + (("prefix", "width") if mode == "numbered" else ())
        else:
            keys = ("prefix", "alphabets", "lengths", "counts", "marker", "marker_chars", "longer")
        fmt = {k: d[k] for k in keys}
        _check_format(name, mode, fmt)
        return cls(spec, mode, fmt)

    def __repr__(self) -> str:
        return f"IdCodec({self.spec.name!r}, mode={self.mode!r})"


# --------------------------------------------------------------------------- formats
def _integer_format(name: Any, dtype: Any, present: pd.Series) -> dict[str, Any]:
    """The fresh range above the largest real ID, capped by the dtype (2**53 for floats)."""
    target = getattr(dtype, "numpy_dtype", dtype)
    if pdt.is_integer_dtype(target):
        top = int(np.iinfo(target).max)
        largest = int(present.max())
    else:
        top = _MAX_EXACT_INT - 1
        largest = int(present.to_numpy(dtype=np.float64).max())
    low, high = largest + 1, min(largest + ID_RANGE, top)
    if low > high:
        raise ValueError(
            f"column {name!r} is an ID column whose largest value {largest} is the largest its "
            f"dtype {dtype} holds: no room for new IDs above it; use a wider integer dtype"
        )
    return {"low": low, "high": high}


def _text_format(values: list[str]) -> tuple[str, dict[str, Any]]:
    """``("numbered", ...)`` for prefix + digits, else ``("template", ...)``."""
    prefix = _common_prefix(values)
    digits_tail = len(prefix) - len(prefix.rstrip(string.digits))
    number_prefix = prefix[: len(prefix) - digits_tail]  # a digit run belongs to the number
    bodies = [v[len(number_prefix) :] for v in values]
    if all(0 < len(b) <= _MAX_NUMBER_DIGITS and b.isascii() and b.isdigit() for b in bodies):
        widths = {len(b) for b in bodies}
        largest = max(int(b) for b in bodies)
        return "numbered", {
            "prefix": number_prefix,
            "width": widths.pop() if len(widths) == 1 else 0,
            "low": largest + 1,
            "high": largest + ID_RANGE,
        }
    bodies = [v[len(prefix) :] for v in values]
    longest = max(len(b) for b in bodies)
    shortest = min(len(b) for b in bodies)
    seen: list[set[str]] = [set() for _ in range(longest)]
    for body in bodies:
        for pos, ch in enumerate(body):
            seen[pos].add(ch)
    alphabets = ["".join(sorted(s)) for s in seen]
    lengths, counts = np.unique([len(b) for b in bodies], return_counts=True)
    fmt: dict[str, Any] = {
        "prefix": prefix,
        "alphabets": alphabets,
        "lengths": lengths.tolist(),
        "counts": counts.tolist(),
        "marker": None,
        "marker_chars": "",
        "longer": False,
    }
    bits = min(sum(math.log2(len(alphabets[p])) for p in range(size)) for size in fmt["lengths"])
    if bits >= _ENTROPY_BITS:  # random enough (UUIDs, hashes): keep the format exactly
        return "template", fmt
    for pos in range(shortest):
        closure = _closure(alphabets[pos])
        unused = "" if closure is None else "".join(c for c in closure if c not in seen[pos])
        if unused:
            fmt["marker"], fmt["marker_chars"] = pos, unused
            return "template", fmt
    extra = alphabets[-1] if alphabets else string.digits  # no room: one character more
    fmt["alphabets"] = alphabets + [extra]
    fmt["lengths"], fmt["counts"], fmt["longer"] = [longest + 1], [1], True
    return "template", fmt


def _integer_output(new: np.ndarray, missing: np.ndarray, dtype: Any) -> Any:
    """New integer IDs (missing where asked) in the column's dtype, without a float detour."""
    n = missing.size
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        out = np.full(n, np.nan, dtype=dtype)
        out[~missing] = new
        return out
    target = getattr(dtype, "numpy_dtype", dtype)
    values = np.zeros(n, dtype=target)
    values[~missing] = new
    if not missing.any() and isinstance(dtype, np.dtype):
        return values
    nullable = dtype if not isinstance(dtype, np.dtype) else pdt.pandas_dtype(nullable_dtype(dtype))
    if getattr(nullable, "kind", "") == "f":  # pandas Float64 and friends
        return pd.array(np.where(missing, np.nan, values.astype(np.float64)), dtype=nullable)
    return pd.arrays.IntegerArray(values.astype(nullable.numpy_dtype), missing.copy())


def _check_format(name: Any, mode: str, fmt: dict[str, Any]) -> None:
    """A stored ID format: plain types, bounded sizes, a consistent template."""

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if mode in ("integer", "numbered"):
        if not (whole(fmt["low"]) and whole(fmt["high"]) and fmt["low"] <= fmt["high"]):
            raise ValueError(f"column {name!r}: the ID range must be two ordered integers")
        if fmt["high"] - fmt["low"] >= ID_RANGE or not -(2**63) <= fmt["low"] < 2**64:
            raise ValueError(f"column {name!r}: the stored ID range is out of bounds")
        if mode == "numbered":
            if not isinstance(fmt["prefix"], str) or len(fmt["prefix"]) > MAX_ID_LENGTH:
                raise ValueError(f"column {name!r}: the ID prefix must be a short string")
            width = fmt["width"]
            if (
                not whole(width)
                or not 0 <= width <= _MAX_NUMBER_DIGITS
                or not 0 <= fmt["low"] <= 10**_MAX_NUMBER_DIGITS
            ):
                raise ValueError(f"column {name!r}: the ID width {width!r} is out of bounds")
        return
    alphabets, lengths, counts = fmt["alphabets"], fmt["lengths"], fmt["counts"]
    if not isinstance(fmt["prefix"], str) or len(fmt["prefix"]) > MAX_ID_LENGTH:
        raise ValueError(f"column {name!r}: the ID prefix must be a short string")
    if not isinstance(alphabets, list) or len(alphabets) > MAX_ID_LENGTH + 1:
        raise ValueError(f"column {name!r}: the ID template is too long")
    if any(not isinstance(a, str) or not 0 < len(a) <= _MAX_ALPHABET for a in alphabets):
        raise ValueError(f"column {name!r}: a template position has no characters")
    if (
        not isinstance(lengths, list)
        or not isinstance(counts, list)
        or not lengths
        or len(lengths) != len(counts)
        or any(not whole(v) or not 0 <= v <= len(alphabets) for v in lengths)
        or any(not whole(c) or c <= 0 for c in counts)
    ):
        raise ValueError(f"column {name!r}: the ID lengths do not fit the template")
    marker, chars = fmt["marker"], fmt["marker_chars"]
    if marker is not None and (
        not whole(marker)
        or not 0 <= marker < min(lengths)
        or not isinstance(chars, str)
        or not 0 < len(chars) <= _MAX_ALPHABET
    ):
        raise ValueError(f"column {name!r}: the ID marker {marker!r} does not fit the template")
    if not isinstance(fmt["longer"], bool):
        raise ValueError(f"column {name!r}: 'longer' must be a boolean")
