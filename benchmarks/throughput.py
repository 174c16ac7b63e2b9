"""Throughput on large synthetic tables: genbalance against CTGAN, side by side in one run.

Tables: ``n`` rows, 20 numeric columns (Gaussian mixtures, skewed and heavy-tailed ones, some
integers), 10 categorical columns (one with 5,000 categories, Zipf-distributed; the others 2-40)
and a binary class label (10 % minority, shifted). Each measurement runs in its own subprocess
with one thread, so that its peak memory (``ru_maxrss``) is its own and CPU time is not shared
with another measurement. Times are CPU seconds of that process (``time.process_time``) next to
wall seconds: on a shared machine CPU time is the fair clock; rates are rows per CPU second.

Measured:
- encoder: genbalance ``TabularEncoder`` fit and transform vs CTGAN's ``DataTransformer``;
- training: rows/s of the default genbalance GAN (``mlp-residual``) and CTGAN at the same batch
  size (500) over the same number of optimiser steps (one epoch at 100k rows; a bounded number of
  steps at 1M rows, labelled), plus genbalance's peak memory for a full in-memory 1M fit setup and
  for a streaming fit;
- sampling: rows/s of generation alone and generation + decoding to a DataFrame.

Usage: ``python benchmarks/throughput.py --sizes 100000,1000000`` (results go to
``benchmarks/results/throughput/``); ``--quick`` runs a 5k-row smoke version.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "throughput"
CACHE = Path(os.environ.get("GENBALANCE_BENCH_CACHE", "/tmp/genbalance-throughput"))
BATCH = 500  # CTGAN's default batch size; genbalance uses the same here


# ------------------------------------------------------------------------------------ data
def make_table(n: int, seed: int = 0) -> pd.DataFrame:
    """The benchmark table (deterministic in ``n`` and ``seed``)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int64)
    cols: dict[str, Any] = {}
    for j in range(20):
        k = j % 4
        shift = 1.5 * y * ((j % 3) - 1)
        if k == 0:  # bimodal
            comp = rng.random(n) < 0.3
            x = np.where(comp, rng.normal(-3, 0.5, n), rng.normal(2, 1.0, n)) + shift
        elif k == 1:  # skewed
            x = rng.lognormal(0.0, 0.8, n) * (1 + 0.5 * y)
        elif k == 2:  # heavy-tailed
            x = rng.standard_t(3, n) + shift
        else:  # integer counts
            x = rng.poisson(3 + 4 * y, n)
        cols[f"num_{j}"] = x.astype(np.int64) if k == 3 else x.astype(np.float64)
    ranks = np.arange(1, 5001)
    p = 1.0 / ranks**1.1
    cols["cat_0"] = np.array([f"c{i}" for i in range(5000)], dtype=object)[
        rng.choice(5000, n, p=p / p.sum())
    ]
    for j in range(1, 10):
        m = 2 + 4 * j
        probs = rng.dirichlet(np.ones(m))
        codes = rng.choice(m, n, p=probs)
        codes = np.where((y == 1) & (rng.random(n) < 0.3), 0, codes)  # class-dependent
        cols[f"cat_{j}"] = np.array([f"v{i}" for i in range(m)], dtype=object)[codes]
    cols["y"] = y
    return pd.DataFrame(cols)


def table_path(n: int) -> Path:
    path = CACHE / f"table_{n}.parquet"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        make_table(n).to_parquet(path, index=False, row_group_size=100_000)
    return path


def _load(n: int) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_parquet(table_path(n))
    return frame.drop(columns=["y"]), frame["y"]


# ------------------------------------------------------------------------------------ helpers
def _limit_threads() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


class _Clock:
    """CPU and wall seconds of a phase."""

    def __enter__(self) -> _Clock:
        self.c0, self.w0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cpu = time.process_time() - self.c0
        self.wall = time.perf_counter() - self.w0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ------------------------------------------------------------------------------------ workers
