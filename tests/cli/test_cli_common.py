"""genbalance.cli.common on its own: exit codes per error kind, CLI spellings in messages,
the overwrite guard, the parsers, JSON output, and progress bars kept off stdout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from genbalance.cli import common
from genbalance.utils import GenbalanceError

runner = CliRunner()


def _app(exc: BaseException | None = None, draw: bool = False) -> typer.Typer:
    """A one-command app whose command raises ``exc`` (or prints with rich's global console)."""
    app = typer.Typer()

    @app.command()
    @common.handle_errors
    def go(seed: common.SeedOpt = 0) -> None:
        if draw:
            import rich

            rich.print("progress bar")  # what the library's rich progress bars write to
            common.out.print("result")
        if exc is not None:
            raise exc

    return app


@pytest.mark.parametrize(
    "exc, code",
    [
        (ValueError("bad value"), 2),
        (TypeError("bad type"), 2),
        (KeyError("no such key"), 2),
        (FileNotFoundError("input table not found: x.csv"), 2),
        (FileExistsError("out.csv exists; pass --force to replace it"), 2),
        (NotADirectoryError("x is not a folder"), 2),
        (GenbalanceError("training failed"), 1),
        (RuntimeError("training diverged"), 1),
        (PermissionError("permission denied: out.csv"), 1),
        (MemoryError(), 1),
        (ImportError("needs the opacus package"), 1),
    ],
)
def test_known_errors_become_one_message_and_an_exit_code(exc, code):
    result = runner.invoke(_app(exc), [])
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    if isinstance(exc, KeyError):
        assert lines[0] == "error: no such key"  # no quotes from str(KeyError)
    if isinstance(exc, MemoryError):
        assert lines[0] == "error: MemoryError"  # never an empty message


def test_model_file_error_is_a_usage_error():
    from genbalance.files import ModelFileError

    result = runner.invoke(_app(ModelFileError("m.safetensors: checksum mismatch")), [])
    assert result.exit_code == 2 and "checksum mismatch" in result.stderr


def test_a_bug_keeps_its_traceback():
    result = runner.invoke(_app(AttributeError("oops")), [])
    assert isinstance(result.exception, AttributeError)


def test_markup_in_messages_is_printed_literally():
    result = runner.invoke(_app(ValueError("[Errno 2] missing ['a'] [bold]x[/bold]")), [])
    assert "[Errno 2] missing ['a'] [bold]x[/bold]" in result.stderr


@pytest.mark.parametrize(
    "python, cli",
    [
        (
            "report files already exist: ['r/report.html']; pass force=True (--force) to replace",
            "report files already exist: ['r/report.html']; pass --force to replace",
        ),
        (
            "m.st exists; pass overwrite/--force to replace it",
            "m.st exists; pass --force to replace it",
        ),
        (
            "m.st exists; pass overwrite=True to replace it",
            "m.st exists; pass --force to replace it",
        ),
        (
            "files already exist in the report folder: ['r/report.md']; pass force=True to "
            "replace them",
            "files already exist in the report folder: ['r/report.md']; pass --force to "
            "replace them",
        ),
        ("call again with force=True", "call again with --force"),
        ("epochs must be >= 0, got -1", "--epochs must be >= 0, got -1"),
        ("time_budget must be > 0 seconds", "--time-budget must be > 0 seconds"),
        ("random_state must be in [0, 2**32), got -1", "--seed must be in [0, 2**32), got -1"),
        (
            "preset='stable' applies to the 'gan' family",
            "--preset 'stable' applies to the 'gan' family",
        ),
        ("filter='x'; accepted: none, knn", "--filter 'x'; accepted: none, knn"),
    ],
)
def test_messages_use_cli_spellings(python, cli):
    assert common.cli_message(ValueError(python)) == cli


def test_library_overwrite_messages_read_as_python_and_as_cli(tmp_path):
    """The library says force=True / overwrite=True; the command line says --force only."""
    from genbalance.evaluation.report_output import check_free
    from genbalance.files import atomic_write_bytes

    there = tmp_path / "report.md"
    there.write_text("x")
    with pytest.raises(FileExistsError) as report_exists:
        check_free([there], force=False)
    python = str(report_exists.value)
    assert "pass force=True to replace them" in python and "--force" not in python, python
    with pytest.raises(FileExistsError) as file_exists:  # files.py: either wording
        atomic_write_bytes(there, b"y", overwrite=False)
    for exc in (report_exists.value, file_exists.value):
        cli = common.cli_message(exc)
        assert re.search(r"pass --force to replace (it|them)$", cli) and "=True" not in cli, cli


def test_refuse_overwrite(tmp_path):
    there = tmp_path / "there.csv"
    there.write_text("x")
    common.refuse_overwrite(None, tmp_path / "new.csv", force=False)
    common.refuse_overwrite(there, force=True)
    with pytest.raises(FileExistsError, match="pass --force"):
        common.refuse_overwrite(tmp_path / "new.csv", there, force=False)


def test_parse_epochs():
    assert common.parse_epochs("auto") == "auto"
    assert common.parse_epochs("12") == 12
    assert common.parse_epochs("0") == 0
    for bad in ("abc", "-1", "1.5", ""):
        with pytest.raises(typer.BadParameter, match="non-negative integer or 'auto'"):
            common.parse_epochs(bad)


def test_parse_strategy():
    assert common.parse_strategy("auto") == "auto"
    assert common.parse_strategy("0.5") == 0.5
    assert common.parse_strategy('{"fraud": 500}') == {"fraud": 500}
    with pytest.raises(typer.BadParameter, match="JSON"):
        common.parse_strategy("{fraud: 500}")


def test_progress_goes_to_stderr_results_to_stdout():
    result = runner.invoke(_app(draw=True), [])
    assert result.exit_code == 0
    assert result.stdout.strip() == "result"
    assert "progress bar" in result.stderr


def test_jsonable_and_print_json():
    doc = {
        np.int64(1): np.float32(0.5),
        "nan": float("nan"),
        "path": Path("a/b"),
        "arr": np.arange(3),
        "tuple": (np.str_("x"), None, True),
    }
    plain = common.jsonable(doc)
    assert plain == {
        "1": 0.5,
        "nan": None,
        "path": "a/b",
        "arr": [0, 1, 2],
        "tuple": ["x", None, True],
    }
    assert json.loads(json.dumps(plain, allow_nan=False)) == plain


def test_class_counts_rows_and_table():
    rows = common.class_counts({"ok": 10, "fraud": 2}, {"ok": 10, "fraud": 10})
    assert rows == [
        {"class": "fraud", "before": 2, "after": 10, "generated": 8},
        {"class": "ok", "before": 10, "after": 10, "generated": 0},
    ]
    assert [c.header for c in common.counts_table("t", rows).columns] == [
        "class",
        "rows before",
        "rows after",
        "generated",
    ]
