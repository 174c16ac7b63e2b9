"""Image columns: which cells count as images, what is refused, loading and writing back."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genbalance.data.cells import cell_column_kind
from genbalance.data.records import image_cells, image_columns, load_image_column
from genbalance.data.validation import check_X_y, validate_frame
from genbalance.encoders.tabular import TabularEncoder


def object_column(cells: list) -> pd.Series:
    out = np.empty(len(cells), dtype=object)
    for i, c in enumerate(cells):
        out[i] = c
    return pd.Series(out)


def frame_with(cells: list) -> pd.DataFrame:
    n = len(cells)
    return pd.DataFrame({"x": np.arange(n, dtype=float), "c": object_column(cells)})


def images(n: int = 4, shape: tuple = (5, 6)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random(shape).astype(np.float32) for _ in range(n)]


# ------------------------------------------------------------------ the one rule
def test_array_and_path_columns_are_image_columns_text_is_not():
    frame = frame_with(images())
    frame["p"] = ["a.png", "b.PNG", "c.npy", "d.jpeg"]
    frame["t"] = ["a.png", "b", "c", "d"]
    assert image_columns(frame) == ["c", "p"]
    assert cell_column_kind("t", frame["t"]) == "table"
    assert cell_column_kind("x", frame["x"]) == "table"


@pytest.mark.parametrize(
    ("cell", "what"),
    [
        ([1, 2], "list"),
        (np.arange(3.0), "1-D array"),
        ({"a": 1}, "dict"),
        ((1, 2), "tuple"),
        (np.zeros((2, 2, 2, 2)), "4-D array"),
    ],
)
def test_non_scalar_cells_are_refused_naming_column_and_row(cell, what):
    frame = frame_with(["u", "v", cell, "w"])
    with pytest.raises(ValueError, match=rf"column 'c' holds a {what} at row 2.*accepted"):
        validate_frame(frame)
    with pytest.raises(ValueError, match="column 'c'.*row 2"):
        TabularEncoder().fit(frame)


def test_arrays_mixed_with_scalars_are_refused():
    frame = frame_with([*images(2), 3.0, images(1)[0]])
    with pytest.raises(ValueError, match=r"column 'c' mixes image arrays .* \(row 2: 3.0\)"):
        check_X_y(frame, np.array([0, 1, 0, 1]), allow_images=True)


def test_image_columns_are_refused_where_only_tables_are_modelled():
    frame = frame_with(images())
    with pytest.raises(ValueError, match="column 'c' is an image column"):
        validate_frame(frame)
    with pytest.raises(
        ValueError, match="column 'c' is an image column.*models table columns only"
    ):
        TabularEncoder().fit(frame)
    validate_frame(frame, allow_images=True)  # accepted by the callers that model them


def test_object_text_and_numbers_stay_table_columns():
    frame = pd.DataFrame({"m": pd.Series(["a", 1.5, None, "b"], dtype=object)})
    assert image_columns(frame) == []
    TabularEncoder().fit(frame)  # mixed scalars are still categories


# ------------------------------------------------------------------ loading
def test_array_cells_load_as_channels_first_floats():
    cells = [np.full((5, 6), k * 50, dtype=np.uint8) for k in range(4)]
    pixels, col = load_image_column(frame_with(cells), "c")
    assert pixels.shape == (4, 1, 5, 6) and pixels.dtype == np.float32
    assert np.allclose(pixels[2], 100 / 255)
    assert (col.form, col.shape, col.dtype, col.chw) == ("array", [5, 6], "uint8", [1, 5, 6])


def test_different_shapes_in_one_column_are_refused():
    cells = [*images(2), images(1, (6, 5))[0], images(1)[0]]
    with pytest.raises(ValueError, match=r"column 'c', row 2: an image of shape \(6, 5\).*row 0"):
        load_image_column(frame_with(cells), "c")


def test_nan_pixels_are_refused_naming_row_and_column():
    cells = images()
    cells[3][1, 1] = np.nan
    frame = frame_with(cells)
    frame.index = list("abcd")
    with pytest.raises(ValueError, match=r"column 'c', row 3 \(index 'd'\).*NaN"):
        load_image_column(frame, "c")


def test_out_of_range_and_integer_pixels_are_refused():
    with pytest.raises(ValueError, match="row 0.*outside"):
        load_image_column(frame_with([np.full((3, 3), 2.0), np.zeros((3, 3))]), "c")
    with pytest.raises(ValueError, match="row 1.*dtype int64"):
        load_image_column(frame_with([np.zeros((3, 3)), np.zeros((3, 3), dtype=np.int64)]), "c")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((4, 4), 60 * i, dtype=np.uint8)).save(root / f"{i}.png")
    np.save(root / "a.npy", np.full((4, 4), 0.5, dtype=np.float32))
    return root


def test_path_cells_load_png_and_npy(folder):
    frame = pd.DataFrame({"p": ["0.png", "1.png", "2.png"]})
    pixels, col = load_image_column(frame, "p", image_root=folder)
    assert pixels.shape == (3, 1, 4, 4) and np.allclose(pixels[1], 60 / 255)
    assert (col.form, col.suffix, col.dtype) == ("file", ".png", "uint8")
    npy, col = load_image_column(pd.DataFrame({"p": ["a.npy", "a.npy"]}), "p", folder)
    assert np.allclose(npy, 0.5) and col.dtype == "float32"


def test_unreadable_and_missing_files_are_refused(folder):
    (folder / "bad.png").write_bytes(b"not an image at all")
    frame = pd.DataFrame({"p": ["0.png", "bad.png"]})
    with pytest.raises(ValueError, match=r"column 'p', row 1: cannot read image .*bad.png"):
        load_image_column(frame, "p", image_root=folder)
    with pytest.raises(ValueError, match=r"column 'p', row 1: cannot read .*gone.png"):
        load_image_column(pd.DataFrame({"p": ["0.png", "gone.png"]}), "p", folder)


def test_pickled_npy_is_refused(folder):
    np.save(folder / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"row 1: cannot read .*obj.npy"):
        load_image_column(pd.DataFrame({"p": ["a.npy", "obj.npy"]}), "p", folder)


def test_paths_outside_the_root_are_refused(folder, tmp_path):
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", folder / "link.png")
    for escape in ("../outside.png", str(tmp_path / "outside.png"), "link.png"):
        frame = pd.DataFrame({"p": ["0.png", escape]})
        with pytest.raises(ValueError, match=r"column 'p', row 1: .*outside image_root"):
            load_image_column(frame, "p", image_root=folder)


def test_missing_image_cells_are_refused(folder):
    with pytest.raises(ValueError, match=r"column 'p', row 1: the image is missing"):
        load_image_column(pd.DataFrame({"p": ["0.png", None]}), "p", folder)


# ------------------------------------------------------------------ writing back
def test_generated_images_come_back_as_arrays_of_the_column_form():
    cells = [np.zeros((5, 6, 3), dtype=np.uint8) for _ in range(2)]
    _, col = load_image_column(frame_with(cells), "c")
    out = image_cells(np.full((2, 3, 5, 6), 0.5, dtype=np.float32), col)
    assert all(c.shape == (5, 6, 3) and c.dtype == np.uint8 for c in out)
    assert out[0][0, 0, 0] == 128


def test_generated_files_never_replace_existing_ones(folder):
    _, col = load_image_column(pd.DataFrame({"p": ["0.png", "1.png"]}), "p", folder)
    out_dir = folder / "generated"
    out_dir.mkdir()
    (out_dir / "p-000000.png").write_bytes(b"keep me")
    cells = image_cells(np.full((2, 1, 4, 4), 1.0, dtype=np.float32), col, out_dir, folder)
    assert cells == ["generated/p-000001.png", "generated/p-000002.png"]
    assert (out_dir / "p-000000.png").read_bytes() == b"keep me"
    back, _ = load_image_column(pd.DataFrame({"p": cells}), "p", folder)
    assert np.allclose(back, 1.0)


def test_without_a_root_the_current_folder_contains_the_paths(folder, tmp_path, monkeypatch):
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "outside.png")
    monkeypatch.chdir(folder)
    pixels, _ = load_image_column(pd.DataFrame({"p": ["0.png", "1.png"]}), "p")
    assert pixels.shape == (2, 1, 4, 4)
    frame = pd.DataFrame({"p": ["0.png", str(tmp_path / "outside.png")]})
    with pytest.raises(ValueError, match=r"column 'p', row 1: .*outside image_root"):
        load_image_column(frame, "p")
