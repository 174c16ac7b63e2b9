"""Kill ``genbalance fit --checkpoint`` with SIGKILL at random moments, resume, and count.

Each round starts a fresh ``python -m genbalance fit`` process on the same table and checkpoint,
kills it after a random delay, and checks what was left: the checkpoint (when there is one)
must load and verify, the final model file must not exist yet, and the next process must say
it resumed from the checkpoint's step. A last run finishes; its model must load and match the
samples of an uninterrupted run exactly.

    nice -n 10 .venv/bin/python -m benchmarks.interruption --kills 10

Results go to benchmarks/results/interruption.json (success rate over the kills).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "interruption.json"


def _fit_cmd(data: Path, out: Path, ckpt: Path, epochs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "genbalance",
        "fit",
        str(data),
        "-t",
        "t",
        "-o",
        str(out),
        "--checkpoint",
        str(ckpt),
        "--epochs",
        str(epochs),
        "--seed",
        "0",
        "-q",
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _ckpt_step(ckpt: Path) -> int | None:
    from genbalance.files import load_bundle

    if not ckpt.exists():
        return None
    meta, _ = load_bundle(ckpt)  # raises on a damaged file: that is a failure we count
    return int(meta["step"])


def _samples(model: Path) -> pd.DataFrame:
    from genbalance.synthesis.tabular import Synthesizer

    return Synthesizer.load(model).sample(200, random_state=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=100, help="5 steps an epoch here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="gb-interrupt-"))
    data = work / "d.csv"
    gen = np.random.default_rng(0)
    n = 600
    pd.DataFrame(
        {
            "a": gen.normal(size=n),
            "b": gen.lognormal(size=n),
            "c": gen.choice(["x", "y", "z"], n),
            "t": (gen.random(n) < 0.15).astype(int),
        }
    ).to_csv(data, index=False)

    t0 = time.perf_counter()
    ref = work / "ref.safetensors"
    subprocess.run(_fit_cmd(data, ref, work / "ref.ckpt", args.epochs), check=True, env=_env())
    full_seconds = time.perf_counter() - t0
    print(f"uninterrupted run: {full_seconds:.1f} s")
    total = _ckpt_step(work / "ref.ckpt")  # optimiser steps of a whole run

    out, ckpt = work / "run.safetensors", work / "run.ckpt"
    rounds, chains = [], []
    while sum(r["killed"] for r in rounds) < args.kills:
        before = _ckpt_step(ckpt)
        delay = rng.uniform(0.2, full_seconds)
        cmd = _fit_cmd(data, out, ckpt, args.epochs)
        proc = subprocess.Popen(
            cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            proc.wait(delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        text = proc.communicate()[0]
        finished = proc.returncode == 0
        record = {
            "round": len(rounds),
            "chain": len(chains),
            "delay_s": round(delay, 2),
            "killed": proc.returncode == -9,
            "step_before": before,
            "finished": finished,
        }
        try:
            record["step_after"] = _ckpt_step(ckpt)
            record["checkpoint_valid"] = True
        except ValueError as exc:
            record["checkpoint_valid"], record["error"] = False, str(exc)
        after = record.get("step_after")
        # progress is never lost beyond the last checkpoint: the next process resumed from it
        record["resumed"] = before is None or (after is not None and after >= before)
        if finished and before is not None:
            record["resumed"] = record["resumed"] and f"step {before}" in text
        # killed after the model was saved (final checkpoint written first): a finished chain;
        # a rerun would rightly refuse to overwrite it without --force
        saved = out.exists() and after is not None and after >= total
        record["model_file_early"] = out.exists() and not finished and not saved
        finished = record["finished"] = finished or saved
        rounds.append(record)
        print(record, flush=True)
        if finished:  # a chain of kills ended: its model must be the uninterrupted one
            chains.append(bool(_samples(out).equals(_samples(ref))))
            out.unlink()
            ckpt.unlink()
    if rounds and not rounds[-1]["finished"]:
        subprocess.run(_fit_cmd(data, out, ckpt, args.epochs), check=True, env=_env())
        chains.append(bool(_samples(out).equals(_samples(ref))))
    kills = [r for r in rounds if r["killed"]]
    ok = [r for r in kills if r["checkpoint_valid"] and r["resumed"] and not r["model_file_early"]]
    summary = {
        "kills": len(kills),
        "resumed_ok": len(ok),
        "resume_success_rate": len(ok) / max(len(kills), 1),
        "chains": len(chains),
        "chains_matching_uninterrupted": sum(chains),
        "uninterrupted_seconds": round(full_seconds, 1),
        "epochs": args.epochs,
        "rounds": rounds,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from genbalance.files import atomic_write_bytes

    atomic_write_bytes(RESULTS, json.dumps(summary, indent=1).encode())
    print({k: v for k, v in summary.items() if k != "rounds"})


if __name__ == "__main__":
    main()
