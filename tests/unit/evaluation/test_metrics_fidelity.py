"""Fidelity metrics: hand-computed values, SDMetrics agreement, and detection sanity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from genbalance.evaluation import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    detection_score,
    fidelity_report,
    ks_complement,
    tv_complement,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """OpenMP in gradient boosting crawls on a shared, busy 2-core box; one thread is steady."""
    with threadpool_limits(limits=1):
        yield


def _mixed(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(shift, 1.0, n)
    return pd.DataFrame(
        {
            "a": a,
            "b": 2.0 * a + rng.normal(0.0, 0.5, n),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
            "count": rng.poisson(3.0, n),
        }
    )


# --------------------------------------------------------------------- hand-computed values
def test_ks_complement_hand_computed() -> None:
    # ECDFs differ most at x in [2, 3): real 0.4 vs synthetic 0.0 (and at 5: 1.0 vs 0.6).
    real = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    synth = pd.Series([3.0, 4.0, 5.0, 6.0, 7.0, np.nan])  # NaN is dropped
    assert ks_complement(real, synth) == pytest.approx(0.6)
    assert ks_complement(real, real.sample(frac=1.0, random_state=0)) == pytest.approx(1.0)
    assert ks_complement([1, 2, 3], [10, 11]) == pytest.approx(0.0)
    assert np.isnan(ks_complement([1.0, 2.0], [np.nan]))


def test_tv_complement_hand_computed() -> None:
    # p = (a .5, b .25, c .25), q = (a .25, b .5, d .25): sum |p - q| = 1, TVD = 0.5.
    assert tv_complement(list("aabc"), list("abbd")) == pytest.approx(0.5)
    assert tv_complement(list("abc"), list("cab")) == pytest.approx(1.0)
    assert tv_complement(list("aa"), list("bb")) == pytest.approx(0.0)
    # ints vs floats of the same values are the same categories
    assert tv_complement(pd.Series([1, 2, 2]), pd.Series([1.0, 2.0, 2.0])) == pytest.approx(1.0)


def test_tv_complement_missing_values() -> None:
    real = pd.Series(["a", "a", None, "b"], dtype=object)
    synth = pd.Series(["a", None, None, "b"], dtype=object)
    # dropped (SDMetrics): (2/3, 1/3) vs (1/2, 1/2) -> TVD 1/6
    assert tv_complement(real, synth) == pytest.approx(5.0 / 6.0)
    # as a category: (.5, .25, .25) vs (.25, .25, .5) -> TVD .25
    assert tv_complement(real, synth, dropna=False) == pytest.approx(0.75)


def test_correlation_similarity_correlated_vs_anticorrelated() -> None:
    x = np.arange(1.0, 11.0)
    real = pd.DataFrame({"x": x, "y": 2.0 * x})  # r = +1
    same = pd.DataFrame({"x": x, "y": 3.0 * x + 1.0})  # r = +1
    anti = pd.DataFrame({"x": x, "y": -x})  # r = -1
    assert correlation_similarity(real, same) == pytest.approx(1.0)
    assert correlation_similarity(real, anti) == pytest.approx(0.0)
    uncorrelated = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, -1.0, -1.0, 1.0]})  # r=0
    assert correlation_similarity(real, uncorrelated) == pytest.approx(0.5)


def test_contingency_similarity_known_table() -> None:
    # real joint: ax ay bx by 1/6 each, cx 2/6; synthetic: the six cells 1/6 each.
    # differences: cx 1/6, cy 1/6 -> TVD = 1/6.
    real = pd.DataFrame({"u": list("aabbcc"), "v": list("xyxyxx")})
    synth = pd.DataFrame({"u": list("abcabc"), "v": list("xxxyyy")})
    assert contingency_similarity(real, synth) == pytest.approx(5.0 / 6.0)
    assert contingency_similarity(real, real.iloc[::-1]) == pytest.approx(1.0)
    disjoint = pd.DataFrame({"u": list("dd"), "v": list("zz")})
    assert contingency_similarity(real, disjoint) == pytest.approx(0.0)


def test_contingency_bins_numeric_column_with_real_quantiles() -> None:
    real = pd.DataFrame({"num": np.arange(100.0), "cat": ["p", "q"] * 50})
    # same quantile bins and categories -> identical joint table
    assert contingency_similarity(real, real, continuous_columns=["num"], n_bins=4) == 1.0
    # every synthetic value above the real range lands in the top bin (1/4 of the real mass)
    high = real.assign(num=real["num"] + 1000.0)
    score = contingency_similarity(real, high, continuous_columns=["num"], n_bins=4)
    assert score == pytest.approx(0.25)


# --------------------------------------------------------------------- SDMetrics agreement
# Reference numbers computed once with sdmetrics 0.32.0 on exactly these inputs, in a separate
# environment (sdmetrics pins pandas<3, so it cannot live in this project's environment).
def _sdm_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(42)
    a = rng.normal(size=200)
    b = 0.6 * a + rng.normal(size=200)
    c = rng.normal(size=300)
    d = -0.3 * c + rng.normal(size=300)
    return pd.DataFrame({"x": a, "y": b}), pd.DataFrame({"x": c, "y": d})


SDM_CASES = {
    "ks": 0.9266666666666666,
    "tv": 0.5000001874999531,  # SDMetrics adds 1e-6 to unseen categories
    "tv_nan": 0.8333333333333334,
    "corr": 0.5865913156887107,
    "corr_nan": 0.05882352941176461,
    "contingency": 0.8333333333333334,
    "contingency_nan": 0.8333333333333334,
}


def _ours() -> dict[str, float]:
    real, synth = _sdm_inputs()
    nan_r = pd.DataFrame({"x": [1.0, 2, np.nan, 4, 5, 6], "y": [2.0, 1, 3, np.nan, 6, 5]})
    nan_s = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6], "y": [6.0, 5, 4, 3, 2, 1]})
    cont_r = pd.DataFrame({"u": ["a", "a", None, "b", "b", None], "v": list("xyxyxx")})
    cont_s = pd.DataFrame({"u": ["a", None, "b", "a", "b", "b"], "v": list("xxxyyy")})
    return {
        "ks": ks_complement(real["x"], synth["x"]),
        "tv": tv_complement(pd.Series(list("aabc")), pd.Series(list("abbd"))),
        "tv_nan": tv_complement(
            pd.Series(["a", "a", None, "b"], dtype=object),
            pd.Series(["a", None, None, "b"], dtype=object),
        ),
        "corr": correlation_similarity(real, synth),
        "corr_nan": correlation_similarity(nan_r, nan_s),
        "contingency": contingency_similarity(
            pd.DataFrame({"u": list("aabbcc"), "v": list("xyxyxx")}),
            pd.DataFrame({"u": list("abcabc"), "v": list("xxxyyy")}),
        ),
        "contingency_nan": contingency_similarity(cont_r, cont_s),
    }


@pytest.mark.parametrize("case", sorted(SDM_CASES))
def test_matches_recorded_sdmetrics_values(case: str) -> None:
    assert _ours()[case] == pytest.approx(SDM_CASES[case], abs=1e-6)


def test_matches_live_sdmetrics() -> None:
    sdm = pytest.importorskip("sdmetrics")
    from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity
    from sdmetrics.single_column import KSComplement, TVComplement

    real, synth = _sdm_inputs()
    assert ks_complement(real["x"], synth["x"]) == pytest.approx(
        KSComplement.compute(real["x"], synth["x"])
    )
    cats_r, cats_s = pd.Series(list("aabcc")), pd.Series(list("abbdc"))
    assert tv_complement(cats_r, cats_s) == pytest.approx(
        TVComplement.compute(cats_r, cats_s), abs=1e-5
    )
    assert correlation_similarity(real, synth) == pytest.approx(
        CorrelationSimilarity.compute(real, synth)
    )
    pair_r = pd.DataFrame({"u": list("aabbcc"), "v": list("xyxyxx")})
    pair_s = pd.DataFrame({"u": list("abcabc"), "v": list("xxxyyy")})
    assert contingency_similarity(pair_r, pair_s) == pytest.approx(
        ContingencySimilarity.compute(pair_r, pair_s)
    )
    assert sdm.__version__


# --------------------------------------------------------------------- table-level scores
def test_column_shapes_picks_metric_by_kind_and_reports_mean() -> None:
    real, synth = _mixed(300, 0), _mixed(300, 1)
    shapes = column_shapes(real, synth)
    assert list(shapes.columns) == ["column", "metric", "score"]
    assert dict(zip(shapes["column"], shapes["metric"], strict=True)) == {
        "a": "KSComplement",
        "b": "KSComplement",
        "colour": "TVComplement",
        "count": "KSComplement",
    }
    assert shapes.attrs["score"] == pytest.approx(shapes["score"].mean())
    declared = column_shapes(real, synth, categorical_features=["count"])
    assert declared.set_index("column").loc["count", "metric"] == "TVComplement"
    by_position = column_shapes(real, synth, categorical_features=[3])
    pd.testing.assert_frame_equal(by_position, declared)
    assert column_shapes(real, real)["score"].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_datetime_columns_are_compared_as_numbers() -> None:
    days = pd.Series(pd.date_range("2024-01-01", periods=10, freq="D"))
    real = pd.DataFrame({"when": days, "n": np.arange(10.0)})
    later = real.assign(when=days + pd.Timedelta(days=5), n=np.arange(10.0) + 5.0)
    shapes = column_shapes(real, later).set_index("column")
    assert shapes.loc["when", "metric"] == "KSComplement"
    assert shapes.loc["when", "score"] == pytest.approx(0.5)
    assert shapes.loc["when", "score"] == pytest.approx(shapes.loc["n", "score"])
    pairs = column_pair_trends(real, later)
    assert pairs["score"].iloc[0] == pytest.approx(1.0)


def test_column_pair_trends_kinds_and_pair_cap() -> None:
    real, synth = _mixed(300, 0), _mixed(300, 1)
    pairs = column_pair_trends(real, synth)
    assert list(pairs.columns) == ["column_1", "column_2", "metric", "score"]
    assert len(pairs) == 6
    by_pair = pairs.set_index(["column_1", "column_2"])["metric"]
    assert by_pair[("a", "b")] == "CorrelationSimilarity"
    assert by_pair[("a", "colour")] == "ContingencySimilarity"
    assert column_pair_trends(real, real)["score"].min() == pytest.approx(1.0)
    # breaking the a-b correlation must show in that pair only
    broken = synth.assign(b=-synth["b"])
    ab = column_pair_trends(real, broken).set_index(["column_1", "column_2"]).loc[("a", "b")]
    assert ab["score"] < 0.1

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(50, 30)), columns=[f"c{i}" for i in range(30)])
    capped = column_pair_trends(wide, wide, max_pairs=40, random_state=3)
    assert len(capped) == 40  # out of 435
    again = column_pair_trends(wide, wide, max_pairs=40, random_state=3)
    pd.testing.assert_frame_equal(capped, again)
    assert len(column_pair_trends(wide, wide, max_pairs=None)) == 435


def test_mismatched_columns_are_refused() -> None:
    real = _mixed(10, 0)
    with pytest.raises(ValueError, match="colour"):
        column_shapes(real, real.drop(columns="colour"))
    with pytest.raises(ValueError, match="nope"):
        column_shapes(real, real, categorical_features=["nope"])


# --------------------------------------------------------------------- detection
def test_detection_resample_is_indistinguishable() -> None:
    real = _mixed(600, 0)
    resample = real.sample(n=600, replace=True, random_state=1).reset_index(drop=True)
    result = detection_score(real, resample, random_state=0)
    assert set(result) == {"logistic_regression_auc", "gradient_boosting_auc", "auc", "score"}
    assert result["auc"] == max(result["logistic_regression_auc"], result["gradient_boosting_auc"])
    assert result["auc"] < 0.6
    assert result["score"] == pytest.approx(1.0 - 2.0 * abs(result["auc"] - 0.5))


def test_detection_shifted_distribution_is_caught() -> None:
    real = _mixed(600, 0)
    shifted = _mixed(600, 1, shift=2.0)
    result = detection_score(real, shifted, random_state=0)
    assert result["auc"] > 0.9
    assert result["score"] < 0.2


def test_fidelity_report_overall_and_per_class_rows() -> None:
    real, synth = _mixed(400, 0), _mixed(400, 1)
    real_y = np.where(real["a"] > 0.8, "rare", "common")
    synth_y = np.where(synth["a"] > 0.8, "rare", "common")
    synth_y[:3] = "ghost"  # a class absent from the real data gets no row
    report = fidelity_report(real, synth, real_y, synth_y, random_state=0, max_pairs=10)
    assert report["scope"].tolist() == ["overall", "class", "class"]
    assert report["label"].tolist()[1:] == ["common", "rare"]
    assert pd.isna(report["label"].iloc[0])
    n_common = int((real_y == "common").sum())
    assert report["n_real"].tolist() == [400, n_common, 400 - n_common]
    expected = {
        "scope",
        "label",
        "n_real",
        "n_synthetic",
        "column_shapes",
        "column_pair_trends",
        "detection_auc",
        "detection_score",
    }
    assert set(report.columns) == expected
    scores = report[["column_shapes", "column_pair_trends", "detection_score"]].to_numpy()
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    no_det = fidelity_report(real, synth, detection=False)
    assert len(no_det) == 1 and np.isnan(no_det["detection_auc"].iloc[0])
    with pytest.raises(ValueError, match="both"):
        fidelity_report(real, synth, real_y=real_y)
