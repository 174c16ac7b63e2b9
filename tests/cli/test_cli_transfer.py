"""CLI ``--init``: fit and resample start from a model file trained on a related table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genbalance.cli import app
from genbalance.synthesis.tabular import Synthesizer

runner = CliRunner()


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) < n // 8, "fraud", "ok")
    return pd.DataFrame(
        {
            "amount": rng.normal(size=n) + (y == "fraud") * 2,
            "shop": rng.choice(["a", "b"], n),
            "y": y,
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    source, target = root / "source.csv", root / "target.csv"
    _table(400, 0).to_csv(source, index=False)
    _table(80, 1).to_csv(target, index=False)
    model = root / "source.safetensors"
    result = runner.invoke(
        app, ["fit", str(source), "-t", "y", "-o", str(model), "--epochs", "2", "-q"]
    )
    assert result.exit_code == 0, result.output
    return root, target, model


def test_fit_with_init_fine_tunes_and_records_it(files):
    root, target, model = files
    out = root / "tuned.safetensors"
    args = ["fit", str(target), "-t", "y", "--epochs", "2", "-q", "--init", str(model)]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "started from" in result.output and "100% of the weights copied" in result.output
    tuned = Synthesizer.load(out)
    assert tuned.transfer_["columns"]["reused"] == ["amount", "shop"]
    # seeded: the same command gives the same model
    again = root / "again.safetensors"
    result = runner.invoke(app, [*args, "-o", str(again)])
    assert result.exit_code == 0, result.output
    a, b = tuned.model_.state_tensors(), Synthesizer.load(again).model_.state_tensors()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_resample_with_init(files):
    root, target, model = files
    out = root / "balanced.csv"
    result = runner.invoke(
        app,
        ["resample", str(target), "-t", "y", "-o", str(out), "--epochs", "2", "-q"]
        + ["--init", str(model), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["y"].value_counts().to_dict() == {"ok": 70, "fraud": 70}
    assert '"share_copied": 1.0' in result.output


def test_init_errors_name_the_problem(files):
    root, target, model = files
    other = root / "other.csv"
    _table(80, 2).rename(columns={"shop": "store"}).to_csv(other, index=False)
    base = ["fit", str(other), "-t", "y", "-o", str(root / "x.safetensors"), "--epochs", "1"]
    result = runner.invoke(app, [*base, "-q", "--init", str(model)])
    assert result.exit_code == 2
    assert "['shop']" in result.output and "['store']" in result.output
    assert "--init-columns shared" in result.output
    result = runner.invoke(app, [*base, "-q", "--init", str(model), "--init-columns", "shared"])
    assert result.exit_code == 0, result.output
    cases = [
        (["--init", str(root / "missing.safetensors")], "model file not found"),
        (["--init", str(model), "--model", "gan"], "--model vae"),
        (["--init", str(model), "--init-columns", "some"], "exact | shared"),
        (["--init-columns", "shared"], "--init-columns needs --init"),
        (["--init", str(model), "--stream"], "cannot be combined with --stream"),
    ]
    for extra, message in cases:
        args = ["fit", str(target), "-t", "y", "-o", str(root / "y.safetensors"), "-q", *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output, (extra, result.output)
