"""Network building blocks shared by the families: MLPs, residual blocks, output heads.

Everything here is vectorised over columns: the output head applies every span's activation
with a handful of tensor ops, never a Python loop over columns inside a training step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from genbalance.models.span_draws import draw_span_major
from genbalance.spans import OutputSpan

NORMS = ("batch", "layer", "none")


def linear(n_in: int, n_out: int, spectral: bool = False) -> nn.Module:
    layer = nn.Linear(n_in, n_out)
    return _spectral_norm(layer) if spectral else layer


def norm_layer(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; accepted: {', '.join(NORMS)}")


class DenseBlock(nn.Sequential):
    """Dense + norm + LeakyReLU (+ dropout): the hidden layer of the classic GAN."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        norm: str = "batch",
        slope: float = 0.2,
        dropout: float = 0.0,
        spectral: bool = False,
    ) -> None:
        layers: list[nn.Module] = [linear(n_in, n_out, spectral), norm_layer(norm, n_out)]
        layers.append(nn.LeakyReLU(slope))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Dense + norm + ReLU whose output is concatenated to its input (widens the features)."""

    def __init__(self, n_in: int, n_out: int, norm: str = "batch") -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)
        self.norm = norm_layer(norm, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.norm(self.fc(x))), x], dim=1)


class MinibatchStd(nn.Module):
    """Appends the batch's mean feature standard deviation as one extra feature.

    A collapsed generator produces batches with tiny spread; the discriminator can see that
    and punish it (Karras et al., 2018).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = x.std(dim=0, unbiased=False).mean() if x.shape[0] > 1 else x.new_zeros(())
        return torch.cat([x, std.expand(x.shape[0], 1)], dim=1)


#: a span whose exp-mass under the row's shift is below this (its logits ~69 below the row's
#: largest output) is drawn again (sampling) or normalised again (the VAE's closed-form loss,
#: vae_grad.py) under its own max: above it, exp keeps float32's precision
TINY_MASS = 1e-30


