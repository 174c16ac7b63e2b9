"""The VAE's closed-form gradients equal autograd's, and a plain fit takes that path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from genbalance import Synthesizer, models
from genbalance.models.vae_grad import closed_form_step, runs_here, supported
from genbalance.spans import OutputSpan


def _spans() -> list[OutputSpan]:
    """Every kind of output the tabular encoder makes: a mode-normalised number (tanh scalar +
    mode one-hot), a plain scalar, a Bernoulli indicator and a category set."""
    return [
        OutputSpan(1, "tanh"),
        OutputSpan(3, "softmax"),
        OutputSpan(1, "linear"),
        OutputSpan(1, "sigmoid"),
        OutputSpan(4, "softmax"),
    ]


def _batch(n: int, gen: torch.Generator) -> torch.Tensor:
    x = torch.zeros(n, 10)
    x[:, 0] = torch.rand(n, generator=gen) * 1.8 - 0.9
    x[torch.arange(n), 1 + torch.randint(0, 3, (n,), generator=gen)] = 1.0
    x[:, 4] = torch.randn(n, generator=gen)
    x[:, 5] = (torch.rand(n, generator=gen) < 0.3).float()
    x[torch.arange(n), 6 + torch.randint(0, 4, (n,), generator=gen)] = 1.0
    return x


def _autograd_grads(vae, x, cond, eps, weight):
    inp = x if cond is None else torch.cat([x, cond], 1)
    mu, logvar = vae.encoder(inp)
    z = torch.addcmul(mu, eps, torch.exp(0.5 * logvar))
    raw = vae.decoder(z if cond is None else torch.cat([z, cond], 1))
    rec = vae.reconstruction_loss(raw, x)
    kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1)
    per_row = rec + vae.hyper["beta"] * kl
    loss = per_row.mean() if weight is None else (per_row * weight).sum() / weight.sum()
    params = [*vae.encoder.parameters(), *vae.decoder.parameters()]
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), rec.detach().mean(), kl.detach().mean(), grads, params


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"conditional": False},
        {"beta": 0.3, "hidden": [16, 8, 12]},
        {"weighted": True},
        {"scale_logvar": 20.0},  # log-variances beyond the clamp: no gradient there
    ],
)
def test_closed_form_gradients_equal_autograd(options):
    options = dict(options)
    weighted = options.pop("weighted", False)
    scale = options.pop("scale_logvar", None)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)  # the networks' initial weights
    vae = models.get("vae")(10, 3, spans=_spans(), **{"hidden": [32, 32], **options})
    if scale is not None:  # push some log-variances past -12 / 8
        with torch.no_grad():
            vae.encoder.logvar.weight.mul_(scale)
            vae.encoder.logvar.bias.fill_(6.0)
    n = 48
    x = _batch(n, gen)
    y = torch.randint(0, 3, (n,), generator=gen)
    cond = vae._class_rows(y) if vae.hyper["conditional"] else None
    eps = torch.randn(n, vae.hyper["latent_dim"], generator=gen)
    weight = torch.rand(n, generator=gen) + 0.2 if weighted else None
    loss, rec, kl, expected, params = _autograd_grads(vae, x, cond, eps, weight)
    parts = closed_form_step(vae, x, cond, eps, weight)
    assert parts.loss == pytest.approx(float(loss), rel=1e-5, abs=1e-5)
    assert parts.rec == pytest.approx(float(rec), rel=1e-5, abs=1e-5)
    assert parts.kl == pytest.approx(float(kl), rel=1e-5, abs=1e-5)
    for p, g in zip(params, expected, strict=True):  # float rounding, relative to the tensor
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5 * float(g.abs().max()) + 1e-7)


def test_norm_layers_take_the_autograd_path():
    plain = models.get("vae")(10, 2, spans=_spans())
    assert supported(plain.encoder, plain.decoder)
    for norm in ("batch", "layer"):
        vae = models.get("vae")(10, 2, spans=_spans(), norm=norm)
        assert not supported(vae.encoder, vae.decoder)


def test_a_fit_trains_through_the_closed_form_and_matches_the_autograd_fit(monkeypatch):
    """The default fit uses the closed form; forcing autograd gives nearly the same model."""
    import genbalance.models.vae as vae_module

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(list("xyz"), 300)})
    y = np.r_[np.zeros(260, int), np.ones(40, int)]
    calls = []
    real = vae_module.closed_form_step
    monkeypatch.setattr(vae_module, "closed_form_step", lambda *a: calls.append(1) or real(*a))
    options = {"random_state": 0, "progress": False, "epochs": None}
    fast = Synthesizer(trainer_options={"max_steps": 60}, **options).fit(X, y)
    assert len(calls) == 60
    monkeypatch.setattr(vae_module, "supported", lambda *a: False)
    slow = Synthesizer(trainer_options={"max_steps": 60}, **options).fit(X, y)
    assert len(calls) == 60  # not called again
    last = [h["loss"] for h in fast.history_.steps[-10:]]
    other = [h["loss"] for h in slow.history_.steps[-10:]]
    assert np.allclose(last, other, rtol=1e-3)
    pairs = zip(fast.model_.decoder.parameters(), slow.model_.decoder.parameters(), strict=True)
    for a, b in pairs:
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_a_one_layer_encoder_trains_through_the_closed_form():
    """The default encoder has one hidden layer (and a linear one, none): the closed-form
    gradients still equal autograd's."""
    for enc in ([24], []):
        gen = torch.Generator().manual_seed(1)
        torch.manual_seed(1)
        vae = models.get("vae")(10, 3, spans=_spans(), hidden=[32, 16], encoder_hidden=enc)
        assert len(vae.encoder.body) == 3 * len(enc)  # Linear, Identity, ReLU a layer
        assert supported(vae.encoder, vae.decoder)
        x = _batch(40, gen)
        cond = vae._class_rows(torch.randint(0, 3, (40,), generator=gen))
        eps = torch.randn(40, vae.hyper["latent_dim"], generator=gen)
        loss, _, _, expected, params = _autograd_grads(vae, x, cond, eps, None)
        parts = closed_form_step(vae, x, cond, eps, None)
        assert parts.loss == pytest.approx(float(loss), rel=1e-5, abs=1e-5)
        for p, g in zip(params, expected, strict=True):
            torch.testing.assert_close(
                p.grad, g, rtol=1e-4, atol=1e-5 * float(g.abs().max()) + 1e-7
            )


