"""Image columns of a table: find them, load their cells, write generated images back.

A record is a table row whose image column(s) hold a picture: a 2-D ``(H, W)`` / 3-D
``(H, W, C)`` numpy array per cell, or the path of a ``.png`` / ``.jpg`` / ``.jpeg`` / ``.npy``
file (which cells count as images is :func:`genbalance.data.kinds.cell_column_kind`'s rule).
Loading checks what a model needs and names the row and column of any bad cell: one shape per
column, readable files, no NaN, pixel values in range, and every path inside ``image_root``
(the current folder without one; after resolving ``..`` and links). Generated images go back
in the form they came in: arrays of the same shape and dtype, or new files (never an existing
one replaced) whose paths fill the cells.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from genbalance.data.cells import cell_column_kind, row_name
from genbalance.files import atomic_write

__all__ = [
    "MAX_RECORD_IMAGE_BYTES",
    "ImageColumn",
    "image_cells",
    "image_columns",
    "load_image_column",
    "path_cells",
    "read_image_file",
    "rebase_path_cells",
    "resolve_cell_path",
]

#: the most bytes one image column may hold once loaded as float32 (all rows together)
MAX_RECORD_IMAGE_BYTES = 2**30
_ACCEPTED = (
    "accepted: 2-D (H, W) or 3-D (H, W, C) arrays with C in {1, 3}, uint8 (0..255) or float "
    "(0..1), one shape per column; or paths of .png/.jpg/.jpeg (8-bit grayscale or RGB) or "
    ".npy files holding such an array"
)
#: what a path cell must name (said with every file that cannot be read or lies outside)
PATH_CELLS = (
    "a path cell names a readable .png/.jpg/.jpeg (8-bit grayscale or RGB) or .npy file "
    "inside image_root (relative paths start there)"
)


@dataclass
class ImageColumn:
    """What is known about one image column: enough to give generated images back in the
    form the column came in (``form`` "array" or "file", cell ``shape`` and ``dtype``, the
    file ``suffix``)."""

    name: str
    form: str
    shape: list[int]
    dtype: str
    suffix: str | None = None

    @property
    def chw(self) -> list[int]:
        """The image as the networks see it: ``[C, H, W]``."""
        h, w = self.shape[:2]
        return [self.shape[2] if len(self.shape) == 3 else 1, h, w]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImageColumn:
        col = cls(
            name=str(d["name"]),
            form=str(d["form"]),
            shape=[int(v) for v in d["shape"]],
            dtype=str(d["dtype"]),
            suffix=d.get("suffix"),
        )
        if col.form not in ("array", "file") or len(col.shape) not in (2, 3):
            raise ValueError(f"bad image column description {d!r}")
        if col.dtype not in ("uint8", "float32", "float64", "float16"):
            raise ValueError(f"bad image dtype {col.dtype!r}")
        return col


def image_columns(frame: pd.DataFrame) -> list[str]:
    """The image columns of ``frame``, in order (refuses lists, 1-D arrays, dicts...)."""
    return [c for c in frame.columns if cell_column_kind(c, frame[c]) == "image"]


# ---------------------------------------------------------------------- reading
def _where(frame: pd.DataFrame, name: str, pos: int) -> str:
    return f"column {name!r}, {row_name(frame.index, pos)}"


def resolve_cell_path(value: Any, root: Path | None) -> Path:
    """The file a path cell names: relative paths are taken from ``root`` (the current folder
    without one), and a path that resolves outside that folder is refused (safe by default:
    a table from elsewhere cannot make genbalance read arbitrary files)."""
    path = Path(str(value)).expanduser()
    base = root if root is not None else Path.cwd()
    full = (path if path.is_absolute() else base / path).resolve()
    if not full.is_relative_to(base.resolve()):
        raise ValueError(f"path {str(value)!r} resolves to {full}, outside image_root {base}")
    return full


def read_image_file(path: Path, max_bytes: int = MAX_RECORD_IMAGE_BYTES) -> np.ndarray:
    """One image file as an array: ``.npy`` without pickles, PNG/JPEG through Pillow as uint8
    (grayscale (H, W), RGB (H, W, 3)); ValueError for anything unreadable."""
    if not path.is_file():
        raise ValueError(f"cannot read {path}: no such file")
    if path.suffix.lower() == ".npy":
        if path.stat().st_size > max_bytes:
            raise ValueError(f"cannot read {path}: larger than {max_bytes} bytes")
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"cannot read {path}: {exc}") from None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if math.prod(im.size) * len(im.getbands()) > max_bytes:
                raise ValueError(f"cannot read {path}: {im.size} is larger than {max_bytes} bytes")
            im.load()
            if im.mode in ("1", "P"):
                im = im.convert("L" if im.mode == "1" else "RGB")
            if im.mode not in ("L", "RGB"):
                raise ValueError(f"{path} has mode {im.mode}; {_ACCEPTED}")
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None


def _checked_cell(arr: Any, where: str) -> np.ndarray:
    """One cell's image as float32 (H, W, C) in [0, 1], with errors that name ``where``."""
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
        raise ValueError(f"{where}: an image of shape {arr.shape}; {_ACCEPTED}")
    if min(arr.shape[:2]) < 1:
        raise ValueError(f"{where}: an empty image of shape {arr.shape}")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError(f"{where}: the image holds NaN or infinite pixels; {_ACCEPTED}")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(
                f"{where}: float pixels in [{arr.min():g}, {arr.max():g}], outside [0, 1]; "
                "divide by 255 (or the maximum) first"
            )
        out = arr.astype(np.float32)
    else:
        raise ValueError(f"{where}: pixels of dtype {arr.dtype}; {_ACCEPTED}")
    return out if out.ndim == 3 else out[..., None]


