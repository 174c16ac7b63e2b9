"""Closed-form gradients of the tabular VAE's loss: one CPU training step without autograd.

A default fit is ~800 steps of two small MLPs (a 128 encoder, a 128 x 128 decoder) on a batch
of 64-128 rows. At that size a step is ~150 tiny operations, and what they cost is dispatch,
not arithmetic: autograd's graph (a node and saved tensors per operation) and then torch's own
per-call machinery (~2-5 us an operation against NumPy's ~1 us). The VAE's loss has simple
derivatives: Gaussian and Bernoulli terms per column, a softmax cross-entropy per one-hot span,
and the KL term of a diagonal Gaussian; its networks are Linear + ReLU stacks. This module
writes the forward and backward passes out in NumPy on views of the model's own CPU tensors
(no copies: the weights are read in place and the gradients written into ``.grad`` tensors
that torch's fused Adam then steps), which made a default step ~2x faster than the same
arithmetic through torch (docs/scale.md). The gradients equal autograd's up to float rounding
(tests/unit/models/test_vae_grad.py).

Used by :meth:`genbalance.models.vae.VAE.train_step` when :func:`supported` says so (no
normalisation layers) on a plain CPU step (no DP-SGD, whose per-sample gradients need
autograd's hooks; no autocast; float32). Everything else, a GPU fit included, takes the
autograd path.
"""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from genbalance.models.nets import TINY_MASS, SpanActivation

__all__ = ["ElboParts", "closed_form_step", "linear_layers", "runs_here", "supported"]

#: a row's share of the batch loss: one number for all rows, or a (batch, 1) column
RowShare = float | np.ndarray


class ElboParts(NamedTuple):
    """The loss of a step and its two terms (batch means, as the autograd path reports), and
    the global L2 norm of the gradients it wrote (one dot product over their flat buffer)."""

    loss: float
    rec: float
    kl: float
    grad_norm: float


def linear_layers(body: nn.Sequential) -> list[nn.Linear] | None:
    """The Linear layers of a Linear / Identity / ReLU stack, or None for anything else."""
    layers = []
    for module in body:
        if isinstance(module, nn.Linear):
            layers.append(module)
        elif not isinstance(module, (nn.ReLU, nn.Identity)):
            return None
    return layers


def supported(encoder: nn.Module, decoder: nn.Module) -> bool:
    """Whether both networks are plain Linear + ReLU stacks (``norm="none"``)."""
    return linear_layers(encoder.body) is not None and linear_layers(decoder.body) is not None


def runs_here(x: torch.Tensor) -> bool:
    """Whether a batch can take the NumPy step: float32 rows in CPU memory."""
    return x.device.type == "cpu" and x.dtype == torch.float32


class _Layer(NamedTuple):
    """One Linear layer as NumPy views: weight (out, in), bias, and their gradient buffers."""

    w: np.ndarray
    b: np.ndarray
    gw: np.ndarray
    gb: np.ndarray


class _Masks(NamedTuple):
    """The output spans' loss masks (see :class:`SpanActivation`) as NumPy arrays."""

    tanh: np.ndarray  # bool (dim,)
    scalar: np.ndarray  # float32 (dim,): tanh and linear columns
    sigmoid: np.ndarray  # float32 (dim,)
    has_sigmoid: bool
    soft_pos: np.ndarray  # flat positions of the softmax columns, span by span
    soft_seg: np.ndarray  # span index of each of them
    soft_starts: np.ndarray  # first index of each span within soft_pos (for reduceat)


class _Bound:
    """The NumPy side of one model: views of its weights, the gradient tensors it owns, the
    masks. Built once per model and kept while the weights stay where they are."""

    def __init__(self, model: nn.Module) -> None:
        enc, dec = model.encoder, model.decoder
        self.params = [*enc.parameters(), *dec.parameters()]
        self.key = _storage_key(self.params)
        # every gradient a view of one flat buffer: their global norm is one dot product
        sizes = [p.numel() for p in self.params]
        self.flat = torch.zeros(sum(sizes))
        self.grads = [
            part.view_as(p) for part, p in zip(self.flat.split(sizes), self.params, strict=True)
        ]
        grad_of = {id(p): g for p, g in zip(self.params, self.grads, strict=True)}

        def bind(lin: nn.Linear) -> _Layer:
            return _Layer(
                lin.weight.detach().numpy(),
                lin.bias.detach().numpy(),
                grad_of[id(lin.weight)].numpy(),
                grad_of[id(lin.bias)].numpy(),
            )

        self.enc = [bind(lin) for lin in linear_layers(enc.body)]
        self.mu, self.logvar = bind(enc.mu), bind(enc.logvar)
        self.dec = [bind(lin) for lin in linear_layers(dec.body)]
        self.head = bind(dec.head)
        self.masks = _masks(model.activation)

    def grad_norm(self) -> float:
        flat = self.flat.numpy()
        return math.sqrt(float(np.dot(flat, flat)))

    def publish(self) -> None:
        """Hand the gradient buffers to the parameters (a cleared ``.grad`` gets them back)."""
        for p, g in zip(self.params, self.grads, strict=True):
            if p.grad is not g:
                p.grad = g


