"""The ``genbalance`` command line: fit, resample, sample, evaluate, report, bench, images.

Each area's commands live in their own module of this package (``tabular``, ``bench``,
``images``, ``report``) and are added to one Typer app by ``register(app)``; this file only
assembles them. Modules import torch only inside commands, so ``genbalance --help`` stays light.
"""

from __future__ import annotations

import typer

from genbalance.cli import bench, images, report, tabular

app = typer.Typer(
    name="genbalance",
    help="Generative models (GAN, VAE, ...) that fix class imbalance in tables and images.",
    no_args_is_help=True,
    add_completion=False,
)

for _area in (tabular, bench, images, report):
    _area.register(app)


def main() -> None:
    app()
