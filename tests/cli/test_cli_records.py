"""CLI on tables whose column holds image paths: fit, resample and sample with --image-root,
generated images written under the output's folder, read back, never replaced, clear errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from genbalance.cli import app
from genbalance.data.images import load_digits_8x8

runner = CliRunner()
N_ROWS, N_RARE = 48, 12
TINY = ["--epochs", "1", "-q"]


@pytest.fixture(autouse=True)
def quiet_health():
    with warnings.catch_warnings():  # one epoch: the mode-collapse check warns, rightly
        warnings.filterwarnings("ignore", message="possible mode collapse")
        yield


def write_pngs(folder, images) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, img in enumerate(images):
        Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(folder / f"{i}.png")
        names.append(f"{folder.name}/{i}.png")
    return names


def save(frame: pd.DataFrame, path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def read(path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.fixture()
def records(tmp_path):
    """``data/table.csv`` next to ``data/imgs/<i>.png``: digit images, their ink, a label."""
    images, digits = load_digits_8x8()
    images = images[:N_ROWS]
    data = tmp_path / "data"
    names = write_pngs(data / "imgs", images)
    label = np.where(np.arange(N_ROWS) < N_RARE, "seven", "other")
    frame = pd.DataFrame({"ink": images.mean(axis=(1, 2)), "img": names, "label": label})
    return data, frame


def table_file(records, suffix=".csv"):
    data, frame = records
    path = data / f"table{suffix}"
    save(frame, path)
    return path


def tree(folder) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------------------ resample
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_resample_next_to_the_input_writes_images_and_reads_back(records, suffix):
    path = table_file(records, suffix)
    data, frame = records
    out = data / f"balanced{suffix}"
    r = invoke("resample", path, "-t", "label", "-o", out, *TINY)
    assert r.exit_code == 0, r.output
    res = read(out)
    assert list(res.columns) == list(frame.columns)
    assert res["label"].value_counts().to_dict() == {"other": 36, "seven": 36}
    assert res["img"].iloc[:N_ROWS].tolist() == frame["img"].tolist()  # real rows unchanged
    new = res["img"].iloc[N_ROWS:]
    assert all(p.startswith("balanced-images/img-") and p.endswith(".png") for p in new)
    folder = data / "balanced-images"
    written = sorted(p.name for p in folder.glob("*.png"))
    assert written == sorted(p.split("/")[-1] for p in new) and len(written) == 24
    with Image.open(folder / written[0]) as im:
        assert im.size == (8, 8) and im.mode == "L"
    assert "reads back as it is" in r.output
    model = data / "again.safetensors"
    r = invoke("fit", out, "-t", "label", "-o", model, *TINY)  # default --image-root
    assert r.exit_code == 0, r.output
    assert model.is_file()


def test_resample_elsewhere_names_the_image_root_to_read_back(records, tmp_path):
    path = table_file(records)
    out = tmp_path / "out" / "balanced.csv"
    r = invoke("resample", path, "-t", "label", "-o", out, "--json", *TINY)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["images"]["image_root"] == str(tmp_path.resolve())
    assert doc["images"]["written"] == 24
    assert f"--image-root {tmp_path.resolve()}" in r.stderr
    res = pd.read_csv(out)
    assert res["img"].iloc[:N_ROWS].str.startswith("data/imgs/").all()
    assert res["img"].iloc[N_ROWS:].str.startswith("out/balanced-images/img-").all()
    assert all((tmp_path / p).is_file() for p in res["img"])
    model = tmp_path / "m.safetensors"
    r = invoke("fit", out, "-t", "label", "-o", model, *TINY)  # from out/: files not there
    assert r.exit_code == 2 and "column 'img', row 0" in r.output
    r = invoke("fit", out, "-t", "label", "-o", model, "--image-root", tmp_path, *TINY)
    assert r.exit_code == 0, r.output


def test_resample_with_image_root_flag(records, tmp_path):
    data, frame = records
    elsewhere = tmp_path / "tables"
    elsewhere.mkdir()
    path = elsewhere / "table.csv"
    frame.to_csv(path, index=False)  # paths still start from data/, not the table's folder
    out = data / "balanced.csv"
    r = invoke("resample", path, "-t", "label", "-o", out, *TINY)
    assert r.exit_code == 2 and "column 'img', row 0" in r.output and "no such file" in r.output
    assert not out.exists() and not (data / "balanced-images").exists()
    r = invoke("resample", path, "-t", "label", "-o", out, "--image-root", data, *TINY)
    assert r.exit_code == 0, r.output
    assert all((data / p).is_file() for p in pd.read_csv(out)["img"])


# ------------------------------------------------------------------------- file safety
def test_existing_images_folder_is_never_replaced_without_force(records):
    path = table_file(records)
    data, _ = records
    out = data / "balanced.csv"
    folder = data / "balanced-images"
    folder.mkdir()
    (folder / "mine.png").write_bytes(b"precious")
    for extra in ([], ["--force"]):
        r = invoke("resample", path, "-t", "label", "-o", out, *extra, *TINY)
        assert r.exit_code == 2, r.output
        assert "balanced-images" in r.output
        assert tree(folder) == {"mine.png": b"precious"} and not out.exists()


def test_force_replaces_an_earlier_output_whole(records):
    path = table_file(records)
    data, _ = records
    out = data / "balanced.csv"
    assert invoke("resample", path, "-t", "label", "-o", out, *TINY).exit_code == 0
    before_table, before_images = out.read_bytes(), tree(data / "balanced-images")
    r = invoke("resample", path, "-t", "label", "-o", out, "--seed", "1", *TINY)
    assert r.exit_code == 2 and "--force" in r.output
    assert out.read_bytes() == before_table and tree(data / "balanced-images") == before_images
    r = invoke("resample", path, "-t", "label", "-o", out, "--seed", "1", "--force", *TINY)
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out)
    assert all((data / p).is_file() for p in res["img"])
    assert tree(data / "balanced-images") != before_images


def test_force_never_replaces_a_folder_holding_the_input_images(records):
    path = table_file(records)
    data, _ = records
    out = data / "balanced.csv"
    assert invoke("resample", path, "-t", "label", "-o", out, *TINY).exit_code == 0
    before = tree(data / "balanced-images")
    r = invoke("resample", out, "-t", "label", "-o", out, "--force", *TINY)  # its own images
    assert r.exit_code == 2 and "lies in" in r.output, r.output
    assert tree(data / "balanced-images") == before


def test_a_failed_table_write_leaves_no_images_and_no_table(records, monkeypatch):
    import errno

    from genbalance.data.writer import TableWriter

    path = table_file(records)
    data, _ = records
    before = sorted(p.name for p in data.iterdir())

    def full_disk(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TableWriter, "close", full_disk)
    r = invoke("resample", path, "-t", "label", "-o", data / "balanced.csv", *TINY)
    assert r.exit_code == 1 and "disk is full" in r.output
    assert sorted(p.name for p in data.iterdir()) == before  # no table, folder nor temp file


def test_a_failed_generation_leaves_no_half_written_images(records, monkeypatch):
    import genbalance.synthesis.records as record_synthesis

    path = table_file(records)
    data, _ = records
    before = sorted(p.name for p in data.iterdir())
    real = record_synthesis.image_cells

    def then_fail(*args, **kwargs):
        real(*args, **kwargs)  # some images are on disk (in the temporary folder)
        raise RuntimeError("generation failed")

    monkeypatch.setattr(record_synthesis, "image_cells", then_fail)
    r = invoke("resample", path, "-t", "label", "-o", data / "balanced.csv", *TINY)
    assert r.exit_code == 1 and "generation failed" in r.output
    assert sorted(p.name for p in data.iterdir()) == before


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_file_is_named(records, tmp_path, suffix):
    data, _ = records
    (data / "imgs" / "3.png").unlink()
    path = table_file(records, suffix)
    for cmd in (
        ["resample", path, "-t", "label", "-o", tmp_path / "o.csv"],
        ["fit", path, "-t", "label", "-o", tmp_path / "m.safetensors"],
    ):
        r = invoke(*cmd, *TINY)
        assert r.exit_code == 2, r.output
        assert "column 'img', row 3" in r.output and "no such file" in r.output
        assert ".png/.jpg/.jpeg" in r.output  # what a path cell may name
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_unreadable_file_is_named(records, tmp_path, suffix):
    data, _ = records
    (data / "imgs" / "5.png").write_bytes(b"not a png")
    r = invoke("fit", table_file(records, suffix), "-t", "label", "-o", tmp_path / "m.st", *TINY)
    assert r.exit_code == 2 and "column 'img', row 5: cannot read image" in r.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_path_outside_the_root_is_refused(records, tmp_path, suffix):
    data, frame = records
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "outside.png")
    frame.loc[2, "img"] = "../outside.png"
    path = data / f"table{suffix}"
    save(frame, path)
    for cmd in ("resample", "fit"):
        target = tmp_path / ("o.csv" if cmd == "resample" else "m.safetensors")
        r = invoke(cmd, path, "-t", "label", "-o", target, *TINY)
        assert r.exit_code == 2, r.output
        assert "column 'img', row 2" in r.output and "outside --image-root" in r.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_images_of_different_shapes_are_refused(records, tmp_path, suffix):
    data, _ = records
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(data / "imgs" / "7.png")
    path = table_file(records, suffix)
    r = invoke("resample", path, "-t", "label", "-o", tmp_path / "o.csv", *TINY)
    assert r.exit_code == 2
    assert "column 'img', row 7: an image of shape (9, 8)" in r.output
    assert "one column holds one shape" in r.output


def test_image_root_must_be_a_folder(records, tmp_path):
    path = table_file(records)
    for bad, what in ((path, "is not a folder"), (tmp_path / "nowhere", "does not exist")):
        for cmd in ("resample", "fit"):
            r = invoke(cmd, path, "-t", "label", "-o", tmp_path / "o.csv", "--image-root", bad)
            assert r.exit_code == 2 and f"--image-root {bad} {what}" in r.output, r.output


def test_streaming_an_image_table_is_refused(records, tmp_path):
    r = invoke("fit", table_file(records), "-o", tmp_path / "m.st", "--stream", *TINY)
    assert r.exit_code == 2 and "column 'img' is an image column" in r.output


# -------------------------------------------------------------------------------- sample
@pytest.fixture()
def model(records):
    data, _ = records
    model = data / "records.safetensors"
    r = invoke("fit", table_file(records), "-t", "label", "-o", model, *TINY)
    assert r.exit_code == 0, r.output
    return model


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sample_writes_images_beside_the_rows_and_reads_back(model, tmp_path, suffix):
    out = tmp_path / "gen" / f"rows{suffix}"
    r = invoke("sample", model, "-n", 10, "-o", out, "--chunk-rows", 4)
    assert r.exit_code == 0, r.output
    rows = read(out)
    assert list(rows.columns) == ["ink", "img", "label"] and len(rows) == 10
    assert set(rows["label"]) <= {"seven", "other"}
    assert rows["img"].str.match(r"rows-images/img-\d{6}\.png$").all()
    assert rows["img"].is_unique
    folder = tmp_path / "gen" / "rows-images"
    assert sorted(f"rows-images/{p.name}" for p in folder.glob("*.png")) == sorted(rows["img"])
    r = invoke("fit", out, "-t", "label", "-o", tmp_path / "again.st", *TINY)
    assert r.exit_code == 0, r.output


def test_sample_is_reproducible_and_never_replaces(model, tmp_path):
    out = tmp_path / "rows.csv"
    assert invoke("sample", model, "-n", 6, "--class", "seven", "-o", out).exit_code == 0
    rows = pd.read_csv(out)
    assert set(rows["label"]) == {"seven"}
    before_table, before_images = out.read_bytes(), tree(tmp_path / "rows-images")
    r = invoke("sample", model, "-n", 6, "--class", "seven", "-o", out)
    assert r.exit_code == 2 and "--force" in r.output
    out.unlink()  # the table gone, its images folder still there: still refused
    r = invoke("sample", model, "-n", 6, "--class", "seven", "-o", out)
    assert r.exit_code == 2 and "rows-images" in r.output and not out.exists()
    r = invoke("sample", model, "-n", 6, "--class", "seven", "-o", out, "--force")
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == before_table  # same seed, same rows and same files
    assert tree(tmp_path / "rows-images") == before_images


def test_sample_of_an_array_model_writes_npy_files(tmp_path):
    from genbalance import Synthesizer

    images, digits = load_digits_8x8()
    cells = np.empty(40, dtype=object)
    for i in range(40):
        cells[i] = images[i]
    frame = pd.DataFrame({"ink": images[:40].mean(axis=(1, 2)), "img": cells})
    labels = np.where(np.arange(40) < 10, "a", "b")
    synth = Synthesizer(random_state=0, epochs=1, progress=False).fit(frame, labels)
    model = synth.save(tmp_path / "arrays.safetensors")
    out = tmp_path / "rows.csv"
    r = invoke("sample", model, "-n", 5, "-o", out)
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(out)
    assert rows["img"].str.match(r"rows-images/img-\d{6}\.npy$").all()
    cell = np.load(tmp_path / rows["img"].iloc[0])
    assert cell.shape == (8, 8) and cell.dtype == images.dtype
