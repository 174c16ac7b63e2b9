"""Sampling-time category draws on span-major outputs: one hard category per softmax span.

A generator's output layer computed span-major (``W @ h.T + b``: one contiguous row per output
column, one column per generated row) lets every per-span pass run over contiguous memory.
Row-major, each of the ~30 spans of a wide table is a strided slice of every row, and the
shift, exp, cumulative sum and binary search over those slices cost about what the
generator's matrix products cost (docs/scale.md, "Throughput"). Spans are drawn one at a
time: a span's block of a chunk (width x rows) stays in cache through its five passes, where
drawing spans of the same width together as one larger block was 1.7x slower here.

The draw is the inverse-CDF draw of ``SpanActivation.sample``, to the bit: the same uniforms,
the same exps (torch's), the cumulative sum accumulated in float64 and rounded to float32 as
torch's CPU ``cumsum`` does, and the first position whose cumulative mass passes ``u`` x total.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def draw_span_major(
    raw_t: torch.Tensor,
    spans: Sequence[tuple[int, int]],
    u: torch.Tensor,
    tiny_mass: float,
) -> np.ndarray:
    """(rows, spans) flat column index of the category drawn in each softmax span.

    ``raw_t``: (columns, rows) float32 logits on the CPU; ``spans``: (first column, width) of
    each softmax span; ``u``: (rows, spans) uniforms. A span whose exp-mass under the row's
    shift (its largest output over all columns) is at most ``tiny_mass`` is drawn under its
    own largest logit in those rows.
    """
    rows = raw_t.shape[1]
    widest = max(width for _, width in spans)
    raw = raw_t.numpy()
    shift = raw.max(0)  # one shift a row for every span: torch's amax, twice as fast here
    # scratch reused by every span: it stays in cache, where fresh arrays are new memory
    cdf_t = raw_t.new_empty(widest, rows)
    cdf = cdf_t.numpy()
    acc = np.empty((widest, rows))
    uniforms = u.numpy()
    chosen = np.empty((rows, len(spans)), dtype=np.int64)
    for j, (start, width) in enumerate(spans):
        logits = raw_t[start : start + width]
        np.subtract(raw[start : start + width], shift, out=cdf[:width])
        cdf_t[:width].exp_()  # torch's exp, as the row-major draw: the same values
        span_cdf = _cumulative(cdf[:width], acc[:width])
        low = ~(span_cdf[-1] > tiny_mass)  # NaN counts too
        if low.any():
            part = logits[:, torch.from_numpy(low)]
            shifted = part.sub(part.amax(0, keepdim=True)).exp_().numpy()
            span_cdf[:, low] = _cumulative(shifted, np.empty(shifted.shape))
        threshold = uniforms[:, j] * span_cdf[-1]
        # the first position whose cumulative mass passes u x total; zero-mass ones never do;
        # rounding can put u x total on the total itself: the last position then
        picks = np.add.reduce(span_cdf <= threshold, axis=0, dtype=np.intp)
        chosen[:, j] = np.minimum(picks, width - 1) + start
    return chosen


def _cumulative(exps: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Running sums down the first axis, accumulated in float64 and written back over the
    float32 ``exps`` (torch's CPU cumsum does the same). A loop of float64 vector adds in
    place: NumPy's own cumsum along the first axis runs element by element (~15x slower at
    these sizes), and adding float32 to float64 casts through a buffer (~4x slower)."""
    acc[...] = exps
    for k in range(1, acc.shape[0]):
        np.add(acc[k - 1], acc[k], out=acc[k])
    exps[...] = acc
    return exps
