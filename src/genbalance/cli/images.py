"""Image commands: ``genbalance images train | grid | resample``.

Input everywhere: ``digits`` / ``optdigits`` (bundled 8x8 digits), an ``.npz`` file with
arrays ``x`` and ``y``, a folder with one sub-folder per class, or an IDX images file with
``--labels``. Output of ``resample``: an ``.npz`` file, or a folder (one sub-folder per class).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from genbalance.cli.common import (
    DEFAULT_IMAGE_MODEL,
    EpochsOpt,
    ForceOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    StrategyOpt,
    class_counts,
    counts_table,
    err,
    handle_errors,
    out,
    output_option,
    print_json,
    refuse_overwrite,
    warnings_to_stderr,
)

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
    str,
    typer.Option(
        help=f"dcgan | conv-vae | pixelcnn | gan | vae | made | rbm | diffusion "
        f"(default {DEFAULT_IMAGE_MODEL})"
    ),
]
GridOpt = Annotated[Path | None, typer.Option(help="Also write a per-class sample grid PNG.")]
ImageInitOpt = Annotated[
    Path | None,
    typer.Option(
        "--init",
        help="Start from this image model file (same family and image shape), e.g. one "
        "trained on every class, and fine-tune it on these images (docs/transfer.md).",
    ),
]
SampleDirOpt = Annotated[
    Path | None,
    typer.Option(help="Write a sample grid and loss curve here every --sample-every epochs."),
]
EveryOpt = Annotated[int, typer.Option(help="Epochs between training snapshots.")]
ChannelsOpt = Annotated[
    int | None, typer.Option(help="Convert folder images to 1 (grayscale) or 3 (RGB) channels.")
]


def _int_keys(strategy: Any) -> Any:
    """JSON keys that spell integers become ints (image labels such as the digits are ints)."""
    if isinstance(strategy, dict):
        return {(int(k) if k.lstrip("-").isdigit() else k): v for k, v in strategy.items()}
    return strategy


def _load(source: str, labels: Path | None, channels: int | None):
    import numpy as np

    from genbalance.data.images import load_images

    X, y = load_images(source, labels, channels=channels)
    if str(source) in ("digits", "optdigits") and not Path(source).exists():
        X = np.rint(X * 255).astype(np.uint8)  # store bundled sets as ordinary 8-bit images
    return X, y


def refuse_same_paths(output: Path, source: str, labels: Path | None) -> None:
    """Refuse an output that is an input, or a folder inside or around the input folder.

    Writing the balanced set over its input would replace the user's originals (and, for a
    folder, add the originals again under new names); an output folder inside the input
    folder would load as an extra class next time. ``--force`` does not change this."""
    out = output.expanduser().resolve()
    for given in (source, labels):
        if given is None or not Path(given).exists():
            continue  # bundled sets ("digits") and missing inputs (reported when loading)
        src = Path(given).expanduser().resolve()
        if out == src:
            raise ValueError(
                f"the output {output} is the input {given}; write the balanced set elsewhere "
                "(the input is never overwritten, even with --force)"
            )
        if src.is_dir() and src in out.parents:
            raise ValueError(
                f"the output {output} is inside the input folder {given}, where it would load "
                "as an extra class; write it outside the input folder"
            )
        if out in src.parents:
            raise ValueError(
                f"the input {given} is inside the output folder {output}; write the balanced "
                "set to another folder"
            )


def _counts(before, after=None) -> list[dict[str, Any]]:
    import numpy as np

    def count(labels) -> dict[Any, int]:
        return dict(zip(*np.unique(labels, return_counts=True), strict=True))

    return class_counts(count(before), None if after is None else count(after))


def _sampler(
    model: str, epochs: Any, seed: int, sample_dir: Path | None, every: int, quiet: bool, **kw
):
    from genbalance.sampling.images import ImageOverSampler

    return ImageOverSampler(
        model,
        epochs=epochs,
        random_state=seed,
        sample_dir=sample_dir,
        sample_every=every,
        progress=not quiet,
        **kw,
    )


def _warm_start(init: Path | None, model: str) -> Any:
    """The ``--init`` model file as a checked warm start (a bad file, another family or a
    table model is refused before any image is read), or None."""
    if init is None:
        return None
    from genbalance.sampling.images import ImageOverSampler
    from genbalance.synthesis.transfer_images import as_image_warm_start

    return as_image_warm_start(init, lambda path: ImageOverSampler.load(path).synthesizer_, model)


def _report_transfer(sampler: Any, init: Path | None) -> None:
    """One stderr line: what the warm start reused."""
    report = getattr(sampler.synthesizer_, "transfer_", None)
    if init is None or not report:
        return
    classes = report["classes"]
    err.print(
        f"started from {escape(str(init))}: {report['weights']['share_copied']:.0%} of the "
        f"weights copied; classes shared {escape(str(classes['shared'] or 'none'))}, new "
        f"{escape(str(classes['new'] or 'none'))}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(images_app, name="images")


@images_app.command()
@handle_errors
def train(
    source: InputArg,
    output: Annotated[Path, output_option("Model file (.safetensors).")],
    labels: LabelsOpt = None,
    model: ModelOpt = DEFAULT_IMAGE_MODEL,
    epochs: EpochsOpt = "auto",
    grid: GridOpt = None,
    sample_dir: SampleDirOpt = None,
    sample_every: EveryOpt = 10,
    channels: ChannelsOpt = None,
    init: ImageInitOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a class-conditional image model and save it."""
    refuse_overwrite(output, grid, force=force)
    start = _warm_start(init, model)
    X, y = _load(source, labels, channels)
    counts = _counts(y)
    if not as_json:
        out.print(counts_table(f"{source}: {X.shape[1:]} images", counts, unit="images"))
    sampler = _sampler(model, epochs, seed, sample_dir, sample_every, quiet, init=start)
    with warnings_to_stderr():
        sampler.fit(X, y)
    sampler.save(output, overwrite=force)
    _report_transfer(sampler, init)
    if grid is not None:
        sampler.save_sample_grid(grid)
    hist = sampler.history_
    err.print(
        f"trained {len(hist.steps)} steps in {hist.seconds:.1f} s; model written to "
        f"{output}" + (f"; grid {grid}" if grid else "")
    )
    if as_json:
        print_json(
            {
                "source": source,
                "image_shape": list(X.shape[1:]),
                "counts": counts,
                "model": model,
                "output": output,
                "grid": grid,
                "steps": len(hist.steps),
                "seconds": hist.seconds,
            }
        )


