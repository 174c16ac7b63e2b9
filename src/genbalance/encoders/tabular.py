"""Reversible map between a raw table and the float vectors generative models work on.

Numbers get the mode-specific normalisation of CTGAN (Xu et al. 2019): a variational Gaussian
mixture per column finds its modes, and a value becomes ``[scalar in [-1, 1], one-hot mode]``.
The mixtures of all numeric columns are fitted together by :mod:`genbalance.encoders.gmm`
(``gmm="fast"``, the default) or one by one with scikit-learn (``gmm="sklearn"``).
Categories become one-hot groups. Every group is an :class:`OutputSpan` so a model knows which
activation produces it. Encoding and decoding are vectorised over rows (only columns are looped).

Layout of one column in the encoded vector, in order:

- continuous / integer: ``tanh(1)`` scalar, ``softmax(n_modes)`` mode, then ``sigmoid(1)``
  missing indicator if the column had missing values at fit (1 = missing). ``n_modes`` is at most
  ``max_modes``, plus one wide catch-all mode when training outliers fall outside every kept
  mode's +/-4 sigma window (so they still decode exactly);
- categorical / boolean: ``softmax(k)`` with one slot per kept category, then an "other" slot if
  rare categories were grouped, then a missing slot if the column had missing values at fit.

Decoding takes an argmax over each softmax span, so it accepts probabilities or raw logits alike;
the ``tanh`` scalar is clipped to [-1, 1] and the missing indicator is read as ``> 0.5`` (so it
expects a sigmoid output or a 0/1 value, not a logit).

- datetime / date: the numeric layout above, over whole counts of the column's resolution
  since the epoch (:mod:`genbalance.encoders.datetimes`);
- ID columns: nothing, or only the ``sigmoid(1)`` missing indicator; their values are
  regenerated, never modelled (:mod:`genbalance.encoders.identifiers`).

The constraints real tables carry (IDs, observed precision and range, times) and the options
that control them are described in docs/constraints.md.

This module holds the table-level encoder and its saved state; the per-column codecs live in
:mod:`genbalance.encoders.numeric` and :mod:`genbalance.encoders.categorical`, the casts back
to the original dtypes in :mod:`genbalance.encoders.dtypes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genbalance.data.exact import refuse_inexact_integers
from genbalance.data.kinds import ColumnSpec, infer_schema, time_kind
from genbalance.data.validation import (
    check_columns,
    check_finite,
    refuse_duplicate_columns,
    validate_frame,
)
from genbalance.encoders.categorical import CategoricalCodec
from genbalance.encoders.constraints import (
    ID_POLICIES,
    Codec,
    checked_id_columns,
    describe_constraints,
    find_id_columns,
    refuse_ids,
    schema_with,
)
from genbalance.encoders.datetimes import DatetimeCodec, TimeFormat
from genbalance.encoders.identifiers import IdCodec
from genbalance.encoders.numeric import GMM_BACKENDS, NumericCodec, fit_numeric_codecs
from genbalance.spans import OutputSpan

if TYPE_CHECKING:
    import torch

__all__ = ["TabularEncoder"]

_FORMAT = "genbalance.TabularEncoder"
_VERSION = 1


def _json_scalar(value: Any, what: str) -> Any:
    """A value that ``json.dumps`` keeps as is; refuses anything else, naming it."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(
        f"{what} {value!r} ({type(value).__name__}) cannot be stored as JSON; use string or "
        "integer column names (genbalance.schema.as_frame converts them)"
    )


