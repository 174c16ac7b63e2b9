"""``genbalance bench run|summarize``: the side-by-side benchmark (see docs/benchmark.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)

bench_app = typer.Typer(
    help="Benchmark genbalance against the SMOTE family and CTGAN on the bundled KEEL datasets.",
    no_args_is_help=True,
    add_completion=False,
)

RunOpt = Annotated[str, typer.Option("--name", help="Run name: cache and results folder.")]
CacheOpt = Annotated[Path, typer.Option(help="Cache folder (one JSON per cell).")]
ResultsOpt = Annotated[Path, typer.Option(help="Results folder (per run name).")]


@bench_app.command("run")
def run(
    datasets: Annotated[
        list[str], typer.Option("--datasets", "-d", help="Names (comma lists), 'dev' or 'all'.")
    ] = ["dev"],  # noqa: B006 - typer needs a list default
    samplers: Annotated[
        list[str],
        typer.Option(
            "--samplers",
            "-s",
            help="none, ros, smote, borderline, adasyn, polyfit, prowsyn, ctgan, gb-default, "
            "gb-gan, gb-vae, gb-made, gb-rbm, gb-diffusion, gb:<family>,key=value,... "
            "(comma lists; repeatable).",
        ),
    ] = ["none,smote"],  # noqa: B006
    name: RunOpt = "default",
    classifiers: Annotated[str, typer.Option(help="Comma list of knn, tree, logreg, hgb.")] = (
        "knn,tree,logreg,hgb"
    ),
    folds: Annotated[int, typer.Option(help="Stratified k-fold: number of folds.")] = 5,
    only_fold: Annotated[
        list[int] | None, typer.Option(help="Run only these fold indices (repeatable).")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma list of seeds (fold split, samplers).")] = "0",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel workers (joblib).")] = 1,
    order: Annotated[
        str, typer.Option(help="Dataset order: name, size (smallest first), given.")
    ] = ("name"),
    refresh: Annotated[
        list[str] | None,
        typer.Option(help="Recompute this sampler's cells even if cached (repeatable)."),
    ] = None,
    cache_dir: CacheOpt = Path("benchmarks/cache"),
    results_dir: ResultsOpt = Path("benchmarks/results"),
    summary: Annotated[bool, typer.Option(help="Write the summary at the end.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Compute the missing cells of datasets x samplers x folds x seeds (resumes from cache)."""
    from genbalance.bench import resolve_datasets, run_benchmark, summarize
    from genbalance.bench.samplers import split_samplers

    try:
        names = resolve_datasets(datasets, order)
        sampler_list = split_samplers(samplers)
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        report = run_benchmark(
            names,
            sampler_list,
            run_name=name,
            classifiers=[c.strip() for c in classifiers.split(",") if c.strip()],
            n_folds=folds,
            folds=only_fold or None,
            seeds=seed_list,
            jobs=jobs,
            cache_dir=cache_dir,
            refresh=split_samplers(refresh or []),
            progress=not quiet,
            stored=Path(results_dir) / name / "cells.csv",
        )
    except (ValueError, ImportError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    console.print(
        f"{len(report.computed)} cells computed in {report.seconds:.0f} s, "
        f"{len(report.cached)} from the cache, {len(report.fallbacks)} fallbacks"
    )
    for cell, error in report.fallbacks[:10]:
        console.print(f"  fallback {cell.dataset} {cell.sampler} fold {cell.fold}: {error}")
    if summary:
        out = summarize(name, cache_dir=cache_dir, results_dir=results_dir)
        console.print(f"summary: {out / 'summary.md'}")


@bench_app.command("summarize")
def summarize_cmd(
    name: RunOpt = "default",
    cache_dir: CacheOpt = Path("benchmarks/cache"),
    results_dir: ResultsOpt = Path("benchmarks/results"),
) -> None:
    """Write cells.csv, per_dataset.csv, summary.md and ranks.png for a run."""
    from genbalance.bench import summarize

    try:
        out = summarize(name, cache_dir=cache_dir, results_dir=results_dir)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    print((out / "summary.md").read_text())


@bench_app.command("samplers")
def samplers_cmd() -> None:
    """List the named samplers and the genbalance spec forms."""
    from genbalance.bench import SAMPLERS

    for key, definition in SAMPLERS.items():
        print(f"{key:12s} {definition.input:8s} {definition.doc}")
    print("gb-default   raw      genbalance.GenerativeOverSampler() with library defaults")
    print(print("gb-<family>  raw      GenerativeOverSampler(model=<family>), e.g. gb-rbm"))
    print("gb:<family>[,key=value,...]  GenerativeOverSampler(model=<family>, **options)")


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
