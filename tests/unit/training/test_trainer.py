"""The training loop: balanced batches, seeds, time budget, checkpoints, NaN handling, EMA,
gradient clipping, progress, configuration errors and the end-of-training health report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from genbalance import models
from genbalance.files import ModelFileError
from genbalance.models.base import GenerativeModel
from genbalance.training.sources import ClassBatchSampler
from genbalance.training.trainer import Trainer, TrainerConfig, TrainingDiverged

SMALL_GAN = {"g_hidden": [32, 32], "d_hidden": [32, 32], "z_dim": 4}


class Toy(GenerativeModel):
    """A one-layer model with plain SGD: every update is lr * (clipped) gradient, exactly."""

    family = "toy"

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        return {"lr": 0.1, "scale": 1.0, "nan_attempts": 0, **hyper}

    def build(self) -> None:
        torch.manual_seed(0)
        self.net = nn.Linear(self.data_dim, self.data_dim)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=self.hyper["lr"])
        self.attempts = 0
        self.labels: list[torch.Tensor] = []
        self.weights: list[torch.Tensor | None] = []
        self.trace: list[dict[str, torch.Tensor]] = []

    def parts(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def train_step(self, x, y, ctx) -> dict[str, float]:
        self.attempts += 1
        self.labels.append(y.clone())
        self.weights.append(None if ctx.sample_weight is None else ctx.sample_weight.clone())
        loss = self.hyper["scale"] * ((self.net(x) - x) ** 2).mean()
        if self.attempts <= self.hyper["nan_attempts"]:
            loss = loss * float("nan")
        ctx.update("net", loss)
        self.trace.append({k: v.clone() for k, v in self.net.state_dict().items()})
        return {"loss": loss.item()}

    def generate(self, y, generator=None):
        with torch.no_grad():
            return self.net(torch.randn(y.shape[0], self.data_dim, generator=generator))


def imbalanced(n_major: int = 1000, n_minor: int = 10, dim: int = 2):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n_major + n_minor, dim, generator=g)
    y = torch.cat([torch.zeros(n_major), torch.ones(n_minor)]).long()
    return X, y


def small_gan(seed: int = 0, **hyper) -> GenerativeModel:
    torch.manual_seed(seed)
    return models.get("gan")(2, 2, **{**SMALL_GAN, **hyper})


def weights(model: GenerativeModel) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_tensors().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def all_finite(model: GenerativeModel) -> bool:
    return all(
        torch.isfinite(v).all() for v in model.state_tensors().values() if v.is_floating_point()
    )


# ---------------------------------------------------------------------- batches
def test_balanced_sampler_draws_classes_equally_from_a_100_to_1_dataset():
    _, y = imbalanced()
    sampler = ClassBatchSampler(y, 3, "balanced")  # class 2 has no rows
    idx, classes = sampler.sample(20000, torch.Generator().manual_seed(0))
    assert torch.equal(y[idx], classes)  # each drawn row belongs to the class drawn for it
    share = classes.bincount(minlength=3).float() / 20000
    assert share[0] == pytest.approx(0.5, abs=0.02) and share[1] == pytest.approx(0.5, abs=0.02)
    assert share[2] == 0
    # rows within a class are drawn uniformly: all ten rare rows, about equally often
    rare = idx[classes == 1].bincount(minlength=1010)[1000:]
    assert (rare > 0).all() and rare.float().std() / rare.float().mean() < 0.15


@pytest.mark.parametrize(
    "mode, expected", [("natural", 10 / 1010), ("sqrt", 10**0.5 / (1000**0.5 + 10**0.5))]
)
def test_natural_and_sqrt_sampling_follow_frequencies(mode, expected):
    _, y = imbalanced()
    _, classes = ClassBatchSampler(y, 2, mode).sample(50000, torch.Generator().manual_seed(1))
    assert (classes == 1).float().mean().item() == pytest.approx(expected, abs=0.004)


def test_balanced_class_weight_undoes_natural_sampling():
    _, y = imbalanced()
    sampler = ClassBatchSampler(y, 3, "natural", class_weight="balanced")
    w = sampler.class_weight
    assert w[0].item() == pytest.approx(1010 / 2000) and w[1].item() == pytest.approx(1010 / 20)
    assert w[2] == 0
    _, classes = sampler.sample(50000, torch.Generator().manual_seed(2))
    mass = torch.zeros(3).index_add_(0, classes, w[classes])
    assert mass[0].item() == pytest.approx(mass[1].item(), rel=0.1)  # equal total weight
    # under balanced sampling the weights are all ones
    even = ClassBatchSampler(y, 2, "balanced", class_weight="balanced").class_weight
    assert torch.allclose(even, torch.ones(2))


def test_trainer_feeds_balanced_batches_and_weights_to_the_model():
    X, y = imbalanced()
    model = Toy(2, 2)
    Trainer(epochs=None, max_steps=40, batch_size=64, health_check=False).fit(model, X, y)
    labels = torch.cat(model.labels)
    assert (labels == 1).float().mean().item() == pytest.approx(0.5, abs=0.06)
    assert all(w is None for w in model.weights)
    model = Toy(2, 2)
    Trainer(
        epochs=None,
        max_steps=5,
        batch_size=64,
        sampling="natural",
        class_weight="balanced",
        health_check=False,
    ).fit(model, X, y)
    for lab, w in zip(model.labels, model.weights, strict=True):
        assert torch.allclose(w, torch.where(lab == 1, 1010 / 20, 1010 / 2000))


# ---------------------------------------------------------------------- reproducibility
def fit_gan(seed: int, model_seed: int = 0, steps: int = 15):
    X, y = imbalanced(200, 40)
    model = small_gan(model_seed)
    Trainer(
        epochs=None, max_steps=steps, batch_size=32, random_state=seed, ema=0.9, health_check=False
    ).fit(model, X, y)
    sample = model.generate(torch.tensor([0, 1] * 20), torch.Generator().manual_seed(3))
    return weights(model), sample


def test_same_seed_gives_identical_weights_and_samples_and_another_seed_does_not():
    w1, s1 = fit_gan(seed=5)
    w2, s2 = fit_gan(seed=5)
    w3, s3 = fit_gan(seed=6)
    assert same_weights(w1, w2) and torch.equal(s1, s2)
    assert not same_weights(w1, w3) and not torch.equal(s1, s3)


def test_fit_leaves_the_global_random_state_alone(tmp_path: Path):
    X, y = imbalanced(200, 40)
    model = small_gan()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ckpt = str(tmp_path / "c.ckpt")
    Trainer(epochs=None, max_steps=3, batch_size=32, checkpoint_path=ckpt).fit(model, X, y)
    Trainer(epochs=None, max_steps=5, batch_size=32, checkpoint_path=ckpt, resume=True).fit(
        model, X, y
    )
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------- time budget, progress
def test_time_budget_stops_training_early():
    class Slow(Toy):
        def train_step(self, x, y, ctx):
            import time

            time.sleep(0.01)
            return super().train_step(x, y, ctx)

    X, y = imbalanced(100, 10)
    trainer = Trainer(epochs=None, max_steps=100000, batch_size=16, time_budget=0.3)
    history = trainer.fit(Slow(2, 2), X, y)
    assert history.stopped_early and "time budget" in history.stopped_early
    assert 1 <= trainer.steps_done < 100000
    assert history.seconds < 5


def test_progress_bar_mode_runs(capsys):
    X, y = imbalanced(100, 10)
    history = Trainer(epochs=2, batch_size=16, progress=True).fit(Toy(2, 2), X, y)
    assert len(history.steps) == 2 * math.ceil(110 / 16)
    assert "training" in capsys.readouterr().out


def test_progress_bar_moves_a_few_times_a_second_and_ends_complete():
    """The bar is advanced by the steps taken since it last moved, not once per step (rich's
    update per step cost ~2 s of a 10 s GAN fit in a terminal), and shows every step at the
    end with the last step's losses."""
    from genbalance.training.guards import BarTicker

    class FakeBar:
        def __init__(self):
            self.updates, self.completed, self.description = 0, 0, ""

        def add_task(self, name, total, completed):
            self.completed = completed
            return 0

        def update(self, task, advance, description):
            self.updates += 1
            self.completed += advance
            self.description = description

    bar = FakeBar()
    ticker = BarTicker(bar, total=2000, completed=5, min_interval=3600.0)
    for i in range(2000 - 5):
        ticker.step({"loss_d": float(i), "loss_g": 0.5, "grad_norm": 1.0})
    assert bar.updates == 0  # not yet: less than min_interval since the start
    ticker.flush()
    assert bar.updates == 1 and bar.completed == 2000
    assert bar.description == "training loss_d=1994.000 loss_g=0.500"
    ticker.flush()  # nothing pending: no update
    assert bar.updates == 1
    live = BarTicker(FakeBar(), total=10, completed=0, min_interval=0.0)
    for _ in range(10):
        live.step({"loss": 1.0})
    assert live.bar.updates == 10 and live.bar.completed == 10


