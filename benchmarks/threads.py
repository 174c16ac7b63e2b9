"""Does a default fit slow down more than the CPU it loses? ``threads="auto"`` against torch's
own thread count, alone and beside busy neighbours.

``python benchmarks/threads.py --out benchmarks/results/threads`` times, for a few KEEL folds,
the default ``GenerativeOverSampler().fit_resample`` in this process:

- alone, with ``threads="auto"`` (one thread for a small model) and with ``threads=None``
  (torch's default: one thread per core);
- beside ``--neighbours`` other processes that each run default fits in a loop (as the other
  folds of ``cross_validate(n_jobs=...)`` or another user's job would), with the same setting
  as the timed fit.

A fit that uses one thread keeps a core of its own while the neighbours use the rest, so beside
one neighbour on two cores it should not slow down at all; the slowdown it may show is the CPU
share it lost (cores / (neighbours + 1), when there are more processes than cores). Results:
``threads.json`` and ``summary.md``; the machine's core count and load are written next to the
timings.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DATASETS = ("ecoli1", "pima", "yeast1", "vehicle1")


def _fold(name: str):
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from genbalance.data.datasets import load_keel

    X, y = load_keel(name)
    train, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    return X.iloc[train].reset_index(drop=True), np.asarray(y)[train]


def _fit_seconds(name: str, threads) -> float:
    from genbalance import GenerativeOverSampler

    X, y = _fold(name)
    sampler = GenerativeOverSampler(
        random_state=0, cache=False, progress=False, trainer_options={"threads": threads}
    )
    t = time.perf_counter()
    sampler.fit_resample(X, y)
    return time.perf_counter() - t


def _neighbour(threads, stop) -> None:
    """A busy process: default fits in a loop until told to stop."""
    import warnings

    warnings.simplefilter("ignore")
    while not stop.is_set():
        _fit_seconds("yeast1", threads)


def _timed(threads, repeats: int) -> dict[str, float]:
    import warnings

    warnings.simplefilter("ignore")
    out = {}
    for name in DATASETS:
        _fit_seconds(name, threads)  # warm: the first fit of a process pays torch's imports
        out[name] = min(_fit_seconds(name, threads) for _ in range(repeats))
    return out


def measure(threads, neighbours: int, repeats: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = [ctx.Process(target=_neighbour, args=(threads, stop)) for _ in range(neighbours)]
    for p in procs:
        p.start()
    if procs:
        time.sleep(8.0)  # the neighbours are importing torch and start training
    try:
        return _timed(threads, repeats)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=120)
            if p.is_alive():
                p.terminate()


def summary(results: dict, cores: int, neighbours: int) -> str:
    lines = [
        "# Threads: a default fit alone and beside busy neighbours",
        "",
        f"{cores} cores; {neighbours} neighbour process(es) running default fits in a loop; "
        "seconds per fit (minimum of the repeats), one fold (80 %) of each dataset.",
        "",
        "| dataset | auto, alone | auto, beside | slowdown | torch default, alone | "
        "torch default, beside | slowdown |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in DATASETS:
        a0, a1 = results["auto"]["alone"][name], results["auto"]["beside"][name]
        d0, d1 = results["default"]["alone"][name], results["default"]["beside"][name]
        lines.append(
            f"| {name} | {a0:.2f} | {a1:.2f} | {a1 / a0:.2f}x | {d0:.2f} | {d1:.2f} | "
            f"{d1 / d0:.2f}x |"
        )
    share = max(1.0, (neighbours + 1) / cores)
    lines += [
        "",
        f"The CPU share a fit loses beside {neighbours} neighbour(s) on {cores} cores allows a "
        f"slowdown of {share:.2f}x. Load average (1 min) at the end: {results['load']:.2f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neighbours", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/threads")
    args = parser.parse_args()
    results: dict = {}
    for label, setting in (("auto", "auto"), ("default", None)):
        results[label] = {
            "alone": measure(setting, 0, args.repeats),
            "beside": measure(setting, args.neighbours, args.repeats),
        }
        print(label, json.dumps(results[label]), file=sys.stderr)
    results["load"] = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.json").write_text(json.dumps(results, indent=2))
    text = summary(results, cores, args.neighbours)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