@images_app.command()
@handle_errors
def grid(
    model_file: Annotated[Path, typer.Argument(help="Model written by `genbalance images train`.")],
    output: Annotated[Path, output_option("PNG file to write.")],
    per_class: Annotated[int, typer.Option(help="Images per class (one row per class).")] = 10,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
) -> None:
    """Draw a per-class grid of generated images from a trained model."""
    from genbalance.sampling.images import ImageOverSampler

    refuse_overwrite(output, force=force)
    ImageOverSampler.load(model_file).save_sample_grid(output, per_class, seed)
    err.print(f"wrote {output}")


@images_app.command()
@handle_errors
def resample(
    source: InputArg,
    output: Annotated[
        Path, output_option("Balanced set: file.npz, or a folder (one sub-folder per class).")
    ],
    labels: LabelsOpt = None,
    model: ModelOpt = DEFAULT_IMAGE_MODEL,
    epochs: EpochsOpt = "auto",
    sampling_strategy: StrategyOpt = "auto",
    latent: Annotated[str, typer.Option(help="conv-vae only: prior | posterior")] = "prior",
    filter: Annotated[str, typer.Option("--filter", help="none | classifier")] = "none",  # noqa: A002
    grid: GridOpt = None,
    save_model: Annotated[Path | None, typer.Option(help="Also save the trained model.")] = None,
    sample_dir: SampleDirOpt = None,
    sample_every: EveryOpt = 10,
    channels: ChannelsOpt = None,
    init: ImageInitOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train on the images and write them plus generated rare-class images.

    The output (an .npz file or a folder) is written under a temporary name and published
    atomically, never onto the input; with --force it replaces only a file, or a folder that
    an earlier `genbalance images resample` wrote (see docs/reliability.md)."""
    from genbalance.data.images import save_image_folder, save_npz

    refuse_same_paths(output, source, labels)
    refuse_overwrite(output, grid, save_model, force=force)
    start = _warm_start(init, model)
    X, y = _load(source, labels, channels)
    sampler = _sampler(
        model,
        epochs,
        seed,
        sample_dir,
        sample_every,
        quiet,
        sampling_strategy=_int_keys(sampling_strategy),
        latent=latent,
        filter=filter,
        init=start,
    )
    with warnings_to_stderr():
        X_res, y_res = sampler.fit_resample(X, y)
    _report_transfer(sampler, init)
    if output.suffix.lower() == ".npz":
        save_npz(output, X_res, y_res, overwrite=force)
    else:
        save_image_folder(output, X_res, y_res, overwrite=force)
    if grid is not None:
        sampler.save_sample_grid(grid)
    if save_model is not None:
        sampler.save(save_model, overwrite=force)
    counts = _counts(y, y_res)
    err.print(f"wrote {len(X_res)} images to {output}" + (f"; grid {grid}" if grid else ""))
    if as_json:
        print_json({"source": source, "output": output, "images": len(X_res), "counts": counts})
    else:
        out.print(counts_table(f"{source} -> {output}", counts, unit="images"))
