"""The significance tests of the benchmark summary, on small synthetic score tables whose answer
is known: a sampler that always wins must come out significantly better, identical samplers
must not, and baselines that cover fewer datasets are tested on the datasets they cover."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from genbalance.bench.stats import (
    friedman,
    holm,
    nemenyi_cd,
    plot_cd,
    wilcoxon_against,
    wilcoxon_pvalue,
)
from genbalance.bench.summary import per_dataset, summarize_table

pytest.importorskip("scikit_posthocs")


def _scores(n: int = 20, winner_gap: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Four samplers on ``n`` datasets; ``best`` is ahead of the rest by ``winner_gap``."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 0.8, size=(n, 1))
    noise = rng.normal(0, 0.01, size=(n, 4))
    table = pd.DataFrame(base + noise, columns=["a", "b", "c", "best"])
    table["best"] += winner_gap
    table.index = [f"d{i}" for i in range(n)]
    return table


def test_a_sampler_that_always_wins_is_significantly_better():
    result = friedman(_scores())
    assert result.n_datasets == 20
    assert result.mean_ranks["best"] == 1.0  # first on every dataset
    assert result.pvalue < 1e-4 and result.statistic > 20
    worse, better = result.nemenyi_split("best")
    assert sorted(worse) == ["a", "b", "c"] and better == []
    assert (result.holm_against("best") < 0.05).all()
    # seen from a loser, the winner is the one significantly better
    _, better_than_a = result.nemenyi_split("a")
    assert "best" in better_than_a
    tests = wilcoxon_against(_scores(), "best")
    assert (tests[["wins", "ties", "losses"]].to_numpy() == [20, 0, 0]).all()
    assert (tests["p"] < 1e-4).all() and (tests["p_holm"] >= tests["p"]).all()
    assert (tests["median_diff"] > 0.05).all()


def test_identical_samplers_are_not_significantly_different():
    same = _scores(winner_gap=0.0)[["a"]]
    table = pd.concat({name: same["a"] for name in ("x", "y", "z")}, axis=1)
    result = friedman(table)
    assert result.statistic == 0.0 and result.pvalue == 1.0
    assert (result.mean_ranks == 2.0).all()  # every dataset a three-way tie
    assert (result.nemenyi.to_numpy() == 1.0).all()
    assert result.nemenyi_split("x") == ([], [])
    assert (result.holm_against("x") == 1.0).all()
    assert wilcoxon_pvalue(table["x"], table["y"]) == 1.0


def test_noise_alone_is_not_significant():
    """Samplers drawn from one distribution: no pair is separated."""
    rng = np.random.default_rng(3)
    table = pd.DataFrame(rng.uniform(0.6, 0.9, size=(30, 4)), columns=list("abcd"))
    result = friedman(table)
    assert result.pvalue > 0.05
    assert all(result.nemenyi_split(s) == ([], []) for s in table.columns)


def test_critical_difference_matches_demsar_table():
    # Demšar (2006), table 5(a): q_0.05 = 2.569 for 4 classifiers, 2.728 for 5
    assert nemenyi_cd(4, 20) == pytest.approx(2.569 * np.sqrt(4 * 5 / (6 * 20)), abs=1e-3)
    assert nemenyi_cd(5, 30) == pytest.approx(2.728 * np.sqrt(5 * 6 / (6 * 30)), abs=1e-3)
    assert friedman(_scores()).cd == pytest.approx(nemenyi_cd(4, 20))


def test_friedman_drops_incomplete_datasets_and_needs_three_samplers():
    table = _scores()
    table.loc["d0", "a"] = np.nan
    assert friedman(table).n_datasets == 19
    with pytest.raises(ValueError, match="at least 3 samplers"):
        friedman(table[["a", "best"]])


def test_holm_step_down():
    adjusted = holm([0.01, 0.04, 0.03, np.nan, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, kept monotone; NaN neither counted nor set
    assert adjusted[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])
    assert holm([0.02, 0.9]) == pytest.approx([0.04, 0.9])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1, never decreasing


def test_wilcoxon_on_the_datasets_each_pair_covers():
    table = _scores()
    table.loc[table.index[10:], "c"] = np.nan  # c covers half of the datasets
    tests = wilcoxon_against(table, "best")
    assert tests.loc["c", "datasets"] == 10 and tests.loc["a", "datasets"] == 20
    assert tests.loc["c", "wins"] == 10
    # fewer pairs, weaker evidence for the same consistent win
    assert tests.loc["c", "p"] > tests.loc["a", "p"]


def test_cd_diagram_is_written(tmp_path):
    path = tmp_path / "cd.png"
    plot_cd(friedman(_scores()), "test", path)
    assert path.stat().st_size > 5000
    assert not list(tmp_path.glob(".*"))  # the temporary file was moved into place


def _table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["dataset", "sampler", "roc_auc"])
    for m in ("f1", "gmean", "bal_acc"):
        frame[m] = frame["roc_auc"]
    frame["fit_seconds"], frame["complete"], frame["fallback_folds"], frame["cells"] = (
        1.0,
        True,
        0,
        5,
    )
    return frame


def test_summary_tests_the_default_against_every_baseline(tmp_path):
    """gb-default ahead of none, weighted and smote everywhere; ctgan on a third of the datasets
    gets its own Friedman test and a Wilcoxon test on those datasets; other families stay out."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(12):
        level = rng.uniform(0.6, 0.8)
        rows += [(f"d{i}", "none", level), (f"d{i}", "weighted", level + 0.01)]
        rows += [(f"d{i}", "smote", level + 0.02), (f"d{i}", "gb-default", level + 0.05)]
        rows.append((f"d{i}", "gb-made", level + 0.06))
        if i < 4:
            rows.append((f"d{i}", "ctgan", level - 0.01))
    text = summarize_table(_table(rows), "x", tmp_path)
    section = text[text.index("## Significance") : text.index("## Win/tie/loss")]
    assert "### Friedman test: 4 samplers, 12 datasets" in section
    assert "### Friedman test: 5 samplers, 4 datasets" in section  # with ctgan
    row = next(line for line in section.splitlines() if line.startswith("| G-mean |"))
    assert "| 1.00 | none, weighted |" in row  # first everywhere; Nemenyi separates two of three
    assert "gb-made" not in section
    assert "| ctgan | 4 | 4/0/0," in section and "| weighted | 12 | 12/0/0," in section
    for m in ("roc_auc", "f1", "gmean", "bal_acc"):
        assert (tmp_path / f"cd_{m}.png").stat().st_size > 5000


