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
