"""The benchmark run: datasets x samplers x folds x seeds, in parallel, cached, resumable.

Every cell (one dataset, sampler, fold and seed) is written to its own JSON file under
``<cache_dir>/<run_name>/<dataset>/`` as soon as it is done, so an interrupted run picks up
where it stopped: a re-run computes only the cells whose file is missing (or that lack a
requested classifier, or whose sampler is in ``refresh``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from genbalance.bench.evaluate import check_classifiers, run_cell
from genbalance.bench.samplers import get_sampler

DEFAULT_CACHE = Path("benchmarks") / "cache"
DEFAULT_RESULTS = Path("benchmarks") / "results"


def resolve_datasets(spec: Iterable[str], order: str = "name") -> list[str]:
    """Names from a list that may hold ``dev`` (the development subset) or ``all``.

    ``order="size"`` sorts by number of rows, smallest first (cheap datasets finish early).
    """
    from genbalance.data.datasets import DEV_SUBSET, keel_names

    known = keel_names()
    names: list[str] = []
    for item in spec:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            add = {"all": known, "dev": list(DEV_SUBSET)}.get(part, [part])
            for name in add:
                if name not in known:
                    raise ValueError(
                        f"unknown dataset {name!r}: use names from "
                        "genbalance.data.datasets.keel_names(), 'dev' or 'all'"
                    )
                if name not in names:
                    names.append(name)
    if not names:
        raise ValueError("no dataset chosen: give names, 'dev' or 'all'")
    if order == "size":
        names.sort(key=lambda n: (_n_rows(n), n))
    elif order != "name" and order != "given":
        raise ValueError(f"order must be 'name', 'given' or 'size', got {order!r}")
    elif order == "name":
        names.sort()
    return names


def _n_rows(name: str) -> int:
    from genbalance.data.datasets import keel_dir

    with open(keel_dir() / f"{name}.dat") as fh:
        return sum(1 for line in fh if line.strip() and not line.startswith("@"))


def slug(sampler: str) -> str:
    """A file-name-safe form of a sampler spec (a short hash keeps distinct specs distinct)."""
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "_", sampler)
    if safe == sampler:
        return safe
    return f"{safe[:80]}-{hashlib.sha1(sampler.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Cell:
    dataset: str
    sampler: str
    fold: int
    n_folds: int
    seed: int

    def path(self, root: Path) -> Path:
        name = f"{slug(self.sampler)}__k{self.n_folds}_s{self.seed}_f{self.fold}.json"
        return root / self.dataset / name


@dataclass
class RunReport:
    """What a run did: cells computed now, cells taken from the cache, fallbacks."""

    computed: list[Cell] = field(default_factory=list)
    cached: list[Cell] = field(default_factory=list)
    fallbacks: list[tuple[Cell, str]] = field(default_factory=list)
    seconds: float = 0.0


def _done_cell(path: Path, classifiers: list[str]) -> dict[str, Any] | None:
    """The cell stored at ``path`` if it holds every requested classifier, else None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if set(classifiers) <= set(data.get("classifiers", {})) else None


def _is_done(path: Path, classifiers: list[str]) -> bool:
    return _done_cell(path, classifiers) is not None


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


@lru_cache(maxsize=4)
def _load(dataset: str) -> tuple[pd.DataFrame, pd.Series]:
    from genbalance.data.datasets import load_keel

    return load_keel(dataset)


_WARM = False


def _limit_threads() -> None:
    """One thread per worker (the workers are the parallelism), and torch warmed up once per
    process so that its one-time start-up cost is not charged to the first sampler's fit time."""
    global _WARM
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    if not _WARM:
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU())
        opt = torch.optim.Adam(net.parameters())
        net(torch.randn(32, 8)).pow(2).mean().backward()
        opt.step()
        _WARM = True


