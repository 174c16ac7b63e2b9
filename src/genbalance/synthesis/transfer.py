"""Warm starts: fit a synthesizer from a model trained on a related table (transfer learning).

``Synthesizer(...).fit(X, y, init=source)`` starts from ``source`` (a fitted table synthesizer
of the same family, or its model file) instead of random weights, then trains on ``X`` with
the normal step budget. A rare class with a dozen rows gets the shared structure of the
columns (their modes, their correlations) from a table where that structure was learnt on
thousands of rows. What is reused (docs/transfer.md):

- **the encoder, column by column**: a column that the source also has keeps the source's
  codec (its mixture modes or category slots) when the target's values fit it -- every value
  encodes and decodes back unchanged -- so the network's input and output units for that column
  keep their meaning; the clipping range, dtype and integer rounding become the target's. A
  column whose values do not fit (unseen categories, values outside every mode, missing values
  the source never had, another dtype) gets the target's own codec and fresh units;
- **the trunk of every network** (hidden layers, latent heads, normalisation): copied as is;
- **the boundary weights**, slot by slot: the units that read or write an encoded column, and
  the class one-hot inputs (class embeddings), are copied where the column's codec or the class
  label is shared, and keep their fresh seeded initialisation where they are new.

Columns: ``columns="exact"`` (the default) refuses a target whose columns differ from the
source's, naming the missing and extra ones; ``columns="shared"`` transfers the shared columns
and starts the others fresh. Classes: labels are matched by value (``classes="match"``), a
target label the source lacks starts fresh, a source label the target lacks is dropped;
``classes="fresh"`` copies no class weights, a dict maps target labels to source labels.

Families that declare where their networks read slots and classes (:data:`LAYOUT_FAMILIES`:
vae, gan, diffusion) transfer across any of these differences; the others only between
identical layouts (the same columns with reused codecs and the same classes).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genbalance import models
from genbalance.encoders.tabular import TabularEncoder
from genbalance.models.base import GenerativeModel
from genbalance.synthesis.transfer_weights import LAYOUT_FAMILIES, LAYOUTS, copy_weights
from genbalance.utils import to_python_scalar

__all__ = [
    "CLASS_POLICIES",
    "COLUMN_POLICIES",
    "ENCODER_POLICIES",
    "LAYOUT_FAMILIES",
    "TransferPlan",
    "WarmStart",
    "as_warm_start",
    "check_family",
    "map_classes",
    "plan_transfer",
    "warm_start_key",
]

COLUMN_POLICIES = ("exact", "shared")
ENCODER_POLICIES = ("auto", "reuse", "refit")
CLASS_POLICIES = ("match", "fresh")

# codecs whose layout means the same in any table once the values fit (times and IDs carry
# formats of their own table and are refitted)
_REUSABLE_CODECS = ("numeric", "categorical")
# a decoded value equals the original within float32 precision of the encoded scalar
_RTOL = 1e-5


@dataclass(frozen=True)
class WarmStart:
    """Where a fit starts from, and how much of it to reuse (see the module docstring).

    ``source``: a fitted table :class:`~genbalance.synthesis.tabular.Synthesizer` or the path
    of its model file. ``columns``: "exact" (same columns, else an error naming them) or
    "shared" (the shared ones transfer, the rest start fresh). ``encoder``: "auto" (reuse each
    shared column's codec where the target's values fit it), "reuse" (require that for every
    shared column: an error names the ones that do not fit) or "refit" (the target's own
    encoder; only the trunk and the class weights transfer). ``classes``: "match" (by label),
    "fresh" (no class weights copied) or a dict ``{target label: source label}``.
    """

    source: Any
    columns: str = "exact"
    encoder: str = "auto"
    classes: str | Mapping[Any, Any] = "match"

    def __post_init__(self) -> None:
        for name, value, accepted in (
            ("columns", self.columns, COLUMN_POLICIES),
            ("encoder", self.encoder, ENCODER_POLICIES),
        ):
            if not isinstance(value, str) or value not in accepted:
                raise ValueError(
                    f"WarmStart {name}={value!r}; accepted: {', '.join(map(repr, accepted))}"
                )
        classes = self.classes
        if not isinstance(classes, Mapping) and (
            not isinstance(classes, str) or classes not in CLASS_POLICIES
        ):
            raise ValueError(
                f"WarmStart classes={classes!r}; accepted: 'match', 'fresh' or a dict "
                "{target label: source label}"
            )

    @property
    def is_path(self) -> bool:
        return isinstance(self.source, (str, os.PathLike))


def as_warm_start(init: Any, load: Callable[[Any], Any] | None = None) -> WarmStart:
    """``init`` as a :class:`WarmStart`; with ``load`` (e.g. ``Synthesizer.load``) a path is
    read into a synthesizer here, so that a bad file is refused before any training.

    Accepted: a fitted table synthesizer, a path (str or ``os.PathLike``) to its model file,
    or a :class:`WarmStart`.
    """
    start = init if isinstance(init, WarmStart) else None
    if start is None:
        if isinstance(init, (str, os.PathLike)) or _is_table_synthesizer(init):
            start = WarmStart(init)
        else:
            raise TypeError(
                f"init must be a fitted Synthesizer, the path of a synthesizer model file "
                f"(.safetensors) or a genbalance.synthesis.transfer.WarmStart; got "
                f"{type(init).__name__}"
            )
    if start.is_path:
        if load is None:
            return start
        return WarmStart(load(start.source), start.columns, start.encoder, start.classes)
    source = start.source
    if not _is_table_synthesizer(source):
        raise TypeError(
            f"init must hold a table Synthesizer (or the path of its model file); got "
            f"{type(source).__name__}: image synthesizers and bare models cannot start a "
            "table fit"
        )
    if not hasattr(source, "model_"):
        raise ValueError("init is a Synthesizer that is not fitted yet; fit it (or load one) first")
    return start


def _is_table_synthesizer(value: Any) -> bool:
    """A table synthesizer, fitted or not (duck-typed: this module must not import it)."""
    return hasattr(value, "rows_for_codes") and hasattr(value, "encoder_options")


def check_family(source: Any, model: str) -> None:
    """Refuse a source of another family than ``model`` (before any work: the networks of two
    families share nothing)."""
    wanted = models.get(model).family
    have = source.model_.family
    if have != wanted:
        raise ValueError(
            f"init holds a {have!r} model but this fit trains {wanted!r}; transfer needs the "
            f"same family: fit with model={have!r} (--model {have}), or start from a "
            f"{wanted!r} model"
        )


def warm_start_key(start: WarmStart) -> dict[str, Any]:
    """What identifies a warm start in a cache key: a hash of the source's weights, encoder,
    classes and configuration, and the policies (the start must hold a loaded source)."""
    source = start.source
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(source.model_.get_config(), sort_keys=True, default=repr).encode())
    h.update(json.dumps(source.encoder_.to_json(), sort_keys=True, default=repr).encode())
    h.update(json.dumps([repr(to_python_scalar(c)) for c in source.classes_]).encode())
    for name, tensor in sorted(source.model_.state_tensors().items()):
        h.update(name.encode())
        h.update(tensor.numpy().tobytes())
    classes = start.classes
    if isinstance(classes, Mapping):
        classes = sorted((repr(k), repr(v)) for k, v in classes.items())
    return {
        "source": h.hexdigest(),
        "columns": start.columns,
        "encoder": start.encoder,
        "classes": classes,
    }


# ------------------------------------------------------------------------------- the plan
@dataclass
class TransferPlan:
    """What a warm-started fit reuses: the encoder to train with, and for every encoded slot
    and class code of the target the source's slot / code it continues (-1: fresh)."""

    encoder: Any  # a TabularEncoder for tables, the source's ImageEncoder for images
    slot_map: np.ndarray
    class_map: np.ndarray
    source_model: GenerativeModel
    report: dict[str, Any] = field(default_factory=dict)

    def model_settings(self, options: dict[str, Any]) -> dict[str, Any]:
        """The family settings of the target: the source's (so the trunk has its shapes),
        under the caller's ``options`` (an option that changes a shape leaves those weights
        fresh, with a warning). Work meant for random weights (the family's
        ``copied_weights_settings``, e.g. the dcgan's warm start) is off unless asked for."""
        family = type(self.source_model)
        known = set(family.defaults)
        base = {k: v for k, v in self.source_model.hyper.items() if k in known}
        return {**base, **family.copied_weights_settings, **options}

    def apply(self, model: GenerativeModel) -> dict[str, Any]:
        """Copy the source's weights into the freshly built ``model``; returns the report."""
        report = dict(self.report)
        report["weights"] = copy_weights(self, model)
        self.report = report
        return report