# ---------------------------------------------------------------------- checkpoints
def test_checkpoint_resume_continues_exactly_from_the_saved_step(tmp_path: Path):
    X, y = imbalanced(200, 40)
    ckpt = tmp_path / "run.ckpt"
    opts = {"epochs": None, "batch_size": 32, "random_state": 4, "ema": 0.9, "health_check": False}
    straight = small_gan()
    Trainer(max_steps=24, **opts).fit(straight, X, y)

    first = small_gan()
    Trainer(max_steps=12, checkpoint_path=str(ckpt), **opts).fit(first, X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temp files left
    resumed = small_gan(seed=99)  # different initial weights: the checkpoint must replace them
    history = Trainer(max_steps=24, checkpoint_path=str(ckpt), resume=True, **opts).fit(
        resumed, X, y
    )
    assert any("resumed" in e and "step 12" in e for e in history.events)
    assert [s["step"] for s in history.steps] == list(range(1, 25))
    assert same_weights(weights(resumed), weights(straight))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]


def test_periodic_checkpoints_and_a_mismatched_model_is_refused(tmp_path: Path):
    X, y = imbalanced(100, 10)
    ckpt = tmp_path / "ck" / "run.ckpt"
    Trainer(
        epochs=None,
        max_steps=6,
        batch_size=16,
        checkpoint_path=str(ckpt),
        checkpoint_every=2,
        health_check=False,
    ).fit(small_gan(), X, y)
    assert ckpt.exists() and [p.name for p in ckpt.parent.iterdir()] == ["run.ckpt"]
    other = models.get("gan")(2, 2, g_hidden=[16], d_hidden=[16], z_dim=4)
    with pytest.raises(ModelFileError, match="different model configuration"):
        Trainer(epochs=None, max_steps=8, checkpoint_path=str(ckpt), resume=True).fit(other, X, y)


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch):
    """A crash while writing leaves the previous checkpoint intact and no temp file behind."""
    import genbalance.files as gio

    X, y = imbalanced(100, 10)
    ckpt = tmp_path / "run.ckpt"
    cfg = {"epochs": None, "batch_size": 16, "checkpoint_path": str(ckpt), "health_check": False}
    Trainer(max_steps=3, **cfg).fit(small_gan(), X, y)
    before = ckpt.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gio.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        Trainer(max_steps=5, **cfg).fit(small_gan(), X, y)
    assert ckpt.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]


