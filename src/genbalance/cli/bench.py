"""``genbalance bench run|summarize``: the side-by-side benchmark (see docs/benchmark.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genbalance.cli.common import JsonOpt, QuietOpt, echo, err, handle_errors, print_json

bench_app = typer.Typer(
    help="Benchmark genbalance against the SMOTE family and CTGAN on the bundled KEEL datasets.",
    no_args_is_help=True,
    add_completion=False,
)

RunOpt = Annotated[str, typer.Option("--name", help="Run name: cache and results folder.")]
CacheOpt = Annotated[Path, typer.Option(help="Cache folder (one JSON per cell).")]
ResultsOpt = Annotated[Path, typer.Option(help="Results folder (per run name).")]


@bench_app.command("run")
@handle_errors
def run(
    datasets: Annotated[
        list[str], typer.Option("--datasets", "-d", help="Names (comma lists), 'dev' or 'all'.")
    ] = ["dev"],  # noqa: B006 - typer needs a list default
    samplers: Annotated[
        list[str],
        typer.Option(
            "--samplers",
            "-s",
            help="none, weighted, ros, smote, borderline, adasyn, polyfit, prowsyn, ctgan, "
            "forestdiffusion, gb-default, gb-gan, gb-vae, gb-made, gb-rbm, gb-diffusion, "
            "gb:<family>,key=value,... (comma lists; repeatable).",
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
    quiet: QuietOpt = False,
) -> None:
    """Compute the missing cells of datasets x samplers x folds x seeds (resumes from cache)."""
    from genbalance.bench import resolve_datasets, run_benchmark, summarize
    from genbalance.bench.samplers import split_samplers

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
    err.print(
        f"{len(report.computed)} cells computed in {report.seconds:.0f} s, "
        f"{len(report.cached)} from the cache, {len(report.fallbacks)} fallbacks"
    )
    for cell, error in report.fallbacks[:10]:
        err.print(
            f"  fallback {cell.dataset} {cell.sampler} fold {cell.fold}: {error}", markup=False
        )
    if summary:
        out = summarize(name, cache_dir=cache_dir, results_dir=results_dir)
        err.print(f"summary: {out / 'summary.md'}")


@bench_app.command("summarize")
@handle_errors
def summarize_cmd(
    name: RunOpt = "default",
    cache_dir: CacheOpt = Path("benchmarks/cache"),
    results_dir: ResultsOpt = Path("benchmarks/results"),
    as_json: JsonOpt = False,
) -> None:
    """Write cells.csv, per_dataset.csv, summary.md, ranks.png and the critical-difference
    diagrams (cd_<metric>.png) for a run; print summary.md."""
    from genbalance.bench import summarize

    out = summarize(name, cache_dir=cache_dir, results_dir=results_dir)
    if as_json:
        import pandas as pd

        per_dataset = pd.read_csv(out / "per_dataset.csv", keep_default_na=False)
        print_json({"run": name, "folder": out, "per_dataset": per_dataset})
    else:
        echo((out / "summary.md").read_text())
    err.print(f"wrote {out / 'summary.md'}")


GB_FORMS = (
    ("gb-default", "raw", "genbalance.GenerativeOverSampler() with library defaults"),
    ("gb-<family>", "raw", "GenerativeOverSampler(model=<family>), e.g. gb-rbm"),
    ("gb:<family>[,key=value,...]", "raw", "GenerativeOverSampler(model=<family>, **options)"),
)


@bench_app.command("samplers")
@handle_errors
def samplers_cmd(as_json: JsonOpt = False) -> None:
    """List the named samplers and the genbalance spec forms."""
    from genbalance.bench import SAMPLERS

    rows = [(key, d.input, d.doc) for key, d in SAMPLERS.items()]
    rows += [form for form in GB_FORMS if form[0] not in SAMPLERS]
    if as_json:
        print_json([{"name": k, "input": i, "doc": doc} for k, i, doc in rows])
        return
    width = max(len(key) for key, _, _ in rows)
    for key, kind, doc in rows:
        echo(f"{key:{width}s}  {kind:8s} {doc}")


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