def w_gb_encoder(n: int, **_: Any) -> dict[str, Any]:
    from genbalance.encoders.tabular import TabularEncoder

    X, _y = _load(n)
    base = _peak_mib()
    enc = TabularEncoder(random_state=0)
    with _Clock() as fit:
        enc.fit(X)
    with _Clock() as tr:
        Z = enc.transform(X)
    return {
        "fit_cpu_s": fit.cpu,
        "fit_wall_s": fit.wall,
        "transform_cpu_s": tr.cpu,
        "transform_wall_s": tr.wall,
        "output_dim": int(Z.shape[1]),
        "peak_mib": _peak_mib(),
        "table_loaded_mib": base,
    }


def w_ct_encoder(n: int, columns: str = "all", **_: Any) -> dict[str, Any]:
    from ctgan.data_transformer import DataTransformer

    X, y = _load(n)
    X = X.assign(y=y.astype(str))
    if columns != "all":
        X = X[columns.split(",")]
    discrete = [c for c in X.columns if c.startswith("cat_") or c == "y"]
    base = _peak_mib()
    dt = DataTransformer()
    with _Clock() as fit:
        dt.fit(X, discrete)
    with _Clock() as tr:
        Z = dt.transform(X)
    return {
        "fit_cpu_s": fit.cpu,
        "fit_wall_s": fit.wall,
        "transform_cpu_s": tr.cpu,
        "transform_wall_s": tr.wall,
        "output_dim": int(Z.shape[1]),
        "columns": list(X.columns),
        "peak_mib": _peak_mib(),
        "table_loaded_mib": base,
    }


def w_gb_train(
    n: int, steps: int, model: str = "gan", sample_rows: int = 200_000, **_: Any
) -> dict[str, Any]:
    import torch

    from genbalance.synthesis.tabular import Synthesizer

    X, y = _load(n)
    synth = Synthesizer(
        model,
        epochs=None,
        batch_size=BATCH,
        random_state=0,
        device="cpu",
        trainer_options={"max_steps": steps, "health_check": False},
    )
    with _Clock() as total:
        synth.fit(X, y)
    loop_wall = synth.history_.seconds
    del X
    codes = np.random.default_rng(0).integers(0, 2, sample_rows)
    with _Clock() as gen:
        Z = synth.sample_encoded(codes, 0)
    with _Clock() as dec:
        synth.encoder_.inverse_transform(Z, random_state=0)
    return {
        "model": model,
        "steps": steps,
        "batch": BATCH,
        "fit_total_cpu_s": total.cpu,
        "fit_total_wall_s": total.wall,
        "train_loop_wall_s": loop_wall,
        "generate_cpu_s": gen.cpu,
        "decode_cpu_s": dec.cpu,
        "sample_rows": sample_rows,
        "threads": torch.get_num_threads(),
        "peak_mib": _peak_mib(),
    }


def w_gb_train_loop(n: int, steps: int, model: str = "gan", **_: Any) -> dict[str, Any]:
    """Training loop CPU time alone (encoding done before the clock starts)."""
    import torch

    from genbalance import models
    from genbalance.encoders.tabular import TabularEncoder
    from genbalance.training.trainer import Trainer

    X, y = _load(n)
    enc = TabularEncoder(random_state=0).fit(X)
    Z = torch.from_numpy(enc.transform(X))
    labels = torch.as_tensor(y.to_numpy(), dtype=torch.long)
    del X
    torch.manual_seed(0)
    net = models.get(model)(enc.output_dim, 2, enc.spans)
    trainer = Trainer(
        epochs=None, max_steps=steps, batch_size=BATCH, device="cpu", health_check=False
    )
    with _Clock() as loop:
        trainer.fit(net, Z, labels)
    return {
        "model": model,
        "steps": steps,
        "batch": BATCH,
        "train_cpu_s": loop.cpu,
        "train_wall_s": loop.wall,
        "rows_per_cpu_s": steps * BATCH / loop.cpu,
        "output_dim": enc.output_dim,
        "peak_mib": _peak_mib(),
    }


def w_gb_stream(n: int, steps: int, chunk_rows: int = 100_000, **_: Any) -> dict[str, Any]:
    from genbalance.synthesis.streaming import fit_file
    from genbalance.synthesis.tabular import Synthesizer

    synth = Synthesizer(
        "gan",
        epochs=None,
        batch_size=BATCH,
        random_state=0,
        device="cpu",
        trainer_options={"max_steps": steps, "health_check": False},
    )
    with _Clock() as total:
        fit_file(synth, table_path(n), "y", chunk_rows=chunk_rows)
    return {
        "steps": steps,
        "chunk_rows": chunk_rows,
        "fit_cpu_s": total.cpu,
        "fit_wall_s": total.wall,
        "stream_stats": synth.stream_stats_,
        "peak_mib": _peak_mib(),
    }


