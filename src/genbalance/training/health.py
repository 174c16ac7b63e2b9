"""Training health after the fact: is the generator diverse, or has it collapsed?

A collapsed generator emits (nearly) the same few rows for a class however the noise varies.
Three cheap, vectorised statistics describe each class, in the model's encoded space:

- ``diversity_ratio``: mean pairwise distance among generated samples divided by the mean
  pairwise distance among real samples of the class (about 1 when the spread matches, 0 when
  every sample is the same);
- ``centre_offset``: distance between the centres (means) of the generated and the real
  samples, in units of the real mean pairwise distance (about 0 when the generated mass sits
  where the real mass is);
- ``coverage``: share of real samples whose nearest generated sample lies closer than the real
  sample's k-th nearest real neighbour (Naeem et al., 2020), with as many generated samples as
  real ones: reported, not part of the default rule (it also drops when samples are merely off
  the data, and it is near 1 for any central sample in a class of a few dozen rows).

The rule (docs/mode-collapse.md has the measurements behind the thresholds): a class is
``collapsed`` when its ``diversity_ratio`` is below :data:`COPY_THRESHOLD` (near copies), or,
with at least :data:`MIN_ROWS` real rows, when its ratio is below :data:`DIVERSITY_THRESHOLD`
*and* its centre offset is above ``offset_limit`` (the larger of :data:`OFFSET_THRESHOLD` and
:data:`OFFSET_NOISE_FACTOR` times the offset two samples of one distribution show by chance).
Low spread alone is not collapse: a VAE's blurred samples gather *at* the class centre (low
ratio, offset near 0); a collapsed GAN's gather at one place *beside* it. Classes with 2 to 4
real rows are judged by the copy rule only; a class with one real row is not judged.

Distances use the continuous columns of the encoded rows (numeric values) when the rows
also hold one-hot columns: categories and GMM modes are drawn with Gumbel noise at generation,
so they vary even when the generator ignores its noise, and their 0-or-sqrt(2) jumps would hide
a collapse of the numeric part. Continuous columns that barely vary among the real rows (below
:data:`MIN_COLUMN_STD`: a numeric column with a few values, one mode each) are left out; images
and one-kind rows use every column. Both sets are subsampled to ``n_per_class`` rows, so the
cost is bounded by ``n_per_class**2`` distances per class whatever the data size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from genbalance.models.base import GenerativeModel
from genbalance.spans import OutputSpan

__all__ = [
    "COPY_THRESHOLD",
    "DIVERSITY_THRESHOLD",
    "K_NEIGHBOURS",
    "MIN_COLUMN_STD",
    "MIN_ROWS",
    "OFFSET_NOISE_FACTOR",
    "OFFSET_THRESHOLD",
    "class_report",
    "class_stats",
    "collapse_message",
    "diversity_report",
    "measured_columns",
    "offset_limit",
]

#: below this ratio the generated samples of a class are (near) copies of one another: the
#: generator ignored its noise. Measured: identical copies 0; a GAN deaf to its noise for one
#: class 0.00 (6 seeds); a plain GAN at lr 5e-3 0.00-0.03. Lowest healthy value: a VAE's
#: blurred digits, 0.20.
COPY_THRESHOLD = 0.1
#: below this ratio a class has low spread (collapse when also off-centre). Measured: DCGAN runs
#: on long-tailed digits whose grid rows were near-identical 0.22-0.72 (29 of 30 classes
#: <= 0.64); noisy but varied generators (MLP GAN, diffusion on digits) 0.81-1.13.
DIVERSITY_THRESHOLD = 0.7
#: above this centre offset the low-spread mass sits beside the class centre. Measured: the
#: collapsed DCGAN classes 0.39-1.80; VAE and conv-VAE (digits, 15 KEEL tables) 0.03-0.19.
OFFSET_THRESHOLD = 0.3
#: the offset limit is at least this many times sqrt((1/n_real + 1/n_generated) / 2), the
#: median offset of two samples of one distribution (measured on digits and a 3-D Gaussian:
#: the 99th percentile of that chance offset lies at 1.6 to 2.6 times it).
OFFSET_NOISE_FACTOR = 2.5
#: a continuous column of a mixed row counts when its real standard deviation reaches this
#: (encoded units). Measured on 15 KEEL tables: numeric columns 0.10-0.25; the near-constant
#: residual of a numeric column with a few values (one encoder mode each) 0.00-0.07.
MIN_COLUMN_STD = 0.08
#: real rows a class needs for the offset rule and coverage; fewer: the copy rule only
MIN_ROWS = 5
#: the k of coverage's k-nearest-neighbour radius (capped at n_real - 1)
K_NEIGHBOURS = 5


def measured_columns(spans: Sequence[OutputSpan], X: torch.Tensor) -> torch.Tensor | None:
    """Boolean mask of the columns the distances use, or None for all of them.

    When the rows mix one-hot (softmax) spans with continuous ones, the continuous columns
    whose real standard deviation reaches :data:`MIN_COLUMN_STD`; all columns when the rows
    hold one kind only, when no continuous column varies, or when ``X`` does not follow the
    spans.
    """
    if sum(s.size for s in spans) != X.shape[1]:
        return None
    flags = torch.tensor([s.activation != "softmax" for s in spans for _ in range(s.size)])
    if bool(flags.all()) or not bool(flags.any()):
        return None
    varies = X.std(dim=0) >= MIN_COLUMN_STD if X.shape[0] > 1 else torch.zeros_like(flags)
    mask = flags & varies
    return mask if bool(mask.any()) else None


def offset_limit(n_real: int, n_generated: int) -> float:
    """The centre offset above which a low-spread class counts as collapsed: never below
    :data:`OFFSET_THRESHOLD`, higher for small samples, whose centres are uncertain."""
    chance = math.sqrt((1.0 / n_real + 1.0 / n_generated) / 2.0)
    return max(OFFSET_THRESHOLD, OFFSET_NOISE_FACTOR * chance)


def _mean_pairwise(d: torch.Tensor) -> float:
    """Mean off-diagonal entry of a square distance matrix."""
    m = d.shape[0]
    if m < 2:
        return float("nan")
    return float(d.sum() / (m * (m - 1)))


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _coverage(real: torch.Tensor, fake: torch.Tensor, d_real: torch.Tensor, k: int) -> float:
    """Naeem et al.'s coverage with as many generated samples as real ones (their setting:
    more generated samples would raise it for every generator alike)."""
    kk = min(k, real.shape[0] - 1)
    fake = fake[: real.shape[0]]
    # k-th nearest real neighbour, excluding the point itself (distance 0 on the diagonal)
    radius = d_real.clone().fill_diagonal_(float("inf")).kthvalue(kk, dim=1).values
    nearest_fake = torch.cdist(real, fake).min(dim=1).values
    return float((nearest_fake < radius).float().mean())


def class_stats(real: torch.Tensor, fake: torch.Tensor, k: int = K_NEIGHBOURS) -> dict[str, Any]:
    """Diversity ratio, centre offset and coverage of one class (None where undefined).

    ``real`` and ``fake`` are ``(n, D)`` float tensors of one class. The ratio needs 2 real
    rows with some spread; the offset and coverage need :data:`MIN_ROWS`.
    """
    n_real, n_fake = int(real.shape[0]), int(fake.shape[0])
    out: dict[str, Any] = {"diversity_ratio": None, "centre_offset": None, "coverage": None}
    if n_real < 2 or n_fake < 2:
        return out
    d_real = torch.cdist(real, real)
    real_spread = _mean_pairwise(d_real)
    if not real_spread > 0:
        return out  # every real row is the same: no scale to compare with
    out["diversity_ratio"] = _finite_or_none(_mean_pairwise(torch.cdist(fake, fake)) / real_spread)
    if n_real >= MIN_ROWS:
        offset = float(torch.linalg.vector_norm(fake.mean(0) - real.mean(0))) / real_spread
        out["centre_offset"] = _finite_or_none(offset)
        out["coverage"] = _finite_or_none(_coverage(real, fake, d_real, k))
    return out


def _collapse_reasons(
    stats: dict[str, Any],
    n_real: int,
    n_fake: int,
    diversity_threshold: float,
    coverage_threshold: float | None,
) -> list[str]:
    """Why a class counts as collapsed under the module's rule (empty when it does not)."""
    ratio, offset = stats["diversity_ratio"], stats["centre_offset"]
    if ratio is None:
        return []
    if ratio < COPY_THRESHOLD:
        return [f"diversity ratio {ratio:.3f} < {COPY_THRESHOLD} (near copies)"]
    reasons = []
    if offset is not None and ratio < diversity_threshold:
        limit = offset_limit(n_real, n_fake)
        if offset > limit:
            reasons.append(
                f"diversity ratio {ratio:.3f} < {diversity_threshold} and centre offset "
                f"{offset:.3f} > {limit:.3f}"
            )
    coverage = stats["coverage"]
    if coverage_threshold is not None and coverage is not None and coverage < coverage_threshold:
        reasons.append(f"coverage {coverage:.3f} < {coverage_threshold}")
    return reasons


