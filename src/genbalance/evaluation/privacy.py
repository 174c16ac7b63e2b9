"""Privacy: does the synthetic data give away the rows it was trained on?

A generator that memorises its training rows gets perfect fidelity scores, so fidelity must
always be read next to these numbers. Distances are Euclidean on one-hot + robust-scaled
features (median / IQR of the real training data), so a column with outliers does not swamp
the others and every category mismatch costs the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neighbors import NearestNeighbors

from genbalance.encoders.rows import (
    CategoricalSpec,
    row_hashes_like,
    split_columns,
    training_row_hashes,
)
from genbalance.evaluation.features import check_same_columns, encode_pair, without_ids

__all__ = [
    "dcr",
    "exact_copies",
    "membership_inference",
    "privacy_report",
    "remove_exact_copies",
]


def _nearest(reference: np.ndarray, queries: np.ndarray, k: int, batch_size: int) -> np.ndarray:
    """Distances from each query row to its ``k`` nearest reference rows, ``(n, k)``.

    Queries go in batches so the working set stays bounded on 100k-row tables (scikit-learn
    also chunks the distance computation itself).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    k = min(k, len(reference))
    out = np.empty((len(queries), k))
    if len(queries) == 0:
        return out
    index = NearestNeighbors(n_neighbors=k).fit(reference)
    for start in range(0, len(queries), batch_size):
        stop = start + batch_size
        out[start:stop] = index.kneighbors(queries[start:stop], return_distance=True)[0]
    return out


def _subsample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def dcr(
    real_train: pd.DataFrame,
    synth: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    categorical_features: CategoricalSpec = None,
    random_state: int | None = 0,
    batch_size: int = 4096,
) -> dict[str, float]:
    """Distance to closest record of each synthetic row among the real training rows.

    Returns a dict of floats:

    - ``dcr_median``, ``dcr_p05``, ``dcr_mean``: the DCR distribution (0 = a copy).
    - ``nndr_median``: median nearest / second-nearest distance ratio (0 for exact copies;
      near 1 means the row is no closer to one record than to its neighbours).

    With a ``holdout`` (real rows the generator never saw) also:

    - ``share_closer_to_train``: share of synthetic rows nearer to the training data than to
      the holdout (ties count half). The larger of the two real sets is first subsampled to
      the size of the smaller, so 0.5 means "no leak" and 1.0 means memorisation.
    - ``overfitting_protection``: ``min(1, 2 * (1 - share_closer_to_train))`` (1 = safe),
      in the spirit of SDMetrics' DCROverfittingProtection.
    - ``holdout_dcr_median``: median distance from holdout rows to the training rows, the
      scale a fresh real sample would show.
    """
    check_same_columns(real_train, synth, ("real_train", "synth"))
    others = [synth]
    if holdout is not None:
        check_same_columns(real_train, holdout, ("real_train", "holdout"))
        others.append(holdout)
    encoded = encode_pair(real_train, others, categorical_features, scaler="robust")
    train_x, synth_x = encoded[0], encoded[1]
    dist = _nearest(train_x, synth_x, 2, batch_size)
    d1 = dist[:, 0]
    if dist.shape[1] > 1:
        d2 = dist[:, 1]
        nndr = np.divide(d1, d2, out=np.zeros_like(d1), where=d2 > 0)
    else:
        nndr = np.full_like(d1, np.nan)
    result = {
        "dcr_median": float(np.median(d1)) if d1.size else float("nan"),
        "dcr_p05": float(np.percentile(d1, 5)) if d1.size else float("nan"),
        "dcr_mean": float(np.mean(d1)) if d1.size else float("nan"),
        "nndr_median": float(np.median(nndr)) if nndr.size else float("nan"),
    }
    if holdout is not None:
        hold_x = encoded[2]
        rng = np.random.default_rng(random_state)
        size = min(len(train_x), len(hold_x))
        train_s = train_x[_subsample(len(train_x), size, rng)]
        hold_s = hold_x[_subsample(len(hold_x), size, rng)]
        to_train = _nearest(train_s, synth_x, 1, batch_size)[:, 0]
        to_hold = _nearest(hold_s, synth_x, 1, batch_size)[:, 0]
        share = float(np.mean(to_train < to_hold) + 0.5 * np.mean(to_train == to_hold))
        result["share_closer_to_train"] = share
        result["overfitting_protection"] = float(min(1.0, 2.0 * (1.0 - share)))
        result["holdout_dcr_median"] = float(
            np.median(_nearest(train_x, hold_x, 1, batch_size)[:, 0])
        )
    return result


