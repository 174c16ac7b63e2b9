"""What every ``genbalance`` command shares: options, parsers, errors, overwrite guard, output.

Output policy
    Results (tables, listings, JSON documents) go to stdout through :data:`out`; progress
    bars, warnings, "wrote ..." confirmations and errors go to stderr through :data:`err`.
    ``genbalance models | grep gan`` and ``genbalance evaluate ... --json | jq`` work.

Errors
    :func:`handle_errors` wraps every command: a genbalance error, a bad value or a missing
    file becomes one ``error: ...`` line on stderr and an exit code: :data:`USAGE_ERROR` (2)
    for bad input (values, tables, model files, existing outputs without ``--force``),
    :data:`RUNTIME_ERROR` (1) when the work itself failed (training, memory, disk, missing
    optional package). Anything else is a bug and keeps its traceback.

Nothing here imports torch, numpy or pandas, so that ``genbalance --help`` stays light.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# ------------------------------------------------------------------------------- output
out = Console()  # results: tables, listings, JSON
err = Console(stderr=True, soft_wrap=True)  # progress, diagnostics, errors: lines not wrapped

# ------------------------------------------------------------------------------ defaults
DEFAULT_TABLE_MODEL = "vae"  # GenerativeOverSampler's tuned default; `fit` and `resample` alike
DEFAULT_IMAGE_MODEL = "dcgan"  # `images train` and `images resample`

# ------------------------------------------------------------------------------- options
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same output).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the results as JSON on stdout instead of tables.")
]


def parse_epochs(value: Any) -> int | str:
    """``--epochs``: a non-negative integer or ``auto``; anything else is a usage error."""
    if isinstance(value, int) or value == "auto":
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        epochs = int(text)
    except ValueError:
        epochs = -1
    if epochs < 0:
        raise typer.BadParameter(f"{value!r}; accepted: a non-negative integer or 'auto'")
    return epochs


EpochsOpt = Annotated[
    Any,
    typer.Option(
        parser=parse_epochs,
        metavar="INTEGER|auto",
        help="Training epochs (a non-negative integer) or 'auto'.",
    ),
]


def parse_strategy(value: Any) -> Any:
    """``--sampling-strategy``: a name ('auto', 'minority', ...), a float, or a JSON dict."""
    if not isinstance(value, str):
        return value
    if value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not valid JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise typer.BadParameter("a JSON value must be an object like '{\"fraud\": 500}'")
        return parsed
    try:
        return float(value)
    except ValueError:
        return value


StrategyOpt = Annotated[
    Any,
    typer.Option(
        parser=parse_strategy,
        metavar="TEXT",
        help="auto | minority | not minority | not majority | all | float | JSON dict "
        "like '{\"fraud\": 500}'",
    ),
]


def output_option(help: str) -> Any:  # noqa: A002 - typer's own name
    """The ``--output/-o`` option, with a command's own help text."""
    return typer.Option("--output", "-o", help=help)


# -------------------------------------------------------------------------------- guards
def refuse_overwrite(*paths: Path | None, force: bool) -> None:
    """Before any work: raise (exit code 2) if an output exists and ``--force`` was not given,
    and refuse an output that cannot be written (a read-only folder or file system), so that
    a long training never ends in a raw OSError at the last step."""
    for path in paths:
        if path is None:
            continue
        if Path(path).exists() and not force:
            raise FileExistsError(f"{path} exists; pass --force to replace it")
        check_writable(Path(path))