# ---------------------------------------------------------------------- divergence
def test_rollbacks_lower_the_learning_rate_cumulatively():
    X, y = imbalanced(100, 10)
    model = Toy(2, 2, lr=0.1, nan_attempts=3)
    history = Trainer(epochs=None, max_steps=4, batch_size=16).fit(model, X, y)
    assert history.rollbacks == 3
    assert model.opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    assert sum("restored last good state" in e for e in history.events) == 3


class LrToy(Toy):
    """Toy that records the learning rate each attempted step runs with."""

    def train_step(self, x, y, ctx) -> dict[str, float]:
        self.__dict__.setdefault("lrs", []).append(self.opt.param_groups[0]["lr"])
        return super().train_step(x, y, ctx)


def test_cosine_schedule_anneals_from_the_rate_to_zero():
    X, y = imbalanced(100, 10)
    model = LrToy(2, 2, lr=0.1)
    Trainer(epochs=None, max_steps=8, batch_size=16, lr_schedule="cosine").fit(model, X, y)
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * s / 8)) for s in range(8)]
    assert model.lrs == pytest.approx(expected)
    flat = LrToy(2, 2, lr=0.1)
    Trainer(epochs=None, max_steps=8, batch_size=16).fit(flat, X, y)
    assert flat.lrs == [0.1] * 8  # "constant", the default, leaves the family's rate alone
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, cosine"):
        TrainerConfig(lr_schedule="linear")


