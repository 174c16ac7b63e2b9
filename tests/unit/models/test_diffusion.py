"""TabDDPM (family "diffusion"): learns a mixed toy table, class conditioning, the multinomial
posterior against Bayes' rule, files, determinism, the oversampler end to end."""

import numpy as np
import pandas as pd
import pytest
import torch

from genbalance import models
from genbalance.models.base import OutputSpan
from genbalance.models.diffusion import PRESETS
from genbalance.sampling.tabular import GenerativeOverSampler
from genbalance.training.trainer import Trainer

SPANS = [OutputSpan(1, "tanh"), OutputSpan(3, "softmax"), OutputSpan(1, "linear")]
SMALL = {"hidden": [128, 128], "embed_dim": 64, "timesteps": 100}


def toy(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bimodal ``a`` (mode share depends on the class), a category that follows ``a``'s mode,
    and ``b = 2 a +- 1`` whose offset is the class."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.4).long()
    right = torch.rand(n, generator=g) < torch.where(y == 1, 0.8, 0.3)
    a = (torch.where(right, 0.5, -0.5) + 0.08 * torch.randn(n, generator=g)).clamp(-1, 1)
    left_p, right_p = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.1, 0.1, 0.8])
    probs = torch.where(right[:, None], right_p, left_p)
    c = torch.multinomial(probs, 1, generator=g).squeeze(1)
    b = 2.0 * a + torch.where(y == 1, 1.0, -1.0) + 0.2 * torch.randn(n, generator=g)
    x = torch.cat([a[:, None], torch.nn.functional.one_hot(c, 3).float(), b[:, None]], 1)
    return x, y


