"""Hostile files and racing writers (issue: hostile-input audit, tasks 2, 4 and 5).

Image files whose headers lie about their size, outputs that are links or devices, two writers
racing for one name, a kill in the middle of a forced write, output folders that are not
genbalance's, and streamed tables that the in-memory path would refuse.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from genbalance.data import images as image_data
from genbalance.data.chunks import EXACT_INT_LIMIT, ChunkReader, TableWriter, scan_table
from genbalance.data.images import (
    FOLDER_MANIFEST,
    load_idx,
    load_image_folder,
    load_npz,
    save_image_folder,
    save_npz,
)
from genbalance.files import atomic_write_bytes, publish

GiB = 2**30


def _idx(shape: tuple[int, ...], data: bytes = b"", kind: int = 0x08) -> bytes:
    return bytes([0, 0, kind, len(shape)]) + np.asarray(shape, ">u4").tobytes() + data


def _labels(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "labels.idx"
    path.write_bytes(_idx((n,), bytes(n)))
    return path


def _max_rss_kib() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---------------------------------------------------------------------- IDX
def test_gzip_idx_declaring_gigabytes_is_refused_before_inflating(tmp_path):
    # the audit's file: a small gzip whose header declares 2,000,000 28x28 images (1.57 GB)
    path = tmp_path / "bomb.idx.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(_idx((2_000_000, 28, 28)))
        for _ in range(8):  # 8 MiB of zeros compress to a few KiB: the start of the bomb
            fh.write(bytes(1 << 20))
    assert path.stat().st_size < 100_000
    before = _max_rss_kib()
    t0 = time.perf_counter()
    with pytest.raises(
        ValueError, match=r"1,568,000,000 bytes of image data declared.*MAX_IMAGE_BYTES"
    ):
        load_idx(path, _labels(tmp_path, 3))
    assert time.perf_counter() - t0 < 2.0
    assert _max_rss_kib() - before < 200 * 1024  # never inflated toward 1.5 GB


def test_gzip_idx_that_inflates_past_its_header_is_cut_at_the_declared_size(tmp_path):
    path = tmp_path / "long.idx.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(_idx((10, 10, 10)))  # says 1,000 bytes
        for _ in range(64):  # holds 64 MiB
            fh.write(bytes(1 << 20))
    with pytest.raises(ValueError, match=r"1000 bytes of data\) but the file holds at least 1001"):
        load_idx(path, _labels(tmp_path, 10))


def test_gzip_idx_shorter_than_its_header_is_refused(tmp_path):
    path = tmp_path / "short.idx.gz"
    path.write_bytes(gzip.compress(_idx((1000, 100, 100), bytes(500))))  # says 10 MB, holds 500
    with pytest.raises(ValueError, match=r"holds 500 bytes \(truncated"):
        load_idx(path, _labels(tmp_path, 1000))


def test_big_uncompressed_idx_is_refused_from_its_size_without_reading(tmp_path):
    # a 3 GB file (sparse: no disk used) with a consistent header: refused by the bound
    path = tmp_path / "huge.idx"
    shape = (3_000_000, 1000)
    with open(path, "wb") as fh:
        fh.write(_idx(shape))
        fh.truncate(16 + 3_000_000_000)
    before = _max_rss_kib()
    with pytest.raises(ValueError, match=r"3,000,000,000 bytes of image data declared"):
        load_idx(path, _labels(tmp_path, 3))
    # a header that disagrees with the file size is refused before the data is read
    with open(path, "r+b") as fh:
        fh.write(_idx((10, 10, 10)))
    with pytest.raises(
        ValueError, match=r"1000 bytes of data\) but the file holds 3000000000 bytes"
    ):
        load_idx(path, _labels(tmp_path, 10), max_bytes=4 * GiB)
    assert _max_rss_kib() - before < 200 * 1024


def test_idx_bound_can_be_raised_and_exact_files_still_load(tmp_path):
    X = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name, packer in (("a.idx", bytes), ("a.idx.gz", gzip.compress)):
        path = tmp_path / name
        path.write_bytes(packer(_idx(X.shape, X.tobytes())))
        got, y = load_idx(path, _labels(tmp_path, 2))
        np.testing.assert_array_equal(got, X)
        assert got.flags.writeable and y.tolist() == [0, 0]
        with pytest.raises(ValueError, match="24 bytes of image data declared"):
            load_idx(path, _labels(tmp_path, 2), max_bytes=10)


# ---------------------------------------------------------------------- NPZ
def _npz_with_header(path: Path, shape: tuple[int, ...], data: bytes) -> None:
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    y = io.BytesIO()
    np.save(y, np.zeros(2, np.int64))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", b"\x93NUMPY\x01\x00" + head.getvalue()[8:] + data)
        archive.writestr("y.npy", y.getvalue())


def test_npz_whose_header_declares_gigabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "bomb.npz"
    _npz_with_header(path, (1_000_000, 100, 100), bytes(64))  # says 10 GB, holds 64 bytes
    before = _max_rss_kib()
    with pytest.raises(
        ValueError, match=r"array 'x' \(shape \(1000000, 100, 100\), uint8\): 10,000,000,000 bytes"
    ):
        load_npz(path)
    with pytest.raises(ValueError, match=r"declares shape \(2, 100, 100\) .* holds 64 bytes"):
        _npz_with_header(path, (2, 100, 100), bytes(64))
        load_npz(path)
    assert _max_rss_kib() - before < 200 * 1024


def test_npz_that_is_not_a_zip_is_a_clear_error(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not an .npz file"):
        load_npz(path)


# ---------------------------------------------------------------------- folders
def _folder(root: Path, classes: dict[str, int], size=(6, 5)) -> Path:
    for name, n in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full(size[::-1], 40 * i, np.uint8)).save(root / name / f"{i}.png")
    return root


def test_folder_bigger_than_the_bound_is_refused_before_decoding(tmp_path):
    root = _folder(tmp_path / "in", {"a": 3, "b": 2})
    with pytest.raises(ValueError, match=r"5 images of 6x5x1: 150 bytes of image data declared"):
        load_image_folder(root, max_bytes=100)
    assert load_image_folder(root, max_bytes=150)[0].shape == (5, 5, 6)


def test_an_image_of_another_size_is_refused_before_its_pixels_are_decoded(tmp_path, monkeypatch):
    root = _folder(tmp_path / "in", {"a": 2})
    Image.fromarray(np.zeros((4000, 4000), np.uint8)).save(root / "a" / "z_big.png")
    loaded = []
    real_load = Image.Image.load

    def spy(self):
        loaded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", spy)
    with pytest.raises(ValueError, match=r"z_big\.png is 4000x4000"):
        load_image_folder(root)
    assert (4000, 4000) not in loaded


# ---------------------------------------------------------------------- image outputs
def test_save_npz_refuses_an_existing_file_and_replaces_only_with_overwrite(tmp_path):
    X = np.zeros((2, 3, 3), np.uint8)
    path = save_npz(tmp_path / "o.npz", X, [0, 1])
    with pytest.raises(FileExistsError, match="exists"):
        save_npz(path, X + 1, [0, 1])
    assert load_npz(path)[0].max() == 0
    save_npz(path, X + 1, [0, 1], overwrite=True)
    assert load_npz(path)[0].max() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["o.npz"]  # no temporary left behind


def test_save_npz_refuses_links_and_fifos_even_with_overwrite(tmp_path):
    X = np.zeros((2, 3, 3), np.uint8)
    target = tmp_path / "real.npz"
    target.write_bytes(b"keep me")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    for path, kind in ((link, "symbolic link"), (fifo, "FIFO")):
        with pytest.raises(FileExistsError, match=f"is a {kind}"):
            save_npz(path, X, [0, 1], overwrite=True)
    assert link.is_symlink() and target.read_bytes() == b"keep me"
    assert fifo.is_fifo()


_WRITER = """
import sys, numpy as np
from genbalance.data.images import save_npz
path = sys.argv[1]
print("ready", flush=True)
for i in range(1000):
    save_npz(path, np.full((300, 64, 64), i % 250, np.uint8), np.arange(300) % 2, overwrite=True)
