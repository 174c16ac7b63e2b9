"""The command line as a user meets it: `python -m genbalance --help`, the installed
`genbalance` console script, and `genbalance models` listing the families (real processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genbalance import models
from genbalance.training.stabilizers import PRESETS

COMMANDS = ("fit", "resample", "sample", "models", "demo")
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}


def console_script() -> str:
    """The `genbalance` entry point installed beside this interpreter (the venv's bin/)."""
    beside = Path(sys.executable).parent / "genbalance"
    found = str(beside) if beside.exists() else shutil.which("genbalance")
    if found is None:
        pytest.fail("the `genbalance` console script is not installed (pip install -e .)")
    return found


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, env=ENV, timeout=120)


@pytest.mark.parametrize("launcher", ["module", "script"])
def test_help_lists_the_commands(launcher):
    prefix = [sys.executable, "-m", "genbalance"] if launcher == "module" else [console_script()]
    result = run(*prefix, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout, f"{command!r} missing from --help"


def test_models_command_lists_every_family_and_preset():
    result = run(console_script(), "models")
    assert result.returncode == 0, result.stderr
    shown = result.stdout  # a listing is a result: stdout (it used to go to stderr)
    for family in models.available():
        assert family in shown
    for preset in PRESETS:
        assert preset in shown


def test_unknown_command_fails_with_a_message():
    result = run(sys.executable, "-m", "genbalance", "frobnicate")
    assert result.returncode != 0
    assert "frobnicate" in result.stdout + result.stderr