def w_ct_train(n: int, steps: int, sample_rows: int = 50_000, **_: Any) -> dict[str, Any]:
    """CTGAN ``fit`` stopped after ``steps`` optimiser steps; its phases timed apart."""
    import ctgan.synthesizers.ctgan as ct
    from ctgan import CTGAN
    from ctgan.data_sampler import DataSampler
    from ctgan.data_transformer import DataTransformer

    X, y = _load(n)
    X = X.assign(y=y.astype(str))
    discrete = [c for c in X.columns if c.startswith("cat_") or c == "y"]
    phases: dict[str, float] = {"transformer": 0.0, "sampler_init": 0.0}

    def timed(cls, name, key):
        original = getattr(cls, name)

        def wrapper(*a, **k):
            c0 = time.process_time()
            try:
                return original(*a, **k)
            finally:
                phases[key] += time.process_time() - c0

        setattr(cls, name, wrapper)

    timed(DataTransformer, "fit", "transformer")
    timed(DataTransformer, "transform", "transformer")
    timed(DataSampler, "__init__", "sampler_init")

    class Stop(Exception):
        pass

    calls = {"n": 0}
    forward = ct.Generator.forward

    def counting(self, x):
        calls["n"] += 1
        if calls["n"] > 2 * steps:  # one critic step and one generator step per step
            raise Stop
        return forward(self, x)

    ct.Generator.forward = counting
    model = CTGAN(epochs=1, batch_size=BATCH, cuda=False)
    with _Clock() as total:
        try:
            model.fit(X, discrete)
        except Stop:
            pass
    ct.Generator.forward = forward
    done = min(steps, max(len(X) // BATCH, 1))
    train_cpu = total.cpu - phases["transformer"] - phases["sampler_init"]
    with _Clock() as smp:
        model.sample(sample_rows)
    return {
        "rows": n,
        "steps": done,
        "batch": BATCH,
        "fit_total_cpu_s": total.cpu,
        "transformer_cpu_s": phases["transformer"],
        "sampler_init_cpu_s": phases["sampler_init"],
        "train_cpu_s": train_cpu,
        "rows_per_cpu_s": done * BATCH / train_cpu,
        "sample_rows": sample_rows,
        "sample_cpu_s": smp.cpu,
        "sample_rows_per_cpu_s": sample_rows / smp.cpu,
        "output_dim": int(model._transformer.output_dimensions),
        "peak_mib": _peak_mib(),
    }


WORKERS = {
    "gb_encoder": w_gb_encoder,
    "ct_encoder": w_ct_encoder,
    "gb_train": w_gb_train,
    "gb_train_loop": w_gb_train_loop,
    "gb_stream": w_gb_stream,
    "ct_train": w_ct_train,
}


def run_worker(name: str, timeout: float = 3600, **kwargs: Any) -> dict[str, Any]:
    """Run one measurement in a fresh one-thread subprocess; returns its JSON (or the error)."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    cmd = [sys.executable, __file__, "--worker", name, "--kwargs", json.dumps(kwargs)]
    t0 = time.perf_counter()
    print(f"  {name} {kwargs} ...", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", **kwargs}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], **kwargs}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["subprocess_wall_s"] = time.perf_counter() - t0
    print(f"    -> {out}", file=sys.stderr, flush=True)
    return out


# ------------------------------------------------------------------------------------ plan
def plan(
    sizes: list[int], steps: int, ct_columns: str, ct_rows: int, ct_columns_large: str = "num_0,y"
) -> list[tuple]:
    """(size, result key, worker, kwargs) for every measurement, cheapest first."""
    tasks: list[tuple] = []
    for n in sizes:
        tasks += [
            (n, "gb_encoder", "gb_encoder", {"n": n}),
            # CTGAN one-hot encodes every category of cat_0 (10.9 GiB at 100k rows): at larger
            # sizes that would exhaust memory and its mixtures would take hours, so a few
            # columns stand in there (a lower bound; see the docs)
            (
                n,
                "ct_encoder",
                "ct_encoder",
                {"n": n, "columns": ct_columns if n <= 100_000 else ct_columns_large},
            ),
            (n, "gb_train_loop", "gb_train_loop", {"n": n, "steps": steps}),
        ]
        if n == min(sizes):
            # sampling rates do not depend on table size or training length: once, 200k rows
            tasks += [
                (n, "gb_train_loop_vae", "gb_train_loop", {"n": n, "steps": steps, "model": "vae"}),
                (n, "gb_fit_and_sample", "gb_train", {"n": n, "steps": 10}),
                (n, "gb_fit_and_sample_vae", "gb_train", {"n": n, "steps": 10, "model": "vae"}),
            ]
        if n == max(sizes):
            tasks.append((n, "gb_stream", "gb_stream", {"n": n, "steps": steps}))
    # CTGAN's own fit (transformer on every column, data sampler, ``steps`` training steps,
    # then sampling) on a smaller table: its per-step cost does not depend on the row count
    tasks.append((ct_rows, "ct_train", "ct_train", {"n": ct_rows, "steps": steps}))
    if ct_rows not in sizes:  # the whole-table encoder comparison at that size
        tasks.append((ct_rows, "gb_encoder", "gb_encoder", {"n": ct_rows}))
    return tasks


def run(
    sizes: list[int],
    steps: int,
    ct_columns: str,
    ct_rows: int,
    jobs: int,
    out: Path,
    ct_columns_large: str = "num_0,y",
) -> dict[str, Any]:
    """Every measurement of the plan; the raw JSON is rewritten after each one finishes, so an
    interrupted run keeps what it measured (``--report`` rebuilds the tables from it)."""
    from concurrent.futures import ThreadPoolExecutor

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads_per_measurement": 1,
            "parallel_measurements": jobs,
            # CPU-second rates are fair under other load; wall times are not
            "load_average_at_start": os.getloadavg(),
        },
        "batch_size": BATCH,
        "train_steps": steps,
        "sizes": {},
    }
    for n in {*sizes, ct_rows}:
        table_path(n)
    tasks = plan(sizes, steps, ct_columns, ct_rows, ct_columns_large)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [(n, key, pool.submit(run_worker, w, **kw)) for n, key, w, kw in tasks]
        out.mkdir(parents=True, exist_ok=True)
        for n, key, fut in futures:
            results["sizes"].setdefault(str(n), {"rows": n})[key] = fut.result()
            (out / "throughput.json").write_text(json.dumps(results, indent=2, default=str))
    results["machine"]["load_average_at_end"] = os.getloadavg()
    return results


def summarise(res: dict[str, Any]) -> dict[str, Any]:
    """Ratios and rates for the tables in the markdown (and the docs)."""
    out: dict[str, Any] = {}
    ct_train_ref = next(
        (
            r["ct_train"]
            for r in res["sizes"].values()
            if "error" not in r.get("ct_train", {"error": 1})
        ),
        None,
    )
    for key, r in res["sizes"].items():
        if "gb_encoder" not in r:
            continue
        s: dict[str, Any] = {}
        ge = r["gb_encoder"]
        ce = r.get("ct_encoder") or r.get("ct_train") or {"error": "not run"}
        if "error" not in ge and "error" not in ce:
            gb = ge["fit_cpu_s"] + ge["transform_cpu_s"]
            ct = ce.get("transformer_cpu_s") or ce["fit_cpu_s"] + ce["transform_cpu_s"]
            if ce.get("columns") and len(ce["columns"]) < 31:
                # measured on a few columns only: a lower bound of the whole transformer; the
                # per-numeric-column extrapolation (its Bayesian GMM fits dominate) is an estimate
                n_num = sum(c.startswith("num_") for c in ce["columns"])
                s["encoder_ct_cpu_s_extrapolated"] = ct * 20 / max(n_num, 1)
                s["ct_encoder_measured_columns"] = ce["columns"]
            s["encoder_gb_cpu_s"], s["encoder_ct_cpu_s"] = gb, ct
            s["encoder_speedup"] = ct / gb
        gt = r.get("gb_train_loop", {})
        if gt and "error" not in gt:
            s["train_gb_rows_per_cpu_s"] = gt["rows_per_cpu_s"]
        gv = r.get("gb_train_loop_vae", {})
        if "error" not in gv and gv:
            s["train_gb_vae_rows_per_cpu_s"] = gv["rows_per_cpu_s"]
        if ct_train_ref is not None and "train_gb_rows_per_cpu_s" in s:
            s["train_ct_rows_per_cpu_s"] = ct_train_ref["rows_per_cpu_s"]
            s["train_ct_measured_at_rows"] = ct_train_ref.get("rows")
            s["train_speedup"] = s["train_gb_rows_per_cpu_s"] / ct_train_ref["rows_per_cpu_s"]
            s["sample_ct_rows_per_cpu_s"] = ct_train_ref["sample_rows_per_cpu_s"]
        for tag in ("", "_vae"):
            fs = r.get(f"gb_fit_and_sample{tag}", {})
            if fs and "error" not in fs:
                s[f"sample{tag}_generate_rows_per_cpu_s"] = fs["sample_rows"] / fs["generate_cpu_s"]
                s[f"sample{tag}_end_to_end_rows_per_cpu_s"] = fs["sample_rows"] / (
                    fs["generate_cpu_s"] + fs["decode_cpu_s"]
                )
                s[f"fit{tag}_peak_mib"] = fs["peak_mib"]
        if gt.get("peak_mib"):
            s["train_in_memory_peak_mib"] = gt["peak_mib"]
        if r.get("gb_stream") and "error" not in r["gb_stream"]:
            s["stream_peak_mib"] = r["gb_stream"]["peak_mib"]
        out[key] = s
    return out


def _load_text(machine: dict[str, Any], when: str) -> str:
    load = machine.get(f"load_average_at_{when}")
    return "not recorded" if not load else f"{load[0]:.1f}"


def to_markdown(res: dict[str, Any], summary: dict[str, Any]) -> str:
    lines = [
        "# Throughput: genbalance vs CTGAN",
        "",
        f"One thread per measurement, each in its own process; batch {res['batch_size']}. "
        "Rates are rows per CPU second. Produced by `benchmarks/throughput.py`. Load average "
        f"at start / end: {_load_text(res['machine'], 'start')} / "
        f"{_load_text(res['machine'], 'end')} (other work on the machine shares the cores: "
        "CPU-second rates stay comparable, wall times do not).",
        "",
    ]
    for key, s in summary.items():
        r = res["sizes"][key]
        lines += [
            f"## {int(key):,} rows x 30 columns (+ label)",
            "",
            f"Training: {res['train_steps']} optimiser steps of {res['batch_size']} rows each.",
            "",
            "| measure | genbalance | CTGAN | ratio |",
            "|---|---:|---:|---:|",
        ]
        if "encoder_speedup" in s:
            note = " (some columns, see below)" if "ct_encoder_measured_columns" in s else ""
            lines.append(
                f"| encoder fit + transform, CPU s | {s['encoder_gb_cpu_s']:.1f} | "
                f"{s['encoder_ct_cpu_s']:.1f}{note} | {s['encoder_speedup']:.0f}x |"
            )
        if "train_speedup" in s:
            lines.append(
                f"| training rows/s (GAN) | {s['train_gb_rows_per_cpu_s']:,.0f} | "
                f"{s['train_ct_rows_per_cpu_s']:,.0f} | {s['train_speedup']:.1f}x |"
            )
        if "train_gb_vae_rows_per_cpu_s" in s:
            vae, ct = s["train_gb_vae_rows_per_cpu_s"], s.get("train_ct_rows_per_cpu_s")
            ct_txt, ratio = ("", "") if ct is None else (f"{ct:,.0f}", f"{vae / ct:.1f}x")
            lines.append(
                f"| training rows/s (VAE, the default) | {vae:,.0f} | {ct_txt} | {ratio} |"
            )
        if "sample_generate_rows_per_cpu_s" in s:
            ct = s.get("sample_ct_rows_per_cpu_s")
            e2e = s["sample_end_to_end_rows_per_cpu_s"]
            ct_txt = "" if ct is None else f"{ct:,.0f}"
            ratio = "" if ct is None else f"{e2e / ct:.1f}x"
            lines.append(
                f"| sampling rows/s, GAN, generate + decode | {e2e:,.0f} | {ct_txt} | {ratio} |"
            )
            lines.append(
                f"| sampling rows/s, GAN, generate only | "
                f"{s['sample_generate_rows_per_cpu_s']:,.0f} | | |"
            )
        if "sample_vae_generate_rows_per_cpu_s" in s:
            lines.append(
                f"| sampling rows/s, VAE, generate + decode | "
                f"{s['sample_vae_end_to_end_rows_per_cpu_s']:,.0f} | | |"
            )
            lines.append(
                f"| sampling rows/s, VAE, generate only | "
                f"{s['sample_vae_generate_rows_per_cpu_s']:,.0f} | | |"
            )
        if "fit_peak_mib" in s:
            ct_peak = r.get("ct_train", {}).get("peak_mib")
            lines.append(
                f"| peak memory of a fit (in memory), MiB | {s['fit_peak_mib']:,.0f} | "
                f"{'' if not ct_peak else f'{ct_peak:,.0f}'} | |"
            )
        if "train_in_memory_peak_mib" in s:
            lines.append(
                "| peak memory, GAN training with the whole table encoded in memory, MiB | "
                f"{s['train_in_memory_peak_mib']:,.0f} | | |"
            )
        if "stream_peak_mib" in s:
            lines.append(
                f"| peak memory of a streaming fit (chunks of 100k), MiB | "
                f"{s['stream_peak_mib']:,.0f} | | |"
            )
        if "ct_encoder_measured_columns" in s:
            cols = ", ".join(s["ct_encoder_measured_columns"])
            lines += [
                "",
                f"CTGAN's transformer at this size was run on columns {cols} only (the "
                "whole table would take too long here): the CTGAN figure above is that "
                "measured time, a lower bound, so the ratio is a lower bound too. Scaled to "
                "20 numeric columns it would be about "
                f"{s['encoder_ct_cpu_s_extrapolated']:,.0f} CPU s (an estimate).",
            ]
        if "train_ct_rows_per_cpu_s" in s and s["train_ct_measured_at_rows"] != int(key):
            lines += [
                "",
                "CTGAN's training and sampling rates are those measured on the "
                f"{s['train_ct_measured_at_rows']:,}-row table (its fit there: transformer on all "
                "columns, data sampler, the same number of steps): its per-step cost does not "
                "depend on the number of rows.",
            ]
        lines.append("")
    lines += [f"Note: {note}" for note in res.get("notes", [])]
    lines += ["", "Raw numbers: `throughput.json` beside this file."]
    return "\n".join(lines) + "\n"


def report(path: Path) -> None:
    """Rebuild the summary and markdown from a stored raw JSON."""
    res = json.loads(path.read_text())
    res["summary"] = summarise(res)
    path.write_text(json.dumps(res, indent=2, default=str))
    (path.parent / "throughput.md").write_text(to_markdown(res, res["summary"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker")
    ap.add_argument("--kwargs", default="{}")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--ct-rows", type=int, default=20_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ct-columns", default="all", help="CTGAN transformer columns up to 100k rows")
    ap.add_argument(
        "--ct-columns-large", default="num_0,y", help="CTGAN transformer columns above 100k rows"
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--report", help="only rebuild summary + markdown from this JSON")
    args = ap.parse_args()
    if args.report:
        report(Path(args.report))
        return
    if args.worker:
        _limit_threads()
        print(json.dumps(WORKERS[args.worker](**json.loads(args.kwargs))))
        return
    sizes = [5_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    ct_rows = 2_000 if args.quick else args.ct_rows
    out = Path(args.out)
    res = run(
        sizes,
        5 if args.quick else args.steps,
        args.ct_columns,
        ct_rows,
        args.jobs,
        out,
        args.ct_columns_large,
    )
    summary = summarise(res)
    res["summary"] = summary
    (out / "throughput.json").write_text(json.dumps(res, indent=2, default=str))
    (out / "throughput.md").write_text(to_markdown(res, summary))
    print(to_markdown(res, summary))


if __name__ == "__main__":
    main()
