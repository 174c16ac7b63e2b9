"""The defects a new user met: results on stdout and diagnostics on stderr, --version, --json,
evaluate tables within 80 columns, --epochs abc, the stray `None`, one default table family,
CLI spellings in messages, and a light `genbalance --help`."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from genbalance import models
from genbalance.cli import app
from genbalance.training.stabilizers import PRESETS

runner = CliRunner(env={"COLUMNS": "80"})
FAST_EVAL = ["--no-detection", "--classifiers", "logistic_regression"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_output")

    def frame(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        y = np.where(np.arange(n) < n // 6, "fraud", "ok")
        return pd.DataFrame(
            {
                "amount": rng.normal(size=n) + 2.0 * (y == "fraud"),
                "shop": rng.choice(["a", "b"], n),
                "y": y,
            }
        )

    for name, n, seed in (("real", 120, 0), ("synth", 90, 1), ("hold", 60, 2)):
        frame(n, seed).to_csv(d / f"{name}.csv", index=False)
    return d


def _option_default(command: str, option: str):
    click_command = typer.main.get_command(app).commands[command]
    return next(p.default for p in click_command.params if p.name == option)


# --------------------------------------------------------------------- stdout / stderr
def test_models_listing_is_on_stdout_one_name_per_line():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    for family in models.available():
        assert any(line.split()[:2] == ["family", family] for line in lines if line.strip()), family
    for preset in PRESETS:
        assert any(line.split()[:2] == ["preset", preset] for line in lines if line.strip()), preset
    gan_lines = [
        line for line in lines if "gan" in line
    ]  # what `genbalance models | grep gan` shows
    assert any(line.split()[1] == "gan" for line in gan_lines)


def test_models_piped_into_grep_finds_gan():
    code = "from genbalance.cli import main; main()"
    proc = subprocess.run(
        f"{sys.executable} -c '{code}' models | grep -w gan",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["family", "gan"]


def test_resample_counts_on_stdout_messages_on_stderr(tables, tmp_path):
    out = tmp_path / "balanced.csv"
    args = ["resample", str(tables / "real.csv"), "-t", "y", "-o", str(out), "--epochs", "1", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "fraud" in result.stdout and "100" in result.stdout  # the counts table
    assert "wrote" not in result.stdout
    assert f"wrote 200 rows to {out}" in result.stderr  # diagnostics are not wrapped
    # an error: nothing on stdout, one message on stderr, exit code 2
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and again.stdout == ""
    assert again.stderr.startswith("error: ") and "--force" in again.stderr


def test_runtime_failure_exits_1(tables, tmp_path, monkeypatch):
    from genbalance.sampling.tabular import GenerativeOverSampler

    def diverge(self, X, y):
        raise RuntimeError("training diverged at step 3")

    monkeypatch.setattr(GenerativeOverSampler, "fit_resample", diverge)
    result = runner.invoke(
        app, ["resample", str(tables / "real.csv"), "-t", "y", "-o", str(tmp_path / "o.csv"), "-q"]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "error: training diverged at step 3"
    assert not (tmp_path / "o.csv").exists()


# ------------------------------------------------------------------------------ version
def test_version_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"genbalance {importlib.metadata.version('genbalance')}"
    assert result.stderr == ""


def test_help_and_version_do_not_import_torch():
    code = (
        "import sys\n"
        "from genbalance.cli import app\n"
        "for argv in (['--help'], ['--version'], ['images', '--help'], ['bench', '--help']):\n"
        "    try:\n"
        "        app(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, argv\n"
        "print('torch' in sys.modules, 'pandas' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "False False"


# --------------------------------------------------------------------------------- json
def test_models_json():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["families"] == models.available()
    assert doc["presets"] == list(PRESETS)
    assert doc["defaults"] == {"tables": "vae", "images": "dcgan"}


def test_evaluate_json_matches_the_file(tables, tmp_path):
    out = tmp_path / "m.json"
    args = ["evaluate", str(tables / "real.csv"), str(tables / "synth.csv"), "-t", "y"]
    args += ["--holdout", str(tables / "hold.csv"), "-o", str(out), "--json", *FAST_EVAL]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout holds the JSON document and nothing else
    assert doc == json.loads(out.read_text())
    assert {r["label"] for r in doc["fidelity"] if r["scope"] == "class"} == {"fraud", "ok"}
    assert "mia_auc" in doc["privacy"]
    assert f"wrote {out}" in result.stderr


def test_resample_and_bench_samplers_json(tables, tmp_path):
    out = tmp_path / "b.parquet"
    result = runner.invoke(
        app,
        ["resample", str(tables / "real.csv"), "-t", "y", "-o", str(out), "--epochs", "1"]
        + ["-q", "--json"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "vae" and doc["rows"] == 200
    assert {r["class"]: r["generated"] for r in doc["counts"]} == {"fraud": 80, "ok": 0}
    result = runner.invoke(app, ["bench", "samplers", "--json"])
    assert result.exit_code == 0
    names = [row["name"] for row in json.loads(result.stdout)]
    assert "smote" in names and "gb-default" in names


# ------------------------------------------------------------------- evaluate in 80 cols
@pytest.mark.parametrize("detection", [False, True])
def test_evaluate_tables_fit_80_columns(tables, detection):
    args = ["evaluate", str(tables / "real.csv"), str(tables / "synth.csv"), "-t", "y"]
    args += ["--holdout", str(tables / "hold.csv"), "--classifiers", "all"]
    args += [] if detection else ["--no-detection"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout  # no header or cell cut short
    for title in ("Fidelity", "train on synthetic", "rebalancing gain", "Privacy"):
        assert title in result.stdout
    assert "hist_gradient_boosting" in result.stdout and "mia_auc" in result.stdout
    assert ("det AUC" in result.stdout) is detection  # empty detection columns are dropped
    assert "note:" not in result.stdout  # notes are diagnostics


# ------------------------------------------------------------------------------- epochs
@pytest.mark.parametrize(
    "command",
    [
        ["resample", "{real}", "-t", "y", "-o", "{tmp}/o.csv"],
        ["fit", "{real}", "-t", "y", "-o", "{tmp}/m.safetensors"],
        ["images", "train", "digits", "-o", "{tmp}/m.safetensors"],
        ["images", "resample", "digits", "-o", "{tmp}/o.npz"],
    ],
)
@pytest.mark.parametrize("bad", ["abc", "-2"])
def test_bad_epochs_is_a_usage_error(tables, tmp_path, command, bad):
    argv = [a.format(real=tables / "real.csv", tmp=tmp_path) for a in command]
    result = runner.invoke(app, [*argv, "--epochs", bad], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert result.stdout == ""  # refused before any work (no table of the input printed)
    assert (
        f"Invalid value for '--epochs': {bad!r}; accepted: a non-negative integer or 'auto'"
        in result.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_seed_is_answered_the_same_way(tables, tmp_path):
    result = runner.invoke(
        app, ["resample", str(tables / "real.csv"), "-t", "y", "-o", str(tmp_path / "o.csv")]
        + ["--seed", "abc"]
    )  # fmt: skip
    assert result.exit_code == 2 and result.stdout == ""
    assert "Invalid value for '--seed'" in " ".join(result.stderr.split())


# ------------------------------------------------------------------------ bench samplers
def test_bench_samplers_prints_no_stray_none():
    result = runner.invoke(app, ["bench", "samplers"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "None" not in lines and not any(line.strip() == "None" for line in lines)
    assert [line.split()[0] for line in lines if line.startswith("gb")] == [
        "gb-default",
        "gb-<family>",
        "gb:<family>[,key=value,...]",
    ]
    assert result.stderr == ""


# ------------------------------------------------------------------ one default family
def test_fit_and_resample_share_the_tuned_default_model():
    from genbalance.sampling.tabular import GenerativeOverSampler

    tuned = inspect.signature(GenerativeOverSampler).parameters["model"].default
    assert tuned == "vae"
    assert _option_default("fit", "model") == _option_default("resample", "model") == tuned
    for command in ("fit", "resample"):
        help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "default vae" in help_text and "[default: vae]" in help_text
        assert "gan, vae, ..." not in help_text


def test_fit_without_model_trains_the_default(tables, tmp_path):
    from genbalance.synthesis.tabular import Synthesizer

    path = tmp_path / "m.safetensors"
    result = runner.invoke(
        app, ["fit", str(tables / "real.csv"), "-t", "y", "-o", str(path), "--epochs", "1", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert Synthesizer.load(path).model == "vae"
    assert "trained vae" in result.stderr and result.stdout == ""


# ------------------------------------------------------------------------ CLI spellings
def test_report_refusal_uses_the_flag_spelling(tables, tmp_path):
    args = ["report", str(tables / "real.csv"), "-t", "y", "--synthetic", str(tables / "synth.csv")]
    args += ["-o", str(tmp_path / "rep"), *FAST_EVAL]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and again.stdout == ""
    message = " ".join(again.stderr.split())
    assert "--force" in message and "force=True" not in message


def test_library_messages_use_flag_spellings(tables, tmp_path):
    result = runner.invoke(
        app,
        ["fit", str(tables / "real.csv"), "-t", "y", "-o", str(tmp_path / "m.safetensors")]
        + ["--preset", "stable", "--epochs", "1", "-q"],
    )
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "--preset" in message and "preset=" not in message, message


def test_demo_table_on_stdout_or_json(monkeypatch):
    import genbalance.cli.demo as demo

    table = pd.DataFrame(
        {m: [0.5, 0.7] for m in demo.METRICS}, index=pd.Index(["no resampling", "genbalance"])
    ).rename_axis("method")

    def fake_run(seed, progress, console):
        console.print("abalone9-18: 731 rows")  # what run_demo says while it works
        return table

    monkeypatch.setattr(demo, "run_demo", fake_run)
    result = runner.invoke(app, ["demo", "-q"])
    assert result.exit_code == 0, result.output
    assert "genbalance" in result.stdout and "0.700" in result.stdout
    assert "731 rows" in result.stderr and "731 rows" not in result.stdout
    result = runner.invoke(app, ["demo", "-q", "--json"])
    doc = json.loads(result.stdout)
    assert doc["dataset"] == "abalone9-18"
    assert [r["method"] for r in doc["results"]] == ["no resampling", "genbalance"]


def test_bench_summarize_prints_markdown_or_json(tmp_path):
    args = ["--name", "c", "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    run = ["bench", "run", "-d", "zoo-3", "-s", "none", "--folds", "2", "--only-fold", "0"]
    result = runner.invoke(app, [*run, "--classifiers", "knn", "-q", "--no-summary", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "1 cells computed" in result.stderr
    result = runner.invoke(app, ["bench", "summarize", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Benchmark `c`")
    result = runner.invoke(app, ["bench", "summarize", "--json", *args])
    doc = json.loads(result.stdout)
    assert doc["run"] == "c" and {r["dataset"] for r in doc["per_dataset"]} == {"zoo-3"}
    bad = runner.invoke(app, ["bench", "run", "-s", "smoot", *args])
    assert bad.exit_code == 2 and bad.stdout == "" and "smoot" in bad.stderr
