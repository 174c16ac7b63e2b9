"""Tabular commands: ``resample``, ``fit``, ``sample`` and the bundled ``demo``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)

ModelOpt = Annotated[
    str, typer.Option(help="Generative family: gan, vae, ... (see `genbalance models`).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same output).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")]
EpsilonOpt = Annotated[
    float | None,
    typer.Option(help="Differentially private training (DP-SGD) with this target epsilon."),
]
DeltaOpt = Annotated[
    float | None, typer.Option(help="DP target delta (default: below 1 / rows); needs --epsilon.")
]


def _privacy(epsilon: float | None, delta: float | None) -> Any:
    """A DPConfig from the CLI options (its own checks name a bad value)."""
    if epsilon is None:
        if delta is not None:
            raise ValueError("--delta needs --epsilon (the DP target epsilon)")
        return None
    from genbalance.training.dp import DPConfig

    return DPConfig(epsilon=epsilon, delta=delta)


def _print_privacy(synth: Any) -> None:
    spent = getattr(synth, "privacy_", None) or {}
    if spent.get("epsilon") is not None:
        console.print(
            f"differential privacy: epsilon spent {spent['epsilon']:.3f} "
            f"(delta {spent.get('delta', float('nan')):.2g})"
        )


def _counts_table(title: str, before: dict[Any, int], after: dict[Any, int] | None = None) -> Table:
    table = Table(title=title)
    table.add_column("class")
    table.add_column("rows before", justify="right")
    if after is not None:
        table.add_column("rows after", justify="right")
        table.add_column("generated", justify="right")
    for cls in sorted(set(before) | set(after or {}), key=str):
        row = [str(cls), str(before.get(cls, 0))]
        if after is not None:
            row += [str(after.get(cls, 0)), str(after.get(cls, 0) - before.get(cls, 0))]
        table.add_row(*row)
    return table


def _parse_strategy(value: str) -> Any:
    """'auto', 'minority', ..., a float like 0.5, or JSON like '{"fraud": 500}'."""
    if value.strip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--sampling-strategy is not valid JSON: {exc}") from None
    try:
        return float(value)
    except ValueError:
        return value


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


def register(app: typer.Typer) -> None:
    @app.command()
    def resample(
        data: Annotated[Path, typer.Argument(help="Input table (.csv or .parquet).")],
        target: Annotated[str, typer.Option("--target", "-t", help="Class label column.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Balanced table to write.")],
        model: ModelOpt = "vae",
        sampling_strategy: Annotated[
            str, typer.Option(help="auto | minority | not majority | all | float | JSON dict")
        ] = "auto",
        epochs: Annotated[str, typer.Option(help="Training epochs or 'auto'.")] = "auto",
        time_budget: Annotated[
            float | None, typer.Option(help="Seconds of training at most.")
        ] = None,
        preset: Annotated[str | None, typer.Option(help="GAN stabiliser preset.")] = None,
        filter: Annotated[str, typer.Option("--filter", help="none | knn")] = "none",  # noqa: A002
        save_model: Annotated[
            Path | None, typer.Option(help="Also save the fitted synthesizer.")
        ] = None,
        epsilon: EpsilonOpt = None,
        delta: DeltaOpt = None,
        seed: SeedOpt = 0,
        force: ForceOpt = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Balance a table: train a class-conditional model, add rare-class rows, write it out."""
        from genbalance.data.tables import read_table, split_target, table_format, write_table
        from genbalance.sampling.tabular import GenerativeOverSampler

        try:
            table_format(output)
            if output.exists() and not force:
                raise FileExistsError(f"{output} exists; pass --force to overwrite it")
            if save_model is not None and save_model.exists() and not force:
                raise FileExistsError(f"{save_model} exists; pass --force to overwrite it")
            frame = read_table(data)
            X, y = split_target(frame, target, str(data))
            sampler = GenerativeOverSampler(
                model,
                sampling_strategy=_parse_strategy(sampling_strategy),
                random_state=seed,
                epochs=_epochs(epochs),
                time_budget=time_budget,
                preset=preset,
                filter=filter,
                progress=not quiet,
                privacy=_privacy(epsilon, delta),
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                X_res, y_res = sampler.fit_resample(X, y)
            for w in caught:
                if issubclass(w.category, UserWarning):
                    console.print(f"[yellow]warning:[/] {w.message}")
            out = X_res.copy()
            out[target] = y_res.to_numpy() if hasattr(y_res, "to_numpy") else y_res
            out = out[list(frame.columns)]
            write_table(out, output, force=force)
            if save_model is not None:
                sampler.synthesizer_.save(save_model, overwrite=force)
        except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as exc:
            _fail(exc)
        before = y.value_counts().to_dict()
        after = out[target].value_counts().to_dict()
        console.print(_counts_table(f"{data.name} -> {output.name}", before, after))
        hist = sampler.synthesizer_.history_
        console.print(
            f"trained {len(hist.steps)} steps in {hist.seconds:.1f} s; "
            f"wrote {len(out)} rows to {output}"
        )
        _print_privacy(sampler.synthesizer_)

    @app.command()
    def fit(
        data: Annotated[Path, typer.Argument(help="Input table (.csv or .parquet).")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Model file (.safetensors).")],
        target: Annotated[
            str | None, typer.Option("--target", "-t", help="Class label column (condition).")
        ] = None,
        model: ModelOpt = "gan",
        epochs: Annotated[str, typer.Option(help="Training epochs or 'auto'.")] = "auto",
        time_budget: Annotated[
            float | None, typer.Option(help="Seconds of training at most.")
        ] = None,
        preset: Annotated[str | None, typer.Option(help="GAN stabiliser preset.")] = None,
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
        amp: Annotated[
            bool, typer.Option("--amp", help="bf16 mixed precision (CUDA only).")
        ] = False,
        epsilon: EpsilonOpt = None,
        delta: DeltaOpt = None,
        seed: SeedOpt = 0,
        force: ForceOpt = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """Train a synthesizer on a table and save it (safetensors weights + JSON metadata)."""
        from genbalance.data.tables import read_table, split_target
        from genbalance.synthesis.tabular import Synthesizer

        dist_ctx = None
        try:
            if output.exists() and not force:
                raise FileExistsError(f"{output} exists; pass --force to overwrite it")
            if distributed:
                from genbalance.training.distributed import init_from_env

                dist_ctx, device = init_from_env(device)
            writer = dist_ctx is None or dist_ctx.is_writer
            trainer_options: dict[str, Any] = {"amp": amp}
            if checkpoint is not None:
                trainer_options.update(
                    checkpoint_path=str(checkpoint), checkpoint_every=100, resume=True
                )
            synth = Synthesizer(
                model,
                preset=preset,
                epochs=_epochs(epochs),
                time_budget=time_budget,
                progress=not quiet and writer,
                random_state=seed,
                device=device,
                trainer_options=trainer_options,
                privacy=_privacy(epsilon, delta),
            )
            if stream or chunk_rows is not None or memory_budget is not None:
                from genbalance.synthesis.streaming import fit_file

                fit_file(
                    synth,
                    data,
                    target,
                    chunk_rows=chunk_rows,
                    memory_budget=memory_budget,
                    dist=dist_ctx,
                )
            else:
                frame = read_table(data)
                X, y = split_target(frame, target, str(data)) if target else (frame, None)
                synth.fit(X, y, dist=dist_ctx)
            if writer:  # rank 0 alone writes the model file
                synth.save(output, overwrite=force)
        except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as exc:
            _fail(exc)
        finally:
            if dist_ctx is not None:
                from genbalance.training.distributed import shutdown

                shutdown()
        if not writer:
            return
        h = synth.history_
        console.print(f"trained {model} for {len(h.steps)} steps in {h.seconds:.1f} s -> {output}")
        for event in h.events:
            console.print(f"[yellow]event:[/] {event}")
        _print_privacy(synth)

    @app.command()
    def sample(
        model_file: Annotated[Path, typer.Argument(help="Model written by `genbalance fit`.")],
        n: Annotated[int, typer.Option("-n", help="Rows to generate.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Table to write.")],
        label: Annotated[
            str | None, typer.Option("--class", help="Generate rows of this class only.")
        ] = None,
        target: Annotated[
            str, typer.Option("--target", "-t", help="Name of the label column written.")
        ] = "class",
        chunk_rows: Annotated[
            int, typer.Option(help="Rows generated and written at a time.")
        ] = 100_000,
        seed: SeedOpt = 0,
        force: ForceOpt = False,
    ) -> None:
        """Generate rows from a saved synthesizer (written in chunks: any -n fits in memory)."""
        from genbalance.data.tables import table_format
        from genbalance.synthesis.streaming import sample_to_file
        from genbalance.synthesis.tabular import Synthesizer

        try:
            table_format(output)
            if n < 0:
                raise ValueError(f"-n must be >= 0, got {n}")
            if output.exists() and not force:
                raise FileExistsError(f"{output} exists; pass --force to overwrite it")
            synth = Synthesizer.load(model_file)
            chosen = None
            if label is not None:
                known = {str(c): c for c in synth.classes_}
                if label not in known:
                    raise ValueError(f"unknown class {label!r}; the model knows {sorted(known)}")
                chosen = known[label]
            sample_to_file(
                synth,
                n,
                output,
                label=chosen,
                target=target,
                chunk_rows=chunk_rows,
                random_state=seed,
                force=force,
            )
        except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as exc:
            _fail(exc)
        console.print(f"wrote {n} rows to {output}")

    @app.command()
    def models() -> None:
        """List the generative families and GAN stabiliser presets."""
        from genbalance import models as registry
        from genbalance.training.stabilizers import PRESETS

        console.print("families: " + ", ".join(registry.available()))
        console.print("GAN presets: " + ", ".join(PRESETS))

    @app.command()
    def demo(
        seed: SeedOpt = 0,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    ) -> None:
        """Rebalance a bundled imbalanced dataset and compare classifiers with and without it."""
        from genbalance.cli.demo import run_demo

        run_demo(seed=seed, progress=not quiet, console=console)