# ---------------------------------------------------------------------------- the encoder
def plan_transfer(
    start: WarmStart, frame: pd.DataFrame, encoder: TabularEncoder, classes: np.ndarray
) -> TransferPlan:
    """The plan of a warm-started fit on ``frame`` (labels ``classes``), given the target's
    own fitted ``encoder``: which codecs and weights come from the source, with clear errors
    for what the policies refuse (naming the columns, the labels or the family)."""
    source = start.source
    src_enc: TabularEncoder = source.encoder_
    src_cols = [str(c) for c in src_enc.columns]
    tgt_cols = [str(c) for c in encoder.columns]
    missing = [c for c in src_cols if c not in tgt_cols]
    extra = [c for c in tgt_cols if c not in src_cols]
    shared = [c for c in tgt_cols if c in src_cols]
    if start.columns == "exact" and (missing or extra):
        raise ValueError(
            "init: the table's columns differ from the source model's: "
            f"missing from the table: {missing or 'none'}; not in the source: {extra or 'none'}. "
            "Pass columns='shared' (--init-columns shared) to transfer the shared columns only "
            "(the others start fresh), or give the table the source's columns"
        )
    if not shared:
        raise ValueError(
            f"init: the table shares no column with the source model (source: {src_cols[:10]}; "
            f"table: {tgt_cols[:10]}); nothing can transfer"
        )
    tgt_json = encoder.to_json()
    src_json = src_enc.to_json()
    src_at = {str(s["name"]): i for i, s in enumerate(src_json["schema"])}
    reused: list[str] = []
    refitted: dict[str, str] = {}
    for i, spec in enumerate(tgt_json["schema"]):
        name = str(spec["name"])
        if name not in src_at:
            continue
        if start.encoder == "refit":
            refitted[name] = "encoder='refit'"
            continue
        j = src_at[name]
        kept, reason = _reusable(
            src_json["schema"][j],
            src_json["codecs"][j],
            spec,
            tgt_json["codecs"][i],
            src_json,
            frame[spec["name"]],
        )
        if kept is None:
            refitted[name] = str(reason)
        else:
            tgt_json["schema"][i], tgt_json["codecs"][i] = kept, src_json["codecs"][j]
            reused.append(name)
    if start.encoder == "reuse" and refitted:
        shown = "; ".join(f"{c!r}: {r}" for c, r in list(refitted.items())[:6])
        raise ValueError(
            f"init: encoder='reuse' but {len(refitted)} shared column(s) do not fit the source's "
            f"encoder: {shown}. Use encoder='auto' to refit just those columns"
        )
    final = TabularEncoder.from_json(tgt_json) if reused else encoder
    slot_map = _slot_map(final, src_enc, set(reused))
    class_map, class_report = map_classes(start.classes, classes, source.classes_)
    report = {
        "source": {
            "family": source.model_.family,
            "columns": len(src_cols),
            "classes": [to_python_scalar(c) for c in source.classes_],
        },
        "columns": {
            "reused": reused,
            "refitted": refitted,
            "new": extra,
            "dropped": missing,
        },
        "classes": class_report,
    }
    family = source.model_.family
    if family not in LAYOUTS:
        _check_identical(family, slot_map, class_map, src_enc, source, report)
    return TransferPlan(final, slot_map, class_map, source.model_, report)


