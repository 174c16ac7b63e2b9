"""Image commands: ``genbalance images train | grid | resample``.

Input everywhere: ``digits`` / ``optdigits`` (bundled 8x8 digits), an ``.npz`` file with
arrays ``x`` and ``y``, a folder with one sub-folder per class, or an IDX images file with
``--labels``. Output of ``resample``: an ``.npz`` file, or a folder (one sub-folder per class).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)

images_app = typer.Typer(
    name="images",
    help="Class-conditional image models (dcgan, conv-vae, pixelcnn; flat-pixel gan, vae, made, "
    "rbm, diffusion): train, grids, resample.",
    no_args_is_help=True,
)

InputArg = Annotated[
    str,
    typer.Argument(
        help="digits | optdigits | file.npz (x, y) | folder of class folders | IDX images file."
    ),
]
LabelsOpt = Annotated[Path | None, typer.Option(help="IDX labels file (with IDX images).")]
ModelOpt = Annotated[
    str, typer.Option(help="dcgan | conv-vae | pixelcnn | gan | vae | made | rbm | diffusion")
]
EpochsOpt = Annotated[str, typer.Option(help="Training epochs or 'auto'.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same output).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
GridOpt = Annotated[Path | None, typer.Option(help="Also write a per-class sample grid PNG.")]
SampleDirOpt = Annotated[
    Path | None,
    typer.Option(help="Write a sample grid and loss curve here every --sample-every epochs."),
]
EveryOpt = Annotated[int, typer.Option(help="Epochs between training snapshots.")]
ChannelsOpt = Annotated[
    int | None, typer.Option(help="Convert folder images to 1 (grayscale) or 3 (RGB) channels.")
]


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


def _epochs(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"--epochs must be an integer or 'auto', got {value!r}") from None


def _strategy(value: str) -> Any:
    if value.strip().startswith("{"):
        try:
            d = json.loads(value)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--sampling-strategy is not valid JSON: {exc}") from None
        return {(int(k) if k.lstrip("-").isdigit() else k): v for k, v in d.items()}
    try:
        return float(value)
    except ValueError:
        return value


def _check_out(path: Path | None, force: bool) -> None:
    if path is not None and path.exists() and not force:
        _fail(FileExistsError(f"{path} exists; pass --force to replace it"))


def _load(source: str, labels: Path | None, channels: int | None):
    from genbalance.data.images import load_images

    X, y = load_images(source, labels, channels=channels)
    if str(source) in ("digits", "optdigits") and not Path(source).exists():
        X = np.rint(X * 255).astype(np.uint8)  # store bundled sets as ordinary 8-bit images
    return X, y


def _counts(title: str, before: np.ndarray, after: np.ndarray | None = None) -> Table:
    table = Table(title=title)
    table.add_column("class")
    table.add_column("images", justify="right")
    b = dict(zip(*np.unique(before, return_counts=True), strict=True))
    a = dict(zip(*np.unique(after, return_counts=True), strict=True)) if after is not None else {}
    if after is not None:
        table.add_column("after", justify="right")
        table.add_column("generated", justify="right")
    for cls in sorted(set(b) | set(a), key=str):
        row = [str(cls), str(b.get(cls, 0))]
        if after is not None:
            row += [str(a.get(cls, 0)), str(a.get(cls, 0) - b.get(cls, 0))]
        table.add_row(*row)
    return table


def _sampler(
    model: str, epochs: str, seed: int, sample_dir: Path | None, every: int, quiet: bool, **kw
):
    from genbalance.sampling.images import ImageOverSampler

    return ImageOverSampler(
        model,
        epochs=_epochs(epochs),
        random_state=seed,
        sample_dir=sample_dir,
        sample_every=every,
        progress=not quiet,
        **kw,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(images_app, name="images")


@images_app.command()
def train(
    source: InputArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file (.safetensors).")],
    labels: LabelsOpt = None,
    model: ModelOpt = "dcgan",
    epochs: EpochsOpt = "auto",
    grid: GridOpt = None,
    sample_dir: SampleDirOpt = None,
    sample_every: EveryOpt = 10,
    channels: ChannelsOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a class-conditional image model and save it."""
    _check_out(output, force)
    try:
        X, y = _load(source, labels, channels)
        console.print(_counts(f"{source}: {X.shape[1:]} images", y))
        sampler = _sampler(model, epochs, seed, sample_dir, sample_every, quiet)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sampler.fit(X, y)
        sampler.save(output, overwrite=force)
        if grid is not None:
            sampler.save_sample_grid(grid)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        _fail(exc)
    hist = sampler.history_
    console.print(
        f"trained {len(hist.steps)} steps in {hist.seconds:.1f} s; model written to "
        f"{output}" + (f"; grid {grid}" if grid else "")
    )


@images_app.command()
def grid(
    model_file: Annotated[Path, typer.Argument(help="Model written by `genbalance images train`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")],
    per_class: Annotated[int, typer.Option(help="Images per class (one row per class).")] = 10,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
) -> None:
    """Draw a per-class grid of generated images from a trained model."""
    from genbalance.sampling.images import ImageOverSampler

    _check_out(output, force)
    try:
        ImageOverSampler.load(model_file).save_sample_grid(output, per_class, seed)
    except (ValueError, OSError) as exc:
        _fail(exc)
    console.print(f"wrote {output}")


@images_app.command()
def resample(
    source: InputArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Balanced set: file.npz, or a folder (one sub-folder per class)."
        ),
    ],
    labels: LabelsOpt = None,
    model: ModelOpt = "dcgan",
    epochs: EpochsOpt = "auto",
    sampling_strategy: Annotated[
        str, typer.Option(help="auto | minority | not majority | all | float | JSON dict")
    ] = "auto",
    latent: Annotated[str, typer.Option(help="conv-vae only: prior | posterior")] = "prior",
    filter: Annotated[str, typer.Option("--filter", help="none | classifier")] = "none",  # noqa: A002
    grid: GridOpt = None,
    save_model: Annotated[Path | None, typer.Option(help="Also save the trained model.")] = None,
    sample_dir: SampleDirOpt = None,
    sample_every: EveryOpt = 10,
    channels: ChannelsOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train on the images and write them plus generated rare-class images."""
    from genbalance.data.images import save_image_folder, save_npz

    _check_out(output, force)
    try:
        X, y = _load(source, labels, channels)
        sampler = _sampler(
            model,
            epochs,
            seed,
            sample_dir,
            sample_every,
            quiet,
            sampling_strategy=_strategy(sampling_strategy),
            latent=latent,
            filter=filter,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            X_res, y_res = sampler.fit_resample(X, y)
        if output.suffix.lower() == ".npz":
            save_npz(output, X_res, y_res)
        else:
            save_image_folder(output, X_res, y_res)
        if grid is not None:
            sampler.save_sample_grid(grid)
        if save_model is not None:
            sampler.save(save_model, overwrite=force)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        _fail(exc)
    console.print(_counts(f"{source} -> {output}", y, y_res))
    console.print(f"wrote {len(X_res)} images to {output}" + (f"; grid {grid}" if grid else ""))
