"""Numerical health and resource limits.

Training on extreme scales (1e300, 1e-300, +-1.7e308), constant columns and perfectly separable
classes finishes without NaN in losses, weights or samples, for every tabular family; raw
tensors that overflow float32 are rolled back or stopped with a clear message, never returned
poisoned. Memory and time budgets stop training cleanly with a usable model.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from genbalance import Synthesizer, models
from genbalance.models.base import OutputSpan
from genbalance.training.resources import parse_budget, rss_bytes
from genbalance.training.trainer import Trainer, TrainerConfig, TrainingDiverged

R = np.random.default_rng(0)
N = 60
Y = np.r_[[0] * 45, [1] * 15]
EXTREME = pd.DataFrame(
    {
        "huge": R.normal(size=N) * 1e300,
        "tiny": R.normal(size=N) * 1e-300,
        "edges": np.r_[1.7e308, -1.7e308, R.normal(size=N - 2)],
        "subnormal": R.choice([5e-324, 0.0, -1e-320], N),
        "const": np.full(N, 3.0),
        "const_big": np.full(N, 1e300),
        "const_cat": ["k"] * N,
        # perfectly separable: either column alone tells the class
        "sep": np.where(Y == 1, 1e6, 0.0) + R.random(N),
        "sep_cat": np.where(Y == 1, "b", "a"),
    }
)
SMALL = {
    "gan": {"g_hidden": [16], "d_hidden": [16], "z_dim": 4},
    "vae": {"hidden": [16], "latent_dim": 2},
    "made": {},
    "rbm": {},
    "diffusion": {},
}


def _all_finite(model) -> bool:
    return all(
        bool(torch.isfinite(t).all())
        for t in model.state_tensors().values()
        if t.is_floating_point()
    )


def _losses(history) -> list[float]:
    return [v for s in history.steps for k, v in s.items() if k != "step" and v is not None]


@pytest.mark.parametrize("family", sorted(SMALL))
def test_extreme_scales_constant_and_separable_columns_train_without_nan(family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(
            family,
            random_state=0,
            model_options=SMALL[family],
            trainer_options={"epochs": None, "max_steps": 25, "batch_size": 32},
        ).fit(EXTREME, Y)
    h = synth.history_
    assert len(h.steps) == 25 and h.stopped_early is None
    assert all(math.isfinite(v) for v in _losses(h))
    assert _all_finite(synth.model_)
    out = synth.sample(200, random_state=1)
    numeric = EXTREME.select_dtypes("number").columns
    values = out[numeric].to_numpy(np.float64)
    assert np.isfinite(values).all()
    lo, hi = EXTREME[numeric].min().to_numpy(), EXTREME[numeric].max().to_numpy()
    assert ((values >= lo) & (values <= hi)).all()
    assert (out["const"] == 3.0).all() and (out["const_big"] == 1e300).all()
    assert (out["const_cat"] == "k").all()
    assert set(out["sep_cat"]) <= {"a", "b"}


@pytest.mark.parametrize("preset", ["plain", "stable"])
def test_perfectly_separable_classes_do_not_saturate_into_nan(preset):
    """A discriminator that separates real from fake perfectly drives log(1 - D) towards
    log 0 under the minimax loss: the losses must stay finite (logits, not probabilities)."""
    X = pd.DataFrame(
        {
            "a": np.where(Y == 1, 50.0, -50.0) + R.random(N) * 1e-3,
            "c": np.where(Y == 1, "yes", "no"),
        }
    )
    synth = Synthesizer(
        "gan",
        preset=preset,
        random_state=0,
        model_options=SMALL["gan"],
        trainer_options={"epochs": None, "max_steps": 120, "batch_size": 30, "health_check": False},
    ).fit(X, Y)
    assert all(math.isfinite(v) for v in _losses(synth.history_))
    assert _all_finite(synth.model_)
    assert np.isfinite(synth.sample(50, y=1)["a"]).all()


def test_raw_tensors_beyond_float32_are_stopped_cleanly_not_poisoned():
    """Unencoded 1e38-scale tensors overflow inside the nets: the trainer rolls back and either
    recovers or raises TrainingDiverged; the weights are never left non-finite."""
    torch.manual_seed(0)
    model = models.get("gan")(3, 2, [OutputSpan(3, "tanh")], **SMALL["gan"])
    X = torch.randn(40, 3).clamp(-3, 3) * 1e38  # finite in float32, overflows in a layer
    y = torch.arange(40) % 2
    try:
        history = Trainer(
            epochs=None, max_steps=20, batch_size=20, max_rollbacks=3, health_check=False
        ).fit(model, X, y)
        assert all(math.isfinite(v) for v in _losses(history))
    except TrainingDiverged as exc:
        assert "restored to its last good state" in str(exc)
    assert _all_finite(model)
    with pytest.raises(ValueError, match="NaN or inf"):
        Trainer(epochs=None, max_steps=2).fit(model, torch.full((4, 3), float("inf")), y[:4])


# ------------------------------------------------------------------ resource limits
def _tiny_gan():
    torch.manual_seed(0)
    return models.get("gan")(3, 2, [OutputSpan(3, "sigmoid")], **SMALL["gan"])


def _hungry(model, grow_from: int, chunk: int = 16 * 2**20):
    """Make each training step from ``grow_from`` on hold ``chunk`` more bytes (touched)."""
    held: list[bytearray] = []
    inner = model.train_step

    def train_step(xb, yb, ctx):
        if ctx.step >= grow_from:
            block = bytearray(chunk)
            block[::4096] = b"x" * len(range(0, chunk, 4096))  # make the pages resident
            held.append(block)
        return inner(xb, yb, ctx)

    model.train_step = train_step
    return held


def test_memory_budget_stops_training_cleanly_with_a_usable_model():
    model = _tiny_gan()
    held = _hungry(model, grow_from=4)
    X, y = torch.rand(64, 3), torch.arange(64) % 2
    budget = rss_bytes() + 96 * 2**20
    history = Trainer(
        epochs=None,
        max_steps=500,
        batch_size=16,
        memory_budget=budget,
        memory_check_every=2,
        health_check=False,
    ).fit(model, X, y)
    assert history.stopped_early and "memory budget" in history.stopped_early
    assert 4 < len(history.steps) < 40, len(history.steps)  # stopped soon after it grew
    assert rss_bytes() < budget + 2 * 32 * 2**20  # at most a check interval past the budget
    held.clear()
    assert _all_finite(model)
    sample = model.generate(torch.tensor([0, 1] * 8), torch.Generator().manual_seed(0))
    assert sample.shape == (16, 3) and torch.isfinite(sample).all()


def test_memory_budget_settings_are_checked():
    assert parse_budget("2GiB") == 2 * 2**30
    assert TrainerConfig(memory_budget="512MiB").memory_budget == 512 * 2**20
    for bad in ("lots", -1, "0MiB", "2 parsecs"):
        with pytest.raises(ValueError, match="memory budget"):
            TrainerConfig(memory_budget=bad)
    with pytest.raises(ValueError, match="memory_check_every"):
        TrainerConfig(memory_check_every=0)
    with pytest.raises(ValueError, match="already holds before training"):
        Trainer(epochs=None, max_steps=3, memory_budget="1MiB").fit(
            _tiny_gan(), torch.rand(8, 3), torch.arange(8) % 2
        )


def test_memory_budget_reaches_the_trainer_from_the_synthesizer(tmp_path):
    X = pd.DataFrame({"a": R.normal(size=40), "c": R.choice(["x", "y"], 40)})
    synth = Synthesizer(
        "gan",
        random_state=0,
        model_options=SMALL["gan"],
        trainer_options={
            "epochs": None,
            "max_steps": 5,
            "memory_budget": "64GiB",
            "health_check": False,
        },
    ).fit(X, Y[:40])
    assert len(synth.history_.steps) == 5  # a generous budget changes nothing
    path = synth.save(tmp_path / "m.safetensors")
    assert len(Synthesizer.load(path).sample(5)) == 5


def test_time_budget_stops_training_cleanly_with_a_usable_model():
    model = _tiny_gan()
    inner = model.train_step

    def slow_step(xb, yb, ctx):
        time.sleep(0.05)
        return inner(xb, yb, ctx)

    model.train_step = slow_step
    X, y = torch.rand(64, 3), torch.arange(64) % 2
    started = time.perf_counter()
    history = Trainer(
        epochs=None, max_steps=10_000, batch_size=16, time_budget=0.5, health_check=False
    ).fit(model, X, y)
    assert time.perf_counter() - started < 5
    assert history.stopped_early and "time budget" in history.stopped_early
    assert 1 <= len(history.steps) < 100
    assert _all_finite(model)
    assert torch.isfinite(model.generate(torch.tensor([0, 1]), torch.Generator())).all()


def test_finiteness_check_of_the_table_sees_every_bad_value_and_no_overflow():
    from genbalance.training.guards import all_finite as table_finite

    X = torch.zeros(50, 4)
    assert table_finite(X) and table_finite(torch.zeros(0, 4)) and table_finite(X.long())
    for bad in (float("nan"), float("inf"), float("-inf")):
        Y = X.clone()
        Y[37, 2] = bad
        assert not table_finite(Y)
    both = X.clone()
    both[0, 0], both[1, 1] = float("inf"), float("-inf")  # sum is NaN: still caught
    assert not table_finite(both)
    big = torch.full((10, 2), 3e38)  # finite values whose float32 sum overflows
    assert table_finite(big)


def test_health_check_draws_no_more_rows_than_the_family_allows(monkeypatch):
    from genbalance.models.pixelcnn import PixelCNN
    from genbalance.models.vae import VAE

    assert PixelCNN.health_rows < VAE.health_rows  # sequential samplers ask for fewer
    model = models.get("vae")(4, 2)
    drawn = []
    original = model.generate

    def counting(y, generator=None):
        drawn.append(len(y))
        return original(y, generator)

    monkeypatch.setattr(model, "generate", counting)
    monkeypatch.setattr(model, "health_rows", 64)
    X = torch.randn(40, 4)
    y = torch.arange(40) % 2
    Trainer(epochs=None, max_steps=3, batch_size=20, health_check=True).fit(model, X, y)
    assert drawn == [64]  # 32 a class, one call