def test_rollbacks_under_a_schedule_keep_lowering_the_scheduled_rate():
    """A rollback restores a snapshot's groups and halves the rate; the schedule must go on
    from the halved rate, not from the family's original one."""
    X, y = imbalanced(100, 10)
    model = LrToy(2, 2, lr=0.1, nan_attempts=2)
    cfg = {"epochs": None, "max_steps": 4, "batch_size": 16, "lr_schedule": "cosine"}
    history = Trainer(**cfg).fit(model, X, y)
    assert history.rollbacks == 2
    scale = [0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)]
    # step 0 tried three times (full, halved, quartered), then steps 1-3 at a quarter
    assert model.lrs == pytest.approx([0.1, 0.05, 0.025] + [0.025 * f for f in scale[1:]])


def test_too_many_rollbacks_raise_a_clear_error_and_restore_the_weights():
    X, y = imbalanced(100, 10)
    model = Toy(2, 2, nan_attempts=100)
    start = weights(model)
    with pytest.raises(TrainingDiverged, match="after 2 rollbacks.*Lower the learning rate"):
        Trainer(epochs=None, max_steps=4, batch_size=16, max_rollbacks=2).fit(model, X, y)
    assert same_weights(weights(model), start)


@pytest.mark.parametrize("family", ["gan", "vae"])
@pytest.mark.parametrize("policy", ["rollback", "raise"])
def test_an_exploding_run_is_caught_and_never_leaves_nan_weights(family, policy):
    """lr=1e8 without clipping overflows within a few steps. 'raise' stops with a clear error;
    'rollback' restores the last good state and cuts the learning rates until training runs."""
    X, y = imbalanced(200, 40)
    torch.manual_seed(0)
    if family == "gan":
        model = models.get("gan")(2, 2, **SMALL_GAN, loss="lsgan", lr_g=1e8, lr_d=1e8)
    else:
        model = models.get("vae")(2, 2, hidden=[16], latent_dim=2, lr=1e8)
    trainer = Trainer(
        epochs=None,
        max_steps=30,
        batch_size=32,
        nan_policy=policy,
        max_rollbacks=6,
        rollback_lr_factor=1e-3,
        snapshot_every=5,
    )
    if policy == "raise":
        with pytest.raises(TrainingDiverged, match=r"diverged \(loss of .* is (inf|nan)"):
            trainer.fit(model, X, y)
    else:
        history = trainer.fit(model, X, y)
        assert history.rollbacks >= 1 and trainer.steps_done == 30
        assert any("multiplied learning rates by 0.001" in e for e in history.events)
        lrs = [g["lr"] for o in model.optimizers().values() for g in o.param_groups]
        assert all(lr <= 1e5 for lr in lrs)
    assert all_finite(model)


