"""PNG figures: per-class sample grids and loss curves (matplotlib, Agg canvas).

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so nothing
here touches pyplot's global state or the user's chosen backend. :class:`TrainingSnapshots`
saves both figures every ``every`` epochs while a model trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genbalance.encoders.images import to_float_images

__all__ = [
    "MIN_CELL_PX",
    "TrainingSnapshots",
    "sample_grid_figure",
    "save_loss_curve",
    "save_sample_grid",
]


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


#: the least pixels per image side in a sample grid: small images (8x8 digits) are upscaled by
#: a whole factor (nearest neighbour, no smoothing) until a digit can be seen
MIN_CELL_PX = 32
GAP_PX = 2  # between cells; twice that between classes when real rows are shown
LABEL_PX_PER_CHAR = 6  # room for the row labels (8-point text)


def _grid_rows(
    imgs: np.ndarray,
    labels: np.ndarray,
    classes: list,
    cols: int,
    rng: np.random.Generator,
    real: tuple[np.ndarray, np.ndarray] | None,
) -> list[tuple[str, np.ndarray, bool]]:
    """``(row label, images of the row, first row of its class)`` per grid row: per class,
    its real reference row (when ``real`` is given) and then its generated row."""
    rows = []
    for cls in classes:
        pools = [] if real is None else [(f"{cls} real", *real)]
        pools.append((f"{cls} generated" if real is not None else str(cls), imgs, labels))
        for i, (name, pool, pool_labels) in enumerate(pools):
            idx = np.flatnonzero(pool_labels == cls)
            if len(idx) > cols:
                idx = np.sort(rng.choice(idx, cols, replace=False))
            rows.append((name, pool[idx], i == 0))
    return rows


def sample_grid_figure(
    images,
    labels,
    n_per_class: int = 10,
    class_names: Sequence | None = None,
    title: str | None = None,
    random_state: int | None = 0,
    real_images=None,
    real_labels=None,
    min_cell_px: int = MIN_CELL_PX,
):
    """The figure of :func:`save_sample_grid`, drawn pixel for pixel (``figimage`` at the
    figure's dpi: a cell is exactly its image upscaled, never resampled by matplotlib)."""
    imgs = to_float_images(images, "images")
    labels = np.asarray(labels)
    if labels.shape != (len(imgs),):
        raise ValueError(f"labels has shape {labels.shape}, expected ({len(imgs)},)")
    real = None
    if real_images is not None:
        real_imgs = to_float_images(real_images, "real_images")
        real_y = np.asarray(real_labels) if real_labels is not None else None
        if real_y is None or real_y.shape != (len(real_imgs),):
            raise ValueError("real_images needs real_labels, one label per real image")
        if real_imgs.shape[1:] != imgs.shape[1:]:
            raise ValueError(
                f"real images have shape {real_imgs.shape[1:]}, generated {imgs.shape[1:]}"
            )
        real = (real_imgs, real_y)
    classes = list(np.unique(labels)) if class_names is None else list(class_names)
    rng = np.random.default_rng(random_state)
    h, w, c = imgs.shape[1:]
    scale = max(1, math.ceil(min_cell_px / min(h, w)))
    cols = max(1, int(n_per_class))
    rows = _grid_rows(imgs, labels, classes, cols, rng, real)
    ch, cw = h * scale, w * scale
    group_gap = 2 * GAP_PX if real is not None else 0
    tops, y = [], GAP_PX
    for r, (_, _, first) in enumerate(rows):
        y += group_gap if first and r > 0 else 0
        tops.append(y)
        y += ch + GAP_PX
    canvas = np.full((y, GAP_PX + cols * (cw + GAP_PX), c), 0.5, dtype=np.float32)
    for top, (_, row_imgs, _) in zip(tops, rows, strict=True):
        for j, im in enumerate(row_imgs):
            left = GAP_PX + j * (cw + GAP_PX)
            canvas[top : top + ch, left : left + cw] = np.kron(im, np.ones((scale, scale, 1)))
    left_px = 8 + LABEL_PX_PER_CHAR * max(len(name) for name, _, _ in rows)
    top_px, bottom_px, right_px = (22 if title else 6), 6, 6
    width, height = left_px + canvas.shape[1] + right_px, top_px + canvas.shape[0] + bottom_px
    fig = figure((width + 0.5) / 100, (height + 0.5) / 100)  # Agg truncates: whole pixels
    image = canvas[..., 0] if c == 1 else canvas
    fig.figimage(image, xo=left_px, yo=bottom_px, origin="upper", cmap="gray", vmin=0, vmax=1)
    for top, (name, _, _) in zip(tops, rows, strict=True):
        y_px = height - top_px - top - ch / 2
        fig.text((left_px - 4) / width, y_px / height, name, ha="right", va="center", fontsize=8)
    if title:
        fig.text(0.5, 1 - 4 / height, title, ha="center", va="top", fontsize=9)
    return fig


def save_sample_grid(
    path,
    images,
    labels,
    n_per_class: int = 10,
    class_names: Sequence | None = None,
    title: str | None = None,
    random_state: int | None = 0,
    real_images=None,
    real_labels=None,
    min_cell_px: int = MIN_CELL_PX,
) -> Path:
    """One row per class (sorted labels), up to ``n_per_class`` images each, as a PNG.

    ``images`` is any accepted image array ((N, H, W) or (N, H, W, C); uint8 or [0, 1] float).
    With ``real_images`` and their ``real_labels``, each class gets a row of real images above
    its generated row: a collapsed class shows as a row of near-copies under a varied one.
    Images are upscaled by a whole factor (nearest neighbour) to at least ``min_cell_px``
    pixels a side, so that an 8x8 digit is drawn 32x32.
    """
    fig = sample_grid_figure(
        images,
        labels,
        n_per_class,
        class_names,
        title,
        random_state,
        real_images,
        real_labels,
        min_cell_px,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=fig.dpi)  # the figure's dpi: one canvas pixel each
    return path


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
    ``out_dir``. :meth:`detach` restores the model's own ``train_step``. ``real``: optional
    ``(images, labels)`` of the training data, drawn as a reference row above each class.
    """

    def __init__(
        self,
        out_dir,
        every: int,
        steps_per_epoch: int,
        draw: Callable[[int], tuple[Any, Any]],
        n_per_class: int = 10,
        real: tuple[Any, Any] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"sample_every must be >= 1 epoch, got {every}")
        self.out_dir = Path(out_dir)
        self.every_steps = max(1, int(every) * int(steps_per_epoch))
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.draw = draw
        self.n_per_class = n_per_class
        self.real = real
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
        real_images, real_labels = self.real if self.real is not None else (None, None)
        self.saved.append(
            save_sample_grid(
                self.out_dir / name,
                images,
                labels,
                self.n_per_class,
                title=title,
                real_images=real_images,
                real_labels=real_labels,
            )
        )
        if self.steps:
            self.saved.append(
                save_loss_curve(
                    self.out_dir / "loss.png", self.steps, title=f"training losses (epoch {epoch})"
                )
            )