def load_image_column(
    frame: pd.DataFrame,
    name: str,
    image_root: str | os.PathLike | None = None,
    max_bytes: int = MAX_RECORD_IMAGE_BYTES,
) -> tuple[np.ndarray, ImageColumn]:
    """The images of column ``name`` as float32 ``(N, C, H, W)`` in [0, 1] (the networks'
    layout) and the column's description. Missing cells, shapes that differ from the first
    row's, unreadable files, NaN pixels and paths outside ``image_root`` are refused, naming
    the row and the column."""
    root = None if image_root is None else Path(image_root)
    if root is not None and not root.is_dir():
        raise NotADirectoryError(f"image_root {root} is not a folder")
    values = frame[name].to_numpy(dtype=object)
    form = "array" if isinstance(values[0], np.ndarray) else "file"
    out: np.ndarray | None = None
    first_shape: tuple[int, ...] = ()
    dtype, suffix = "uint8", None
    for pos, value in enumerate(values):
        where = _where(frame, name, pos)
        if not isinstance(value, np.ndarray) and pd.isna(value):
            raise ValueError(f"{where}: the image is missing; every record needs its image")
        if form == "file":
            try:
                raw = read_image_file(resolve_cell_path(value, root), max_bytes)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}; {PATH_CELLS}") from None
        else:
            raw = value
        img = _checked_cell(raw, where)
        if out is None:
            first_shape = tuple(np.shape(raw))
            if len(values) * img.size * 4 > max_bytes:
                raise ValueError(
                    f"column {name!r}: {len(values)} images of {first_shape} hold "
                    f"more than {max_bytes} bytes"
                )
            out = np.empty((len(values), img.shape[2], *img.shape[:2]), dtype=np.float32)
            dtype = str(np.asarray(raw).dtype)
            suffix = Path(str(value)).suffix.lower() if form == "file" else None
        elif tuple(np.shape(raw)) != first_shape:
            raise ValueError(
                f"{where}: an image of shape {tuple(np.shape(raw))}, but "
                f"{row_name(frame.index, 0)} has {first_shape}; one column holds one shape"
            )
        out[pos] = np.moveaxis(img, 2, 0)
    assert out is not None  # a frame has at least one row (validate_frame)
    return out, ImageColumn(name, form, list(first_shape), dtype, suffix)


