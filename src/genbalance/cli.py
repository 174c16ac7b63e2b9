"""The ``genbalance`` command line: fit, resample, sample, evaluate, report, bench, images.

Commands of other areas live in their own modules (``cli_<area>.py``) that expose
``register(app)``; this file only assembles them, so each area stays one file.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="genbalance",
    help="Generative models (GAN, VAE, ...) that fix class imbalance in tables and images.",
    no_args_is_help=True,
    add_completion=False,
)

# modules that add commands; a missing one (optional area not installed) is skipped
_AREAS = ("cli_tabular", "cli_bench", "cli_images", "cli_report")


def _register_areas() -> None:
    for name in _AREAS:
        try:
            module = importlib.import_module(f"genbalance.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"genbalance.{name}":
                continue
            raise
        module.register(app)


_register_areas()


def main() -> None:
    app()