# ---------------------------------------------------------------------- trainer switches
def test_gradient_clipping_bounds_the_applied_update():
    X, y = imbalanced(100, 10)
    X = X * 100  # large gradients
    model = Toy(2, 2, lr=0.01, scale=100.0)
    before = weights(model)
    history = Trainer(epochs=None, max_steps=1, batch_size=64, grad_clip=0.5).fit(model, X, y)
    pre_clip = history.steps[0]["grad_norm_net"]
    change = torch.cat(
        [(model.trace[0][k] - before[f"net.{k}"]).reshape(-1) for k in model.trace[0]]
    )
    assert pre_clip > 100  # the recorded norm is the one before clipping
    assert change.norm().item() == pytest.approx(0.01 * 0.5, rel=1e-4)  # lr * clip, exactly
    unclipped = Toy(2, 2, lr=0.01, scale=100.0)
    Trainer(epochs=None, max_steps=1, batch_size=64).fit(unclipped, X, y)
    change = torch.cat(
        [(unclipped.trace[0][k] - before[f"net.{k}"]).reshape(-1) for k in unclipped.trace[0]]
    )
    assert change.norm().item() == pytest.approx(0.01 * pre_clip, rel=1e-4)


def test_ema_shadow_is_the_average_and_is_what_samples_after_fit():
    X, y = imbalanced(100, 10)
    model = Toy(2, 2, lr=0.05)
    start = weights(model)
    trainer = Trainer(epochs=None, max_steps=10, batch_size=16, ema=0.8)
    trainer.fit(model, X, y)
    expected = {k[4:]: v for k, v in start.items()}
    for state in model.trace:
        expected = {k: 0.8 * expected[k] + 0.2 * state[k] for k in expected}
    final = model.net.state_dict()
    for k in expected:
        assert torch.allclose(final[k], expected[k], atol=1e-6)  # shadow swapped in
        assert not torch.allclose(final[k], model.trace[-1][k])  # ... not the raw weights
        assert torch.equal(final[k], trainer.emas["net"].shadow.state_dict()[k])


def test_gan_ema_changes_the_sampling_generator_only():
    w_ema, _ = fit_gan(seed=2)
    X, y = imbalanced(200, 40)
    raw = small_gan()
    Trainer(epochs=None, max_steps=15, batch_size=32, random_state=2, health_check=False).fit(
        raw, X, y
    )
    w_raw = weights(raw)
    assert all(torch.equal(w_ema[k], w_raw[k]) for k in w_raw if k.startswith("D."))
    assert not all(torch.equal(w_ema[k], w_raw[k]) for k in w_raw if k.startswith("G."))


# ---------------------------------------------------------------------- configuration errors
@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", -1),
        ("max_steps", -5),
        ("batch_size", 0),
        ("sampling", "uniform"),
        ("class_weight", "inverse"),
        ("grad_clip", 0.0),
        ("ema", 1.0),
        ("time_budget", -1.0),
        ("nan_policy", "ignore"),
        ("log_every", 0),
        ("snapshot_every", 0),
        ("max_rollbacks", -1),
        ("rollback_lr_factor", 2.0),
        ("checkpoint_every", -1),
    ],
)
def test_invalid_config_values_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainerConfig(**{field: value})
    with pytest.raises(ValueError, match=field):
        Trainer(**{field: value})


def test_invalid_inputs_to_fit_are_explained():
    X, y = imbalanced(20, 5)
    trainer = Trainer(epochs=1)
    with pytest.raises(ValueError, match="device 'tpu9'"):
        Trainer(device="tpu9").fit(Toy(2, 2), X, y)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        trainer.fit(Toy(2, 2), X, y + 1)
    with pytest.raises(ValueError, match="y must have shape"):
        trainer.fit(Toy(2, 2), X, y[:-1])
    bad = X.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        trainer.fit(Toy(2, 2), bad, y)


# ---------------------------------------------------------------------- health report
def test_fit_stores_a_health_report_unless_switched_off():
    X, y = imbalanced(100, 10)
    history = Trainer(epochs=None, max_steps=3, batch_size=16).fit(Toy(2, 2), X, y)
    assert set(history.health["per_class"]) == {"0", "1"}
    assert history.health["per_class"]["1"]["n_real"] == 10
    history.to_json()  # plain JSON values
    off = Trainer(epochs=None, max_steps=3, batch_size=16, health_check=False).fit(Toy(2, 2), X, y)
    assert off.health == {}


