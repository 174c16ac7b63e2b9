"""Privacy metrics: a copy of the training data must leak, a fresh sample must not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genbalance.evaluation import (
    dcr,
    exact_copies,
    membership_inference,
    privacy_report,
    remove_exact_copies,
)


def _population(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40.0, 12.0, n),
            "income": rng.lognormal(10.0, 0.6, n),
            "score": rng.normal(0.0, 1.0, n),
            "city": rng.choice(["north", "south", "east", "west"], n),
            "visits": rng.poisson(4.0, n),
        }
    )


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return {
        "train": _population(500, 0),
        "holdout": _population(500, 1),
        "fresh": _population(500, 2),
    }


def test_copy_of_training_data_leaks(data: dict[str, pd.DataFrame]) -> None:
    train, holdout = data["train"], data["holdout"]
    copy = train.sample(frac=1.0, random_state=3).reset_index(drop=True)  # shuffled copy
    result = dcr(train, copy, holdout)
    assert result["dcr_median"] == pytest.approx(0.0, abs=1e-9)
    assert result["dcr_p05"] == pytest.approx(0.0, abs=1e-9)
    assert result["nndr_median"] == pytest.approx(0.0, abs=1e-9)
    assert result["share_closer_to_train"] > 0.9
    assert result["overfitting_protection"] < 0.2
    mia = membership_inference(train, holdout, copy)
    assert mia["auc"] > 0.8
    assert mia["member_dcr_median"] == pytest.approx(0.0, abs=1e-9)
    assert exact_copies(train, copy) == len(train)


def test_fresh_sample_does_not_leak(data: dict[str, pd.DataFrame]) -> None:
    train, holdout, fresh = data["train"], data["holdout"], data["fresh"]
    result = dcr(train, fresh, holdout)
    assert result["dcr_p05"] > 0.05
    assert result["share_closer_to_train"] == pytest.approx(0.5, abs=0.1)
    assert result["overfitting_protection"] > 0.8
    # fresh synthetic rows sit as far from the training rows as real unseen rows do
    assert result["dcr_median"] == pytest.approx(result["holdout_dcr_median"], rel=0.25)
    assert 0.3 < result["nndr_median"] <= 1.0
    mia = membership_inference(train, holdout, fresh)
    assert mia["auc"] == pytest.approx(0.5, abs=0.1)
    assert mia["n_members"] == 500 and mia["n_non_members"] == 500
    assert exact_copies(train, fresh) == 0


def test_partial_memorisation_is_in_between(data: dict[str, pd.DataFrame]) -> None:
    train, holdout, fresh = data["train"], data["holdout"], data["fresh"]
    half = pd.concat([train.iloc[:250], fresh.iloc[:250]], ignore_index=True)
    share = dcr(train, half, holdout)["share_closer_to_train"]
    assert 0.6 < share < 0.9
    assert exact_copies(train, half) == 250


def test_share_is_fair_when_train_is_larger_than_holdout(data: dict[str, pd.DataFrame]) -> None:
    # 500 train vs 100 holdout rows: without subsampling train, fresh rows would look close
    train, holdout, fresh = data["train"], data["holdout"].iloc[:100], data["fresh"]
    assert dcr(train, fresh, holdout)["share_closer_to_train"] == pytest.approx(0.5, abs=0.1)


def test_remove_exact_copies_removes_exactly_the_copies(data: dict[str, pd.DataFrame]) -> None:
    train, fresh = data["train"], data["fresh"]
    copied_rows = [3, 10, 499, 42]
    synth = pd.concat([fresh.iloc[:20], train.iloc[copied_rows]], ignore_index=True)
    synth = synth.sample(frac=1.0, random_state=0)  # copies scattered, index shuffled
    labels = pd.Series(np.where(synth.index >= 20, "copy", "new"), index=synth.index)

    kept = remove_exact_copies(train, synth)
    assert isinstance(kept, pd.DataFrame)
    assert len(kept) == 20 and (kept.index < 20).all()

    kept_x, kept_y = remove_exact_copies(train, synth, synth_y=labels)
    assert (kept_y == "new").all() and kept_y.index.equals(kept_x.index)
    kept_x2, kept_y2 = remove_exact_copies(train, synth, synth_y=labels.to_numpy())
    assert isinstance(kept_y2, np.ndarray) and (kept_y2 == "new").all()
    pd.testing.assert_frame_equal(kept_x, kept_x2)
    assert exact_copies(train, kept_x) == 0


def test_copies_are_found_across_dtypes_and_missing_values() -> None:
    train = pd.DataFrame(
        {"n": [1, 2, 3], "x": [0.5, np.nan, -0.0], "c": pd.Series(["a", None, "b"], dtype=object)}
    )
    # same values, different dtypes: floats for ints, str dtype, a NaN with another payload
    odd_nan = np.array([0xFFF8000000000001], dtype=np.uint64).view(np.float64)[0]
    synth = pd.DataFrame(
        {
            "n": [3.0, 2.0, 1.0, 1.0],
            "x": [0.0, odd_nan, 0.5, 0.5000001],
            "c": pd.Series(["b", None, "a", "a"], dtype="str"),
        }
    )
    assert exact_copies(train, synth) == 3
    assert exact_copies(train, synth, decimals=3) == 4
    near = remove_exact_copies(train, synth)
    assert near.index.tolist() == [3]


def test_privacy_report_bundles_everything(data: dict[str, pd.DataFrame]) -> None:
    train, holdout = data["train"], data["holdout"]
    leaky = pd.concat([train.iloc[:100], data["fresh"].iloc[:100]], ignore_index=True)
    report = privacy_report(train, leaky, holdout)
    assert report["n_synthetic"] == 200
    assert report["exact_copies"] == 100
    assert report["exact_copy_rate"] == pytest.approx(0.5)
    for key in ("dcr_median", "dcr_p05", "nndr_median", "share_closer_to_train", "mia_auc"):
        assert isinstance(report[key], float)
    assert report["mia_auc"] > 0.55
    without_holdout = privacy_report(train, leaky)
    assert "mia_auc" not in without_holdout and "share_closer_to_train" not in without_holdout


def test_dcr_batching_does_not_change_results(data: dict[str, pd.DataFrame]) -> None:
    train, fresh = data["train"], data["fresh"]
    assert dcr(train, fresh, batch_size=37) == dcr(train, fresh, batch_size=10_000)
