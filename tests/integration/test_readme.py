"""README.md runs as written: every ```python block (in order, one namespace) and every
`genbalance ...` line of the ```bash blocks (in-process, through typer's CliRunner), with the
training budgets cut to a few steps; every command and ``--flag`` the prose names exists.

A new user copies the README first; an example that fails there is the first bug they meet.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import genbalance.synthesis.images as image_synthesis
import genbalance.synthesis.tabular as table_synthesis
from genbalance.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
TINY_STEPS = 4

# shell lines that are not run here, and why (any other line that is not `genbalance ...` fails)
SKIPPED = {
    "make": "builds .venv and runs the whole suite or the demo: this test already runs in it",
}

runner = CliRunner()


# ------------------------------------------------------------------------------ parsing
def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced code blocks of ``language``, in order."""
    return [body for lang, body in FENCE.findall(text) if lang == language]


def shell_lines(block: str) -> list[str]:
    """Commands of a shell block: comments dropped, ``\\`` continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = pending + raw
        pending = ""
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        command = " ".join(shlex.split(line, comments=True))
        if command:
            lines.append(command)
    return lines


def prose(text: str) -> str:
    """README text outside the fenced blocks."""
    return FENCE.sub("", text)


def test_parsers_find_what_they_should():
    text = (
        "a\n```python\nx = 1\n```\n`genbalance models`\n"
        "```bash\ngenbalance fit a \\\n  -o b  # c\n```\n"
    )
    assert fenced_blocks(text, "python") == ["x = 1\n"]
    assert shell_lines(fenced_blocks(text, "bash")[0]) == ["genbalance fit a -o b"]
    assert INLINE.findall(prose(text)) == ["genbalance models"]


# ------------------------------------------------------------------------------ set-up
@pytest.fixture()
def tiny_budgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training takes a few steps: the "auto" step rules are read at call time."""
    monkeypatch.setattr(table_synthesis, "auto_steps", lambda n_rows: TINY_STEPS)
    monkeypatch.setattr(image_synthesis, "auto_epochs", lambda n_images, batch_size: 1)


def labelled_table(n: int, seed: int) -> pd.DataFrame:
    """A mixed table with a rare class ``fraud`` in the target column ``y``."""
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 6 == 0, "fraud", "ok")
    return pd.DataFrame(
        {
            "amount": rng.normal(size=n) + 2.0 * (y == "fraud"),
            "items": rng.integers(1, 9, size=n),
            "shop": rng.choice(["a", "b", "c"], size=n),
            "y": y,
        }
    )


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding every file the README's commands name; the current directory."""
    labelled_table(96, 0).to_csv(tmp_path / "data.csv", index=False)
    labelled_table(96, 0).to_csv(tmp_path / "real.csv", index=False)
    labelled_table(60, 1).to_csv(tmp_path / "synthetic.csv", index=False)
    labelled_table(48, 2).to_csv(tmp_path / "h.csv", index=False)
    labelled_table(300, 3).to_parquet(tmp_path / "big.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------------------------ python
def test_python_examples_run(tiny_budgets: None, workdir: Path) -> None:
    blocks = fenced_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks, "README.md has no ```python block"
    namespace: dict[str, Any] = {"__name__": "readme"}
    for i, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - the README line that broke is the message
            pytest.fail(f"README python block {i} fails: {type(exc).__name__}: {exc}\n{block}")
    # what the comments of the examples promise
    if "X_res" in namespace:
        assert type(namespace["X_res"]) is type(namespace["X"]), "pandas in, pandas out"
    if "rare_rows" in namespace:
        assert len(namespace["rare_rows"]) == 500
        assert not namespace["rare_rows"].equals(namespace["more_rows"]), "calls continue"


# ------------------------------------------------------------------------------ shell
def output_paths(args: list[str]) -> list[str]:
    """The ``-o/--output`` values of a command line."""
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-o", "--output")]


def test_shell_examples_run(tiny_budgets: None, workdir: Path) -> None:
    blocks = fenced_blocks(README.read_text(encoding="utf-8"), "bash")
    commands = [line for block in blocks for line in shell_lines(block)]
    ran = 0
    for command in commands:
        words = shlex.split(command)
        if words[0] in SKIPPED:
            continue
        assert words[0] == "genbalance", f"README shell line not covered by this test: {command}"
        result = runner.invoke(app, words[1:])
        assert result.exit_code == 0, f"`{command}` exits {result.exit_code}:\n{result.output}"
        for path in output_paths(words):
            assert (workdir / path).exists(), f"`{command}` did not write {path}"
        ran += 1
    assert ran >= 5, f"only {ran} README commands ran: did the parsing break?"
    # `sample` output goes straight into `evaluate --target y`: the training table's columns
    if (workdir / "rows.csv").exists():
        assert list(pd.read_csv(workdir / "rows.csv").columns) == list(
            pd.read_csv(workdir / "data.csv").columns
        )


# ------------------------------------------------------------------------ named in prose
def cli_tree() -> Any:
    """The click command tree typer builds (groups have ``commands``)."""
    return typer.main.get_command(app)


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The (sub)command that ``genbalance <words>`` names, and the words after it."""
    command = cli_tree()
    rest = list(words)
    while rest and rest[0] in getattr(command, "commands", {}):
        command = command.commands[rest.pop(0)]
    return command, rest


def option_names(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(n for n in (*param.opts, *param.secondary_opts) if n.startswith("-"))
    return names


def all_option_names(command: Any = None) -> set[str]:
    command = command or cli_tree()
    names = option_names(command)
    for sub in getattr(command, "commands", {}).values():
        names |= all_option_names(sub)
    return names


def test_inline_commands_and_flags_exist() -> None:
    """`genbalance <cmd> --flag` spans name real commands and their flags; `--flag` anywhere
    in the prose is a flag of some command; ``| grep x`` finds ``x`` on stdout."""
    spans = INLINE.findall(prose(README.read_text(encoding="utf-8")))
    problems = []
    for span in spans:
        if not span.startswith("genbalance "):
            continue
        left, _, grep = span.partition("|")
        words = [w for w in shlex.split(left)[1:] if w != "..."]
        command, rest = resolve(words)
        if rest and not rest[0].startswith("-") and hasattr(command, "commands"):
            problems.append(f"`{span}`: no command {rest[0]!r}")
            continue
        unknown = sorted(
            {w.split("=")[0] for w in rest if w.startswith("--")} - option_names(command)
        )
        if unknown:
            problems.append(f"`{span}`: unknown options {unknown}")
        if grep.strip():
            pattern = shlex.split(grep)[-1]
            result = runner.invoke(app, words)
            if result.exit_code != 0 or pattern not in result.stdout:
                problems.append(f"`{span}`: {pattern!r} not on stdout")
    known = all_option_names()
    for span in spans:
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", span):
            if flag not in known:
                problems.append(f"`{span}`: no command has {flag}")
    assert not problems, "\n".join(problems)