# --------------------------------------------------------------------------- the encoder
class TabularEncoder:
    """Reversible map between a raw table and float32 vectors for a generative model.

    ``fit`` learns the schema and per-column codecs; ``transform`` gives an array whose layout
    is described by ``spans`` (and per column by ``column_layout``); ``inverse_transform``
    gives back a DataFrame with the fit input's columns, order and dtypes.

    ``gmm`` picks the mixture fitter: ``"fast"`` (all numeric columns in one vectorised
    variational EM, :mod:`genbalance.encoders.gmm`) or ``"sklearn"`` (one
    ``BayesianGaussianMixture`` per column, slower, the reference).

    Constraints of real tables (docs/constraints.md):

    - ``id_columns``: ``"auto"`` (default) detects ID columns with the rule of
      :mod:`genbalance.data.identifiers`; a list names them; None turns ID handling off.
    - ``id_policy``: ``"regenerate"`` (default: new unique values of the same type and format
      that never equal a real ID) or ``"refuse"`` (fit raises, naming the ID columns).
    - ``learn_precision`` (default True): decoded continuous values are rounded to the number
      of decimals the real values use (at most 6; finer columns are left alone).
    - ``clip_to_range`` (default True): decoded numbers, datetimes and dates stay within the
      range observed at fit.

    Datetime columns (naive or timezone-aware) and columns of ``datetime.date`` values are
    modelled as numbers and come back with their dtype, timezone and resolution.
    """

    def __init__(
        self,
        categorical_features: Any = "auto",
        max_modes: int = 10,
        fit_sample_size: int = 20_000,
        max_categories: int = 200,
        clip_to_range: bool = True,
        random_state: int | None = None,
        gmm: str = "fast",
        id_columns: Any = "auto",
        id_policy: str = "regenerate",
        learn_precision: bool = True,
    ) -> None:
        if gmm not in GMM_BACKENDS:
            raise ValueError(f"gmm must be one of {', '.join(GMM_BACKENDS)}; got {gmm!r}")
        if id_policy not in ID_POLICIES:  # checked here so a bad option fails before fit
            raise ValueError(
                f"id_policy must be one of {', '.join(ID_POLICIES)}; got {id_policy!r}"
            )
        if not isinstance(learn_precision, (bool, np.bool_)):
            raise ValueError(f"learn_precision must be True or False; got {learn_precision!r}")
        for pname, value, low in (
            ("max_modes", max_modes, 1),
            ("fit_sample_size", fit_sample_size, 2),
            ("max_categories", max_categories, 2),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{pname} must be an integer >= {low}; got {value!r}")
        if random_state is not None and (
            isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))
        ):
            raise ValueError(f"random_state must be an int or None; got {random_state!r}")
        self.categorical_features = categorical_features
        self.max_modes = int(max_modes)
        self.fit_sample_size = int(fit_sample_size)
        self.max_categories = int(max_categories)
        self.clip_to_range = bool(clip_to_range)
        self.random_state = None if random_state is None else int(random_state)
        self.gmm = gmm
        self.id_columns = checked_id_columns(id_columns)
        self.id_policy = id_policy
        self.learn_precision = bool(learn_precision)
        self.schema: list[ColumnSpec] = []
        self.spans: list[OutputSpan] = []
        self.output_dim: int = 0
        self.column_layout: list[dict[str, Any]] = []
        self._codecs: list[Codec] = []
        self._columns_dtype: str = "object"
        self._rng = np.random.default_rng(self.random_state)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame) -> TabularEncoder:
        """Learn column kinds, mixture modes, category sets, ID formats and time formats."""
        validate_frame(X, allow_time=True)
        times = {c: TimeFormat.fit(c, X[c]) for c in X.columns if time_kind(X[c]) is not None}
        found = find_id_columns(X, self.id_columns, self.categorical_features, times)
        if found and self.id_policy == "refuse":
            refuse_ids(found, self.id_columns)
        ids = {c: None for c in found}  # an ordered set of names, then their codecs
        view = X
        if not times and not ids:  # the table as before: the same schema, the same codecs
            self.schema = infer_schema(X, self.categorical_features)
        else:
            view = X.copy(deep=False)
            for name, fmt in times.items():
                view[name] = fmt.to_units(X[name])
            ids = {c: IdCodec.fit(c, X[c]) for c in ids}
            self.schema = schema_with(view, self.categorical_features, times, ids)
        if not self.learn_precision:
            for spec in self.schema:
                spec.decimals = None
        for spec in self.schema:  # float64 would round them: refused, as fit_file does
            if spec.is_numeric and spec.name not in ids and spec.name not in times:
                refuse_inexact_integers(spec.name, view[spec.name])
        rng = np.random.default_rng(self.random_state)
        as_floats = (
            (spec, view[spec.name].to_numpy(dtype=np.float64, na_value=np.nan))
            for spec in self.schema
            if spec.is_numeric and spec.name not in ids
        )  # lazily: one column's float copy at a time
        numeric = iter(
            fit_numeric_codecs(as_floats, self.max_modes, self.fit_sample_size, rng, self.gmm)
        )
        codecs: list[Codec] = []
        for spec in self.schema:  # a loop, not a comprehension: keeps the warnings' stacklevel
            if spec.name in ids:
                codecs.append(ids[spec.name])
            elif spec.name in times:
                codecs.append(DatetimeCodec(times[spec.name], next(numeric)))
            elif spec.is_numeric:
                codecs.append(next(numeric))
            else:
                codecs.append(CategoricalCodec.fit(spec, X[spec.name], self.max_categories))
        self._codecs = codecs
        self._columns_dtype = str(X.columns.dtype)
        self._finish()
        if self.output_dim == 0:
            self._codecs = []
            raise ValueError(
                f"every column of X is an ID column ({list(ids)!r}), so nothing is left to "
                "model; add the columns to generate, or pass id_columns=None"
            )
        return self

    def _finish(self) -> None:
        """Derive spans, output_dim and layout from the codecs; reset the decode generator."""
        self.spans = []
        self.column_layout = []
        start = 0
        for spec, codec in zip(self.schema, self._codecs, strict=True):
            parts = []
            col_start = start
            for role, span in zip(codec.parts(), codec.spans(), strict=True):
                parts.append({"role": role, "start": start, "stop": start + span.size})
                self.spans.append(span)
                start += span.size
            self.column_layout.append(
                {
                    "column": spec.name,
                    "kind": codec.kind,
                    "start": col_start,
                    "stop": start,
                    "parts": parts,
                }
            )
        self.output_dim = start
        self._rng = np.random.default_rng(self.random_state)

    def _check_fitted(self) -> None:
        if not self._codecs:
            raise RuntimeError("this TabularEncoder is not fitted yet; call fit(X) first")

    @property
    def columns(self) -> list[Any]:
        """Column names of the fit input, in order."""
        return [spec.name for spec in self.schema]

    @property
    def id_column_names(self) -> list[Any]:
        """The columns regenerated as IDs (auto-detected or listed), in column order."""
        return [c.spec.name for c in self._codecs if isinstance(c, IdCodec)]

    def constraints(self) -> list[dict[str, Any]]:
        """What was learned per column that decoding enforces: kind, observed range, decimals,
        ID format, time resolution and timezone (plain values, for a look or a report)."""
        self._check_fitted()
        return describe_constraints(self.schema, self._codecs)

    # ------------------------------------------------------------------ encoding
    def _align(self, X: pd.DataFrame) -> pd.DataFrame:
        """Check ``X`` has exactly the fit columns; reorder them if only the order differs."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame; got {type(X).__name__}")
        refuse_duplicate_columns(X, "X")
        expected = self.columns
        if list(X.columns) == expected:
            return X
        check_columns(X, expected, "X", "the table the encoder was fitted on")
        return X.loc[:, expected]

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Encode ``X`` into a float32 array of shape ``(n, output_dim)``."""
        self._check_fitted()
        X = self._align(X)
        check_finite(X)
        out = np.zeros((X.shape[0], self.output_dim), dtype=np.float32)
        for layout, codec in zip(self.column_layout, self._codecs, strict=True):
            codec.encode(X[layout["column"]], out[:, layout["start"] : layout["stop"]])
        return out

    def fit_transform(self, X: pd.DataFrame) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(
        self,
        Z: np.ndarray | torch.Tensor,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.DataFrame:
        """Decode encoded rows back to a DataFrame with the fit input's columns and dtypes.

        ``random_state`` (optional) drives the draws for grouped rare categories; by default
        the encoder's own generator (seeded from ``random_state`` at fit) is used.
        """
        self._check_fitted()
        if hasattr(Z, "detach"):
            Z = Z.detach().cpu().numpy()
        Z = np.asarray(Z)
        if Z.dtype not in (np.float32, np.float64):  # models emit float32: no 2x copy of it
            Z = Z.astype(np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.output_dim:
            raise ValueError(f"Z must have shape (n, {self.output_dim}) to decode; got {Z.shape}")
        bad = ~np.isfinite(Z)
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise ValueError(
                f"Z holds {int(bad.sum())} NaN/inf value(s), first at row {row}, position {col}; "
                "the model output diverged"
            )
        if random_state is None:
            rng = self._rng
        elif isinstance(random_state, np.random.Generator):
            rng = random_state
        else:
            rng = np.random.default_rng(random_state)
        data = {}
        for layout, codec in zip(self.column_layout, self._codecs, strict=True):
            block = Z[:, layout["start"] : layout["stop"]]
            if isinstance(codec, (NumericCodec, DatetimeCodec)):
                data[layout["column"]] = codec.decode(block, self.clip_to_range)
            else:  # categories draw grouped ones, IDs draw new values: both from rng
                data[layout["column"]] = codec.decode(block, rng)
        frame = pd.DataFrame(data, index=pd.RangeIndex(Z.shape[0]))
        frame.columns = pd.Index(self.columns, dtype=self._columns_dtype)
        return frame

    # ------------------------------------------------------------------ saving
    def to_json(self) -> dict[str, Any]:
        """Complete fitted state as plain JSON types (no numpy, no pickle)."""
        self._check_fitted()
        cf = self.categorical_features
        if isinstance(cf, (np.ndarray, pd.Index, pd.Series, list, tuple)):
            cf = [_json_scalar(v, "categorical_features entry") for v in np.asarray(cf).tolist()]
        schema = []
        for spec in self.schema:
            d = spec.to_json()
            d["name"] = _json_scalar(spec.name, "column name")
            schema.append(d)
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "params": {
                "categorical_features": cf,
                "max_modes": self.max_modes,
                "fit_sample_size": self.fit_sample_size,
                "max_categories": self.max_categories,
                "clip_to_range": self.clip_to_range,
                "random_state": self.random_state,
                "gmm": self.gmm,
                "id_columns": self.id_columns
                if not isinstance(self.id_columns, list)
                else [_json_scalar(c, "id_columns entry") for c in self.id_columns],
                "id_policy": self.id_policy,
                "learn_precision": self.learn_precision,
            },
            "columns_dtype": self._columns_dtype,
            "schema": schema,
            "codecs": [codec.to_json() for codec in self._codecs],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TabularEncoder:
        """Rebuild a fitted encoder from :meth:`to_json` output; refuses malformed state."""
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise ValueError("not a genbalance TabularEncoder state (missing or wrong 'format')")
        if d.get("version") != _VERSION:
            raise ValueError(
                f"TabularEncoder state version {d.get('version')!r} is not supported "
                f"(this genbalance reads version {_VERSION})"
            )
        from genbalance.encoders.categorical import check_stored_dtype

        try:
            enc = cls(**d["params"])
            enc.schema = [ColumnSpec.from_json(s) for s in d["schema"]]
            names = [spec.name for spec in enc.schema]
            if len(set(names)) != len(names):
                raise ValueError("a column name is listed twice in the schema")
            codecs: list[Codec] = []
            for spec, c in zip(enc.schema, d["codecs"], strict=True):
                if c["type"] == "numeric" and spec.is_numeric:
                    codecs.append(NumericCodec.from_json(spec, c))
                elif c["type"] == "categorical" and not spec.is_numeric:
                    codecs.append(CategoricalCodec.from_json(spec, c))
                elif c["type"] == "datetime" and spec.is_numeric:
                    codecs.append(DatetimeCodec.from_json(spec, c))
                elif c["type"] == "id":
                    codecs.append(IdCodec.from_json(spec, c))
                else:
                    raise ValueError(f"codec type {c['type']!r} does not fit column {spec.name!r}")
            if not codecs or all(isinstance(c, IdCodec) and not c.spans() for c in codecs):
                raise ValueError("no columns to model")
            enc._codecs = codecs
            enc._columns_dtype = check_stored_dtype(d["columns_dtype"], "columns dtype")
            enc._finish()
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"TabularEncoder state is malformed: {exc!r}") from None
        return enc

    def __repr__(self) -> str:
        if not self._codecs:
            return "TabularEncoder(unfitted)"
        return f"TabularEncoder(columns={len(self.schema)}, output_dim={self.output_dim})"
