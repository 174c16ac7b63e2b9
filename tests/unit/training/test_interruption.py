"""Interruption: a training process killed with SIGKILL at random steps resumes from its last
checkpoint and ends with the very model an uninterrupted run gives; a kill mid-write never leaves
a half-written file under the real name; outputs are never replaced without --force.

Children are forked (the parent has torch imported already), so a kill/resume cycle costs
milliseconds instead of a fresh interpreter; ``benchmarks/interruption.py`` repeats this with
real ``genbalance fit --checkpoint`` processes and many more kills.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from genbalance import models
from genbalance.files import ModelFileError, atomic_write_bytes, load_bundle
from genbalance.models.base import OutputSpan

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork and SIGKILL are POSIX")
FORK = mp.get_context("fork")
TOTAL = 60  # optimiser steps of the whole run
EVERY = 4  # checkpoint every EVERY steps


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = (torch.arange(48) % 3 == 0).long()
    return torch.rand(48, 4, generator=g) * 0.5 + y[:, None] * 0.4, y


def _train(ckpt: str, out: str, step_seen=None) -> None:
    """One training process: resume from ``ckpt`` when it exists, save the model at the end."""
    from genbalance.training.trainer import Trainer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = models.get("gan")(
        4, 2, [OutputSpan(4, "sigmoid")], g_hidden=[16], d_hidden=[16], z_dim=3
    )
    if step_seen is not None:
        inner = model.train_step

        def train_step(xb, yb, ctx):
            step_seen.value = ctx.step
            return inner(xb, yb, ctx)

        model.train_step = train_step
    X, y = _data()
    trainer = Trainer(
        epochs=None,
        max_steps=TOTAL,
        batch_size=16,
        ema=0.9,
        health_check=False,
        checkpoint_path=ckpt,
        checkpoint_every=EVERY,
        resume=True,
        random_state=3,
    )
    trainer.fit(model, X, y)
    models.save(model, out)


def _run_child(ckpt: Path, out: Path, kill_at: int | None) -> int | None:
    """Fork a training process; SIGKILL it once it reaches step ``kill_at``; the exit code."""
    seen = FORK.Value("i", -1)
    proc = FORK.Process(target=_train, args=(str(ckpt), str(out), seen))
    proc.start()
    deadline = time.monotonic() + 60
    while kill_at is not None and proc.is_alive() and seen.value < kill_at:
        if time.monotonic() > deadline:
            break
        time.sleep(0.0005)
    if kill_at is not None and proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(60)
    return proc.exitcode


def _state(path: Path) -> dict[str, torch.Tensor]:
    model, _ = models.load(path)
    return model.state_tensors()


def test_sigkill_at_random_steps_resumes_to_the_uninterrupted_model(tmp_path):
    ref_ckpt, ref_out = tmp_path / "ref.ckpt", tmp_path / "ref.safetensors"
    assert _run_child(ref_ckpt, ref_out, None) == 0
    reference = _state(ref_out)

    ckpt, out = tmp_path / "run.ckpt", tmp_path / "run.safetensors"
    kills = sorted(np.random.default_rng(9).choice(np.arange(2, TOTAL - 1), size=5, replace=False))
    resumed_ok, last_step = 0, 0
    for kill_at in kills:
        code = _run_child(ckpt, out, int(kill_at))
        assert code == -signal.SIGKILL, f"child was not killed at step {kill_at} (exit {code})"
        assert not out.exists(), "a killed run must not leave a final model behind"
        if ckpt.exists():  # killed after the first checkpoint: it must be whole and readable
            meta, _ = load_bundle(ckpt)
            assert meta["kind"] == "checkpoint"
            assert last_step <= meta["step"] <= kill_at
            resumed_ok += meta["step"] >= last_step
            last_step = meta["step"]
        # anything else left in the folder is a temporary name, never the real one
        stray = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert all(n.endswith(".tmp") for n in stray), stray
    assert resumed_ok == len(kills)
    assert _run_child(ckpt, out, None) == 0
    meta, _ = load_bundle(ckpt)
    assert meta["step"] == TOTAL
    assert any("resumed from" in e for e in meta["history"]["events"])
    final = _state(out)
    assert final.keys() == reference.keys()
    for name, tensor in reference.items():
        assert torch.isfinite(final[name]).all() if final[name].is_floating_point() else True
        assert torch.equal(final[name], tensor), f"{name} differs from the uninterrupted run"


def _slow_write(path: str, data: bytes) -> None:
    os.fsync = lambda fd: time.sleep(30)  # type: ignore[assignment]  # the child only
    atomic_write_bytes(path, data)


@pytest.mark.parametrize("size", [10, 5_000_000])
def test_kill_mid_write_leaves_the_old_file(tmp_path, size):
    target = tmp_path / "model.safetensors"
    atomic_write_bytes(target, b"good old content")
    proc = FORK.Process(target=_slow_write, args=(str(target), b"x" * size))
    proc.start()
    deadline = time.monotonic() + 30
    while not any(p.suffix == ".tmp" and p.stat().st_size == size for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline, "the child never wrote its temporary file"
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert target.read_bytes() == b"good old content"
    assert [p.name for p in tmp_path.iterdir() if p != target][0].startswith(".model.safetensors.")


def test_no_overwrite_wins_a_race_with_another_writer(tmp_path, monkeypatch):
    """The target appears between the existence check and publishing: it is kept, not replaced."""
    target = tmp_path / "out.csv"
    real_fsync = os.fsync

    def racing_fsync(fd):
        real_fsync(fd)
        if not target.exists():
            target.write_bytes(b"the other writer's data")

    monkeypatch.setattr(os, "fsync", racing_fsync)
    with pytest.raises(FileExistsError, match="--force"):
        atomic_write_bytes(target, b"ours", overwrite=False)
    assert target.read_bytes() == b"the other writer's data"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left


def test_written_files_keep_usual_permissions(tmp_path):
    new = atomic_write_bytes(tmp_path / "a.csv", b"1")
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(new, 0o640)
    atomic_write_bytes(new, b"2")
    assert new.stat().st_mode & 0o777 == 0o640


def test_truncated_checkpoint_from_an_old_crash_is_refused_not_resumed(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    assert _run_child(ckpt, tmp_path / "m.safetensors", None) == 0
    ckpt.write_bytes(ckpt.read_bytes()[:-100])  # e.g. copied by a tool without atomic writes
    with pytest.raises(ModelFileError, match="truncated|corrupt|checksum"):
        _train(str(ckpt), str(tmp_path / "m2.safetensors"))


# ------------------------------------------------------------------ CLI: never overwrite
@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("cli") / "d.csv"
    frame = pd.DataFrame(
        {"a": rng.normal(size=30), "c": ["x", "y", "z"] * 10, "t": [0] * 22 + [1] * 8}
    )
    frame.to_csv(path, index=False)
    return path


def test_cli_outputs_are_never_overwritten_without_force(table, tmp_path):
    from genbalance.cli import app

    runner = CliRunner()
    model, resampled, sampled = tmp_path / "m.safetensors", tmp_path / "r.csv", tmp_path / "s.csv"
    commands = {
        model: ["fit", str(table), "-t", "t", "-o", str(model), "--epochs", "1", "-q"],
        resampled: ["resample", str(table), "-t", "t", "-o", str(resampled), "--epochs", "1", "-q"],
        sampled: ["sample", str(model), "-n", "5", "-o", str(sampled)],
    }
    for path, args in commands.items():
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        before = path.read_bytes()
        os.utime(path, (0, 0))
        again = runner.invoke(app, args)
        assert again.exit_code == 2 and "--force" in again.output
        assert path.read_bytes() == before and path.stat().st_mtime == 0
        forced = runner.invoke(app, [*args, "--force"])
        assert forced.exit_code == 0, forced.output
        assert path.stat().st_mtime > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "r.csv", "s.csv"]
