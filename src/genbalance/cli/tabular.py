"""Tabular commands: ``resample``, ``fit``, ``sample``, ``models`` and the bundled ``demo``.

``fit`` and ``resample`` share one default family (:data:`~genbalance.cli.common.
DEFAULT_TABLE_MODEL`, the tuned default of ``GenerativeOverSampler``); their ``--init`` and
differential-privacy options and reports are in :mod:`genbalance.cli.fitting`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from genbalance.cli.common import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_TABLE_MODEL,
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
from genbalance.cli.fitting import (
    INIT_WITH_STREAM,
    DeltaOpt,
    EpsilonOpt,
    IdPolicyOpt,
    ImageRootOpt,
    InitColumnsOpt,
    InitOpt,
    LearnPrecisionOpt,
    fit_trainer_options,
    image_root_for,
    images_json,
    model_settings,
    plan_image_output,
    report_images,
    report_privacy,
    report_transfer,
    sample_plan,
    sampled_records,
    warm_start,
    write_balanced,
    write_with_images,
)

DataArg = Annotated[Path, typer.Argument(help="Input table (.csv or .parquet).")]
ModelOpt = Annotated[
    str,
    typer.Option(
        help=f"Generative family (default {DEFAULT_TABLE_MODEL}, the tuned default of "
        "GenerativeOverSampler; all families: `genbalance models`)."
    ),
]
ModelFileOut = Annotated[Path, output_option("Model file (.safetensors).")]
TimeBudgetOpt = Annotated[float | None, typer.Option(help="Seconds of training at most.")]
PresetOpt = Annotated[str | None, typer.Option(help="GAN stabiliser preset (--model gan).")]


# ------------------------------------------------------------------------------ resample
@handle_errors
def resample(
    data: DataArg,
    target: Annotated[str, typer.Option("--target", "-t", help="Class label column.")],
    output: Annotated[Path, output_option("Balanced table to write (.csv or .parquet).")],
    model: ModelOpt = DEFAULT_TABLE_MODEL,
    sampling_strategy: StrategyOpt = "auto",
    epochs: EpochsOpt = "auto",
    time_budget: TimeBudgetOpt = None,
    preset: PresetOpt = None,
    filter: Annotated[str, typer.Option("--filter", help="none | knn")] = "none",  # noqa: A002
    save_model: Annotated[
        Path | None, typer.Option(help="Also save the fitted synthesizer.")
    ] = None,
    epsilon: EpsilonOpt = None,
    delta: DeltaOpt = None,
    init: InitOpt = None,
    init_columns: InitColumnsOpt = None,
    id_policy: IdPolicyOpt = None,
    learn_precision: LearnPrecisionOpt = None,
    image_root: ImageRootOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Balance a table: train a class-conditional model, add rare-class rows, write it out.

    Image-path columns: new images go to <output stem>-images/ beside the output."""
    from genbalance.data.tables import read_table, split_target, table_format
    from genbalance.sampling.tabular import GenerativeOverSampler

    table_format(output)
    refuse_overwrite(output, save_model, force=force)
    start = warm_start(init, init_columns)
    root = image_root_for(data, image_root)
    frame = read_table(data)
    X, y = split_target(frame, target, str(data))
    plan = plan_image_output(X, root, output, force)  # before training: paths, images folder
    sampler = GenerativeOverSampler(
        model,
        sampling_strategy=sampling_strategy,
        random_state=seed,
        epochs=epochs,
        time_budget=time_budget,
        preset=preset,
        filter=filter,
        progress=not quiet,
        init=start,
        image_root=root,
        **model_settings(epsilon, delta, id_policy, learn_precision),
    )
    balanced, n_images = write_balanced(sampler, frame, X, y, target, output, plan, force)
    if save_model is not None:
        sampler.synthesizer_.save(save_model, overwrite=force)
    counts = class_counts(y.value_counts().to_dict(), balanced[target].value_counts().to_dict())
    hist = sampler.synthesizer_.history_
    err.print(
        f"trained {model} for {len(hist.steps)} steps in {hist.seconds:.1f} s; "
        f"wrote {len(balanced)} rows to {output}"
    )
    report_images(plan, output, n_images)
    report_transfer(sampler.synthesizer_, init)
    spent = report_privacy(sampler.synthesizer_)
    if as_json:
        print_json(
            {
                "input": data,
                "output": output,
                "model": model,
                "rows": len(balanced),
                "counts": counts,
                "steps": len(hist.steps),
                "seconds": hist.seconds,
                "privacy": spent,
                "transfer": getattr(sampler.synthesizer_, "transfer_", None),
                **images_json(plan, n_images),
            }
        )
    else:
        out.print(counts_table(f"{data.name} -> {output.name}", counts))


# ----------------------------------------------------------------------------------- fit
def _synthesizer(model: str, options: dict[str, Any], epochs: Any, seed: int) -> Any:
    from genbalance.synthesis.tabular import Synthesizer

    return Synthesizer(model, epochs=epochs, random_state=seed, **options)