# ---------------------------------------------------------------------- threads
def test_small_models_train_on_one_thread_and_the_setting_is_restored(monkeypatch):
    """threads='auto' runs a small step on one thread (no hand-offs, no contention with a
    neighbouring fold); an int forces that many; torch's own setting comes back after. The
    work after the loop (a family's after_training fit, e.g. the GAN's latent encoder; the
    health check) runs under the same setting: a second thread there, next to a busy process,
    made the GAN's README example ~4x slower."""
    from genbalance.training import threads as thread_rules

    X, y = imbalanced(100, 10)
    seen: list[int] = []

    class ThreadToy(Toy):
        def train_step(self, x, y, ctx):
            seen.append(torch.get_num_threads())
            return super().train_step(x, y, ctx)

        def after_training(self, generator):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        Trainer(epochs=None, max_steps=2, batch_size=16).fit(ThreadToy(2, 2), X, y)
        assert seen == [1, 1, 1] and torch.get_num_threads() == 2
        seen.clear()
        Trainer(epochs=None, max_steps=2, batch_size=16, threads=None).fit(ThreadToy(2, 2), X, y)
        assert seen == [2, 2, 2]
        seen.clear()
        monkeypatch.setattr(thread_rules, "SMALL_STEP_FLOPS", 0.0)  # every step is "big"
        Trainer(epochs=None, max_steps=2, batch_size=16).fit(ThreadToy(2, 2), X, y)
        assert seen == [2, 2, 2]
        seen.clear()
        Trainer(epochs=None, max_steps=2, batch_size=16, threads=1).fit(ThreadToy(2, 2), X, y)
        assert seen == [1, 1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_numpy_blas_runs_on_one_thread_during_a_fit():
    """The VAE's CPU steps multiply through NumPy's BLAS (models/vae_grad.py): OpenBLAS would
    spread each small product over every core, and beside torch's own threads the two pools
    spin-wait against each other (a default fit 13x slower), so a fit gives BLAS one thread
    whatever torch gets, and puts the process's setting back after."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    if not blas_threads():
        pytest.skip("NumPy has no BLAS that threadpoolctl can see")
    X, y = imbalanced(100, 10)
    seen: list[list[int]] = []

    class BlasToy(Toy):
        def train_step(self, x, y, ctx):
            seen.append(blas_threads())
            return super().train_step(x, y, ctx)

    with threadpool_limits(2, user_api="blas"):
        outside = blas_threads()
        Trainer(epochs=None, max_steps=2, batch_size=16).fit(BlasToy(2, 2), X, y)
        assert seen and all(counts == [1] * len(outside) for counts in seen)
        assert blas_threads() == outside  # put back
        for setting in (None, 2):
            seen.clear()
            trainer = Trainer(epochs=None, max_steps=2, batch_size=16, threads=setting)
            trainer.fit(BlasToy(2, 2), X, y)
            assert seen and all(counts == [1] * len(outside) for counts in seen)
            assert blas_threads() == outside


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "many"])
def test_bad_thread_settings_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="threads must be 'auto', None or an int >= 1"):
        TrainerConfig(threads=bad)


# ---------------------------------------------------------------------- update
def test_an_update_fills_only_its_own_parameters_with_the_full_gradient():
    """ctx.update("first", loss) on a loss that also flows through the second part's weights
    (a GAN's generator loss through D): the first part's gradients are those of a full
    backward pass, bit for bit, and the second part's are not computed (they would be
    discarded by that part's next update)."""

    class TwoParts(Toy):
        def build(self) -> None:
            super().build()
            self.second = nn.Linear(self.data_dim, 1)
            self.opt2 = torch.optim.SGD(self.second.parameters(), lr=0.1)
            self.checked = 0

        def parts(self):
            return {"net": self.net, "second": self.second}

        def optimizers(self):
            return {"net": self.opt, "second": self.opt2}

        def train_step(self, x, y, ctx):
            loss = self.second(self.net(x)).square().mean()
            full = torch.autograd.grad(loss, list(self.net.parameters()), retain_graph=True)
            ctx.update("net", loss)
            assert all(p.grad is None for p in self.second.parameters())
            for p, g in zip(self.net.parameters(), full, strict=True):
                assert torch.equal(p.grad, g)
            self.checked += 1
            return {"loss": loss.item()}

    X, y = imbalanced(100, 10)
    model = TwoParts(2, 2)
    Trainer(epochs=None, max_steps=3, batch_size=16).fit(model, X, y)
    assert model.checked == 3


# ---------------------------------------------------------------------- before_training
def test_before_training_runs_once_on_a_new_run_and_ema_starts_from_it(tmp_path: Path):
    """A family's warm start (``before_training``) runs before the first step of a new run,
    never on resume; its line goes to the history, and the EMA shadow averages from the
    warm-started weights, not the random ones."""
    X, y = imbalanced(100, 10)
    calls: list[int] = []

    class Warm(Toy):
        def before_training(self, ctx):
            calls.append(ctx.step)
            xb, _ = ctx.next_batch()  # batches are available
            with torch.no_grad():
                self.net.weight.fill_(float(xb.shape[0]))
                self.net.bias.zero_()
            return "warmed up"

    model = Warm(2, 2, lr=0.05)
    ckpt = str(tmp_path / "w.ckpt")
    opts = {"epochs": None, "batch_size": 16, "ema": 0.8, "checkpoint_path": ckpt}
    trainer = Trainer(max_steps=4, **opts)
    history = trainer.fit(model, X, y)
    assert calls == [0] and "warmed up" in history.events
    expected = {"weight": torch.full((2, 2), 16.0), "bias": torch.zeros(2)}
    for state in model.trace:
        expected = {k: 0.8 * expected[k] + 0.2 * state[k] for k in expected}
    for k, v in model.net.state_dict().items():
        assert torch.allclose(v, expected[k], atol=1e-5)
    resumed = Trainer(max_steps=6, resume=True, **opts).fit(model, X, y)
    assert calls == [0] and resumed.events.count("warmed up") == 1  # the first run's line


def test_a_pulsing_bar_shows_a_familys_work_before_the_first_step(monkeypatch):
    """With progress on, a family's before_training work (seconds for the dcgan's warm start)
    runs under an indeterminate "before training" task, removed before the steps start; a
    family without such work adds no task."""
    import contextlib

    from genbalance.training import trainer as trainer_module

    calls: list[tuple] = []

    class FakeBar:
        def add_task(self, description, total=None, completed=0):
            calls.append(("add", description, total))
            return len(calls)

        def remove_task(self, task):
            calls.append(("remove", task))

        def update(self, task, **kwargs):
            calls.append(("update", task))

    monkeypatch.setattr(
        trainer_module, "progress_bar", lambda enabled: contextlib.nullcontext(FakeBar())
    )
    X, y = imbalanced(100, 10)

    class Warm(Toy):
        def before_training(self, ctx):
            calls.append(("warm",))
            return None

    Trainer(epochs=None, max_steps=2, batch_size=16, progress=True).fit(Warm(2, 2), X, y)
    assert calls[:3] == [("add", "before training", None), ("warm",), ("remove", 1)]
    assert calls[3][:2] == ("add", "training")
    calls.clear()
    Trainer(epochs=None, max_steps=2, batch_size=16, progress=True).fit(Toy(2, 2), X, y)
    assert [c for c in calls if c[0] == "add"] == [("add", "training", 2)]

    class Idle(Warm):  # its before_training still runs, without a task for work it won't do
        def has_work_before_training(self, total_steps):
            calls.append(("asked", total_steps))
            return False

    calls.clear()
    Trainer(epochs=None, max_steps=2, batch_size=16, progress=True).fit(Idle(2, 2), X, y)
    assert calls[:2] == [("asked", 2), ("warm",)]
    assert [c for c in calls if c[0] == "add"] == [("add", "training", 2)]