def class_report(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = K_NEIGHBOURS,
    diversity_threshold: float = DIVERSITY_THRESHOLD,
    coverage_threshold: float | None = None,
) -> dict[str, Any]:
    """One class's entry of the report: sizes, :func:`class_stats`, how it was judged
    (``judged``: "full", "copies only" below :data:`MIN_ROWS` real rows, "no" without two
    distinct real rows), ``collapsed`` under the module's rule, and the ``reason``."""
    n_real, n_fake = int(real.shape[0]), int(fake.shape[0])
    entry: dict[str, Any] = {"n_real": n_real, "n_generated": n_fake}
    if not bool(torch.isfinite(fake).all()):
        entry.update(
            diversity_ratio=None,
            centre_offset=None,
            coverage=None,
            judged="non-finite",
            collapsed=True,
            reason="generated samples contain NaN or inf",
        )
        return entry
    stats = class_stats(real, fake, k)
    entry.update(stats)
    if stats["diversity_ratio"] is None:
        judged = "no"
        entry["reason"] = "fewer than 2 distinct real rows: not judged"
    elif stats["centre_offset"] is None:
        judged = "copies only"
    else:
        judged = "full"
        entry["offset_limit"] = round(offset_limit(n_real, n_fake), 4)
    reasons = _collapse_reasons(stats, n_real, n_fake, diversity_threshold, coverage_threshold)
    entry.update(judged=judged, collapsed=bool(reasons))
    if reasons:
        entry["reason"] = "; ".join(reasons)
    return entry


