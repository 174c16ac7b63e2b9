"""CLI: resample / fit / sample on CSV and Parquet, overwrite protection, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genbalance.cli import app

runner = CliRunner()


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    y = np.where(np.arange(n) < 15, "fraud", "ok")
    df = pd.DataFrame({"amount": rng.normal(size=n), "shop": rng.choice(["a", "b"], n), "y": y})
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path, df


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("resample", "fit", "sample", "demo"):
        assert cmd in result.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_resample_writes_balanced_table(table, tmp_path, suffix):
    path, df = table
    out = tmp_path / f"balanced{suffix}"
    result = runner.invoke(
        app, ["resample", str(path), "--target", "y", "-o", str(out), "--epochs", "2", "-q"]
    )
    assert result.exit_code == 0, result.output
    res = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(res.columns) == list(df.columns)
    assert res["y"].value_counts().to_dict() == {"ok": 105, "fraud": 105}
    assert "fraud" in result.output and "105" in result.output  # the before/after summary


def test_resample_refuses_to_overwrite(table, tmp_path):
    path, _ = table
    out = tmp_path / "out.csv"
    out.write_text("precious")
    result = runner.invoke(
        app, ["resample", str(path), "-t", "y", "-o", str(out), "--epochs", "1", "-q"]
    )
    assert result.exit_code == 2 and "--force" in result.output
    assert out.read_text() == "precious"


def test_resample_bad_target_named(table, tmp_path):
    path, _ = table
    result = runner.invoke(
        app, ["resample", str(path), "-t", "nope", "-o", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2 and "'nope'" in result.output


def test_fit_then_sample(table, tmp_path):
    path, _ = table
    model = tmp_path / "m.safetensors"
    r = runner.invoke(app, ["fit", str(path), "-t", "y", "-o", str(model), "--epochs", "2", "-q"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "s.csv"
    r = runner.invoke(
        app, ["sample", str(model), "-n", "7", "--class", "fraud", "-t", "y", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out)
    assert len(got) == 7 and set(got["y"]) == {"fraud"}
    r = runner.invoke(
        app, ["sample", str(model), "-n", "3", "--class", "zzz", "-o", str(tmp_path / "t.csv")]
    )
    assert r.exit_code == 2 and "unknown class" in r.output


def test_fit_with_epsilon_reports_and_stores_spent_budget(table, tmp_path):
    from genbalance.synthesis.tabular import Synthesizer

    path, _ = table
    model = tmp_path / "dp.safetensors"
    r = runner.invoke(
        app,
        ["fit", str(path), "-t", "y", "-o", str(model), "--model", "vae", "--epochs", "2", "-q"]
        + ["--epsilon", "2.0"],
    )
    assert r.exit_code == 0, r.output
    assert "epsilon spent" in r.output
    spent = Synthesizer.load(model).privacy_["epsilon"]
    assert 0 < spent <= 2.0


@pytest.mark.parametrize(
    "extra, match",
    [(["--epsilon", "-1"], "epsilon"), (["--delta", "1e-5"], "--delta needs --epsilon")],
)
def test_bad_privacy_options_named(table, tmp_path, extra, match):
    path, _ = table
    out = tmp_path / "out.csv"
    r = runner.invoke(app, ["resample", str(path), "-t", "y", "-o", str(out), "-q", *extra])
    assert r.exit_code == 2 and match in " ".join(r.output.split()), r.output
    assert not out.exists()


# ------------------------------------------------------------- sample: the label column
def fit_cli(data, model, target: str) -> None:
    r = runner.invoke(
        app, ["fit", str(data), "-t", target, "-o", str(model), "--epochs", "1", "-q"]
    )
    assert r.exit_code == 0, r.output


def test_sample_names_the_label_column_as_the_training_table(table, tmp_path):
    """fit --target label; sample; evaluate --target label: the chain a new user runs."""
    _, df = table
    data = tmp_path / "labelled.csv"
    df.rename(columns={"y": "label"}).to_csv(data, index=False)
    model, rows = tmp_path / "m.safetensors", tmp_path / "rows.csv"
    fit_cli(data, model, "label")
    r = runner.invoke(app, ["sample", str(model), "-n", "60", "-o", str(rows)])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(rows)
    assert list(got.columns) == ["amount", "shop", "label"]
    assert set(got["label"]) <= {"fraud", "ok"}
    r = runner.invoke(
        app,
        ["evaluate", str(data), str(rows), "--target", "label", "--no-detection"]
        + ["--classifiers", "logistic_regression"],
    )
    assert r.exit_code == 0, r.output
    # --target still overrides the recorded name
    renamed = tmp_path / "renamed.csv"
    r = runner.invoke(app, ["sample", str(model), "-n", "5", "-t", "kind", "-o", str(renamed)])
    assert r.exit_code == 0, r.output
    assert list(pd.read_csv(renamed).columns) == ["amount", "shop", "kind"]


@pytest.mark.parametrize("option", ["-t", "--target"])
def test_sample_refuses_a_label_column_that_is_a_feature(table, tmp_path, option):
    path, _ = table
    model, out = tmp_path / "m.safetensors", tmp_path / "rows.csv"
    fit_cli(path, model, "y")
    r = runner.invoke(app, ["sample", str(model), "-n", "5", option, "amount", "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert "'amount' is a feature column" in " ".join(r.output.split()), r.output
    assert not out.exists()
    r = runner.invoke(app, ["sample", str(model), "-n", "5", option, " ", "-o", str(out)])
    assert r.exit_code == 2 and "empty name" in r.output and not out.exists()


def test_sample_without_a_recorded_target_writes_class_and_refuses_its_clash(tmp_path):
    from genbalance.synthesis.tabular import Synthesizer

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"amount": rng.normal(size=60), "class": rng.choice(["a", "b"], 60)})
    labels = np.where(np.arange(60) < 10, "fraud", "ok")  # a bare array: no column name
    plain = Synthesizer(epochs=1, random_state=0).fit(X[["amount"]], labels)
    assert plain.target_ is None
    plain.save(tmp_path / "plain.safetensors")
    out = tmp_path / "plain.csv"
    r = runner.invoke(
        app, ["sample", str(tmp_path / "plain.safetensors"), "-n", "4", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert list(pd.read_csv(out).columns) == ["amount", "class"]
    # a feature named "class" and no recorded name: the fallback would replace it
    Synthesizer(epochs=1, random_state=0).fit(X, labels).save(tmp_path / "clash.safetensors")
    out = tmp_path / "clash.csv"
    r = runner.invoke(
        app, ["sample", str(tmp_path / "clash.safetensors"), "-n", "4", "-o", str(out)]
    )
    assert r.exit_code == 2 and "'class' is a feature column" in " ".join(r.output.split())
    assert not out.exists()


@pytest.mark.parametrize("labels", [np.array([3, 7], dtype="int32"), np.array([True, False])])
def test_sample_keeps_the_label_dtype_in_parquet(tmp_path, labels):
    rng = np.random.default_rng(0)
    n = 80
    df = pd.DataFrame({"amount": rng.normal(size=n), "label": labels[(np.arange(n) < 20) * 1]})
    data, model, out = tmp_path / "d.parquet", tmp_path / "m.safetensors", tmp_path / "s.parquet"
    df.to_parquet(data, index=False)
    fit_cli(data, model, "label")
    r = runner.invoke(app, ["sample", str(model), "-n", "30", "-o", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_parquet(out)
    assert got["label"].dtype == labels.dtype
    assert set(got["label"]) <= set(labels.tolist())
