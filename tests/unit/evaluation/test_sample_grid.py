"""Sample grids: a digit large enough to see (nearest-neighbour upscaling), a real reference
row above each class's generated row, and the old calls unchanged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from genbalance.evaluation.plots import (
    MIN_CELL_PX,
    TrainingSnapshots,
    sample_grid_figure,
    save_sample_grid,
)
from genbalance.evaluation.report_figures import grid_png


def gray(path_or_bytes) -> np.ndarray:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as im:
        return np.asarray(im.convert("L"), dtype=np.int16)


def canvas(px: np.ndarray) -> np.ndarray:
    """The grid's own pixels, inside the white figure: the box spanned by its gap lines, the
    rows and columns that are (almost) all grey background (0.5), which no label fills."""
    grey = np.abs(px - 127.5) <= 1.5
    rows = np.flatnonzero(grey.sum(1) >= 0.95 * grey.sum(1).max())
    cols = np.flatnonzero(grey.sum(0) >= 0.95 * grey.sum(0).max())
    return px[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def runs(line: np.ndarray) -> list[tuple[int, int]]:
    """``(value, length)`` of the runs of black (0) and white (255) pixels along a line."""
    out: list[tuple[int, int]] = []
    for v in line.tolist():
        if v not in (0, 255):
            out.append((-1, 0))
        elif out and out[-1][0] == v:
            out[-1] = (v, out[-1][1] + 1)
        else:
            out.append((v, 1))
    return [r for r in out if r[0] != -1]


def constant_images(values: list[float], n: int) -> np.ndarray:
    return np.concatenate([np.full((n, 8, 8), v, dtype=np.float32) for v in values])


def test_old_call_still_works_and_a_digit_is_drawn_32_px_by_nearest_neighbour(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = (rng.random((6, 8, 8)) > 0.5).astype(np.float32)  # black and white pixels
    labels = np.repeat([0, 1], 3)
    path = save_sample_grid(tmp_path / "g.png", images, labels, 3)  # the old positional call
    px = canvas(gray(path))
    assert MIN_CELL_PX == 32 and px.shape[1] >= 3 * 32 and px.shape[0] >= 2 * 32
    # every image pixel is a uniform 4x4 block: find the first cell by its black/white pixels
    ys, xs = np.nonzero((px == 0) | (px == 255))
    top, left = ys.min(), xs.min()
    cell = px[top : top + 32, left : left + 32]
    blocks = cell.reshape(8, 4, 8, 4)
    assert (blocks == blocks[:, :1, :, :1]).all()
    assert set(np.unique(cell).tolist()) <= {0, 255}


def test_real_reference_row_above_each_generated_row(tmp_path) -> None:
    generated = constant_images([0.0, 0.0], 4)  # black
    real = constant_images([1.0, 1.0], 5)  # white
    path = save_sample_grid(
        tmp_path / "g.png",
        generated,
        np.repeat(["a", "b"], 4),
        n_per_class=4,
        real_images=real,
        real_labels=np.repeat(["a", "b"], 5),
    )
    px = canvas(gray(path))
    ys, xs = np.nonzero(px == 255)
    column = px[:, xs.min() + 16]  # through the first cell of every row
    assert runs(column) == [(255, 32), (0, 32), (255, 32), (0, 32)]  # a: real, gen; b: ...
    row = px[ys.min() + 16]
    assert runs(row) == [(255, 32)] * 4  # n_per_class real images in the reference row
    with_real = gray(path)
    without = gray(save_sample_grid(tmp_path / "h.png", generated, np.repeat(["a", "b"], 4), 4))
    assert with_real.shape[0] >= without.shape[0] + 2 * 32  # a real row per class
    assert runs(canvas(without)[:, 2 + 16]) == [(0, 32), (0, 32)]  # generated rows only


def test_real_images_checked_and_report_grid_takes_them() -> None:
    generated, labels = constant_images([0.0, 1.0], 2), np.repeat([0, 1], 2)
    with pytest.raises(ValueError, match="real_labels"):
        sample_grid_figure(generated, labels, real_images=generated)
    with pytest.raises(ValueError, match="shape"):
        sample_grid_figure(generated, labels, real_images=np.zeros((4, 6, 6)), real_labels=labels)
    plain = grid_png(generated, labels, "caption", 0)
    with_real = grid_png(generated, labels, "caption", 0, real_images=generated, real_labels=labels)
    assert plain.startswith(b"\x89PNG") and with_real.startswith(b"\x89PNG")
    assert gray(with_real).shape[0] > gray(plain).shape[0] + 2 * 32  # two more rows


def test_snapshots_draw_the_real_row_when_given(tmp_path) -> None:
    real = constant_images([1.0, 1.0], 3), np.repeat([0, 1], 3)
    snaps = TrainingSnapshots(
        tmp_path, 1, 1, lambda epoch: (constant_images([0.0, 0.0], 3), real[1]), 3, real=real
    )
    snaps.snapshot(1, final=True)
    px = canvas(gray(tmp_path / "grid_final.png"))
    ys, xs = np.nonzero(px == 255)
    assert runs(px[:, xs.min() + 16]) == [(255, 32), (0, 32), (255, 32), (0, 32)]
