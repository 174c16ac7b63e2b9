"""The samplers compared by the benchmark, by name.

Each entry builds a fresh sampler for one training fold. ``input="raw"`` samplers get the raw
training fold (nominal strings kept); ``input="encoded"`` ones (BorderlineSMOTE, ADASYN and the
smote-variants methods, which take numbers only) get the one-hot + min-max encoded fold.
genbalance samplers are given as spec strings: ``gb-default``, ``gb-<family>`` or
``gb:<family>[,key=value,...]`` (dotted keys such as ``trainer_options.lr=1e-3`` fill the
dict options). ``weighted`` is the cost-sensitive baseline: no resampling, the classifiers
trained with balanced weights instead (``SamplerDef.weighted``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from genbalance.bench.encoding import nominal_columns


@dataclass(frozen=True)
class FoldInfo:
    """What a sampler factory may know about the training fold it will see."""

    columns: list[str]
    nominal: list[str]
    n_minority: int
    positive: Any


@dataclass(frozen=True)
class SamplerDef:
    """How to build one sampler: ``make(seed, info)`` returns an object with ``fit_resample``."""

    make: Callable[[int, FoldInfo], Any]
    input: str = "raw"  # "raw" or "encoded"
    requires: tuple[str, ...] = field(default=())  # optional packages it imports
    doc: str = ""
    # cost-sensitive: the classifiers are trained with balanced class or sample weights
    # (evaluate.WEIGHTED_CLASSIFIERS) instead of the plain ones
    weighted: bool = False


class NoResampling:
    """The training fold as it is (the reference every oversampler must beat)."""

    def fit_resample(self, X, y):
        return X, y


def _k(info: FoldInfo, k: int = 5) -> int:
    """SMOTE's k, lowered when the fold has too few minority rows (k must be < n_minority)."""
    return max(1, min(k, info.n_minority - 1))


def _ros(seed: int, info: FoldInfo):
    from imblearn.over_sampling import RandomOverSampler

    return RandomOverSampler(random_state=seed)


def _smote(seed: int, info: FoldInfo):
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    if not info.nominal:
        return SMOTE(k_neighbors=_k(info), random_state=seed)
    if len(info.nominal) == len(info.columns):
        return SMOTEN(k_neighbors=_k(info), random_state=seed)
    return SMOTENC(categorical_features=info.nominal, k_neighbors=_k(info), random_state=seed)


def _borderline(seed: int, info: FoldInfo):
    from imblearn.over_sampling import BorderlineSMOTE

    return BorderlineSMOTE(k_neighbors=_k(info), random_state=seed)


def _adasyn(seed: int, info: FoldInfo):
    from imblearn.over_sampling import ADASYN

    return ADASYN(n_neighbors=_k(info), random_state=seed)


class SmoteVariant:
    """A smote-variants oversampler behind ``fit_resample`` (its API is ``sample(X, y)``)."""

    def __init__(self, name: str, seed: int) -> None:
        import smote_variants  # noqa: F401 - imported here so that fit time excludes it

        self.name, self.seed = name, seed

    def fit_resample(self, X, y):
        import smote_variants as sv

        logging.getLogger("smote_variants").setLevel(logging.WARNING)
        labels = np.unique(y)
        if len(labels) != 2:
            raise ValueError(f"{self.name} is binary only; got classes {labels.tolist()}")
        counts = pd.Series(y).value_counts()
        minority = counts.idxmin()
        y01 = (np.asarray(y) == minority).astype(int)
        X_res, y_res = getattr(sv, self.name)(random_state=self.seed).sample(np.asarray(X), y01)
        majority = counts.idxmax()
        return X_res, np.where(y_res == 1, minority, majority).astype(np.asarray(y).dtype)


def fill_to_largest(
    X: pd.DataFrame, y: np.ndarray, rows_for: Callable[[Any, int], pd.DataFrame]
) -> tuple[pd.DataFrame, np.ndarray]:
    """``X`` and ``y`` followed, for every class below the largest, by ``rows_for(cls, need)``
    (exactly ``need`` new rows of that class): the baselines that generate whole classes."""
    counts = pd.Series(y).value_counts()
    pieces, labels = [X.reset_index(drop=True)], [y]
    for cls, n in counts.items():
        need = int(counts.max() - n)
        if need > 0:
            pieces.append(rows_for(cls, need))
            labels.append(np.full(need, cls, dtype=y.dtype))
    return pd.concat(pieces, ignore_index=True), np.concatenate(labels)


