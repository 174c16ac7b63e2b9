"""Outputs that cannot be written are refused before any training, not after it."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from genbalance.cli import app

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    data["y"] = ["common"] * 48 + ["rare"] * 12
    path = tmp_path / "data.csv"
    data.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["fit", "resample"])
def test_read_only_output_folder_is_refused_before_training(tmp_path, table, command, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if IS_ROOT:  # root may write anyway: answer as a read-only file system would
        real = os.access
        monkeypatch.setattr(
            "genbalance.cli.common.os.access",
            lambda p, mode: False if str(p) == str(locked) else real(p, mode),
        )
    trained = []
    monkeypatch.setattr(
        "genbalance.training.trainer.Trainer.fit", lambda *a, **k: trained.append(1)
    )
    try:
        out = locked / ("m.safetensors" if command == "fit" else "out.csv")
        res = CliRunner().invoke(app, [command, str(table), "--target", "y", "-o", str(out)])
    finally:
        locked.chmod(0o700)
    assert res.exit_code != 0
    assert "not writable" in res.output and str(locked) in res.output
    assert "Traceback" not in res.output
    assert not trained, "the refusal must come before training"
    assert not out.exists()


def test_output_under_a_file_is_refused(tmp_path, table):
    res = CliRunner().invoke(
        app, ["fit", str(table), "--target", "y", "-o", str(table / "m.safetensors")]
    )
    assert res.exit_code == 2
    assert "is not a folder" in res.output
