"""Training health after the fact: is the generator diverse, or has it collapsed?

A collapsed generator emits (nearly) the same few rows for a class however the noise varies.
Two cheap, vectorised signals catch it, per class, in encoded space:

- ``diversity_ratio``: mean pairwise distance among generated samples divided by the mean
  pairwise distance among real samples of the class (about 1 when the spread matches, near 0
  when the generator collapsed to a point);
- ``coverage``: share of real points whose nearest generated point lies closer than the real
  point's k-th nearest real neighbour (Naeem et al., 2020): near 1 when every region of the real
  data receives samples, low when modes are dropped.

A class is flagged ``collapsed`` when either falls below its threshold. Both sets are
subsampled to ``n_per_class`` rows, so the cost is bounded by ``n_per_class**2`` distances per
class whatever the dataset size.
"""

from __future__ import annotations

from typing import Any

import torch

from genbalance.models.base import GenerativeModel

DIVERSITY_THRESHOLD = 0.5
COVERAGE_THRESHOLD = 0.3
K_NEIGHBOURS = 5


def _mean_pairwise(d: torch.Tensor) -> float:
    """Mean off-diagonal entry of a square distance matrix."""
    m = d.shape[0]
    if m < 2:
        return float("nan")
    return float(d.sum() / (m * (m - 1)))


def _finite_or_none(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


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
    """The real rows of class ``c``, at most ``n_per_class`` of them (drawn with ``gen``)."""
    real = X[y == c]
    if real.shape[0] > n_per_class:
        real = real[torch.randperm(real.shape[0], generator=gen)[:n_per_class]]
    return real


def _ratio_and_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """Diversity ratio (generated spread / real spread) and k-NN coverage; NaN where the
    class has too few rows to define them."""
    d_real = torch.cdist(real, real)
    real_spread = _mean_pairwise(d_real)
    fake_spread = _mean_pairwise(torch.cdist(fake, fake))
    ratio = fake_spread / real_spread if real_spread > 0 else float("nan")
    coverage = float("nan")
    kk = min(k, real.shape[0] - 1)
    if kk >= 1:
        # k-th nearest real neighbour, excluding the point itself (distance 0 on the diagonal)
        radius = d_real.fill_diagonal_(float("inf")).kthvalue(kk, dim=1).values
        nearest_fake = torch.cdist(real, fake).min(dim=1).values
        coverage = float((nearest_fake < radius).float().mean())
    return ratio, coverage


def _collapse_flags(
    ratio: float | None,
    coverage: float | None,
    diversity_threshold: float,
    coverage_threshold: float,
) -> list[str]:
    """Why a class counts as collapsed (empty when it does not); None values never flag."""
    flags = []
    if ratio is not None and ratio < diversity_threshold:
        flags.append(f"diversity ratio {ratio:.3f} < {diversity_threshold}")
    if coverage is not None and coverage < coverage_threshold:
        flags.append(f"coverage {coverage:.3f} < {coverage_threshold}")
    return flags


def _class_entry(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int,
    diversity_threshold: float,
    coverage_threshold: float,
) -> dict[str, Any]:
    """One class's report entry: sizes, ratio, coverage, ``collapsed`` and its reason."""
    entry: dict[str, Any] = {"n_real": int(real.shape[0]), "n_generated": int(fake.shape[0])}
    if not bool(torch.isfinite(fake).all()):
        entry.update(
            diversity_ratio=None,
            coverage=None,
            collapsed=True,
            reason="generated samples contain NaN or inf",
        )
        return entry
    ratio, coverage = _ratio_and_coverage(real, fake, k)
    ratio_v, coverage_v = _finite_or_none(ratio), _finite_or_none(coverage)
    flags = _collapse_flags(ratio_v, coverage_v, diversity_threshold, coverage_threshold)
    entry.update(diversity_ratio=ratio_v, coverage=coverage_v, collapsed=bool(flags))
    if flags:
        entry["reason"] = "; ".join(flags)
    return entry


@torch.no_grad()
def diversity_report(
    model: GenerativeModel,
    X: torch.Tensor,
    y: torch.Tensor,
    n_per_class: int = 256,
    generator: torch.Generator | None = None,
    k: int = K_NEIGHBOURS,
    diversity_threshold: float = DIVERSITY_THRESHOLD,
    coverage_threshold: float = COVERAGE_THRESHOLD,
) -> dict[str, Any]:
    """Per-class diversity ratio, coverage and a ``collapsed`` flag (plain JSON values).

    ``X`` holds real rows in the model's encoded space (any trailing shape; rows are flattened)
    and ``y`` their class indices. Classes absent from ``y`` are skipped. ``generator`` seeds
    both the real subsample and the generated samples (a fixed seed when ``None``), so the
    report is reproducible and leaves the global random state alone.
    """
    X, y = _checked_inputs(X, y, n_per_class, k)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    classes = torch.unique(y).tolist()
    fake_all = _generate_all(model, classes, n_per_class, gen)  # before the subsamples: seeds
    per_class: dict[str, dict[str, Any]] = {}
    for i, c in enumerate(classes):
        real = _real_subsample(X, y, c, n_per_class, gen)
        fake = fake_all[i * n_per_class : (i + 1) * n_per_class]
        per_class[str(c)] = _class_entry(real, fake, k, diversity_threshold, coverage_threshold)
    collapsed = [int(c) for c in classes if per_class[str(c)]["collapsed"]]
    return {
        "per_class": per_class,
        "collapsed_classes": collapsed,
        "any_collapsed": bool(collapsed),
        "settings": {
            "n_per_class": int(n_per_class),
            "k": int(k),
            "diversity_threshold": diversity_threshold,
            "coverage_threshold": coverage_threshold,
        },
    }