def compute_cell(
    cell: Cell,
    classifiers: list[str],
    planned_folds: list[int],
    root: Path,
    loader: Callable[[str], tuple[pd.DataFrame, pd.Series]] | None = None,
    reuse: bool = False,
) -> dict[str, Any]:
    """Compute one cell and write its JSON file (runs inside a worker).

    ``reuse``: if the cell's file holds every classifier by the time the worker gets to it
    (another run sharing the cache finished it meanwhile), read it instead (``"reused"``).
    """
    done = _done_cell(cell.path(root), classifiers) if reuse else None
    if done is not None:
        return {**done, "reused": True}
    _limit_threads()
    X, y = (loader or _load)(cell.dataset)
    out = run_cell(X, y, cell.sampler, cell.fold, cell.n_folds, cell.seed, classifiers)
    from genbalance import __version__

    out.update(
        dataset=cell.dataset,
        sampler=cell.sampler,
        fold=cell.fold,
        n_folds=cell.n_folds,
        seed=cell.seed,
        planned_folds=planned_folds,
        genbalance=__version__,
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    _write_atomic(cell.path(root), out)
    return out


def run_benchmark(
    datasets: list[str],
    samplers: list[str],
    *,
    run_name: str,
    classifiers: list[str] | None = None,
    n_folds: int = 5,
    folds: list[int] | None = None,
    seeds: list[int] | None = None,
    jobs: int = 1,
    cache_dir: Path | str = DEFAULT_CACHE,
    refresh: list[str] | None = None,
    progress: bool = True,
    loader: Callable[[str], tuple[pd.DataFrame, pd.Series]] | None = None,
    stored: Path | str | None = None,
) -> RunReport:
    """Compute every missing cell of ``datasets x samplers x folds x seeds``.

    Cells are ordered dataset by dataset (in the order given), and run on ``jobs`` joblib
    workers. ``loader`` replaces :func:`genbalance.data.datasets.load_keel` (tests, user data;
    it must be picklable when ``jobs > 1``). ``stored``: a ``cells.csv`` written by an earlier
    summary; its cells count as done too, so a run continues on a fresh clone (no cache).
    """
    classifiers = check_classifiers(classifiers or ["knn", "tree", "logreg", "hgb"])
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    folds = list(range(n_folds)) if folds is None else sorted(set(folds))
    if not folds or any(f < 0 or f >= n_folds for f in folds):
        raise ValueError(f"folds must be indices in 0..{n_folds - 1}, got {folds}")
    seeds = [0] if seeds is None else list(seeds)
    for name in samplers:
        definition = get_sampler(name)  # fail early on a misspelt sampler
        for module in definition.requires:
            try:
                __import__(module)
            except ImportError as exc:
                raise ImportError(
                    f"sampler {name!r} needs the optional package {module!r}: run "
                    "`make bench-deps` (or pip install 'genbalance[bench]' torch==2.13.0)"
                ) from exc
    refresh = set(refresh or [])
    root = Path(cache_dir) / run_name
    report = RunReport()
    todo: list[Cell] = []
    kept = _stored_cells(stored, classifiers)
    for dataset in datasets:
        for seed in seeds:
            for sampler in samplers:
                for fold in folds:
                    cell = Cell(dataset, sampler, fold, n_folds, seed)
                    done = _is_done(cell.path(root), classifiers) or cell in kept
                    if sampler not in refresh and done:
                        report.cached.append(cell)
                    else:
                        todo.append(cell)
    start = time.perf_counter()
    for cell, out in _execute(todo, classifiers, folds, root, jobs, progress, loader, refresh):
        if out.get("reused"):
            report.cached.append(cell)
            continue
        report.computed.append(cell)
        if out["fallback"]:
            report.fallbacks.append((cell, out["error"]))
    report.seconds = time.perf_counter() - start
    return report


def _stored_cells(stored: Path | str | None, classifiers: list[str]) -> set[Cell]:
    """Cells of a stored ``cells.csv`` that hold every requested classifier."""
    if stored is None or not Path(stored).is_file():
        return set()
    frame = pd.read_csv(
        stored, usecols=["dataset", "sampler", "n_folds", "seed", "fold", "classifier"]
    )
    out = set()
    for (dataset, sampler, k, seed, fold), group in frame.groupby(
        ["dataset", "sampler", "n_folds", "seed", "fold"]
    ):
        if set(classifiers) <= set(group["classifier"]):
            out.add(Cell(str(dataset), str(sampler), int(fold), int(k), int(seed)))
    return out


def _execute(todo, classifiers, folds, root, jobs, progress, loader, refresh=frozenset()):
    """Yield ``(cell, result)`` as cells finish, with a rich progress bar.

    A cell whose sampler is not refreshed is read instead of computed when another run that
    shares the cache wrote it after this run made its plan (two processes, or two machines on
    one disk, can split a long run without doing cells twice).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if not todo:
        return
    bar = Progress(
        TextColumn("[bold]bench[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        disable=not progress,
    )
    with bar:
        task = bar.add_task("", total=len(todo))
        if jobs == 1:
            results = (_pair(c, classifiers, folds, root, loader, refresh) for c in todo)
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(_pair)(c, classifiers, folds, root, loader, refresh) for c in todo
            )
        for cell, out in results:
            flag = " (fallback)" if out["fallback"] else ""
            bar.update(task, advance=1, description=f"{cell.dataset} {cell.sampler}{flag}")
            yield cell, out


def _pair(cell, classifiers, folds, root, loader, refresh=frozenset()):
    reuse = cell.sampler not in refresh
    return cell, compute_cell(cell, classifiers, folds, root, loader, reuse)


def read_cells(cache_dir: Path | str, run_name: str) -> list[dict[str, Any]]:
    """Every cached cell of a run (unreadable or half-written files are skipped)."""
    cells = []
    for path in sorted((Path(cache_dir) / run_name).glob("*/*.json")):
        try:
            cells.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return cells