class SpanActivation(nn.Module):
    """Applies each output span's activation to raw network outputs, vectorised.

    ``forward`` normalises softmax spans of different widths with segment operations over the
    flat softmax positions (scatter max / sum), so its cost follows the encoded width and not
    groups x widest group (one 200-category column among 30 spans made a padded tensor ten
    times the data). ``segment_logits`` / ``scatter_back`` still give the padded
    (batch, groups, width) view for losses that want it. In training, softmax spans may use
    the Gumbel-softmax relaxation (``tau``) so that one-hot outputs stay differentiable.
    """

    def __init__(self, spans: Sequence[OutputSpan]) -> None:
        super().__init__()
        sizes = [s.size for s in spans]
        acts = [s.activation for s in spans]
        starts = torch.tensor([0, *sizes[:-1]]).cumsum(0)
        dim = sum(sizes)
        kinds = torch.zeros(dim, dtype=torch.long)  # 0 linear, 1 tanh, 2 sigmoid, 3 softmax
        code = {"linear": 0, "tanh": 1, "sigmoid": 2, "softmax": 3}
        groups = [
            (int(st), sz) for st, sz, a in zip(starts, sizes, acts, strict=True) if a == "softmax"
        ]
        for st, sz, a in zip(starts.tolist(), sizes, acts, strict=True):
            kinds[st : st + sz] = code[a]
        width = max((sz for _, sz in groups), default=1)
        # gather index: (groups, width) positions into the flat vector; padding -> index `dim`
        index = torch.full((len(groups), width), dim, dtype=torch.long)
        for g, (st, sz) in enumerate(groups):
            index[g, :sz] = torch.arange(st, st + sz)
        self.register_buffer("kinds", kinds, persistent=False)
        self.register_buffer("index", index, persistent=False)
        segment = torch.full((dim,), -1, dtype=torch.long)
        for g, (st, sz) in enumerate(groups):
            segment[st : st + sz] = g
        soft_pos = torch.nonzero(segment >= 0).flatten()
        self.register_buffer("soft_pos", soft_pos, persistent=False)
        self.register_buffer("soft_seg", segment[soft_pos], persistent=False)
        self.register_buffer("tanh_pos", torch.nonzero(kinds == 1).flatten(), persistent=False)
        self.register_buffer("sigmoid_pos", torch.nonzero(kinds == 2).flatten(), persistent=False)
        self.register_buffer("linear_pos", torch.nonzero(kinds == 0).flatten(), persistent=False)
        # constant masks of the losses, made once instead of compared again every step
        self.register_buffer("tanh_mask", kinds == 1, persistent=False)
        self.register_buffer("scalar_mask", (kinds <= 1).float(), persistent=False)
        self.register_buffer("sigmoid_mask", (kinds == 2).float(), persistent=False)
        self.n_groups = len(groups)
        self.dim = dim
        #: (first column, width) of each softmax span: sampling draws span by span on views
        self.softmax_spans = groups
        self.register_buffer(
            "span_first", torch.tensor([st for st, _ in groups], dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "span_last",
            torch.tensor([sz - 1 for _, sz in groups], dtype=torch.long),
            persistent=False,
        )

    @property
    def has_softmax(self) -> bool:
        return self.index.numel() > 0

    def segment_logits(self, raw: torch.Tensor) -> torch.Tensor:
        """(batch, groups, width) logits of the softmax spans, padding filled with -inf."""
        padded = torch.cat([raw, raw.new_full((raw.shape[0], 1), float("-inf"))], dim=1)
        return padded[:, self.index]

    def scatter_back(self, out: torch.Tensor, grouped: torch.Tensor) -> torch.Tensor:
        flat = out.new_zeros(out.shape[0], self.dim + 1)
        flat = flat.index_copy(1, self.index.reshape(-1), grouped.reshape(out.shape[0], -1))
        mask = self.kinds == 3
        return torch.where(mask, flat[:, : self.dim], out)

    def forward(
        self,
        raw: torch.Tensor,
        tau: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        k = self.kinds
        out = torch.where(k == 1, torch.tanh(raw), raw)
        out = torch.where(k == 2, torch.sigmoid(raw), out)
        if self.has_softmax:
            logits = raw[:, self.soft_pos]
            if tau is not None:
                gdev = generator.device if generator is not None else raw.device  # CPU gen/CUDA
                u = torch.rand(logits.shape, generator=generator, device=gdev).to(raw.device)
                gumbel = -torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))
                logits = (logits + gumbel) / tau
            probs = self.segment_softmax(logits).nan_to_num(0.0)
            out = out.index_copy(1, self.soft_pos, probs)
        return out

    @torch.no_grad()
    def sample(
        self,
        raw: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        overwrite: bool = False,
    ) -> torch.Tensor:
        """Sampling-time outputs: one hard one-hot draw per softmax span, from the span's
        softmax probabilities; tanh / sigmoid only where a span asks for them.

        Each span is drawn by inverse CDF: one uniform a span, compared with the cumulative
        sum of its exponentials. The Gumbel-max draw used before needed a uniform and two
        logarithms for every category slot plus a segment maximum over all of them, ~75 %
        of the VAE generator's time on a wide table; this draws from the same distribution
        with one uniform a span (docs/scale.md, "Throughput"). Training keeps the
        Gumbel-softmax relaxation of :meth:`forward`.

        ``overwrite=True`` writes the outputs into ``raw`` (a generator's own scratch
        output) instead of a new tensor: a fresh table-sized tensor per chunk costs page
        faults that were a tenth of the VAE's generation time.
        """
        if not self.has_softmax and not self.tanh_pos.numel() and not self.sigmoid_pos.numel():
            return raw
        out = raw if overwrite else raw.clone()
        if self.has_softmax:  # first: its shift reads the raw outputs of every column
            self._draw_categories(raw, generator, out)
        if self.tanh_pos.numel():
            out.index_copy_(1, self.tanh_pos, torch.tanh(raw.index_select(1, self.tanh_pos)))
        if self.sigmoid_pos.numel():
            sig = torch.sigmoid(raw.index_select(1, self.sigmoid_pos))
            out.index_copy_(1, self.sigmoid_pos, sig)
        return out

    @torch.no_grad()
    def sample_head(
        self, head: nn.Module, hidden: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """:meth:`sample` of ``head(hidden)`` (``head`` a linear output layer), computed
        span-major on the CPU: the layer as ``W @ hidden.T + b`` (the same products; 1.1-1.5x
        faster than ``hidden @ W.T`` for a wide output here) and the category draws on
        contiguous rows (``span_draws``). Same draws, same outputs; other devices and dtypes
        take :meth:`sample`."""
        weight, bias = head.weight, head.bias
        cpu_float = hidden.device.type == "cpu" and hidden.dtype == weight.dtype == torch.float32
        if not (cpu_float and self.has_softmax and bias is not None):
            return self.sample(head(hidden), generator, overwrite=True)
        raw_t = torch.addmm(bias[:, None], weight, hidden.T)
        rows = hidden.shape[0]
        u = torch.rand(rows, self.n_groups, generator=generator)
        chosen = draw_span_major(raw_t, self.softmax_spans, u, TINY_MASS)
        # the scalar columns, row-major as sample() activates them: the same values to the bit
        # (an element-wise kernel's last few elements take a scalar path)
        kinds = (
            (self.linear_pos, None),
            (self.tanh_pos, torch.tanh),
            (self.sigmoid_pos, torch.sigmoid),
        )
        scalars = [
            (pos, fn, raw_t.index_select(0, pos).T.contiguous()) for pos, fn in kinds if pos.numel()
        ]
        # the outputs go into raw_t's own memory, read to the end by now: a fresh table-sized
        # tensor a chunk costs page faults (~6 ms of an 8,192-row chunk of a 609-wide table)
        out = raw_t.view(rows, self.dim).zero_()
        out.numpy().reshape(-1)[(chosen + np.arange(0, rows * self.dim, self.dim)[:, None])] = 1.0
        for pos, fn, values in scalars:
            out.index_copy_(1, pos, values if fn is None else fn(values))
        return out

    def _draw_categories(
        self, raw: torch.Tensor, generator: torch.Generator | None, out: torch.Tensor
    ) -> None:
        """Write into ``out``'s softmax spans a one-hot draw from each span's softmax over
        ``raw`` (``out`` may be ``raw`` itself: each span is read before it is written)."""
        rows = raw.shape[0]
        gdev = generator.device if generator is not None else raw.device  # CPU gen / CUDA
        u = torch.rand(rows, self.n_groups, generator=generator, device=gdev).to(raw.device)
        # one shift a row for every span (a max over each small span is a slow reduction,
        # and the subtraction gives the contiguous copy that exp and cumsum work in place on);
        # a span whose mass underflows under it is shifted by its own max in those rows
        shift = raw.amax(1, keepdim=True)
        # one scratch buffer for every span's CDF: it stays in cache, where a fresh tensor
        # per span is new memory to fault in
        scratch = raw.new_empty(rows * max(width for _, width in self.softmax_spans))
        picks = []
        for j, (start, width) in enumerate(self.softmax_spans):
            logits = raw[:, start : start + width]
            cdf = torch.sub(logits, shift, out=scratch[: rows * width].view(rows, width))
            cdf.exp_().cumsum_(1)
            low = ~(cdf[:, -1] > TINY_MASS)  # NaN counts too
            if bool(low.any()):
                part = logits[low]
                cdf[low] = part.sub(part.amax(1, keepdim=True)).exp_().cumsum_(1)
            # the first position whose cumulative mass passes u x total; zero-mass ones never do
            picks.append(torch.searchsorted(cdf, u[:, j : j + 1] * cdf[:, -1:], right=True))
            out[:, start : start + width] = 0.0  # while the span is still in cache
        # rounding can put u x total on the total itself: the last position then
        chosen = torch.minimum(torch.cat(picks, dim=1), self.span_last) + self.span_first
        flat = chosen + torch.arange(0, rows * self.dim, self.dim, device=out.device)[:, None]
        out.view(-1).index_fill_(0, flat.view(-1), 1.0)

    def _segment_max(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Span index of every flat softmax position, and its span's largest logit there
        (no gradient: it only shifts logits for stability or marks the argmax)."""
        seg = self.soft_seg.expand(logits.shape[0], -1)
        top = logits.new_full((logits.shape[0], self.n_groups), float("-inf"))
        top = top.scatter_reduce(1, seg, logits.detach(), reduce="amax")
        return seg, top.gather(1, seg)

    def segment_log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax within each span of the flat (batch, softmax positions) logits."""
        seg, top = self._segment_max(logits)
        shifted = logits - top
        total = shifted.new_zeros(logits.shape[0], self.n_groups).scatter_add(1, seg, shifted.exp())
        return shifted - total.log().gather(1, seg)

    def categorical_nll(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-row cross-entropy of the softmax spans of ``x`` under the logits ``raw``.

        Works on the flat softmax positions: the padded (batch, groups, widest group) view
        that ``segment_logits`` gives made this loss ten times the data on a table with one
        200-category column among 30 spans, and dominated a VAE training step.
        """
        if not self.has_softmax:
            return raw.new_zeros(raw.shape[0])
        logp = self.segment_log_softmax(raw[:, self.soft_pos])
        return -(x[:, self.soft_pos] * logp).sum(1)

    def segment_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax within each span of the flat (batch, softmax positions) logits."""
        seg, top = self._segment_max(logits)
        e = torch.exp(logits - top)
        total = e.new_zeros(logits.shape[0], self.n_groups).scatter_add(1, seg, e)
        return e / total.gather(1, seg)


def pack(x: torch.Tensor, pac: int) -> torch.Tensor:
    """PacGAN: the discriminator judges ``pac`` samples at once (Lin et al., 2018)."""
    if pac == 1:
        return x
    n = (x.shape[0] // pac) * pac
    return x[:n].reshape(n // pac, pac * x.shape[1])


def one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    return F.one_hot(y.long(), n_classes).float()


@contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode (BatchNorm on its running statistics, no dropout) for a block,
    then back in the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