def _storage_key(params: list[torch.Tensor]) -> tuple[int, ...]:
    return tuple(p.data_ptr() for p in params)


def _masks(act: SpanActivation) -> _Masks:
    seg = act.soft_seg.numpy()
    starts = np.flatnonzero(np.diff(seg, prepend=-1)) if seg.size else seg
    return _Masks(
        tanh=act.tanh_mask.numpy(),
        scalar=act.scalar_mask.numpy(),
        sigmoid=act.sigmoid_mask.numpy(),
        has_sigmoid=bool(act.sigmoid_pos.numel()),
        soft_pos=act.soft_pos.numpy(),
        soft_seg=seg,
        soft_starts=starts,
    )


_BOUND: weakref.WeakKeyDictionary[nn.Module, _Bound] = weakref.WeakKeyDictionary()


def _bound(model: nn.Module) -> _Bound:
    """The model's NumPy views, rebuilt when its weights moved (e.g. ``.to()``, a reload)."""
    bound = _BOUND.get(model)
    if bound is None or bound.key != _storage_key(bound.params):
        bound = _BOUND[model] = _Bound(model)
    return bound


def _linear(layer: _Layer, h: np.ndarray) -> np.ndarray:
    out = h @ layer.w.T
    out += layer.b
    return out


def _relu_stack(layers: list[_Layer], h: np.ndarray) -> list[np.ndarray]:
    """Inputs of every layer and the last hidden output: ``[h0, h1, ..., hn]``."""
    outs = [h]
    for layer in layers:
        h = _linear(layer, h)
        np.maximum(h, 0.0, out=h)
        outs.append(h)
    return outs


def _linear_backward(layer: _Layer, h: np.ndarray, grad: np.ndarray) -> None:
    """Write the layer's weight and bias gradients for input ``h`` and output gradient."""
    np.matmul(grad.T, h, out=layer.gw)
    grad.sum(0, out=layer.gb)


def _relu_stack_backward(
    layers: list[_Layer], outs: list[np.ndarray], grad: np.ndarray, need_input: bool
) -> np.ndarray | None:
    """Set the layers' gradients from the gradient at the stack's output; return the
    gradient at its input (None when not needed). ``grad`` is overwritten."""
    for i in range(len(layers) - 1, -1, -1):
        grad *= outs[i + 1] > 0  # ReLU's backward: zero where the output is
        _linear_backward(layers[i], outs[i], grad)
        if i or need_input:
            grad = grad @ layers[i].w
    return grad if need_input else None