def check_writable(path: Path) -> None:
    """Raise PermissionError naming ``path`` when its folder (or the nearest existing folder
    above it, which the command would create the rest under) cannot be written."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cannot write {path}: the folder {folder} is not writable (read-only or no "
            "permission); choose another output path"
        )


# -------------------------------------------------------------------------------- errors
USAGE_ERROR = 2  # bad values, unreadable input, existing output: the user can fix the call
RUNTIME_ERROR = 1  # the work failed: training diverged, out of memory, disk, missing package

BAD_INPUT: tuple[type[BaseException], ...] = (
    ValueError,  # includes genbalance.files.ModelFileError, UnicodeDecodeError, pandas parsing
    TypeError,
    LookupError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
)
FAILURES: tuple[type[BaseException], ...] = (
    RuntimeError,
    OSError,
    ArithmeticError,
    ImportError,
    MemoryError,
)

# library messages in Python spelling -> the flags a command-line user types. The library
# says ``force=True`` / ``overwrite=True``; the mixed forms of older messages stay translated.
_CLI_SPELLINGS = (
    (re.compile(r"\b(?:force|overwrite)=True \(--force\)"), "--force"),
    (re.compile(r"\boverwrite/--force\b"), "--force"),
    (re.compile(r"\b(?:force|overwrite)=True\b"), "--force"),
    (re.compile(r"\brandom_state\b(?= must)"), "--seed"),
    (
        re.compile(r"\b(epochs|time_budget|chunk_rows|memory_budget|sampling_strategy)\b(?= must)"),
        lambda m: "--" + m.group(1).replace("_", "-"),
    ),
    (re.compile(r"\b(filter|preset|latent)=(?=')"), lambda m: f"--{m.group(1)} "),
    (re.compile(r"\bid_policy=(?=')"), "--id-policy "),
    (re.compile(r"\bimage_root\b"), "--image-root"),  # where relative image paths start
    (re.compile(r"\bn_jobs\b(?= must)"), "--jobs"),
)


def exit_code_for(exc: BaseException) -> int | None:
    """2 for bad input, 1 for a failed run, None for what is not ours to report (a bug)."""
    if isinstance(exc, (typer.Exit, typer.Abort, typer.TyperException)):
        return None  # typer/click report these themselves
    # the model-file error lives in genbalance.files (torch): raised only once it is imported
    model_file_error = getattr(sys.modules.get("genbalance.files"), "ModelFileError", None)
    if model_file_error is not None and isinstance(exc, model_file_error):
        return USAGE_ERROR
    if isinstance(exc, BAD_INPUT):
        return USAGE_ERROR
    from genbalance.utils import GenbalanceError

    if isinstance(exc, (GenbalanceError, *FAILURES)):
        return RUNTIME_ERROR
    return None


#: what a write error means and what to do, by errno (written files are published whole or
#: not at all, so the hint can promise that nothing half-written was left)
_WRITE_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file is larger than this system's or shell's file-size limit (ulimit -f)",
    errno.EROFS: "the file system is read-only",
}


def write_hint(exc: BaseException) -> str | None:
    """A plain explanation of an OS write failure (also pyarrow's, which hides the errno)."""
    if not isinstance(exc, OSError):
        return None
    code = exc.errno
    if code is None:  # pyarrow: "Error writing bytes to file. Detail: [errno 28] ..."
        found = re.search(r"\[errno (\d+)\]", str(exc))
        code = int(found.group(1)) if found else None
    hint = _WRITE_HINTS.get(code) if code is not None else None
    if hint is None:
        return None
    return f"{hint}; outputs are written whole or not at all, so no half-written file was left"


def cli_message(exc: BaseException) -> str:
    """The exception as one line for a command-line user (CLI spellings, never empty)."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])  # str(KeyError) adds quotes
    else:
        text = str(exc)
    for pattern, replacement in _CLI_SPELLINGS:
        text = pattern.sub(replacement, text)
    hint = write_hint(exc)
    if hint is not None:
        text = f"{text}: {hint}"
    return text or type(exc).__name__


def fail(exc: BaseException, code: int | None = None) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with ``code`` (default: by the error)."""
    err.print(f"[bold red]error:[/] {escape(cli_message(exc))}")
    raise typer.Exit(code=code or exit_code_for(exc) or RUNTIME_ERROR)


@contextlib.contextmanager
def progress_on_stderr() -> Iterator[None]:
    """Point rich's global console (the library's progress bars use it) at stderr."""
    import rich

    console = rich.get_console()
    saved = console.__dict__
    rich.reconfigure(stderr=True)
    try:
        yield
    finally:
        console.__dict__ = saved


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(command: F) -> F:
    """Decorate a command: known errors become one message and an exit code (see above)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with progress_on_stderr():
                return command(*args, **kwargs)
        except KeyboardInterrupt:
            err.print("[bold red]interrupted[/]")
            raise typer.Exit(code=130) from None
        except Exception as exc:
            if exit_code_for(exc) is None:
                raise
            fail(exc)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Show the UserWarnings raised inside as one ``warning:`` line each (once per message)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                message = str(w.message)
                if issubclass(w.category, UserWarning) and message not in seen:
                    seen.add(message)
                    err.print(f"[yellow]warning:[/] {escape(message)}")


# ------------------------------------------------------------------------ result printing
def echo(text: str) -> None:
    """Plain text to stdout: no markup, no wrapping (for files and grep-able listings)."""
    out.file.write(text if text.endswith("\n") else text + "\n")
    out.file.flush()


def jsonable(value: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, pandas frames, paths; NaN -> null."""
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a DataFrame: its rows
        return jsonable(value.to_dict(orient="records"))
    if hasattr(value, "to_dict") and hasattr(value, "index"):  # a Series: index -> value
        return jsonable(value.to_dict())
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if type(value).__module__ == "numpy":
        return jsonable(value.tolist() if hasattr(value, "shape") and value.shape else value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return str(value)


def print_json(document: Any) -> None:
    """A JSON document on stdout (the only thing there when ``--json`` is given)."""
    echo(json.dumps(jsonable(document), indent=2, allow_nan=False))


def class_counts(
    before: Mapping[Any, int], after: Mapping[Any, int] | None = None
) -> list[dict[str, Any]]:
    """Rows ``{"class", "before"[, "after", "generated"]}``, classes sorted by name."""
    rows = []
    for cls in sorted(set(before) | set(after or {}), key=str):
        row: dict[str, Any] = {"class": jsonable(cls), "before": int(before.get(cls, 0))}
        if after is not None:
            row["after"] = int(after.get(cls, 0))
            row["generated"] = row["after"] - row["before"]
        rows.append(row)
    return rows


def counts_table(title: str, rows: list[dict[str, Any]], unit: str = "rows") -> Table:
    """The class counts of :func:`class_counts` as a table."""
    table = Table(title=title)
    table.add_column("class")
    after = bool(rows) and "after" in rows[0]
    table.add_column(f"{unit} before" if after else unit, justify="right")
    if after:
        table.add_column(f"{unit} after", justify="right")
        table.add_column("generated", justify="right")
    for row in rows:
        cells = [str(row["class"]), str(row["before"])]
        if after:
            cells += [str(row["after"]), str(row["generated"])]
        table.add_row(*cells)
    return table