def membership_inference(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame,
    synth: pd.DataFrame,
    categorical_features: CategoricalSpec = None,
    batch_size: int = 4096,
) -> dict[str, float]:
    """A distance attack: "a row is a training member if a synthetic row lies close to it".

    Each candidate (training rows = members, holdout rows = non-members) is scored by minus
    its distance to the nearest synthetic row; features are encoded with statistics of the
    synthetic data only, which is all an attacker holds. Returns ``auc`` (attack ROC-AUC,
    0.5 = no leak, 1 = every member identified), ``advantage`` (max TPR - FPR),
    ``member_dcr_median``, ``non_member_dcr_median``, ``n_members`` and ``n_non_members``.
    """
    check_same_columns(real_train, real_holdout, ("real_train", "real_holdout"))
    _, categorical = split_columns(real_train, categorical_features)  # kinds from real data
    check_same_columns(real_train, synth, ("real_train", "synth"))
    synth_x, train_x, hold_x = encode_pair(
        synth, [real_train, real_holdout], categorical, scaler="robust"
    )
    d_train = _nearest(synth_x, train_x, 1, batch_size)[:, 0]
    d_hold = _nearest(synth_x, hold_x, 1, batch_size)[:, 0]
    is_member = np.r_[np.ones(d_train.size, dtype=bool), np.zeros(d_hold.size, dtype=bool)]
    score = -np.r_[d_train, d_hold]
    if d_train.size == 0 or d_hold.size == 0:
        auc = advantage = float("nan")
    else:
        auc = float(roc_auc_score(is_member, score))
        fpr, tpr, _ = roc_curve(is_member, score)
        advantage = float(np.max(tpr - fpr))
    return {
        "auc": auc,
        "advantage": advantage,
        "member_dcr_median": float(np.median(d_train)) if d_train.size else float("nan"),
        "non_member_dcr_median": float(np.median(d_hold)) if d_hold.size else float("nan"),
        "n_members": float(d_train.size),
        "n_non_members": float(d_hold.size),
    }


def _copy_mask(
    real_train: pd.DataFrame,
    synth: pd.DataFrame,
    categorical_features: CategoricalSpec,
    decimals: int | None,
) -> np.ndarray:
    check_same_columns(real_train, synth, ("real_train", "synth"))
    train_h, split = training_row_hashes(real_train, categorical_features, decimals)
    return np.isin(row_hashes_like(synth[list(real_train.columns)], split, decimals), train_h)


def exact_copies(
    real_train: pd.DataFrame,
    synth: pd.DataFrame,
    categorical_features: CategoricalSpec = None,
    decimals: int | None = None,
) -> int:
    """Number of synthetic rows equal, in every column, to some training row.

    Rows are compared by a 64-bit hash of their normalised values (missing equals missing);
    ``decimals`` rounds numeric columns first, to also catch copies that went through a
    lossy decode. Features only: the label is not compared.
    """
    return int(_copy_mask(real_train, synth, categorical_features, decimals).sum())


def remove_exact_copies(
    real_train: pd.DataFrame,
    synth: pd.DataFrame,
    synth_y: Any = None,
    categorical_features: CategoricalSpec = None,
    decimals: int | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, Any]:
    """Drop synthetic rows that copy a training row (see :func:`exact_copies`).

    Returns the kept synthetic rows (original index kept), or ``(rows, labels)`` when
    ``synth_y`` is given; labels keep their type (Series, ndarray; lists become ndarrays).
    """
    keep = ~_copy_mask(real_train, synth, categorical_features, decimals)
    kept = synth.loc[keep]
    if synth_y is None:
        return kept
    if len(synth_y) != len(synth):
        raise ValueError(f"`synth_y` has {len(synth_y)} labels for {len(synth)} synthetic rows.")
    if isinstance(synth_y, pd.Series | pd.DataFrame):  # labels pair with rows by position
        return kept, synth_y.iloc[keep]
    return kept, np.asarray(synth_y)[keep]


def privacy_report(
    real_train: pd.DataFrame,
    synth: pd.DataFrame,
    real_holdout: pd.DataFrame | None = None,
    categorical_features: CategoricalSpec = None,
    random_state: int | None = 0,
    batch_size: int = 4096,
    id_columns: Any = "auto",
) -> dict[str, float]:
    """All privacy numbers in one flat dict of floats.

    Keys: ``n_synthetic``, ``exact_copies``, ``exact_copy_rate``, every key of :func:`dcr`,
    and with a holdout also ``mia_auc`` and ``mia_advantage``. ID columns are left out
    (``id_columns``: "auto" = the encoder's rule, a list, or None): generated IDs never equal
    real ones, so with them a copied row would count as no copy and the distances would be
    those between IDs (:func:`~genbalance.evaluation.features.without_ids`).
    """
    check_same_columns(real_train, synth, ("real_train", "synth"))
    real_train, (synth, real_holdout), categorical_features, _ = without_ids(
        real_train, [synth, real_holdout], categorical_features, id_columns
    )
    assert synth is not None
    copies = exact_copies(real_train, synth, categorical_features)
    out: dict[str, float] = {
        "n_synthetic": float(len(synth)),
        "exact_copies": float(copies),
        "exact_copy_rate": copies / len(synth) if len(synth) else float("nan"),
    }
    out.update(dcr(real_train, synth, real_holdout, categorical_features, random_state, batch_size))
    if real_holdout is not None:
        mia = membership_inference(
            real_train, real_holdout, synth, categorical_features, batch_size
        )
        out["mia_auc"] = mia["auc"]
        out["mia_advantage"] = mia["advantage"]
    return out