def baseline(X: torch.Tensor, y: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Per-class independent marginals: a Gaussian per numeric column, category frequencies."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(len(labels), 5)
    for c in (0, 1):
        rows, k = X[y == c], int((labels == c).sum())
        num = rows[:, [0, 4]].mean(0) + rows[:, [0, 4]].std(0) * torch.randn(k, 2, generator=g)
        cat = torch.multinomial(rows[:, 1:4].mean(0), k, replacement=True, generator=g)
        out[labels == c] = torch.cat(
            [num[:, :1].clamp(-1, 1), torch.nn.functional.one_hot(cat, 3).float(), num[:, 1:]], 1
        )
    return out


def wasserstein(a: torch.Tensor, b: torch.Tensor) -> float:
    """1-D Wasserstein-1 distance from 200 matched quantiles."""
    q = torch.linspace(0.0025, 0.9975, 200)
    return float((torch.quantile(a, q) - torch.quantile(b, q)).abs().mean())


def errors(s: torch.Tensor, labels: torch.Tensor, truth: torch.Tensor, ty: torch.Tensor) -> dict:
    """Worst class's: W1 of ``a``, mass between a's modes (|a| < 0.25; data: ~0), error of
    P(cat 2 | a > 0), error of corr(a, b), error of the mean of b."""
    out = {"w1": 0.0, "gap": 0.0, "dep": 0.0, "corr": 0.0, "mean_b": 0.0}
    for c in (0, 1):
        S, R = s[labels == c], truth[ty == c]
        dep = abs(float(S[S[:, 0] > 0, 3].mean() - R[R[:, 0] > 0, 3].mean()))
        corr_s, corr_r = (float(torch.corrcoef(M[:, [0, 4]].T)[0, 1]) for M in (S, R))
        corr = abs(corr_s - corr_r)
        mean_b = abs(float(S[:, 4].mean() - R[:, 4].mean()))
        gap = float((S[:, 0].abs() < 0.25).float().mean())
        values = (wasserstein(S[:, 0], R[:, 0]), gap, dep, corr, mean_b)
        for key, value in zip(out, values, strict=True):
            out[key] = max(out[key], value)
    return out


def fit(seed: int = 0, steps: int = 700):
    X, y = toy(1500, seed=0)
    torch.manual_seed(seed)
    model = models.get("diffusion")(5, 2, SPANS, **SMALL, lr=2e-3)
    trainer = Trainer(
        epochs=None, max_steps=steps, batch_size=256, random_state=seed, health_check=False
    )
    return model, trainer.fit(model, X, y), X, y


@pytest.fixture(scope="module")
def trained():
    return fit()


LABELS = torch.tensor([0] * 1500 + [1] * 1500)


def test_learns_mixed_toy_better_than_independent_marginals(trained):
    model, history, X, y = trained
    truth, ty = toy(4000, seed=1)
    s = model.generate(LABELS, torch.Generator().manual_seed(1))
    got = errors(s, LABELS, truth, ty)
    base = errors(baseline(X, y, LABELS, 2), LABELS, truth, ty)
    print({k: round(v, 3) for k, v in got.items()}, {k: round(v, 3) for k, v in base.items()})
    assert got["w1"] < 0.5 * base["w1"]  # bimodal a: a Gaussian cannot fit it
    assert got["gap"] < 0.05 < 0.2 < base["gap"]
    assert got["dep"] < 0.1 < base["dep"]  # category follows a's mode
    assert got["corr"] < 0.1 < base["corr"]  # b follows a
    loss = history.series("loss")
    assert sum(loss[-50:]) / 50 < 0.5 * sum(loss[:5]) / 5


def test_class_conditioning(trained):
    model, _, _, _ = trained
    truth, ty = toy(4000, seed=1)
    s = model.generate(LABELS, torch.Generator().manual_seed(1))
    assert errors(s, LABELS, truth, ty)["mean_b"] < 0.2
    # per-class means of b differ by about 3 (data: -1.4 vs 1.6); share of a > 0 follows the class
    gap = float(s[LABELS == 1, 4].mean() - s[LABELS == 0, 4].mean())
    assert 2.5 < gap < 3.5
    share = [float((s[LABELS == c, 0] > 0).float().mean()) for c in (0, 1)]
    assert abs(share[0] - 0.3) < 0.08 and abs(share[1] - 0.8) < 0.08


def test_multinomial_posterior_is_bayes_rule():
    spans = [OutputSpan(3, "softmax"), OutputSpan(1, "tanh"), OutputSpan(2, "softmax")]
    model = models.get("diffusion")(6, 1, spans, timesteps=10, hidden=[8])
    s = model.schedule
    ks_ = (3, 2)
    for t in (0, 1, 5, 9):
        for x0 in range(3):
            for xt in range(3):
                row0 = torch.zeros(1, 6)
                rowt = torch.zeros(1, 6)
                row0[0, x0] = rowt[0, xt] = 1.0
                row0[0, 4] = rowt[0, 5] = 1.0  # second group: x0 = 0, x_t = 1
                post = model._posterior(model._groups(row0), model._groups(rowt), torch.tensor([t]))
                for g, (k, a0, b) in enumerate(zip(ks_, (x0, 0), (xt, 1), strict=True)):
                    alpha, abar_prev = float(s.alpha[t]), float(s.abar_prev[t])
                    step = alpha * torch.eye(k) + (1 - alpha) / k  # q(x_t = b | x_{t-1} = .)
                    prior = abar_prev * torch.eye(k)[a0] + (1 - abar_prev) / k
                    want = step[:, b] * prior
                    want = want / want.sum()
                    assert torch.allclose(post[0, g, :k], want.float(), atol=1e-5)
                    assert float(post[0, g, k:].abs().sum()) == 0.0
    # the schedule ends in (nearly) pure noise and starts (nearly) clean
    assert float(s.abar[-1]) < 0.01 and float(s.abar[0]) > 0.95


def test_layout_determinism_and_files(trained, tmp_path):
    model, _, _, _ = trained
    a = model.generate(LABELS[:400], torch.Generator().manual_seed(3))
    b = model.generate(LABELS[:400], torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(a[:, 1:4].sum(1), torch.ones(400))
    assert set(a[:, 1:4].unique().tolist()) <= {0.0, 1.0}
    assert a[:, 0].abs().max() <= 1.0
    models.save(model, tmp_path / "ddpm.safetensors")
    loaded, _ = models.load(tmp_path / "ddpm.safetensors")
    assert loaded.get_config() == model.get_config()
    assert torch.equal(loaded.generate(LABELS[:400], torch.Generator().manual_seed(3)), a)


def test_training_is_reproducible_and_one_kind_tables_work():
    m1, _, _, _ = fit(seed=4, steps=20)
    m2, _, _, _ = fit(seed=4, steps=20)
    g = torch.Generator
    assert torch.equal(
        m1.generate(LABELS[:50], g().manual_seed(0)), m2.generate(LABELS[:50], g().manual_seed(0))
    )
    cls = models.get("diffusion")
    for spans in (
        [OutputSpan(2, "softmax"), OutputSpan(4, "softmax")],
        [OutputSpan(2, "tanh"), OutputSpan(1, "sigmoid")],
    ):
        dim = sum(s.size for s in spans)
        model = cls(dim, 3, spans, hidden=[16], timesteps=5)
        X = torch.rand(60, dim).round()
        if spans[0].activation == "softmax":
            rows = torch.arange(60)
            X = torch.cat([torch.eye(2)[rows % 2], torch.eye(4)[rows % 4]], 1)
        Trainer(epochs=None, max_steps=3, batch_size=32, health_check=False).fit(
            model, X, torch.arange(60) % 3
        )
        out = model.generate(torch.arange(9) % 3, torch.Generator().manual_seed(0))
        assert out.shape == (9, dim) and torch.isfinite(out).all()


def test_oversampler_end_to_end():
    rng = np.random.default_rng(0)
    n = 160
    y = np.where(rng.random(n) < 0.2, "rare", "common")
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n) + (y == "rare") * 3.0,
            "colour": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    sampler = GenerativeOverSampler(
        model="diffusion",
        epochs=3,
        random_state=0,
        model_options={"hidden": [32], "timesteps": 10},
        trainer_options={"health_check": False},
    )
    X_res, y_res = sampler.fit_resample(X, y)
    counts = pd.Series(y_res).value_counts()
    assert counts["rare"] == counts["common"] == int((y == "common").sum())
    new = X_res.iloc[n:]
    assert set(new["colour"]) <= {"red", "green", "blue"} and new["x"].notna().all()


def test_invalid_hyper_and_presets():
    cls = models.get("diffusion")
    with pytest.raises(ValueError, match="unknown diffusion settings"):
        cls(5, 2, SPANS, timestep=3)
    with pytest.raises(ValueError, match="timesteps"):
        cls(5, 2, SPANS, timesteps=1)
    with pytest.raises(ValueError, match="schedule"):
        cls(5, 2, SPANS, schedule="quadratic")
    with pytest.raises(ValueError, match="hidden"):
        cls(5, 2, SPANS, hidden=[])
    for preset in PRESETS.values():
        cls(5, 2, SPANS, **preset["hyper"])
