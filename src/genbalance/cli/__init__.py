"""The ``genbalance`` command line: fit, resample, sample, evaluate, report, bench, images.

Each area's commands are module-level functions in their own module of this package
(``tabular``, ``bench``, ``images``, ``report``), added to one Typer app by ``register(app)``;
what they share (options, errors and exit codes, the overwrite guard, stdout for results and
stderr for diagnostics) is in ``common``. This file only assembles them. Modules import torch
only inside commands, so ``genbalance --help`` and ``genbalance --version`` stay light.
"""

from __future__ import annotations

from typing import Annotated

import typer

from genbalance.cli import bench, images, report, tabular
from genbalance.cli.common import echo

app = typer.Typer(
    name="genbalance",
    help="Generative models (GAN, VAE, ...) that fix class imbalance in tables and images.",
    no_args_is_help=True,
    add_completion=False,
)


def version() -> str:
    """The installed package's version (its metadata), else the source tree's."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("genbalance")
    except PackageNotFoundError:
        from genbalance import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        echo(f"genbalance {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    pass


for _area in (tabular, bench, images, report):
    _area.register(app)


def main() -> None:
    app()