def _reusable(
    src_spec: dict[str, Any],
    src_codec: dict[str, Any],
    tgt_spec: dict[str, Any],
    tgt_codec: dict[str, Any],
    src_json: dict[str, Any],
    values: pd.Series,
) -> tuple[dict[str, Any] | None, str | None]:
    """The column spec under which the target keeps the source's codec, or why it cannot.

    The spec is the target's (its dtype, range, rounding: what a fit from scratch would
    restore) with the source's layout (its missing indicator). The codec is reused only if
    every target value encodes and decodes back unchanged through it.
    """
    kind_s, kind_t = src_codec.get("type"), tgt_codec.get("type")
    if kind_s != kind_t:
        return None, f"a {kind_s} column in the source, {kind_t} in the table"
    if kind_s not in _REUSABLE_CODECS:  # e.g. times, IDs: their own formats, refitted
        return (
            None,
            f"{kind_s} columns get their own codec (transfer reuses numeric and categorical)",
        )
    if kind_s == "categorical" and (src_spec["dtype"], src_spec.get("category_order")) != (
        tgt_spec["dtype"],
        tgt_spec.get("category_order"),
    ):
        return None, f"dtype {src_spec['dtype']} in the source, {tgt_spec['dtype']} in the table"
    if tgt_spec["has_missing"] and not src_spec["has_missing"]:
        return None, "missing values, which the source never had"
    spec = {**tgt_spec, "has_missing": src_spec["has_missing"]}
    probe = {**src_json, "schema": [spec], "codecs": [src_codec]}
    try:
        enc = TabularEncoder.from_json(probe)
        one = values.to_frame(name=spec["name"])
        back = enc.inverse_transform(enc.transform(one), random_state=0)[spec["name"]]
    except ValueError as exc:
        return None, str(exc).split(";")[0]
    if kind_s == "numeric":
        orig = values.to_numpy(dtype=np.float64, na_value=np.nan)
        dec = back.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(orig)
        span = float(np.nanmax(orig) - np.nanmin(orig)) if present.any() else 0.0
        ok = np.isclose(dec, orig, rtol=_RTOL, atol=_RTOL * max(span, 1e-12), equal_nan=True)
        if not ok.all():
            bad = orig[~ok]
            return None, f"{bad.size} value(s) outside the source's modes (e.g. {bad[0]:.6g})"
        return spec, None
    same = (pd.isna(values.to_numpy(dtype=object)) & pd.isna(back.to_numpy(dtype=object))) | (
        values.astype(str).to_numpy() == back.astype(str).to_numpy()
    )
    if not same.all():
        return None, "rare categories grouped into the source's 'other' slot"
    return spec, None


