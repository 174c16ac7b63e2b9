"""CUDA paths, checked on a machine with a GPU in one short run (issue 7).

The unit tests run on CPU machines; this script is what a session runs when it is lent a GPU:
every family trains and samples on ``device="cuda"`` (bf16 autocast too where offered), the same
seed gives the same rows on the GPU, the default oversampler picks the GPU by itself, the image
families train there, a one-process NCCL group starts through torchrun, and the MLP models'
training and sampling rates are measured (the 1M rows/s sampling target). Each check records its
own error instead of stopping the run, and the JSON is rewritten after every check.

Run there (torch, pandas, scikit-learn, typer, rich, pyarrow and safetensors are installed on
the device machine; imbalanced-learn is not: carry its wheel and sklearn-compat's, fetched here
with ``pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl
imbalanced-learn==0.14.2 sklearn-compat``, ``.whl`` listed in .git/info/exclude)::

    pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
    PYTHONPATH=src:/tmp/site python3 benchmarks/gpu_check.py --out "$OUT"

On CPU, ``--device cpu --quick`` runs all 14 checks in about two minutes.

``--device cpu --quick`` is the smoke version the tests run here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
TABULAR = ["gan", "vae", "made", "rbm", "diffusion"]
IMAGES = ["dcgan", "conv-vae", "pixelcnn"]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _table(n: int) -> tuple[pd.DataFrame, pd.Series]:
    from throughput import make_table  # the throughput benchmark's mixed-type table

    X = make_table(n)
    return X, X.pop("y")


def _narrow_table(n: int) -> tuple[pd.DataFrame, pd.Series]:
    """Six numeric and three small categorical columns (~80 encoded dims): MADE samples one
    encoded dimension per pass and RBM runs Gibbs chains, both slow on the 600-wide table."""
    X, y = _table(n)
    cols = [f"num_{j}" for j in range(6)] + ["cat_1", "cat_2", "cat_3"]
    return X[cols], y


def check_family(model: str, device: str, steps: int, n: int, amp: bool) -> dict[str, Any]:
    """Fit and sample one family on ``device``; rows must be finite and seed-reproducible."""
    from genbalance.synthesis.tabular import Synthesizer

    X, y = _narrow_table(n)
    synth = Synthesizer(
        model,
        epochs=None,
        device=device,
        random_state=0,
        trainer_options={"max_steps": steps, "amp": amp},
    )
    t0 = time.perf_counter()
    synth.fit(X, y)
    _sync(device)
    fit_s = time.perf_counter() - t0
    param = next(p for part in synth.model_.parts().values() for p in part.parameters())
    a = synth.sample(2000, random_state=1, drop_copies=False)
    b = synth.sample(2000, random_state=1, drop_copies=False)
    numeric = a.select_dtypes("number")
    return {
        "weights_on": str(param.device),
        "fit_seconds": fit_s,
        "rows_finite": bool(np.isfinite(numeric.to_numpy(dtype=float)).all()),
        "same_seed_same_rows": bool(a.equals(b)),
        "columns_match": list(a.columns) == list(X.columns),
        "history_events": [str(e) for e in synth.history_.events][:5],
    }


def check_default_oversampler(device: str, n: int) -> dict[str, Any]:
    """``GenerativeOverSampler()`` with no device argument: it should train on the GPU."""
    from genbalance import GenerativeOverSampler

    X, y = _narrow_table(n)
    sampler = GenerativeOverSampler(random_state=0)
    t0 = time.perf_counter()
    X_res, y_res = sampler.fit_resample(X, y)
    _sync(device)
    param = next(
        p for part in sampler.synthesizer_.model_.parts().values() for p in part.parameters()
    )
    return {
        "weights_on": str(param.device),
        "seconds": time.perf_counter() - t0,
        "class_counts": {str(k): int(v) for k, v in pd.Series(y_res).value_counts().items()},
        "rows_in": len(X),
        "rows_out": len(X_res),
    }


def check_rates(model: str, device: str, n: int, steps: int, sample_rows: int) -> dict[str, Any]:
    """Training rows/s (batch 500) and sampling rows/s: generation alone and with decoding."""
    from genbalance.synthesis.tabular import Synthesizer

    X, y = _table(n)
    synth = Synthesizer(
        model,
        epochs=None,
        batch_size=500,
        device=device,
        random_state=0,
        trainer_options={"max_steps": steps, "health_check": False},
    )
    synth.fit(X, y)
    train_s = synth.history_.seconds
    codes = np.random.default_rng(0).integers(0, 2, sample_rows)
    synth.sample_encoded(codes[:10_000], 0)  # warm-up (kernels, allocator)
    _sync(device)
    t0 = time.perf_counter()
    Z = synth.sample_encoded(codes, 0)
    _sync(device)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    synth.encoder_.inverse_transform(Z[:200_000], random_state=0)
    dec_s = (time.perf_counter() - t0) * len(Z) / min(len(Z), 200_000)
    return {
        "train_rows_per_s": steps * 500 / train_s,
        "generate_rows_per_s": sample_rows / gen_s,
        "generate_and_decode_rows_per_s": sample_rows / (gen_s + dec_s),
        "decode_rows_per_s_cpu": sample_rows / dec_s,
        "sample_rows": sample_rows,
    }


def check_images(model: str, device: str, steps: int, quick: bool) -> dict[str, Any]:
    """An image family through ImageOverSampler: balance the long-tailed digits (quick: four
    images more for each of the two rarest classes, PixelCNN sampling being slow on CPU)."""
    from genbalance.data.images import load_digits_8x8, make_long_tailed
    from genbalance.sampling.images import ImageOverSampler

    X, y = load_digits_8x8()
    X, y = make_long_tailed(X, y, ratio=10, random_state=0)
    counts = pd.Series(y).value_counts()
    target = {k: int(v) + 4 for k, v in counts.nsmallest(2).items()} if quick else "auto"
    sampler = ImageOverSampler(
        model,
        epochs=None,
        sampling_strategy=target,
        random_state=0,
        # quick: no post-training health check (it samples 2,048 images; PixelCNN takes 95 s
        # for that on one CPU core)
        trainer_options={"max_steps": steps, "device": device, "health_check": not quick},
    )
    t0 = time.perf_counter()
    X_res, y_res = sampler.fit_resample(X, y)
    _sync(device)
    added = np.asarray(X_res)[len(X) :]
    after = pd.Series(y_res).value_counts()
    wanted = target if quick else {k: int(counts.max()) for k in counts.index}
    return {
        "seconds": time.perf_counter() - t0,
        "added": len(added),
        "finite": bool(np.isfinite(added).all()),
        "counts_as_asked": all(int(after[k]) == v for k, v in wanted.items()),
    }


def check_torchrun(device: str, n: int) -> dict[str, Any]:
    """One-process ``torchrun ... genbalance fit --distributed``: NCCL on CUDA, gloo on CPU."""
    X, y = _narrow_table(n)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "t.csv"
        X.assign(y=y).to_csv(data, index=False)
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "1",
            "-m",
            "genbalance",
            "fit",
            str(data),
            "--model",
            "gan",  # the two-network family: both optimisers go through DDP
            "--target",
            "y",
            "-o",
            f"{tmp}/m.safetensors",
            "--distributed",
            "--device",
            device,
            "--time-budget",
            "20",
            "--quiet",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        return {
            "returncode": proc.returncode,
            "model_written": (Path(tmp) / "m.safetensors").exists(),
            "stderr_tail": proc.stderr[-1500:],
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-check"))
    ap.add_argument(
        "--only", help="comma list of check groups: families,amp,default,rates,images,torchrun"
    )
    args = ap.parse_args(argv)
    dev, quick = args.device, args.quick
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    groups = set(args.only.split(",")) if args.only else None
    res: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda_available": torch.cuda.is_available(),
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "device": dev,
        "quick": quick,
        "checks": {},
    }
    n_small, steps = (400, 5) if quick else (5000, 300)

    def record(name: str, group: str, fn: Callable[[], dict[str, Any]]) -> None:
        if groups is not None and group not in groups:
            return
        t0 = time.perf_counter()
        try:
            res["checks"][name] = {"ok": True, **fn()}
        except Exception as exc:  # one failing path must not hide the others
            res["checks"][name] = {
                "ok": False,
                "error": repr(exc),
                "trace": traceback.format_exc()[-2000:],
            }
        res["checks"][name]["wall_s"] = time.perf_counter() - t0
        print(name, json.dumps(res["checks"][name])[:300], flush=True)
        (out / "gpu_check.json").write_text(json.dumps(res, indent=2, default=str))

    for model in TABULAR:
        record(
            f"family:{model}",
            "families",
            lambda m=model: check_family(m, dev, steps, n_small, False),
        )
    for model in ("gan", "vae"):
        record(f"amp:{model}", "amp", lambda m=model: check_family(m, dev, steps, n_small, True))
    record("default_oversampler", "default", lambda: check_default_oversampler(dev, n_small))
    n_big, rate_steps, rows = (2000, 5, 20_000) if quick else (100_000, 500, 1_000_000)
    for model in ("gan", "vae"):
        record(
            f"rates:{model}", "rates", lambda m=model: check_rates(m, dev, n_big, rate_steps, rows)
        )
    for model in IMAGES:
        record(
            f"images:{model}",
            "images",
            lambda m=model: check_images(m, dev, 3 if quick else 200, quick),
        )
    record("torchrun", "torchrun", lambda: check_torchrun(dev, n_small))
    failed = [k for k, v in res["checks"].items() if not v["ok"]]
    print(f"{len(res['checks']) - len(failed)} checks passed; failed: {failed or 'none'}")
    return res


if __name__ == "__main__":
    main()