def _train(
    synth: Any,
    data: Path,
    target: str | None,
    stream: dict[str, Any] | None,
    dist_ctx: Any,
    start: Any = None,
) -> None:
    """Fit ``synth`` on the table in memory, or streamed in chunks when ``stream`` is given;
    ``start``: the warm start of ``--init`` (in-memory tables only)."""
    if stream is not None:
        if start is not None:
            raise ValueError(INIT_WITH_STREAM)
        from genbalance.synthesis.streaming import fit_file

        fit_file(synth, data, target, dist=dist_ctx, **stream)
        return
    from genbalance.data.tables import read_table, split_target

    frame = read_table(data)
    X, y = split_target(frame, target, str(data)) if target else (frame, None)
    synth.fit(X, y, dist=dist_ctx, init=start)


@handle_errors
def fit(
    data: DataArg,
    output: ModelFileOut,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="Class label column (condition).")
    ] = None,
    model: ModelOpt = DEFAULT_TABLE_MODEL,
    epochs: EpochsOpt = "auto",
    time_budget: TimeBudgetOpt = None,
    preset: PresetOpt = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint file; resumed if present.")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Read the table in chunks (bigger than memory).")
    ] = False,
    chunk_rows: Annotated[
        int | None, typer.Option(help="Rows per chunk when streaming (implies --stream).")
    ] = None,
    memory_budget: Annotated[
        str | None, typer.Option(help="e.g. 2GiB: sets the chunk size (implies --stream).")
    ] = None,
    distributed: Annotated[
        bool, typer.Option("--distributed", help="Data-parallel; launch with torchrun.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    amp: Annotated[bool, typer.Option("--amp", help="bf16 mixed precision (CUDA only).")] = False,
    epsilon: EpsilonOpt = None,
    delta: DeltaOpt = None,
    init: InitOpt = None,
    init_columns: InitColumnsOpt = None,
    id_policy: IdPolicyOpt = None,
    learn_precision: LearnPrecisionOpt = None,
    image_root: ImageRootOpt = None,
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a synthesizer on a table and save it (safetensors weights + JSON metadata)."""
    refuse_overwrite(output, force=force)
    streamed = stream or chunk_rows is not None or memory_budget is not None
    if streamed and init is not None:
        raise ValueError(INIT_WITH_STREAM)
    start = warm_start(init, init_columns)
    trainer_options = fit_trainer_options(amp, checkpoint)
    dist_ctx = None
    try:
        if distributed:
            from genbalance.training.distributed import init_from_env

            dist_ctx, device = init_from_env(device)
        writer = dist_ctx is None or dist_ctx.is_writer
        options = {
            "preset": preset,
            "time_budget": time_budget,
            "progress": not quiet and writer,
            "device": device,
            "trainer_options": trainer_options,
            "image_root": image_root_for(data, image_root),
            **model_settings(epsilon, delta, id_policy, learn_precision),
        }
        synth = _synthesizer(model, options, epochs, seed)
        chunks = {"chunk_rows": chunk_rows, "memory_budget": memory_budget} if streamed else None
        with warnings_to_stderr():
            _train(synth, data, target, chunks, dist_ctx, start)
        if writer:  # rank 0 alone writes the model file
            synth.save(output, overwrite=force)
    finally:
        if dist_ctx is not None:
            from genbalance.training.distributed import shutdown

            shutdown()
    if not writer:
        return
    h = synth.history_
    err.print(f"trained {model} for {len(h.steps)} steps in {h.seconds:.1f} s -> {output}")
    report_transfer(synth, init)
    for event in h.events:
        err.print(f"[yellow]event:[/] {escape(str(event))}")
    report_privacy(synth)


# -------------------------------------------------------------------------------- sample
FALLBACK_LABEL_COLUMN = "class"  # models saved without their label column's name


def label_column(synth: Any, target: str | None) -> str:
    """The label column ``sample`` writes: ``--target``, else the name the model file
    records (``synth.target_``), else :data:`FALLBACK_LABEL_COLUMN`.

    A name that is also a feature column is refused: the labels would silently replace that
    feature. (A one-class model writes no label column, so nothing can clash.)
    """
    recorded = getattr(synth, "target_", None) or {}
    if target is not None:
        name, how = target, "--target"
    elif recorded.get("name") is not None:
        name, how = recorded["name"], "the label column the model file records,"
    else:
        name, how = FALLBACK_LABEL_COLUMN, "the default label column name"
    if not str(name).strip():
        raise ValueError("--target must name a column, got an empty name")
    records = getattr(synth, "records_", None)  # a model of records: image columns too
    columns = records.columns_ if records is not None else synth.encoder_.columns
    features = [str(c) for c in columns]
    if len(synth.classes_) > 1 and str(name) in features:
        raise ValueError(
            f"{how} {name!r} is a feature column of this model, so the labels would replace "
            f"that column; pass another name with --target (features: {features[:10]})"
        )
    return str(name)


def labels_as(classes: Any, dtype: str | None) -> Any:
    """The class labels in the training column's dtype (``target_["dtype"]``), so that a
    Parquet round trip keeps e.g. bool or int32 labels; unchanged when no dtype is recorded
    or the cast would alter a label (its value or its Python type)."""
    if not dtype:
        return classes
    import numpy as np
    import pandas as pd

    from genbalance.utils import to_python_scalar

    try:
        cast = pd.Series(list(classes), dtype=object).astype(dtype)
    except (TypeError, ValueError, OverflowError):
        return classes
    before = [to_python_scalar(v) for v in classes]
    after = [to_python_scalar(v) for v in cast.astype(object)]
    if any(type(a) is not type(b) or a != b for a, b in zip(before, after, strict=True)):
        return classes
    # an array indexed by class codes (a Series would align on its index instead)
    return cast.to_numpy() if isinstance(cast.dtype, np.dtype) else cast.array


@handle_errors
def sample(
    model_file: Annotated[Path, typer.Argument(help="Model written by `genbalance fit`.")],
    n: Annotated[int, typer.Option("-n", help="Rows to generate.")],
    output: Annotated[Path, output_option("Table to write (.csv or .parquet).")],
    label: Annotated[
        str | None, typer.Option("--class", help="Generate rows of this class only.")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Name of the label column written (default: the training table's, as the "
            f"model file records it; else '{FALLBACK_LABEL_COLUMN}').",
        ),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows generated and written at a time.")] = (
        100_000
    ),
    seed: SeedOpt = 0,
    force: ForceOpt = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            help="Chunks generated at once, one thread each (default: the threads this "
            "process is given, OMP_NUM_THREADS; -1 the same). The file is the same for any "
            "value. Tables only: a model of records with image columns writes one chunk at "
            "a time.",
        ),
    ] = None,
) -> None:
    """Generate rows from a saved synthesizer (written in chunks: any -n fits in memory).

    A model of records with image columns writes the images to <output stem>-images/."""
    from genbalance.data.tables import table_format
    from genbalance.synthesis.streaming import sample_to_file
    from genbalance.synthesis.tabular import Synthesizer

    table_format(output)
    if n < 0:
        raise ValueError(f"-n must be >= 0, got {n}")
    refuse_overwrite(output, force=force)
    synth = Synthesizer.load(model_file)
    chosen = None
    if label is not None:
        known = {str(c): c for c in synth.classes_}
        if label not in known:
            raise ValueError(
                f"unknown class {label!r} for --class; the model knows {sorted(known)}"
            )
        chosen = known[label]
    column = label_column(synth, target)
    recorded = getattr(synth, "target_", None) or {}
    synth.classes_ = labels_as(synth.classes_, recorded.get("dtype"))
    if getattr(synth, "records_", None) is None:
        sample_to_file(
            synth,
            n,
            output,
            label=chosen,
            target=column,
            chunk_rows=chunk_rows,
            random_state=seed,
            force=force,
            n_jobs=jobs,
        )
        err.print(f"wrote {n} rows to {output}")
        return
    plan = sample_plan(synth, output, force)  # the images folder checked before any work
    chunks = sampled_records(synth, n, plan, chosen, column, chunk_rows, seed)
    n_images = write_with_images(output, plan, chunks, force)
    err.print(f"wrote {n} rows to {output}")
    report_images(plan, output, n_images)


# -------------------------------------------------------------------------- models, demo
@handle_errors
def models(as_json: JsonOpt = False) -> None:
    """List the generative families (one per line) and the GAN stabiliser presets."""
    from genbalance import models as registry
    from genbalance.training.stabilizers import PRESETS

    defaults = {
        DEFAULT_TABLE_MODEL: "default for tables",
        DEFAULT_IMAGE_MODEL: "default for images",
    }
    if as_json:
        print_json(
            {
                "families": registry.available(),
                "presets": list(PRESETS),
                "defaults": {"tables": DEFAULT_TABLE_MODEL, "images": DEFAULT_IMAGE_MODEL},
            }
        )
        return
    table = Table(box=None, pad_edge=False)
    for column in ("kind", "name", "note"):
        table.add_column(column)
    for name in registry.available():
        table.add_row("family", name, defaults.get(name, ""))
    for name in PRESETS:
        table.add_row("preset", name, "GAN stabiliser preset (--preset)")
    out.print(table)


@handle_errors
def demo(seed: SeedOpt = 0, quiet: QuietOpt = False, as_json: JsonOpt = False) -> None:
    """Rebalance a bundled imbalanced dataset and compare classifiers with and without it."""
    from genbalance.cli.demo import DEMO_DATASET, demo_view, run_demo

    table = run_demo(seed=seed, progress=not quiet, console=err)
    if as_json:
        print_json({"dataset": DEMO_DATASET, "results": table.reset_index()})
    else:
        out.print(demo_view(table))


def register(app: typer.Typer) -> None:
    for command in (resample, fit, sample, models, demo):
        app.command()(command)