def _slot_map(final: TabularEncoder, src: TabularEncoder, reused: set[str]) -> np.ndarray:
    """For every encoded slot of ``final``, the source's slot it continues (-1: fresh)."""
    src_layout = {str(c["column"]): c for c in src.column_layout}
    out = np.full(final.output_dim, -1, dtype=np.int64)
    for col in final.column_layout:
        name = str(col["column"])
        if name not in reused:
            continue
        other = src_layout[name]
        width = col["stop"] - col["start"]
        assert width == other["stop"] - other["start"], "a reused codec keeps its width"
        out[col["start"] : col["stop"]] = np.arange(other["start"], other["stop"])
    return out


def map_classes(
    policy: str | Mapping[Any, Any], target: np.ndarray, source: np.ndarray
) -> tuple[np.ndarray, dict[str, Any]]:
    """For every target class code, the source's code it continues (-1: fresh), and a report
    (``policy``: "match", "fresh" or ``{target label: source label}``; tables and images)."""
    tgt = [to_python_scalar(c) for c in target]
    src = [to_python_scalar(c) for c in source]
    at = {c: i for i, c in enumerate(src)}
    out = np.full(len(tgt), -1, dtype=np.int64)
    if isinstance(policy, Mapping):
        pairs = {to_python_scalar(k): to_python_scalar(v) for k, v in policy.items()}
        unknown_t = [k for k in pairs if k not in tgt]
        unknown_s = [v for v in pairs.values() if v not in at]
        if unknown_t or unknown_s:
            problems = []
            if unknown_t:
                problems.append(f"keys {unknown_t} are not classes of the table")
            if unknown_s:
                problems.append(f"values {unknown_s} are not classes of the source")
            raise ValueError(
                f"init classes={{target label: source label}}: {'; '.join(problems)} "
                f"(table classes: {tgt[:10]}; source classes: {src[:10]})"
            )
        for i, c in enumerate(tgt):
            if c in pairs:
                out[i] = at[pairs[c]]
    elif policy == "match":
        for i, c in enumerate(tgt):
            out[i] = at.get(c, -1)
    used = set(out[out >= 0].tolist())
    report = {
        "shared": [tgt[i] for i in range(len(tgt)) if out[i] >= 0],
        "new": [tgt[i] for i in range(len(tgt)) if out[i] < 0],
        "dropped": [src[j] for j in range(len(src)) if j not in used],
    }
    return out, report


def _check_identical(
    family: str,
    slot_map: np.ndarray,
    class_map: np.ndarray,
    src_enc: TabularEncoder,
    source: Any,
    report: dict[str, Any],
) -> None:
    """Families without a declared layout transfer only when nothing moves or starts fresh."""
    same_slots = len(slot_map) == src_enc.output_dim and np.array_equal(
        slot_map, np.arange(len(slot_map))
    )
    same_classes = len(class_map) == len(source.classes_) and np.array_equal(
        class_map, np.arange(len(class_map))
    )
    if same_slots and same_classes:
        return
    cols, cls = report["columns"], report["classes"]
    raise ValueError(
        f"init: the {family!r} family transfers only between identical layouts (the same "
        "columns, each reused from the source's encoder, and the same classes); here columns "
        f"refitted {list(cols['refitted'])}, new {cols['new']}, dropped {cols['dropped']}; "
        f"classes new {cls['new']}, dropped {cls['dropped']}. Families that transfer across "
        f"such differences: {', '.join(LAYOUT_FAMILIES)}"
    )