def _shifted_exp(
    logits: np.ndarray, seg: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits shifted for a stable softmax, their exponentials and each span's sum of them.

    One shift a row (its largest softmax logit) serves every span: a maximum per span is a
    slow segmented reduction. A span whose mass underflows under it (its logits ~69 below the
    row's largest; float32 keeps its relative precision above that) is shifted by its own
    maximum instead, in every row."""
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    total = np.add.reduceat(prob, starts, axis=1)
    if not total.min() > TINY_MASS:  # NaN counts too
        logits -= np.maximum.reduceat(logits, starts, axis=1)[:, seg]
        np.exp(logits, out=prob)
        total = np.add.reduceat(prob, starts, axis=1)
    return logits, prob, total


def reconstruction_and_grad(
    masks: _Masks, raw: np.ndarray, x: np.ndarray, sigma: float, row: RowShare
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row negative log-likelihood (as ``VAE.reconstruction_loss``) and its gradient at
    ``raw``, each row's gradient scaled by ``row``, its share of the batch loss."""
    inv = np.float32(1.0 / sigma**2)
    t = np.tanh(raw)
    diff = np.where(masks.tanh, t, raw)
    diff -= x
    rec = (diff * diff) @ masks.scalar
    rec *= 0.5 * inv
    # d/draw of 0.5 (pred - x)^2 / sigma^2: linear spans diff, tanh spans diff (1 - tanh^2)
    t *= t
    np.subtract(1.0, t, out=t)
    grad = np.where(masks.tanh, t, masks.scalar)
    grad *= diff
    grad *= inv
    if masks.has_sigmoid:  # Bernoulli columns: BCE with logits, softplus(raw) - target raw
        target = np.clip(x, 0.0, 1.0)
        bce = np.logaddexp(np.float32(0.0), raw) - raw * target
        rec += bce @ masks.sigmoid
        grad += (expit(raw) - target) * masks.sigmoid
    if masks.soft_pos.size:  # cross-entropy of each one-hot span: softmax * (target mass) - target
        pos, seg, starts = masks.soft_pos, masks.soft_seg, masks.soft_starts
        logits, prob, total = _shifted_exp(raw[:, pos], seg, starts)
        logits -= np.log(total)[:, seg]  # log-probabilities
        target = x[:, pos]
        rec -= np.einsum("ij,ij->i", target, logits)
        # softmax x (the span's target mass) - target: the mass is 1 for a one-hot span
        prob *= (np.add.reduceat(target, starts, axis=1) / total)[:, seg]
        prob -= target
        grad[:, pos] = prob
    grad *= row
    return rec, grad


# an exploding step overflows quietly, as torch's would: the trainer checks the loss and the
# gradient norm and rolls the step back
@np.errstate(all="ignore")
def closed_form_step(
    model: nn.Module,
    x: torch.Tensor,
    cond: torch.Tensor | None,
    eps: torch.Tensor,
    weight: torch.Tensor | None,
) -> ElboParts:
    """Forward and backward of ``model``'s (a :class:`~genbalance.models.vae.VAE`) loss on a
    CPU batch, with the noise ``eps`` of the reparameterisation; fills every encoder and
    decoder parameter's ``.grad`` and returns the loss parts. ``cond``: the one-hot class rows
    (None for an unconditional VAE); ``weight``: per-row loss weights (None: a plain mean)."""
    bound = _bound(model)
    beta, sigma = float(model.hyper["beta"]), float(model.hyper["scalar_sigma"])
    xs, noise = x.numpy(), eps.numpy()
    classes = None if cond is None else cond.numpy()
    inp = xs if classes is None else np.concatenate([xs, classes], axis=1)
    enc_outs = _relu_stack(bound.enc, inp)
    h = enc_outs[-1]
    mu = _linear(bound.mu, h)
    logvar_raw = _linear(bound.logvar, h)
    logvar = np.clip(logvar_raw, -12.0, 8.0)
    std = np.exp(0.5 * logvar)
    z = noise * std
    z += mu
    zin = z if classes is None else np.concatenate([z, classes], axis=1)
    dec_outs = _relu_stack(bound.dec, zin)
    raw = _linear(bound.head, dec_outs[-1])
    # each row's share of the batch loss: a plain number for a plain mean
    share = None if weight is None else weight.numpy() / weight.numpy().sum()
    row: RowShare = np.float32(1.0 / xs.shape[0]) if share is None else share[:, None]
    rec, grad_raw = reconstruction_and_grad(bound.masks, raw, xs, sigma, row)
    var = std * std  # exp(logvar)
    kl = -0.5 * (1.0 + logvar - mu * mu - var).sum(1)
    per_row = rec + beta * kl
    n = xs.shape[0]
    loss = float(np.add.reduce(per_row) / n if share is None else per_row @ share)
    # decoder, then back through the latent sample into the encoder
    _linear_backward(bound.head, dec_outs[-1], grad_raw)
    grad_h = grad_raw @ bound.head.w
    grad_zin = _relu_stack_backward(bound.dec, dec_outs, grad_h, need_input=True)
    grad_z = grad_zin[:, : z.shape[1]]
    grad_mu = grad_z + (beta * mu) * row
    inside = logvar == logvar_raw  # where the clamp to [-12, 8] passes the gradient
    grad_logvar = grad_z * noise * (0.5 * std) + ((0.5 * beta) * (var - 1.0)) * row
    grad_logvar *= inside
    _linear_backward(bound.mu, h, grad_mu)
    _linear_backward(bound.logvar, h, grad_logvar)
    grad_h = grad_mu @ bound.mu.w
    grad_h += grad_logvar @ bound.logvar.w
    _relu_stack_backward(bound.enc, enc_outs, grad_h, need_input=False)
    bound.publish()
    rec_mean, kl_mean = float(np.add.reduce(rec)) / n, float(np.add.reduce(kl)) / n
    return ElboParts(loss, rec_mean, kl_mean, bound.grad_norm())
