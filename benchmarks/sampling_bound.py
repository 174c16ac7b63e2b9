"""Sampling throughput of the VAE and GAN generators next to the matrix-multiply bound of their
own layer sizes, per core.

``python benchmarks/sampling_bound.py --out benchmarks/results/sampling`` fits each family
briefly on the throughput benchmark's mixed table (benchmarks/throughput.py: 20 numeric
columns, 10 categorical ones, one with 5,000 categories; the weights do not change the speed),
then measures on one thread, in chunks of the synthesizer's sampling chunk:

- **bound**: rows/s of the sampling network's matrix products alone (``addmm`` of each Linear
  layer at its own sizes, nothing else; the faster of the row-major ``x @ W.T`` and the
  span-major ``W @ x.T`` layouts, which differed by 1.1-1.4x here for the wide output layer):
  no generator of these sizes can run faster on this core;
- **generate**: rows/s of ``model.generate`` (the network, its activations, the noise and the
  one-hot draws of the categorical outputs), in model space;
- **sample**: rows/s of ``Synthesizer.sample`` (generate and decode to a DataFrame);
- **to file**: rows/s of ``sample_to_file`` writing Parquet, on one thread (``n_jobs=1``) and
  on ``--file-jobs`` threads (default: the cores this process may run on): the same file.

The issue's target is generate at half the bound or more. Results: ``sampling.json`` and
``summary.md`` (the load average written next to them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

FAMILIES = ("vae", "gan")


def _best_rate(fn, rows: int, repeats: int = 5) -> float:
    fn()  # warm
    best = min(_seconds(fn) for _ in range(repeats))
    return rows / best


def _seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _linear_layers(module):
    import torch

    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def bound_rate(synth, rows: int) -> tuple[float, float, float]:
    """Rows/s of the sampling network's matrix products alone, row-major and span-major, and
    their flops a row."""
    import torch

    layers = [
        lay for part in synth.model_.sampling_parts().values() for lay in _linear_layers(part)
    ]
    inputs = [torch.randn(rows, lay.in_features) for lay in layers]
    flops = 2.0 * sum(lay.in_features * lay.out_features for lay in layers)

    def row_major() -> None:  # x @ W.T + b: (rows, out)
        with torch.inference_mode():
            for lay, x in zip(layers, inputs, strict=True):
                torch.addmm(lay.bias, x, lay.weight.t())

    def span_major() -> None:  # W @ x.T + b: (out, rows), faster here for a wide output
        with torch.inference_mode():
            for lay, x in zip(layers, inputs, strict=True):
                torch.addmm(lay.bias[:, None], lay.weight, x.t())

    return _best_rate(row_major, rows), _best_rate(span_major, rows), flops


def file_rate(synth, rows: int, jobs: int) -> float:
    """Rows/s of ``sample_to_file`` writing ``rows`` rows to Parquet with ``jobs`` threads."""
    import tempfile

    from genbalance.synthesis.streaming import sample_to_file

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "rows.parquet"

        def write() -> None:
            sample_to_file(synth, rows, target, chunk_rows=25_000, n_jobs=jobs, force=True)

        return _best_rate(write, rows, repeats=2)


def measure(family: str, table_rows: int, rows: int, file_jobs: int) -> dict[str, float]:
    import numpy as np
    import torch

    from genbalance import Synthesizer
    from genbalance.synthesis.base import SAMPLE_CHUNK_ROWS
    from throughput import make_table

    torch.set_num_threads(1)
    frame = make_table(table_rows)
    X, y = frame.drop(columns=["y"]), frame["y"]
    synth = Synthesizer(
        family, random_state=0, progress=False, epochs=None, trainer_options={"max_steps": 20}
    ).fit(X, y)
    chunk = min(SAMPLE_CHUNK_ROWS, rows)
    row_major, span_major, flops = bound_rate(synth, chunk)
    # the faster layout of the two: no generator of these sizes runs faster on this core
    bound = max(row_major, span_major)
    codes = torch.as_tensor(np.resize(np.arange(len(synth.classes_)), chunk))
    gen = torch.Generator().manual_seed(0)

    def generate() -> None:
        with torch.inference_mode():
            synth.model_.generate(codes, gen)

    return {
        "encoded_dims": int(synth.model_.data_dim),
        "flops_per_row": flops,
        "bound_rows_s": bound,
        "bound_row_major_rows_s": row_major,
        "bound_span_major_rows_s": span_major,
        "bound_gflops": bound * flops / 1e9,
        "generate_rows_s": _best_rate(generate, chunk),
        "sample_rows_s": _best_rate(lambda: synth.sample(rows), rows, repeats=3),
        "file_rows_s_1": file_rate(synth, 4 * rows, 1),
        "file_jobs": file_jobs,
        "file_rows_s_jobs": file_rate(synth, 4 * rows, file_jobs),
    }


def summary(results: dict[str, dict[str, float]], load: float) -> str:
    lines = [
        "# Sampling throughput against the matrix-multiply bound (one thread; files also on n)",
        "",
        f"Throughput table of benchmarks/throughput.py; load average (1 min) {load:.2f}.",
        "",
        "| family | encoded dims | Mflop a row | bound rows/s (row-major / span-major) |"
        " generate rows/s | of the bound | sample + decode rows/s |"
        " to Parquet rows/s, 1 thread | to Parquet rows/s, n threads |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for fam, r in results.items():
        lines.append(
            f"| {fam} | {r['encoded_dims']} | {r['flops_per_row'] / 1e6:.2f} | "
            f"{r['bound_rows_s']:,.0f} ({r['bound_row_major_rows_s']:,.0f} / "
            f"{r['bound_span_major_rows_s']:,.0f}) | {r['generate_rows_s']:,.0f} | "
            f"{r['generate_rows_s'] / r['bound_rows_s']:.0%} | {r['sample_rows_s']:,.0f} | "
            f"{r['file_rows_s_1']:,.0f} | {r['file_rows_s_jobs']:,.0f} "
            f"({r['file_jobs']}: {r['file_rows_s_jobs'] / r['file_rows_s_1']:.2f}x) |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-rows", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sampling")
    parser.add_argument(
        "--file-jobs",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1,
        help="threads of the second sample_to_file measurement (default: this process's cores)",
    )
    args = parser.parse_args()
    results = {fam: measure(fam, args.table_rows, args.rows, args.file_jobs) for fam in FAMILIES}
    load = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sampling.json").write_text(json.dumps({**results, "load": load}, indent=2))
    text = summary(results, load)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