def _one_step_setup(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    vae = models.get("vae")(10, 3, spans=_spans(), hidden=[32, 16])
    x = _batch(40, gen)
    cond = vae._class_rows(torch.randint(0, 3, (40,), generator=gen))
    eps = torch.randn(40, vae.hyper["latent_dim"], generator=gen)
    return vae, x, cond, eps


def test_the_step_reports_the_global_norm_of_the_gradients_it_wrote():
    """The trainer takes the gradient norm from the step (one dot product over the flat
    buffer) instead of computing it again: it must be the norm of the ``.grad`` tensors."""
    vae, x, cond, eps = _one_step_setup()
    parts = closed_form_step(vae, x, cond, eps, None)
    grads = [p.grad for p in [*vae.encoder.parameters(), *vae.decoder.parameters()]]
    expected = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
    assert parts.grad_norm == pytest.approx(expected, rel=1e-5)


def test_the_step_follows_weights_that_moved_to_new_memory():
    """The NumPy views are bound once per model; weights given new storage (a reload that
    assigns instead of copying, ``.to()`` and back) must be read and their gradients
    written where the parameters now are."""
    vae, x, cond, eps = _one_step_setup()
    closed_form_step(vae, x, cond, eps, None)
    head = vae.decoder.head
    head.weight.data = head.weight.data.clone() * 0.5  # new storage, other values
    _, _, _, expected, params = _autograd_grads(vae, x, cond, eps, None)
    closed_form_step(vae, x, cond, eps, None)
    for p, g in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5 * float(g.abs().max()) + 1e-7)


def test_an_overflowing_step_is_quiet_and_non_finite():
    """Exploding weights overflow inside NumPy: no RuntimeWarning reaches the user (torch's
    path gives none either); the loss is non-finite, so the trainer's check rolls back."""
    import warnings

    vae, x, cond, eps = _one_step_setup()
    with torch.no_grad():
        for p in vae.decoder.parameters():
            p.fill_(1e30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts = closed_form_step(vae, x, cond, eps, None)
    assert not np.isfinite(parts.loss)


def test_only_float32_cpu_batches_take_the_numpy_step():
    assert runs_here(torch.zeros(2, 3))
    assert not runs_here(torch.zeros(2, 3, dtype=torch.float64))
    assert not runs_here(torch.zeros(2, 3, device="meta"))


def test_a_span_far_below_the_rows_largest_logit_keeps_exact_gradients():
    """One shift a row serves every span until a span's mass underflows under it (its logits
    ~150 below another span's): then each span is shifted by its own maximum, and the loss and
    gradients still equal autograd's (which normalises span by span)."""
    vae, x, cond, eps = _one_step_setup(seed=2)
    with torch.no_grad():
        vae.decoder.head.bias[6:10] -= 150.0  # the second category span
    loss, _, _, expected, params = _autograd_grads(vae, x, cond, eps, None)
    parts = closed_form_step(vae, x, cond, eps, None)
    assert np.isfinite(parts.loss)
    assert parts.loss == pytest.approx(float(loss), rel=1e-5, abs=1e-5)
    for p, g in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5 * float(g.abs().max()) + 1e-7)
