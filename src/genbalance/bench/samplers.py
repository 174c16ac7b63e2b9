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
        counts = y.value_counts()
        pieces, labels = [X.reset_index(drop=True)], [y_arr]
        for cls, n in counts.items():
            need = int(counts.max() - n)
            if need <= 0:
                continue
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
            pieces.append(rows.astype(X.dtypes.to_dict()))
            labels.append(np.full(need, cls, dtype=y_arr.dtype))
        return pd.concat(pieces, ignore_index=True), np.concatenate(labels)


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