def _checked_inputs(
    X: torch.Tensor, y: torch.Tensor, n_per_class: int, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows flattened to ``(N, D)`` float32 and labels to ``(N,)``; bad settings refused
    before any sampling (a report on a wrong call would mislead)."""
    if n_per_class < 2:
        raise ValueError(f"n_per_class must be >= 2, got {n_per_class}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    X = torch.as_tensor(X, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.long).reshape(-1)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    return X.reshape(X.shape[0], -1), y


def _generate_all(
    model: GenerativeModel, classes: list[int], n_per_class: int, gen: torch.Generator
) -> torch.Tensor:
    """``n_per_class`` flat samples per class, class after class, from one ``generate`` call
    (vectorised, one noise draw) in eval mode; the parts' train/eval modes are restored."""
    labels = torch.tensor(classes, dtype=torch.long).repeat_interleave(n_per_class)
    modes = {name: m.training for name, m in model.parts().items()}
    model.train(False)
    try:
        fake = model.generate(labels, gen).detach().float().cpu()
    finally:
        for name, m in model.parts().items():
            m.train(modes[name])
    return fake.reshape(fake.shape[0], -1)


def _real_subsample(
    X: torch.Tensor, y: torch.Tensor, c: int, n_per_class: int, gen: torch.Generator
) -> torch.Tensor:
    """The real rows of class ``c``, at most ``n_per_class`` of them (drawn with ``gen``);
    only the rows kept are copied, whatever the size of ``X``."""
    idx = torch.nonzero(y == c).reshape(-1)
    if idx.shape[0] > n_per_class:
        idx = idx[torch.randperm(idx.shape[0], generator=gen)[:n_per_class]]
    return X[idx]


@torch.no_grad()
def diversity_report(
    model: GenerativeModel,
    X: torch.Tensor,
    y: torch.Tensor,
    n_per_class: int = 256,
    generator: torch.Generator | None = None,
    k: int = K_NEIGHBOURS,
    diversity_threshold: float = DIVERSITY_THRESHOLD,
    coverage_threshold: float | None = None,
) -> dict[str, Any]:
    """Per-class diversity ratio, centre offset, coverage and a ``collapsed`` flag (plain
    JSON values), under the rule of the module docstring.

    ``X`` holds real rows in the model's encoded space (any trailing shape; rows are flattened)
    and ``y`` their class indices. Classes absent from ``y`` are skipped. ``generator`` seeds
    both the real subsample and the generated samples (a fixed seed when ``None``), so the
    report is reproducible and leaves the global random state alone. ``coverage_threshold``
    (off by default) also flags a class whose coverage falls below it.
    """
    X, y = _checked_inputs(X, y, n_per_class, k)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    classes = torch.unique(y).tolist()
    fake_all = _generate_all(model, classes, n_per_class, gen)  # before the subsamples: seeds
    reals = [_real_subsample(X, y, c, n_per_class, gen) for c in classes]
    columns = measured_columns(model.spans, torch.cat(reals))  # on the bounded subsample
    if columns is not None and fake_all.shape[1] == X.shape[1]:
        reals, fake_all = [r[:, columns] for r in reals], fake_all[:, columns]
    per_class: dict[str, dict[str, Any]] = {}
    for i, (c, real) in enumerate(zip(classes, reals, strict=True)):
        fake = fake_all[i * n_per_class : (i + 1) * n_per_class]
        per_class[str(c)] = class_report(real, fake, k, diversity_threshold, coverage_threshold)
    collapsed = [int(c) for c in classes if per_class[str(c)]["collapsed"]]
    return {
        "per_class": per_class,
        "collapsed_classes": collapsed,
        "any_collapsed": bool(collapsed),
        "unjudged_classes": [int(c) for c in classes if per_class[str(c)]["judged"] == "no"],
        "columns": "all" if columns is None else "continuous",
        "settings": {
            "n_per_class": int(n_per_class),
            "k": int(k),
            "diversity_threshold": diversity_threshold,
            "copy_threshold": COPY_THRESHOLD,
            "offset_threshold": OFFSET_THRESHOLD,
            "offset_noise_factor": OFFSET_NOISE_FACTOR,
            "min_rows": MIN_ROWS,
            "coverage_threshold": coverage_threshold,
        },
    }


def collapse_message(health: dict[str, Any], class_labels: Sequence[Any] | None = None) -> str:
    """The user-facing warning for a report with collapsed classes: which classes (by label
    when ``class_labels``, indexed by class code, is given; by code otherwise), why, and what
    to try."""
    codes = [int(c) for c in health.get("collapsed_classes", [])]
    per_class = health.get("per_class", {})
    if class_labels is not None and all(0 <= c < len(class_labels) for c in codes):
        names = [class_labels[c] for c in codes]
        which = f"classes {names!r} (codes {codes})"
    else:
        names = codes
        which = f"classes {codes} (class codes)"
    reasons = "; ".join(
        f"{n!r}: {per_class.get(str(c), {}).get('reason', 'collapsed')}"
        for c, n in zip(codes, names, strict=True)
    )
    return (
        f"possible mode collapse in {which}: their generated samples are (near) copies, or "
        f"far less varied than the real ones and beside them ({reasons}); an undertrained "
        "model shows this too. See history.health['per_class']; try more epochs, a "
        "stabilised GAN (preset='stable') or another family (docs/mode-collapse.md)"
    )