"""


def test_sigkill_during_a_forced_npz_write_never_leaves_a_partial_file(tmp_path):
    path = tmp_path / "out.npz"
    save_npz(path, np.full((300, 64, 64), 7, np.uint8), np.arange(300) % 2)
    rng = np.random.default_rng(0)
    outcomes = []
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert path.stat().st_size > 0
        X, y = load_npz(path)  # always a whole file: the old one or a new complete one
        assert X.shape == (300, 64, 64) and len(np.unique(X)) == 1 and len(y) == 300
        outcomes.append(int(X[0, 0, 0]))
    assert len(outcomes) == 3


def test_image_folder_output_rules(tmp_path):
    X = np.zeros((4, 5, 5), np.uint8)
    out = tmp_path / "out"
    save_image_folder(out, X, ["a", "b", "c", "c"])
    manifest = json.loads((out / FOLDER_MANIFEST).read_text())
    assert len(manifest["files"]) == 4
    with pytest.raises(FileExistsError, match="exists"):
        save_image_folder(out, X, ["a", "a", "b", "b"])
    # under overwrite, what genbalance wrote is replaced as a whole: no stale class 'c'
    save_image_folder(out, X, ["a", "a", "b", "b"], overwrite=True)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a", "b"]
    assert sorted(set(load_image_folder(out)[1])) == ["a", "b"]
    # a file the user added is never deleted, even with overwrite
    (out / "a" / "mine.txt").write_text("notes")
    with pytest.raises(FileExistsError, match=r"did not write there \(\['a/mine.txt'\]\)"):
        save_image_folder(out, X, ["a", "a", "b", "b"], overwrite=True)
    assert (out / "a" / "mine.txt").read_text() == "notes"
    # a folder genbalance did not write is never cleared
    theirs = _folder(tmp_path / "theirs", {"x": 1})
    with pytest.raises(FileExistsError, match="did not write"):
        save_image_folder(theirs, X, ["a", "a", "b", "b"], overwrite=True)
    assert (theirs / "x" / "0.png").exists()
    # an existing empty folder is fine; no temporary folder is left anywhere
    (tmp_path / "empty").mkdir()
    save_image_folder(tmp_path / "empty", X, [1, 1, 2, 2])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with pytest.raises(ValueError, match="cannot be a folder name"):
        save_image_folder(tmp_path / "dot", X, [".hidden"] * 4)


# ---------------------------------------------------------------------- racing writers
def test_two_table_writers_racing_for_one_name_exactly_one_wins(tmp_path):
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"same{suffix}"
        first, second = TableWriter(path), TableWriter(path)  # both started before either ends
        first.write(pd.DataFrame({"a": [1, 2, 3]}))
        second.write(pd.DataFrame({"a": [9, 9]}))
        first.close()
        with pytest.raises(FileExistsError, match="exists"):
            with second:
                pass  # __exit__ closes: the publish fails, the temporary is removed
        got = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        assert got["a"].tolist() == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.csv", "same.parquet"]


def test_forced_writes_refuse_links_fifos_and_folders(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("a\n1\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    for path, kind in ((link, "symbolic link"), (fifo, "FIFO"), (folder, "directory")):
        with pytest.raises(FileExistsError, match=f"is a {kind}"):
            TableWriter(path, force=True)
        with pytest.raises(FileExistsError, match=f"is a {kind}"):
            atomic_write_bytes(path, b"x", overwrite=True)
    assert link.is_symlink() and real.read_text() == "a\n1\n" and fifo.is_fifo()
    # a link that appears after the start is still not replaced at publish time
    writer = TableWriter(tmp_path / "late.csv", force=True)
    writer.write(pd.DataFrame({"a": [1]}))
    (tmp_path / "late.csv").symlink_to(real)
    with pytest.raises(FileExistsError, match="symbolic link"):
        writer.close()
    assert real.read_text() == "a\n1\n"


def test_publish_without_overwrite_never_replaces(tmp_path):
    target = tmp_path / "t"
    target.write_bytes(b"first")
    tmp = tmp_path / ".t.tmp"
    tmp.write_bytes(b"second")
    with pytest.raises(FileExistsError):
        publish(tmp, target, overwrite=False)
    assert target.read_bytes() == b"first" and not tmp.exists()


# ---------------------------------------------------------------------- streamed tables
def test_streaming_refuses_empty_and_na_target_cells_like_the_in_memory_path(tmp_path):
    for cell in ("", "NA", "null"):
        path = tmp_path / "t.csv"
        rows = [f"{i},{'a' if i % 2 else 'b'}" for i in range(40)]
        rows[17] = f"17,{cell}"
        path.write_text("x,y\n" + "\n".join(rows) + "\n")
        with pytest.raises(ValueError, match=r"target column 'y' has 1 missing label.*row 17"):
            scan_table(path, "y", chunk_rows=16)
        with pytest.raises(ValueError, match="missing"):
            pd.read_csv(path).pipe(lambda f: _in_memory_labels(f["y"]))


def _in_memory_labels(y: pd.Series) -> None:
    from genbalance.data.validation import check_labels

    check_labels(y)


def test_streaming_refuses_a_duplicate_header(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,a,y\n1,2,x\n3,4,z\n")
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        ChunkReader(path)
    table = pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array(["x", "z"])], ["b", "b", "y"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(ValueError, match=r"duplicate column names \['b'\]"):
        scan_table(tmp_path / "dup.parquet", "y")


def test_integers_beyond_float_precision_are_refused_not_rounded(tmp_path):
    big = EXACT_INT_LIMIT + 1  # 9007199254740993: float64 makes it ...992
    frame = pd.DataFrame({"id": [1, 2, big, 4], "v": [0.5, 1.5, 2.5, 3.5], "y": [0, 1, 0, 1]})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    frame.to_csv(tmp_path / "t.csv", index=False)
    for name in ("t.parquet", "t.csv"):
        with pytest.raises(ValueError, match=r"integer column 'id' .* 2\*\*53 .* rounded"):
            scan_table(tmp_path / name, "y")
    # with a missing value too (pyarrow would turn the column into float64)
    frame["id"] = pd.array([1, None, -big, 4], dtype="Int64")
    frame.to_parquet(tmp_path / "n.parquet", index=False)
    with pytest.raises(ValueError, match="integer column 'id'"):
        scan_table(tmp_path / "n.parquet", "y")
    # labels stay exact: two classes 2**60 and 2**60 + 1 stay two classes
    labels = pd.DataFrame({"v": [0.1, 0.2, 0.3, 0.4], "y": [2**60, 2**60 + 1] * 2})
    labels.to_parquet(tmp_path / "l.parquet", index=False)
    scan = scan_table(tmp_path / "l.parquet", "y")
    assert scan.classes.tolist() == [2**60, 2**60 + 1]
    # integers below the limit are read as before
    ok = pd.DataFrame({"id": [1, 2, EXACT_INT_LIMIT - 1, 4], "y": [0, 1, 0, 1]})
    ok.to_parquet(tmp_path / "ok.parquet", index=False)
    assert scan_table(tmp_path / "ok.parquet", "y").n_rows == 4


def test_image_data_bound_is_a_documented_constant():
    assert image_data.MAX_IMAGE_BYTES == GiB


@pytest.mark.parametrize(
    ("cells", "kind"),
    [([[1, 2]] * 30, "list"), ([{"k": 1}] * 30, "struct"), ([[("k", 1)]] * 30, "map")],
)
def test_nested_parquet_columns_are_refused_on_both_paths(tmp_path, cells, kind):
    from genbalance.data.validation import validate_frame

    arrays = {"a": pa.array(np.arange(30.0)), "t": pa.array(["x"] * 20 + ["y"] * 10)}
    if kind == "map":
        arrays["n"] = pa.array(cells, type=pa.map_(pa.string(), pa.int64()))
    else:
        arrays["n"] = pa.array(cells)
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table(arrays), path)
    with pytest.raises(ValueError, match=rf"column 'n' is a nested {kind}"):
        scan_table(path, "t")
    frame = pd.read_parquet(path)
    with pytest.raises(ValueError, match=r"column 'n' holds"):
        validate_frame(frame.drop(columns=["t"]))
