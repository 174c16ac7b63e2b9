"""MADE (family "made"): exact likelihood, masks, learning a toy mixture, files, determinism."""

import math

import pytest
import torch

from genbalance import models
from genbalance.models.autoregressive import PRESETS
from genbalance.models.base import OutputSpan
from genbalance.training.trainer import Trainer

SPANS = [OutputSpan(3, "softmax"), OutputSpan(1, "tanh"), OutputSpan(1, "sigmoid")]
CAT = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])  # P(category | class)
MODE_P = torch.tensor([0.3, 0.8])  # P(scalar in the right-hand mode | class)
IND_P = torch.tensor([0.2, 0.9])  # P(indicator | class)


def toy(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes; a class-dependent category, a bimodal scalar, a class-dependent indicator."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) > 0.6).long()
    cat = torch.multinomial(CAT[y], 1, generator=g).squeeze(1)
    right = torch.rand(n, generator=g) < MODE_P[y]
    s = (torch.where(right, 0.5, -0.5) + 0.1 * torch.randn(n, generator=g)).clamp(-1, 1)
    ind = (torch.rand(n, generator=g) < IND_P[y]).float()
    x = torch.cat([torch.nn.functional.one_hot(cat, 3).float(), s[:, None], ind[:, None]], 1)
    return x, y


def ks(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.sort().values, b.sort().values
    both = torch.cat([a, b])
    fa = torch.searchsorted(a, both, right=True) / len(a)
    fb = torch.searchsorted(b, both, right=True) / len(b)
    return float((fa - fb).abs().max())


def worst_class_tv(x: torch.Tensor, y: torch.Tensor) -> float:
    return max(0.5 * float((x[y == c, :3].mean(0) - CAT[c]).abs().sum()) for c in range(2))


def independent_log_likelihood(train: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    """Baseline: independent columns (category frequencies, one Gaussian, one Bernoulli)."""
    freq = train[:, :3].mean(0)
    mu, sd = train[:, 3].mean(), train[:, 3].std()
    p = train[:, 4].mean()
    ll = (test[:, :3] * freq.log()).sum(1)
    ll = ll - 0.5 * ((test[:, 3] - mu) / sd) ** 2 - sd.log() - 0.5 * math.log(2 * math.pi)
    return ll + test[:, 4] * p.log() + (1 - test[:, 4]) * (1 - p).log()


def fit(seed: int = 0, steps: int = 400):
    X, y = toy(1000, seed=0)
    torch.manual_seed(seed)  # weight initialisation draws from the global generator
    model = models.get("made")(5, 2, SPANS, hidden=[128, 128], n_mixtures=3)
    history = Trainer(epochs=None, max_steps=steps, batch_size=256, random_state=seed).fit(
        model, X, y
    )
    return model, history, X, y


@pytest.fixture(scope="module")
def trained():
    return fit()


LABELS = torch.tensor([0] * 2000 + [1] * 2000)


def test_learns_class_conditional_toy(trained):
    model, history, X, _ = trained
    untrained = models.get("made")(5, 2, SPANS, hidden=[128, 128], n_mixtures=3)
    s0 = untrained.generate(LABELS, torch.Generator().manual_seed(1))
    s = model.generate(LABELS, torch.Generator().manual_seed(1))
    assert worst_class_tv(s, LABELS) < 0.1 < worst_class_tv(s0, LABELS)
    noise = torch.randn(4000, generator=torch.Generator().manual_seed(2))
    gauss = X[:, 3].mean() + X[:, 3].std() * noise
    truth = toy(4000, seed=5)[0][:, 3]
    assert ks(s[:, 3], truth) < 0.12 < ks(gauss, truth)
    for c in range(2):
        assert abs(float(s[LABELS == c, 4].mean()) - float(IND_P[c])) < 0.06
    nll = history.series("nll")
    assert sum(nll[-20:]) / 20 < 0.5 * sum(nll[:5]) / 5


def test_exact_log_likelihood_beats_independent_baseline(trained):
    model, _, X, _ = trained
    Xt, yt = toy(1000, seed=1)
    ll = model.log_likelihood(Xt, yt)
    assert ll.shape == (1000,) and torch.isfinite(ll).all()
    assert float(ll.mean()) > float(independent_log_likelihood(X, Xt).mean()) + 0.3
    # the label matters: swapping classes makes held-out rows less likely
    assert float(ll.mean()) > float(model.log_likelihood(Xt, 1 - yt).mean()) + 0.2


def test_categorical_probabilities_sum_to_one():
    model = models.get("made")(
        4, 2, [OutputSpan(3, "softmax"), OutputSpan(1, "sigmoid")], hidden=[32]
    )
    grid = torch.tensor([[*torch.eye(3)[i].tolist(), b] for i in range(3) for b in (0.0, 1.0)])
    for c in (0, 1):
        p = model.log_likelihood(grid, torch.full((6,), c)).exp().sum()
        assert abs(float(p) - 1.0) < 1e-5


def test_masks_are_autoregressive():
    spans = [OutputSpan(2, "softmax"), OutputSpan(2, "tanh"), OutputSpan(1, "sigmoid")]
    model = models.get("made")(5, 3, spans, hidden=[16, 16], n_mixtures=2)
    for module in model.net.modules():  # masks must hold whatever the weights are
        if hasattr(module, "weight"):
            torch.nn.init.normal_(module.weight)
    col_var = model.layout.col_var  # variables 1..4 for columns [1,1,2,3,4]
    assert col_var.tolist() == [1, 1, 2, 3, 4]
    # output of each column's own terms may depend only on earlier variables
    x = torch.randn(1, 5, requires_grad=True)
    for col in range(5):
        inp = torch.cat([torch.zeros(1, 3), x], 1)
        out = model.net(inp)
        (grad,) = torch.autograd.grad(out[0, col], x)
        assert (grad[0, col_var >= col_var[col]] == 0).all()
        assert (grad[0, col_var < col_var[col]] != 0).any() or col_var[col] == 1


def test_generate_layout_determinism_and_files(trained, tmp_path):
    model, _, _, _ = trained
    a = model.generate(LABELS[:500], torch.Generator().manual_seed(3))
    b = model.generate(LABELS[:500], torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(a[:, :3].sum(1), torch.ones(500))
    assert set(a[:, :3].unique().tolist()) <= {0, 1}
    assert a[:, 3].abs().max() <= 1.0 and set(a[:, 4].unique().tolist()) <= {0.0, 1.0}
    models.save(model, tmp_path / "made.safetensors")
    loaded, _ = models.load(tmp_path / "made.safetensors")
    assert torch.equal(loaded.generate(LABELS[:500], torch.Generator().manual_seed(3)), a)
    assert loaded.get_config() == model.get_config()


def test_training_is_reproducible():
    m1, _, _, _ = fit(seed=4, steps=30)
    m2, _, _, _ = fit(seed=4, steps=30)
    g = torch.Generator
    assert torch.equal(
        m1.generate(LABELS[:100], g().manual_seed(0)), m2.generate(LABELS[:100], g().manual_seed(0))
    )


def test_invalid_hyper_and_presets():
    cls = models.get("made")
    with pytest.raises(ValueError, match="unknown MADE settings"):
        cls(5, 2, SPANS, hiden=[3])
    with pytest.raises(ValueError, match="n_mixtures"):
        cls(5, 2, SPANS, n_mixtures=0)
    with pytest.raises(ValueError, match="hidden"):
        cls(5, 2, SPANS, hidden=[])
    with pytest.raises(ValueError, match="dropout"):
        cls(5, 2, SPANS, dropout=1.5)
    for preset in PRESETS.values():
        cls(5, 2, SPANS, **preset["hyper"])


def test_synthesizer_reports_exact_log_likelihood_of_table_rows():
    """Synthesizer.log_likelihood: one value per row, matching the model on the encoded rows;
    rows of the learnt class score higher than the same rows with their labels swapped."""
    import numpy as np
    import pandas as pd

    from genbalance.synthesis.tabular import Synthesizer

    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.5).astype(int)
    frame = pd.DataFrame(
        {
            "colour": np.where(y == 1, rng.choice(["red", "blue"], n, p=[0.9, 0.1]), "green"),
            "size": np.where(y == 1, 5.0, -5.0) + rng.normal(0, 0.5, n),
        }
    )
    synth = Synthesizer("made", epochs=60, random_state=0).fit(frame, y)
    ll = synth.log_likelihood(frame, y)
    assert ll.shape == (n,) and np.isfinite(ll).all()
    z = torch.from_numpy(synth.encoder_.transform(frame))
    expected = synth.model_.log_likelihood(z, torch.as_tensor(y)).numpy()
    np.testing.assert_allclose(ll, expected, rtol=1e-6)
    swapped = synth.log_likelihood(frame, 1 - y)
    assert ll.mean() > swapped.mean() + 5.0  # the class explains its rows
    assert synth.log_likelihood(frame.iloc[:3], 1).shape == (3,)  # one label for all rows

    with pytest.raises(ValueError, match="one label per row"):
        synth.log_likelihood(frame, y[:10])
    vae = Synthesizer("vae", epochs=1, random_state=0).fit(frame.iloc[:50], y[:50])
    with pytest.raises(TypeError, match="no exact likelihood; families with one: .*made"):
        vae.log_likelihood(frame, y)
