"""Scale: data-parallel training on 2 CPU processes (gloo), device choice and mixed precision."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genbalance.synthesis.tabular import Synthesizer
from genbalance.training import distributed
from genbalance.training.trainer import Trainer, TrainerConfig, resolve_device

STEPS = 240
SETTINGS = {"batch_size": 64, "random_state": 0}


def _data(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.where(np.arange(n) % 5 == 0, 1, 0)
    X = pd.DataFrame({"a": rng.normal(size=n) + 3.0 * y, "b": rng.normal(size=n) - 2.0 * y})
    return X, y


def _synth(checkpoint: Path | None = None) -> Synthesizer:
    options: dict = {"epochs": None, "max_steps": STEPS}
    if checkpoint is not None:
        options.update(checkpoint_path=str(checkpoint), checkpoint_every=100)
    return Synthesizer("vae", trainer_options=options, **SETTINGS)


def _class_means(synth: Synthesizer) -> list[list[float]]:
    rows = synth.sample(y={0: 500, 1: 500}, random_state=1)
    return [rows.iloc[:500].mean().tolist(), rows.iloc[500:].mean().tolist()]


def _worker(rank: int, world: int, port: int, tmp: str) -> None:
    """One rank: count checkpoint writes, train, report weights' fingerprint and quality."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60)
    )
    import genbalance.training.checkpoint as ckpt

    writes: list[int] = []
    original = ckpt.save_checkpoint

    def counting(*args, **kwargs):
        writes.append(rank)
        return original(*args, **kwargs)

    ckpt.save_checkpoint = counting
    X, y = _data()
    synth = _synth(Path(tmp) / "ckpt.safetensors")
    synth.fit(X, y, dist=distributed.DistContext.current())
    weights = torch.cat([t.float().reshape(-1) for t in synth.model_.state_tensors().values()])
    report = {
        "writes": len(writes),
        "weights_sum": float(weights.double().sum()),
        "weights_abs": float(weights.double().abs().sum()),
        "means": _class_means(synth),
    }
    Path(tmp, f"rank{rank}.json").write_text(json.dumps(report))
    distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process_and_write_checkpoints_once(tmp_path):
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # gradients are averaged, so both ranks hold the very same weights after training
    assert r0["weights_sum"] == pytest.approx(r1["weights_sum"], rel=1e-6)
    assert r0["weights_abs"] == pytest.approx(r1["weights_abs"], rel=1e-6)
    # rank 0 alone wrote checkpoints: at steps 100, 200 and the final one
    assert (r0["writes"], r1["writes"]) == (3, 0)
    assert (tmp_path / "ckpt.safetensors").exists()
    X, y = _data()
    single = _class_means(_synth().fit(X, y))
    real = [X[y == c].mean().tolist() for c in (0, 1)]
    ddp = np.array(r0["means"])
    # same quality as one process (per-class means of each column), both near the real ones
    assert np.abs(ddp - np.array(real)).max() < 0.5
    assert np.abs(ddp - np.array(single)).max() < 0.5


def test_torchrun_cli_fit_distributed_writes_one_model(tmp_path):
    X, y = _data()
    data = tmp_path / "d.csv"
    X.assign(y=y).to_csv(data, index=False)
    out = tmp_path / "m.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        "-m",
        "genbalance",
        "fit",
        str(data),
        "--target",
        "y",
        "-o",
        str(out),
        "--model",
        "vae",
        "--epochs",
        "1",
        "-q",
        "--distributed",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Synthesizer.load(out).classes_.tolist() == [0, 1]
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".safetensors"] == [out.name]


def test_distributed_flag_without_torchrun_is_refused(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        distributed.init_from_env()


def test_device_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert distributed.choose_backend("auto") == "gloo"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert distributed.choose_backend("auto") == "nccl"
    assert distributed.choose_backend("cpu") == "gloo"


def test_amp_is_a_noop_with_a_warning_on_cpu():
    from genbalance import models

    X = torch.randn(64, 3)
    y = torch.arange(64) % 2

    def train(amp):
        torch.manual_seed(0)
        model = models.get("vae")(3, 2)
        history = Trainer(
            TrainerConfig(max_steps=5, epochs=None, device="cpu", amp=amp, health_check=False)
        ).fit(model, X, y)
        return model, history

    with pytest.warns(UserWarning, match="CUDA only"):
        with_amp, history = train(True)
    assert any("CUDA only" in e for e in history.events)
    plain, _ = train(False)
    for a, b in zip(with_amp.state_tensors().values(), plain.state_tensors().values(), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="amp must be"):
        TrainerConfig(amp="fp16")
