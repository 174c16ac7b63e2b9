"""CLI: `genbalance evaluate` (tables + JSON) and `genbalance report` (model, synthetic,
resampled inputs), overwrite protection and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genbalance import Synthesizer
from genbalance.cli import app
from genbalance.evaluation.report import SECTIONS

runner = CliRunner()
FAST = ["--no-detection", "--classifiers", "logistic_regression"]


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.25, 1, 0)
    return pd.DataFrame(
        {
            "amount": rng.normal(0, 1, n) + 2.0 * y,
            "shop": rng.choice(["a", "b"], n),
            "y": y,
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_report")
    real, hold = table(150, 0), table(80, 1)
    real.to_csv(d / "real.csv", index=False)
    hold.to_csv(d / "hold.csv", index=False)
    synth = table(120, 2)  # a fresh sample of the same distribution stands in for generated rows
    synth.to_csv(d / "synth.csv", index=False)
    resampled = pd.concat([real, synth[synth.y == 1]], ignore_index=True)
    resampled.to_csv(d / "resampled.csv", index=False)
    model = Synthesizer(
        "vae",
        epochs=2,
        batch_size=50,
        random_state=0,
        model_options={"hidden": [16]},
        trainer_options={"health_check": False},
    )
    model.fit(real.drop(columns="y"), real.y).save(d / "model.safetensors")
    return d


def test_evaluate_prints_tables_and_writes_json(files, tmp_path):
    out = tmp_path / "metrics.json"
    args = [
        "evaluate",
        str(files / "real.csv"),
        str(files / "synth.csv"),
        "--target",
        "y",
        "--holdout",
        str(files / "hold.csv"),
        "-o",
        str(out),
        *FAST,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for title in ("Fidelity", "train on synthetic", "rebalancing gain", "Privacy", "mia_auc"):
        assert title in result.output
    doc = json.loads(out.read_text())
    assert doc["holdout"].endswith("hold.csv")
    labels = {r["label"] for r in doc["fidelity"] if r["scope"] == "class"}
    assert labels == {"0", "1"}  # per class
    assert doc["privacy"]["exact_copies"] == 0 and 0.3 < doc["privacy"]["mia_auc"] < 0.7
    # no overwrite without --force; with it, the file is replaced
    first = out.read_bytes()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.output
    assert out.read_bytes() == first
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_evaluate_without_holdout_says_what_is_missing(files):
    result = runner.invoke(
        app, ["evaluate", str(files / "real.csv"), str(files / "real.csv"), "-t", "y", *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "needs a holdout" in result.output
    assert "exact_copies" in result.output and "150" in result.output  # a copy is seen


def test_evaluate_refuses_bad_input(files, tmp_path):
    other = table(20, 3).rename(columns={"shop": "store"})
    other.to_csv(tmp_path / "other.csv", index=False)
    bad = runner.invoke(
        app, ["evaluate", str(files / "real.csv"), str(tmp_path / "other.csv"), "-t", "y", *FAST]
    )
    assert bad.exit_code == 2 and "store" in bad.output
    bad = runner.invoke(
        app, ["evaluate", str(files / "real.csv"), str(files / "synth.csv"), "-t", "label", *FAST]
    )
    assert bad.exit_code == 2 and "label" in bad.output
    bad = runner.invoke(
        app,
        [
            "evaluate",
            str(files / "real.csv"),
            str(files / "synth.csv"),
            "-t",
            "y",
            "--classifiers",
            "svm",
        ],
    )
    assert bad.exit_code == 2 and "logistic_regression" in bad.output


def test_report_from_a_saved_model(files, tmp_path):
    out = tmp_path / "rep"
    result = runner.invoke(
        app,
        [
            "report",
            str(files / "real.csv"),
            "-t",
            "y",
            "--model",
            str(files / "model.safetensors"),
            "-o",
            str(out),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    text = (out / "report.html").read_text()
    assert all(f"<h2>{h}</h2>" in text for h in SECTIONS)
    doc = json.loads((out / "metrics.json").read_text())
    real = pd.read_csv(files / "real.csv")
    counts = real.y.astype(str).value_counts()
    assert doc["class_counts"]["before"] == counts.to_dict()
    assert doc["class_counts"]["after"] == {k: int(counts.max()) for k in counts.index}
    assert (out / "training_curves.png").is_file()  # from the model file's history
    assert "section 1/" in result.output and "writing" in result.output  # progress on stderr
    again = runner.invoke(
        app,
        [
            "report",
            str(files / "real.csv"),
            "-t",
            "y",
            "--model",
            str(files / "model.safetensors"),
            "-o",
            str(out),
            *FAST,
        ],
    )
    assert again.exit_code == 2 and "force" in again.output


def test_report_from_a_resampled_table(files, tmp_path):
    out = tmp_path / "rep"
    result = runner.invoke(
        app,
        [
            "report",
            str(files / "real.csv"),
            "-t",
            "y",
            "--resampled",
            str(files / "resampled.csv"),
            "-o",
            str(out),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    resampled = pd.read_csv(files / "resampled.csv")
    assert doc["class_counts"]["after"] == resampled.y.astype(str).value_counts().to_dict()
    n_new = len(resampled) - 150
    assert doc["metrics"]["privacy"]["n_synthetic"] == n_new  # the real rows were taken out
    assert "Not an image dataset" in (out / "report.md").read_text()


def test_report_needs_exactly_one_source(files, tmp_path):
    result = runner.invoke(
        app, ["report", str(files / "real.csv"), "-t", "y", "-o", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "exactly one" in result.output
    result = runner.invoke(
        app,
        [
            "report",
            str(files / "real.csv"),
            "-t",
            "y",
            "-o",
            str(tmp_path / "r"),
            "--synthetic",
            str(files / "synth.csv"),
            "--resampled",
            str(files / "resampled.csv"),
        ],
    )
    assert result.exit_code == 2 and "exactly one" in result.output