class CTGANOverSampler:
    """CTGAN (the ``ctgan`` package) at its default settings, used as an oversampler.

    It is trained on the whole training fold with the class as one more discrete column;
    minority rows are drawn with conditional sampling (``condition_column=<class>``) and only
    rows that come out with the requested class are kept, round after round, until the
    classes are balanced (conditional sampling in CTGAN is a strong hint, not a guarantee).
    """

    max_rounds = 50

    def __init__(self, seed: int) -> None:
        import ctgan  # noqa: F401 - imported here so that fit time excludes it

        self.seed = seed

    def fit_resample(self, X: pd.DataFrame, y):
        from ctgan import CTGAN

        y_arr = np.asarray(y)
        y = pd.Series(y_arr)
        target = "Class"
        while target in X.columns:
            target = "_" + target
        frame = X.reset_index(drop=True).copy()
        frame[target] = y.astype(str).to_numpy()
        discrete = nominal_columns(X) + [target]
        model = CTGAN()
        model.set_random_state(self.seed)
        model.fit(frame, discrete_columns=discrete)

        def rows_for(cls: Any, need: int) -> pd.DataFrame:
            got: list[pd.DataFrame] = []
            have = 0
            for _ in range(self.max_rounds):
                rows = model.sample(
                    max(2 * (need - have), 100), condition_column=target, condition_value=str(cls)
                )
                rows = rows[rows[target] == str(cls)]
                got.append(rows)
                have += len(rows)
                if have >= need:
                    break
            if have < need:
                raise RuntimeError(
                    f"CTGAN gave {have} of {need} rows of class {cls!r} in {self.max_rounds} rounds"
                )
            rows = pd.concat(got, ignore_index=True).iloc[:need].drop(columns=[target])
            return rows.astype(X.dtypes.to_dict())

        return fill_to_largest(X, y_arr, rows_for)


@lru_cache(maxsize=1)
def _forest_diffusion_model() -> type:
    """``ForestDiffusionModel`` with its one-hot decoding fixed.

    ForestDiffusion 1.0.6 names the dummies of categorical column ``i`` ``"<i>_<code>"`` and
    gathers them back with ``"<i>_" in name``, so with 11 or more columns the dummies of column
    11 are taken for column 1's too (1 and 11 categorical: column 1 comes out wrong). This
    subclass matches the prefix at the start of the name, and returns a writable array (under
    pandas 3 the package's ``DataFrame.to_numpy()`` is a read-only view, on which its
    ``clip_extremes`` fails when integer columns are declared too); everything else is the
    package's.
    """
    from ForestDiffusion import ForestDiffusionModel

    class FixedForestDiffusionModel(ForestDiffusionModel):
        def clean_onehot_data(self, X):
            if len(self.cat_indexes) == 0:
                return X
            names = list(self.X_names_after)
            for i in self.cat_indexes:
                prefix = f"{i}_"
                idx = [k for k, name in enumerate(self.X_names_after) if name.startswith(prefix)]
                # the first category was dropped: it wins when every dummy is below 0.5
                dummies = np.concatenate([np.full((len(X), 1), 0.5), X[:, idx]], axis=1)
                X[:, idx[0]] = np.argmax(dummies, axis=1)
                names[idx[0]] = str(i)
            frame = pd.DataFrame(X, columns=names)[list(self.X_names_before)]
            return frame.to_numpy(copy=True)  # writable: clip_extremes rounds in place

    return FixedForestDiffusionModel