def path_cells(frame: pd.DataFrame, name: str, root: str | os.PathLike) -> list[Path]:
    """The resolved files that the path column ``name`` names (before any file is read: a
    path outside ``root`` or a missing cell is refused here, naming the row and column)."""
    base = Path(root)
    files = []
    for pos, value in enumerate(frame[name].to_numpy(dtype=object)):
        where = _where(frame, name, pos)
        if pd.isna(value):
            raise ValueError(f"{where}: the image is missing; every record needs its image")
        try:
            files.append(resolve_cell_path(value, base))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}; {PATH_CELLS}") from None
    return files


def rebase_path_cells(
    values: Any,
    root: str | os.PathLike,
    new_root: str | os.PathLike,
    moved: tuple[Path, Path] | None = None,
) -> list[str]:
    """Path cells relative to ``root`` (or absolute) as POSIX paths relative to ``new_root``,
    so that a table written elsewhere reads back with ``image_root=new_root``. ``moved``:
    ``(tmp, final)`` when files were written under a folder ``tmp`` that is renamed to
    ``final`` afterwards (a folder published whole): their cells name ``final``."""
    base, target = Path(root).resolve(), Path(new_root).resolve()
    old, new = (None, None) if moved is None else (moved[0].resolve(), moved[1].resolve())
    out = []
    for value in values:
        full = (base / Path(str(value)).expanduser()).resolve()
        if old is not None and full.is_relative_to(old):
            full = new / full.relative_to(old)
        if not full.is_relative_to(target):
            raise ValueError(f"image {full} is outside {target}, the folder the cells start from")
        out.append(full.relative_to(target).as_posix())
    return out


# ---------------------------------------------------------------------- writing
def _as_cell(img: np.ndarray, col: ImageColumn) -> np.ndarray:
    """A generated (C, H, W) image in [0, 1] in the column's own shape and dtype."""
    hwc = np.clip(np.moveaxis(img, 0, 2), 0.0, 1.0)
    cell = hwc.reshape(col.shape)
    if col.dtype == "uint8":
        return np.rint(cell * 255.0).astype(np.uint8)
    return cell.astype(col.dtype)


def _writer(cell: np.ndarray, suffix: str) -> Any:
    def write(fh: BinaryIO) -> None:
        if suffix == ".npy":
            np.save(fh, cell, allow_pickle=False)
            return
        from PIL import Image

        pixels = cell if cell.dtype == np.uint8 else np.rint(cell * 255.0).astype(np.uint8)
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = pixels[..., 0]
        Image.fromarray(pixels).save(fh, format="JPEG" if suffix in (".jpg", ".jpeg") else "PNG")

    return write


def image_cells(
    images: np.ndarray,
    col: ImageColumn,
    folder: str | os.PathLike | None = None,
    relative_to: str | os.PathLike | None = None,
) -> list[Any]:
    """Cells for generated images ``(N, C, H, W)`` in [0, 1]: arrays in the column's shape and
    dtype, or (a file column) new files under ``folder`` whose paths fill the cells, relative
    to ``relative_to`` when inside it. A name in use is skipped, and publishing refuses an
    existing file (:func:`genbalance.files.atomic_write`), so no file is ever replaced."""
    cells = [_as_cell(img, col) for img in images]
    if col.form == "array":
        return cells
    if folder is None:
        raise ValueError(f"column {col.name!r} holds image files: give a folder for new images")
    folder = Path(folder)
    base = None if relative_to is None else Path(relative_to).resolve()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", col.name) or "image"
    suffix = col.suffix or ".png"
    out: list[Any] = []
    k = 0
    for cell in cells:
        while os.path.lexists(folder / f"{stem}-{k:06d}{suffix}"):
            k += 1
        path = folder / f"{stem}-{k:06d}{suffix}"
        atomic_write(path, _writer(cell, suffix), overwrite=False)
        full = path.resolve()
        out.append(
            full.relative_to(base).as_posix()
            if base is not None and full.is_relative_to(base)
            else str(full)
        )
        k += 1
    return out
