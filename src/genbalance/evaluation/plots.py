"""PNG figures: per-class sample grids and loss curves (matplotlib, Agg canvas).

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so nothing
here touches pyplot's global state or the user's chosen backend. :class:`TrainingSnapshots`
saves both figures every ``every`` epochs while a model trains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genbalance.encoders.images import to_float_images

__all__ = ["TrainingSnapshots", "save_loss_curve", "save_sample_grid"]


def figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def save_sample_grid(
    path,
    images,
    labels,
    n_per_class: int = 10,
    class_names: Sequence | None = None,
    title: str | None = None,
    random_state: int | None = 0,
) -> Path:
    """One row per class (sorted labels), up to ``n_per_class`` images each, as a PNG.

    ``images`` is any accepted image array ((N, H, W) or (N, H, W, C); uint8 or [0, 1] float).
    """
    imgs = to_float_images(images, "images")
    labels = np.asarray(labels)
    if labels.shape != (len(imgs),):
        raise ValueError(f"labels has shape {labels.shape}, expected ({len(imgs)},)")
    classes = list(np.unique(labels)) if class_names is None else list(class_names)
    rng = np.random.default_rng(random_state)
    h, w, c = imgs.shape[1:]
    rows, cols = len(classes), max(1, int(n_per_class))
    canvas = np.full(((h + 1) * rows, (w + 1) * cols, c), 0.5, dtype=np.float32)
    for r, cls in enumerate(classes):
        idx = np.flatnonzero(labels == cls)
        if len(idx) > cols:
            idx = np.sort(rng.choice(idx, cols, replace=False))
        for j, i in enumerate(idx):
            canvas[r * (h + 1) : r * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = imgs[i]
    cell = max(0.3, w / 40)  # inches per image
    fig = figure(0.6 + cols * cell, (0.5 if title else 0.2) + rows * cell)
    ax = fig.add_axes((0.12, 0.02, 0.86, 0.9 if title else 0.96))
    if c == 1:
        ax.imshow(canvas[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([(h + 1) * r + h / 2 for r in range(rows)])
    ax.set_yticklabels([str(cl) for cl in classes], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def save_loss_curve(
    path,
    steps: Sequence[dict[str, float]],
    keys: Sequence[str] | None = None,
    title: str | None = None,
    smooth: int | None = None,
) -> Path:
    """Loss curves from per-step metric dicts (``History.steps``-like) as a PNG.

    ``keys`` defaults to every metric whose name starts with ``loss``; curves are smoothed
    with a moving average of ``smooth`` steps (default: about 1/50 of the run).
    """
    steps = list(steps)
    if keys is None:
        keys = sorted({k for s in steps for k in s if k.startswith("loss")})
    fig = figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    window = smooth if smooth is not None else max(1, len(steps) // 50)
    for key in keys:
        xs = np.asarray([s.get("step", i + 1) for i, s in enumerate(steps) if key in s], float)
        ys = np.asarray([s[key] for s in steps if key in s], float)
        if len(ys) == 0:
            continue
        ys_s = _smooth(ys, window)
        ax.plot(xs[len(xs) - len(ys_s) :], ys_s, label=key, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if keys:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


class TrainingSnapshots:
    """Saves a loss curve and a per-class sample grid every ``every`` epochs of training.

    The trainer has no callback hook, so this wraps a model's ``train_step``: it records each
    step's metrics and, every ``every * steps_per_epoch`` steps, calls ``draw(epoch)`` (which
    returns ``(images, labels)``) and writes ``grid_epoch{E}.png`` and ``loss.png`` to
    ``out_dir``. :meth:`detach` restores the model's own ``train_step``.
    """

    def __init__(
        self,
        out_dir,
        every: int,
        steps_per_epoch: int,
        draw: Callable[[int], tuple[Any, Any]],
        n_per_class: int = 10,
    ) -> None:
        if every < 1:
            raise ValueError(f"sample_every must be >= 1 epoch, got {every}")
        self.out_dir = Path(out_dir)
        self.every_steps = max(1, int(every) * int(steps_per_epoch))
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.draw = draw
        self.n_per_class = n_per_class
        self.steps: list[dict[str, float]] = []
        self.saved: list[Path] = []
        self._model = None

    def attach(self, model) -> TrainingSnapshots:
        self._model = model
        inner = model.train_step

        def train_step(x, y, ctx):
            out = inner(x, y, ctx)
            self.steps.append({"step": len(self.steps) + 1, **out})
            if len(self.steps) % self.every_steps == 0:
                self.snapshot(len(self.steps) // self.steps_per_epoch)
            return out

        model.train_step = train_step
        return self

    def detach(self) -> None:
        if self._model is not None and "train_step" in vars(self._model):
            del self._model.train_step
        self._model = None

    def snapshot(self, epoch: int, final: bool = False) -> None:
        name = "grid_final.png" if final else f"grid_epoch{epoch:04d}.png"
        images, labels = self.draw(epoch)
        title = "final samples" if final else f"samples after epoch {epoch}"
        self.saved.append(
            save_sample_grid(self.out_dir / name, images, labels, self.n_per_class, title=title)
        )
        if self.steps:
            self.saved.append(
                save_loss_curve(
                    self.out_dir / "loss.png", self.steps, title=f"training losses (epoch {epoch})"
                )
            )