class ForestDiffusionOverSampler:
    """ForestDiffusion (the ``ForestDiffusion`` package; Jolicoeur-Martineau et al., AISTATS
    2024: XGBoost regressors as the flow of a flow-matching model) used as an oversampler.

    For each class below the largest, one model is fitted on that class's rows only and
    exactly the missing rows are generated. Settings: the package's defaults
    (``diffusion_type="flow"``, ``n_t=50``, ``duplicate_K=100``, 100 trees of depth 7), one
    thread (``n_jobs=1``, XGBoost ``nthread=1``), ``seed`` the fold seed; ``options`` override
    them (tests use tiny ones). Nominal columns are factorized within the class rows and
    declared through the package's own arguments: 3 or more levels ``cat_indexes`` (dummy
    coded), 2 levels ``bin_indexes``, one level ``int_indexes`` (kept constant; as a
    categorical the package fails on it); numeric columns whose training-fold values are all
    whole numbers go to ``int_indexes`` (rounded), as the package asks. The generated rows get
    the raw frame's dtypes back. Any failure of the package (or a non-finite value in the
    output) is raised as a RuntimeError naming the class, so the runner records a fallback.
    """

    defaults: dict[str, Any] = {"diffusion_type": "flow", "n_t": 50, "duplicate_K": 100}

    def __init__(self, seed: int, **options: Any) -> None:
        import ForestDiffusion  # noqa: F401 - imported here so that fit time excludes it

        self.seed = seed
        self.options = {**self.defaults, **options}

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The settings, stored with each cell (``sampler_params``)."""
        return {"seed": self.seed, **self.options}

    def fit_resample(self, X: pd.DataFrame, y):
        y_arr = np.asarray(y)
        X = X.reset_index(drop=True)

        def rows_for(cls: Any, need: int) -> pd.DataFrame:
            real = X[y_arr == cls].reset_index(drop=True)
            return self._generate(real, need, X, cls)

        return fill_to_largest(X, y_arr, rows_for)

    def _generate(self, real: pd.DataFrame, need: int, X: pd.DataFrame, cls: Any) -> pd.DataFrame:
        nominal = set(nominal_columns(X))
        columns, levels = [], {}
        cat, binary, integer = [], [], []
        for j, col in enumerate(real.columns):
            if col in nominal:
                codes, uniques = pd.factorize(real[col], use_na_sentinel=False)
                columns.append(codes.astype(float))
                levels[col] = uniques
                (cat if len(uniques) >= 3 else binary if len(uniques) == 2 else integer).append(j)
            else:
                columns.append(real[col].to_numpy(dtype=float, na_value=np.nan))
                whole = X[col].to_numpy(dtype=float, na_value=np.nan)
                if np.isfinite(whole).all() and (whole == np.round(whole)).all():
                    integer.append(j)
        data = np.column_stack(columns)
        options = {"n_jobs": 1, "nthread": 1, **self.options, "seed": self.seed}
        # the package draws from numpy's legacy global generator: restore it afterwards
        state = np.random.get_state()  # noqa: NPY002
        try:
            model = _forest_diffusion_model()(
                data, cat_indexes=cat, bin_indexes=binary, int_indexes=integer, **options
            )
            out = np.asarray(model.generate(batch_size=need), dtype=float)
        except Exception as exc:
            raise RuntimeError(
                f"ForestDiffusion failed on the {len(real)} rows of class {cls!r} "
                f"({data.shape[1]} columns): {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            np.random.set_state(state)  # noqa: NPY002
        if out.shape != (need, data.shape[1]):
            raise RuntimeError(
                f"ForestDiffusion gave an array of shape {out.shape} for {need} rows of class "
                f"{cls!r} with {data.shape[1]} columns"
            )
        bad = ~np.isfinite(out).all(axis=0) & np.isfinite(data).all(axis=0)
        if bad.any():
            names = ", ".join(str(c) for c, b in zip(real.columns, bad, strict=True) if b)
            raise RuntimeError(
                f"ForestDiffusion gave non-finite values for class {cls!r} in columns {names}, "
                "which are finite in the real rows"
            )
        rows = {}
        for j, col in enumerate(real.columns):
            if col in levels:
                codes = np.clip(np.rint(out[:, j]), 0, len(levels[col]) - 1).astype(int)
                rows[col] = np.asarray(levels[col].take(codes))
            else:
                rows[col] = out[:, j]
        return pd.DataFrame(rows).astype(real.dtypes.to_dict())


def _parse_value(text: str) -> Any:
    """A spec value: bool, None, int, float, ``[a;b;...]`` (a list, e.g. layer widths) or
    the string itself."""
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_parse_value(v.strip()) for v in inner.split(";")] if inner else []
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


# one row per generative family at its library defaults (issue: every family in the benchmark)
FAMILY_SPECS = ("gb-gan", "gb-vae", "gb-made", "gb-rbm", "gb-diffusion")


def parse_gb_spec(spec: str) -> dict[str, Any]:
    """Keyword arguments of ``GenerativeOverSampler`` for a genbalance spec string.

    ``gb-default`` -> library defaults; ``gb-gan``, ``gb-vae``, ``gb-made``, ``gb-rbm``,
    ``gb-diffusion`` -> that family at its defaults;
    ``gb:<family>,key=value,...`` -> that family and options (ints, floats, bools, None,
    lists as ``[a;b]``, strings); ``a.b=v`` puts ``b=v`` into the dict option ``a`` (e.g.
    ``model_options``).
    """
    if spec == "gb-default":
        return {}
    if spec in FAMILY_SPECS:
        return {"model": spec[3:]}
    if not spec.startswith("gb:") or len(spec) <= 3:
        raise ValueError(
            f"unknown genbalance sampler {spec!r}; use gb-default, {', '.join(FAMILY_SPECS)} or "
            "gb:<family>[,key=value,...] (e.g. gb:vae,epochs=50,generation=hybrid)"
        )
    family, *pairs = spec[3:].split(",")
    options: dict[str, Any] = {"model": family.strip()}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"in {spec!r}: {pair!r} is not key=value")
        if "." in key:
            outer, inner = key.split(".", 1)
            options.setdefault(outer, {})[inner] = _parse_value(value.strip())
        else:
            options[key] = _parse_value(value.strip())
    return options


def _genbalance(spec: str) -> SamplerDef:
    options = parse_gb_spec(spec)

    def make(seed: int, info: FoldInfo):
        from genbalance.sampling.tabular import GenerativeOverSampler

        return GenerativeOverSampler(**{**options, "random_state": seed})

    # build once now so that a misspelt option fails before the run, not in every fold
    from genbalance.sampling.tabular import GenerativeOverSampler

    GenerativeOverSampler(**options)
    return SamplerDef(make, "raw", (), f"genbalance GenerativeOverSampler({options})")


SAMPLERS: dict[str, SamplerDef] = {
    "none": SamplerDef(lambda seed, info: NoResampling(), doc="no resampling"),
    "weighted": SamplerDef(
        lambda seed, info: NoResampling(),
        doc="no resampling; cost-sensitive classifiers (balanced class/sample weights; "
        "k-NN: class-weighted votes)",
        weighted=True,
    ),
    "ros": SamplerDef(_ros, doc="imbalanced-learn RandomOverSampler"),
    "smote": SamplerDef(_smote, doc="SMOTE; SMOTENC with nominal columns, SMOTEN if all nominal"),
    "borderline": SamplerDef(_borderline, "encoded", doc="imbalanced-learn BorderlineSMOTE"),
    "adasyn": SamplerDef(_adasyn, "encoded", doc="imbalanced-learn ADASYN"),
    "polyfit": SamplerDef(
        lambda seed, info: SmoteVariant("polynom_fit_SMOTE_star", seed),
        "encoded",
        ("smote_variants",),
        "smote-variants polynom_fit_SMOTE_star",
    ),
    "prowsyn": SamplerDef(
        lambda seed, info: SmoteVariant("ProWSyn", seed),
        "encoded",
        ("smote_variants",),
        "smote-variants ProWSyn",
    ),
    "ctgan": SamplerDef(
        lambda seed, info: CTGANOverSampler(seed), "raw", ("ctgan",), "ctgan.CTGAN() defaults"
    ),
    "forestdiffusion": SamplerDef(
        lambda seed, info: ForestDiffusionOverSampler(seed),
        "raw",
        ("ForestDiffusion",),
        "ForestDiffusion (flow, n_t=50, duplicate_K=100) fitted on each minority class's rows",
    ),
}


def register_sampler(name: str, definition: SamplerDef) -> None:
    """Add (or replace) a named sampler, e.g. a variant under study."""
    SAMPLERS[name] = definition


def get_sampler(name: str) -> SamplerDef:
    """The definition of a sampler name or genbalance spec; ValueError lists what is accepted."""
    if name in SAMPLERS:
        return SAMPLERS[name]
    if name.startswith("gb"):
        return _genbalance(name)
    raise ValueError(
        f"unknown sampler {name!r}; accepted: {', '.join(SAMPLERS)}, gb-default, "
        f"{', '.join(FAMILY_SPECS)}, gb:<family>[,key=value,...]"
    )


def fold_info(X: pd.DataFrame, y: np.ndarray, positive: Any) -> FoldInfo:
    counts = pd.Series(y).value_counts()
    return FoldInfo(list(X.columns), nominal_columns(X), int(counts.min()), positive)


def split_samplers(values: list[str] | str) -> list[str]:
    """Sampler names from comma lists; ``key=value`` pieces stay with the ``gb:`` spec before
    them, so ``none,smote,gb:vae,epochs=50`` gives ``none``, ``smote``, ``gb:vae,epochs=50``."""
    out: list[str] = []
    for value in [values] if isinstance(values, str) else values:
        for token in value.split(","):
            token = token.strip()
            if not token:
                continue
            if "=" in token and out and out[-1].startswith("gb:"):
                out[-1] += "," + token
            elif "=" in token:
                raise ValueError(f"option {token!r} follows no gb:<family> sampler")
            else:
                out.append(token)
    return list(dict.fromkeys(out))