def test_summary_without_the_default_says_so(tmp_path):
    rows = [(d, s, v) for d in "abc" for s, v in (("none", 0.7), ("smote", 0.8))]
    (tmp_path / "cd_gmean.png").write_bytes(b"from an earlier summary")
    text = summarize_table(_table(rows), "x", tmp_path)
    assert "Needs gb-default and at least one baseline" in text
    assert not list(tmp_path.glob("cd_*.png"))


def test_per_dataset_means_do_not_break_ties_on_summation_order():
    """(0.1 + 0.2 + 0.3) / 3 and (0.3 + 0.2 + 0.1) / 3 differ in the last bit; the benchmark
    must rank the two samplers as tied, not by float noise."""
    assert (0.1 + 0.2 + 0.3) / 3 != (0.3 + 0.2 + 0.1) / 3
    rows = []
    for sampler, values in (("p", [0.1, 0.2, 0.3]), ("q", [0.3, 0.2, 0.1])):
        for fold, v in enumerate(values):
            rows.append(
                {
                    "dataset": "d",
                    "sampler": sampler,
                    "n_folds": 3,
                    "seed": 0,
                    "fold": fold,
                    "classifier": "knn",
                    **{m: v for m in ("roc_auc", "f1", "gmean", "bal_acc")},
                    "fit_seconds": 0.0,
                    "fallback": False,
                    "error": "",
                    "planned_folds": "0,1,2",
                }
            )
    table = per_dataset(pd.DataFrame(rows)).set_index("sampler")
    assert table.loc["p", "roc_auc"] == table.loc["q", "roc_auc"]


def test_summary_without_scikit_posthocs_keeps_wilcoxon(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scikit_posthocs", None)  # import now raises ImportError
    rows = [
        (f"d{i}", s, 0.7 + 0.01 * j + 0.001 * i)
        for i in range(6)
        for j, s in enumerate(("none", "smote", "gb-default"))
    ]
    text = summarize_table(_table(rows), "x", tmp_path)
    assert "need scikit-posthocs" in text
    assert "| smote | 6 | 6/0/0," in text  # the Wilcoxon table is still there
    assert not list(tmp_path.glob("cd_*.png"))
