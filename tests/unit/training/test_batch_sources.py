"""The trainer's batch sources (one protocol, one class per kind of data) and the step plan
(``epochs=None`` for no epoch limit; the deprecated ``epochs=0`` sentinel)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch import nn

from genbalance import models
from genbalance.models.base import GenerativeModel
from genbalance.training import accountant, dp, dp_model
from genbalance.training.sources import (
    BatchSource,
    ClassBatchSampler,
    ClassSampledSource,
    StreamSource,
    epoch_steps,
)
from genbalance.training.trainer import Trainer, TrainerConfig


class Recorder(GenerativeModel):
    """One linear layer with SGD that records what each step was given."""

    family = "recorder"

    @classmethod
    def validate_hyper(cls, hyper: dict[str, Any]) -> dict[str, Any]:
        return {"lr": 0.05, **hyper}

    def build(self) -> None:
        torch.manual_seed(0)
        self.net = nn.Linear(self.data_dim, self.data_dim)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=self.hyper["lr"])
        self.seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, float]] = []

    def parts(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def train_step(self, x, y, ctx) -> dict[str, float]:
        self.seen.append((x.clone(), y.clone(), ctx.sample_weight, ctx.progress))
        loss = ((self.net(x) - x) ** 2).mean()
        ctx.update("net", loss)
        return {"loss": loss.item()}

    def generate(self, y, generator=None):
        with torch.no_grad():
            return self.net(torch.randn(y.shape[0], self.data_dim, generator=generator))


def table(n_major: int = 90, n_minor: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.cat([torch.zeros(n_major), torch.ones(n_minor)]).long()
    return torch.rand(n_major + n_minor, 3, generator=g) + y[:, None], y


class FakeStream:
    """What synthesis.streaming.StreamingSource offers the trainer, and nothing more."""

    def __init__(self, n_rows: int, class_weight: torch.Tensor | None = None) -> None:
        self.n_rows = n_rows
        self.class_weight = class_weight
        self.X, self.y = table()
        self.calls: list[int] = []

    def next_batch(self, batch_size: int, generator: torch.Generator):
        self.calls.append(batch_size)
        classes = torch.randint(2, (batch_size,), generator=generator)
        return self.X[classes * 90], classes

    def health_data(self):
        return self.X, self.y


# ---------------------------------------------------------------------- the sources
def test_class_sampled_source_draws_exactly_what_the_sampler_draws():
    X, y = table()
    source = ClassSampledSource(X, y, 2, "sqrt", "balanced")
    sampler = ClassBatchSampler(y, 2, "sqrt", "balanced")
    xb, yb = source.next_batch(32, torch.Generator().manual_seed(5))
    idx, classes = sampler.sample(32, torch.Generator().manual_seed(5))
    assert torch.equal(xb, X[idx]) and torch.equal(yb, classes)
    assert torch.equal(source.class_weight, sampler.class_weight)
    assert source.class_counts.tolist() == [90, 10]
    assert source.n_rows == 100 and source.steps_per_epoch(32) == 4
    assert source.steps_per_epoch(32, world_size=2) == 2  # the global batch is 64 rows
    assert source.health_data()[0] is X
    assert isinstance(source, BatchSource)


def test_epoch_steps_is_at_least_one():
    assert epoch_steps(10, 64) == 1 and epoch_steps(129, 64) == 3 and epoch_steps(129, 32, 2) == 3


def test_stream_adapter_passes_the_stream_through():
    weight = torch.tensor([0.5, 2.0])
    stream = FakeStream(1000, weight)
    source = StreamSource(stream)
    assert isinstance(source, BatchSource)
    assert source.n_rows == 1000 and source.class_weight is weight
    assert source.steps_per_epoch(100) == 10
    xb, yb = source.next_batch(8, torch.Generator().manual_seed(0), step=3)
    assert xb.shape == (8, 3) and stream.calls == [8]
    assert source.health_data()[1] is stream.y


def test_trainer_takes_a_stream_and_plans_epochs_on_its_rows():
    stream = FakeStream(1000, torch.tensor([0.5, 2.0]))
    model = Recorder(3, 2)
    history = Trainer(epochs=1, batch_size=100, health_check=False).fit(model, stream, None)
    assert len(history.steps) == 10  # 1000 streamed rows / 100, not the 100-row sample
    assert stream.calls == [100] * 10
    _, yb, w, _ = model.seen[0]
    assert torch.equal(w, torch.tensor([0.5, 2.0])[yb])  # the stream's class weights


def test_stream_with_privacy_is_refused():
    with pytest.raises(ValueError, match="whole table in memory"):
        Trainer(epochs=1, privacy={"epsilon": 1.0}).fit(Recorder(3, 2), FakeStream(100), None)


def test_dp_names_stay_importable_from_dp():
    for module in (accountant, dp_model):
        for name in dir(module):
            home = getattr(getattr(module, name), "__module__", None)
            if not name.startswith("_") and home == module.__name__:
                assert getattr(dp, name) is getattr(module, name), name
    assert dp.ACCOUNTANTS == accountant.ACCOUNTANTS
    assert set(dp.__all__) <= set(dir(dp))


def test_poisson_source_draws_rows_of_the_table():
    pytest.importorskip("opacus")
    X, y = table()
    torch.manual_seed(0)
    model = models.get("vae")(3, 2, hidden=[8], latent_dim=2)
    gen = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # BatchNorm swapped for LayerNorm
        private = dp.PrivateTraining(dp.DPConfig(2.0), model, 100, 20, 10, gen)
    source = dp.PoissonSource(private, X, y)
    assert isinstance(source, BatchSource) and source.class_weight is None
    assert source.steps_per_epoch(20) == 5
    xb, yb = source.next_batch(20, gen)
    rows = {tuple(r.tolist()) for r in X}
    assert 0 < len(xb) < 100 and all(tuple(r.tolist()) in rows for r in xb)
    assert torch.equal(yb, (xb[:, 0] >= 1).long())  # labels travel with their rows


def test_privacy_without_a_step_limit_needs_a_noise_multiplier():
    pytest.importorskip("opacus")
    X, y = table()

    def vae() -> GenerativeModel:
        torch.manual_seed(0)
        return models.get("vae")(3, 2, hidden=[8], latent_dim=2)

    loose = {"epochs": None, "time_budget": 0.3, "batch_size": 20, "health_check": False}
    with pytest.raises(ValueError, match="noise_multiplier"):
        Trainer(privacy={"epsilon": 1.0}, **loose).fit(vae(), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # BatchNorm swapped for LayerNorm
        history = Trainer(privacy={"epsilon": 1.0, "noise_multiplier": 2.0}, **loose).fit(
            vae(), X, y
        )
    assert history.steps and history.stopped_early
    assert history.privacy["epsilon"] <= 1.0


# ---------------------------------------------------------------------- the step plan
def test_epochs_none_needs_max_steps_or_a_time_budget():
    with pytest.raises(ValueError, match=r"epochs=None.*max_steps or time_budget"):
        TrainerConfig(epochs=None)
    assert TrainerConfig(epochs=None, max_steps=7).total_steps(3) == 7
    assert TrainerConfig(epochs=None, time_budget=1.0).total_steps(3) is None


@pytest.mark.parametrize("bad", [1.5, True, "10"])
def test_epochs_must_be_an_int_or_none(bad):
    with pytest.raises(ValueError, match="epochs"):
        TrainerConfig(epochs=bad)


def test_epochs_are_real_passes_and_max_steps_caps_them():
    X, y = table()
    assert TrainerConfig(epochs=3).total_steps(4) == 12
    assert TrainerConfig(epochs=3, max_steps=5).total_steps(4) == 5
    assert TrainerConfig(epochs=3, max_steps=50).total_steps(4) == 12
    history = Trainer(epochs=2, max_steps=1000, batch_size=25, health_check=False).fit(
        Recorder(3, 2), X, y
    )
    assert len(history.steps) == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no epoch sentinel without max_steps: no warning
        history = Trainer(epochs=0, batch_size=25, health_check=False).fit(Recorder(3, 2), X, y)
    assert history.steps == []


def test_epochs_zero_with_max_steps_is_deprecated_and_trains_as_before():
    X, y = table()
    with pytest.warns(DeprecationWarning, match="epochs=None") as caught:
        config = TrainerConfig(epochs=0, max_steps=6)
    assert caught[0].filename == __file__  # the warning names the caller's line
    assert config.epochs == 0 and config.total_steps(4) == 6  # read as before, kept as given
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        assert Trainer(config).config.total_steps(4) == 6
    assert not again  # warned once, where the config was made
    with pytest.warns(DeprecationWarning) as caught:
        old_trainer = Trainer(epochs=0, max_steps=6, batch_size=25, health_check=False)
    assert caught[0].filename == __file__
    old, new = Recorder(3, 2), Recorder(3, 2)
    old_history = old_trainer.fit(old, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(TrainerConfig(epochs=None, max_steps=6, batch_size=25, health_check=False))
        new_history = Trainer(epochs=None, max_steps=6, batch_size=25, health_check=False).fit(
            new, X, y
        )
    assert len(old_history.steps) == 6
    assert old_history.steps == new_history.steps
    pairs = zip(old.net.parameters(), new.net.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_time_budget_alone_ends_training_and_drives_progress():
    X, y = table()
    model = Recorder(3, 2)
    history = Trainer(epochs=None, time_budget=0.3, batch_size=25, health_check=False).fit(
        model, X, y
    )
    assert history.stopped_early and "time budget" in history.stopped_early
    progress = [p for *_, p in model.seen]
    assert len(progress) > 1 and progress == sorted(progress)
    assert 0.0 <= progress[0] < progress[-1] <= 1.0
