"""The command line's layout: commands are module-level functions, no function is long, shared
helpers are public names of cli/common.py, and only common.py makes consoles."""

from __future__ import annotations

import ast
from pathlib import Path

import typer

from genbalance.cli import app, bench, images, report, tabular

CLI = Path(__file__).resolve().parents[2] / "src" / "genbalance" / "cli"
MAX_LINES = 80


def _trees() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text()) for p in sorted(CLI.glob("*.py"))}


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert not long


def _is_command_decorator(node: ast.expr) -> bool:
    """``@app.command()``, ``@images_app.command("x")``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "command"
    )


def test_no_nested_command_functions():
    nested = [
        f"{name}:{inner.name}"
        for name, tree in _trees().items()
        for outer in ast.walk(tree)
        if isinstance(outer, ast.FunctionDef)
        for inner in ast.walk(outer)
        if inner is not outer and isinstance(inner, ast.FunctionDef)
        and any(_is_command_decorator(d) for d in inner.decorator_list)
    ]  # fmt: skip
    assert not nested


def test_no_private_name_imported_across_modules():
    private = [
        f"{name}: from {node.module} import {alias.name}"
        for name, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genbalance")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not private


def test_only_common_makes_consoles_and_error_exits():
    for name, tree in _trees().items():
        if name == "common.py":
            continue
        source = ast.unparse(tree)
        assert "Console(stderr" not in source and "def _fail" not in source, name
        assert "typer.Exit(code=2)" not in source, name


def test_every_command_is_a_module_level_function_wrapped_by_handle_errors():
    group = typer.main.get_command(app)
    modules = {"tabular": tabular, "report": report, "images": images, "bench": bench}
    commands = dict(group.commands)
    for sub in ("images", "bench"):
        commands.update({f"{sub} {k}": v for k, v in group.commands[sub].commands.items()})
    for label, command in commands.items():
        if label in ("images", "bench"):
            continue
        chain = [command.callback]  # typer's wrapper -> handle_errors' wrapper -> the function
        while hasattr(chain[-1], "__wrapped__"):
            chain.append(chain[-1].__wrapped__)
        original = chain[-1]
        module = modules[original.__module__.rsplit(".", 1)[-1]]
        public = getattr(module, original.__name__)
        assert public in chain and public is not original, label  # the module's own name
        assert public.__code__.co_filename == str(CLI / "common.py"), label  # handle_errors
