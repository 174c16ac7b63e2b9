"""`genbalance images train | grid | resample` end to end on a tiny folder of PNGs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from genbalance.cli import app
from genbalance.data.images import load_image_folder, load_npz

runner = CliRunner(env={"COLUMNS": "1000"})  # wide: rich must not wrap the messages we match
FAST = ["--epochs", "2", "-q"]


def _write_folder(root, counts=(10, 4, 2), size=(8, 8), seed=0):
    """root/<class>/<i>.png: class c is a bright bar at row 2c (easy to tell apart)."""
    rng = np.random.default_rng(seed)
    for c, n in enumerate(counts):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 40, (size[1], size[0]), dtype=np.uint8)
            img[2 * c : 2 * c + 2] = 230
            Image.fromarray(img).save(d / f"{i}.png")
    return root


@pytest.fixture()
def folder(tmp_path):
    return _write_folder(tmp_path / "imgs")


def test_images_help_lists_commands() -> None:
    result = runner.invoke(app, ["images", "--help"])
    assert result.exit_code == 0
    for cmd in ("train", "grid", "resample"):
        assert cmd in result.output


@pytest.mark.parametrize("model", ["conv-vae", "gan"])
def test_resample_folder_to_npz_and_folder(folder, tmp_path, model) -> None:
    out = tmp_path / "balanced.npz"
    grid = tmp_path / "grid.png"
    result = runner.invoke(
        app,
        [
            "images",
            "resample",
            str(folder),
            "-o",
            str(out),
            "--model",
            model,
            "--grid",
            str(grid),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    X, y = load_npz(out)
    assert X.shape == (30, 8, 8) and X.dtype == np.uint8
    assert dict(zip(*np.unique(y, return_counts=True), strict=True)) == {
        "class0": 10,
        "class1": 10,
        "class2": 10,
    }
    assert grid.exists() and grid.stat().st_size > 0
    # originals come first, byte for byte
    X0, _ = load_image_folder(folder)
    np.testing.assert_array_equal(X[:16], X0)
    # the same run into a folder of class folders, readable again
    out_dir = tmp_path / "balanced_dir"
    result = runner.invoke(
        app, ["images", "resample", str(folder), "-o", str(out_dir), "--model", model, *FAST]
    )
    assert result.exit_code == 0, result.output
    X2, y2 = load_image_folder(out_dir)
    assert X2.shape == (30, 8, 8)
    assert sorted(set(y2)) == ["class0", "class1", "class2"]
    assert (np.unique(y2, return_counts=True)[1] == 10).all()


def test_train_then_grid_and_snapshots(folder, tmp_path) -> None:
    model_file = tmp_path / "m.safetensors"
    snaps = tmp_path / "snaps"
    result = runner.invoke(
        app,
        [
            "images",
            "train",
            str(folder),
            "-o",
            str(model_file),
            "--model",
            "dcgan",
            "--epochs",
            "4",
            "--sample-dir",
            str(snaps),
            "--sample-every",
            "2",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert model_file.exists()
    assert {p.name for p in snaps.iterdir()} == {
        "grid_epoch0002.png",
        "grid_epoch0004.png",
        "grid_final.png",
        "loss.png",
    }
    png = tmp_path / "g.png"
    result = runner.invoke(
        app, ["images", "grid", str(model_file), "-o", str(png), "--per-class", "3"]
    )
    assert result.exit_code == 0, result.output
    with Image.open(png) as im:
        assert im.size[0] > 20
    # overwrite protection, then --force
    result = runner.invoke(app, ["images", "grid", str(model_file), "-o", str(png)])
    assert result.exit_code == 2 and "exists" in result.output.replace("\n", "")
    result = runner.invoke(app, ["images", "grid", str(model_file), "-o", str(png), "--force"])
    assert result.exit_code == 0, result.output


def test_resample_sampling_strategy_json_and_bundled_digits(tmp_path) -> None:
    out = tmp_path / "d.npz"
    result = runner.invoke(
        app,
        [
            "images",
            "resample",
            str(_write_folder(tmp_path / "f")),
            "-o",
            str(out),
            "--model",
            "gan",
            "--sampling-strategy",
            '{"class2": 5}',
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    _, y = load_npz(out)
    assert (y == "class2").sum() == 5 and (y == "class1").sum() == 4


def test_grid_refuses_non_model_file(tmp_path) -> None:
    bogus = tmp_path / "x.safetensors"
    bogus.write_bytes(b"not a model")
    result = runner.invoke(app, ["images", "grid", str(bogus), "-o", str(tmp_path / "g.png")])
    assert result.exit_code != 0


# ---------------------------------------------------------------------- bad input
def _out(result) -> str:
    """The output on one line (long paths may still wrap in a narrow terminal)."""
    return " ".join(result.output.split())


def _resample(src, tmp_path, *extra):
    return runner.invoke(
        app,
        [
            "images",
            "resample",
            str(src),
            "-o",
            str(tmp_path / "o.npz"),
            "--model",
            "gan",
            *FAST,
            *extra,
        ],
    )


def test_error_mixed_image_sizes_names_both_files(folder, tmp_path) -> None:
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(folder / "class1" / "odd.png")
    result = _resample(folder, tmp_path)
    assert result.exit_code == 2
    assert "differ in size" in _out(result) and "odd.png" in _out(result)


def test_error_wrong_channel_count_and_convert(folder, tmp_path) -> None:
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(folder / "class0" / "rgba.png")
    result = _resample(folder, tmp_path)
    assert result.exit_code == 2
    assert "rgba.png" in _out(result) and "4 channel(s)" in _out(result)
    # --channels 1 converts every image, then it works
    result = _resample(folder, tmp_path, "--channels", "1")
    assert result.exit_code == 0, result.output


def test_error_mixed_gray_and_rgb(folder, tmp_path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8), "RGB").save(folder / "class2" / "rgb.png")
    result = _resample(folder, tmp_path)
    assert result.exit_code == 2
    assert "differ in channels" in _out(result) and "rgb.png" in _out(result)


def test_error_unreadable_file_named(folder, tmp_path) -> None:
    (folder / "class1" / "broken.png").write_bytes(b"\x89PNG but not really")
    result = _resample(folder, tmp_path)
    assert result.exit_code == 2
    assert "cannot read image" in _out(result) and "broken.png" in _out(result)


def test_error_empty_class_folder_named(folder, tmp_path) -> None:
    (folder / "class9").mkdir()
    (folder / "class9" / "notes.txt").write_text("no images here")
    result = _resample(folder, tmp_path)
    assert result.exit_code == 2
    assert "class9" in _out(result) and "holds no images" in _out(result)


def test_error_missing_source_and_idx_without_labels(tmp_path) -> None:
    result = _resample(tmp_path / "nope", tmp_path)
    assert result.exit_code == 2 and "does not exist" in _out(result)
    f = tmp_path / "images.idx"
    f.write_bytes(b"\x00\x00\x08\x03")
    result = _resample(f, tmp_path)
    assert result.exit_code == 2 and "--labels" in _out(result)


def test_error_existing_output_needs_force(folder, tmp_path) -> None:
    (tmp_path / "o.npz").write_bytes(b"x")
    result = _resample(folder, tmp_path)
    assert result.exit_code == 2 and "--force" in _out(result)


def test_resample_json_and_counts_streams(folder, tmp_path) -> None:
    out = tmp_path / "o.npz"
    result = _resample(folder, tmp_path, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout holds the JSON document alone
    assert doc["images"] == 30 and doc["output"] == str(out)
    assert {r["class"]: r["generated"] for r in doc["counts"]} == {
        "class0": 0,
        "class1": 6,
        "class2": 8,
    }
    assert f"wrote 30 images to {out}" in result.stderr
    result = _resample(folder, tmp_path, "--force")  # the table on stdout, the message not
    assert result.exit_code == 0, result.output
    assert "class2" in result.stdout and "wrote" not in result.stdout


def test_init_fine_tunes_a_trained_model_and_refuses_a_mismatch(folder, tmp_path) -> None:
    """`--init` starts `images train` / `resample` from a model file of the same family and
    image shape (head-to-tail: pre-train on every class, fine-tune on the rare ones); another
    family, another shape or a table model is refused before any image is read."""
    source = tmp_path / "all.safetensors"
    result = runner.invoke(app, ["images", "train", str(folder), "-o", str(source), *FAST])
    assert result.exit_code == 0, result.output
    tail = tmp_path / "tail"
    tail.mkdir()
    for name in ("class1", "class2"):  # the rare classes only
        (tail / name).symlink_to(folder / name, target_is_directory=True)
    tuned = tmp_path / "tail.safetensors"
    result = runner.invoke(
        app, ["images", "train", str(tail), "-o", str(tuned), "--init", str(source), *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "started from" in result.output and "classes shared ['class1', 'class2']" in (
        result.output.replace("\n", "")
    )
    from genbalance.sampling.images import ImageOverSampler

    loaded = ImageOverSampler.load(tuned).synthesizer_
    assert loaded.transfer_["classes"]["dropped"] == ["class0"]
    out_npz = tmp_path / "bal.npz"
    result = runner.invoke(
        app,
        ["images", "resample", str(folder), "-o", str(out_npz), "--init", str(source), *FAST],
    )
    assert result.exit_code == 0, result.output
    assert "started from" in result.output and out_npz.exists()
    # refusals: another family, another image shape, a table model, a missing file
    other = runner.invoke(
        app,
        ["images", "train", str(folder), "-o", str(tmp_path / "x.st"), "--init", str(source)]
        + ["--model", "conv-vae", *FAST],
    )
    assert other.exit_code == 2 and "dcgan" in other.output and "conv-vae" in other.output
    big = _write_folder(tmp_path / "big", size=(10, 10))
    shape = runner.invoke(
        app,
        ["images", "train", str(big), "-o", str(tmp_path / "y.st"), "--init", str(source)] + FAST,
    )
    assert shape.exit_code == 2 and "8x8" in shape.output and "10x10" in shape.output
    missing = runner.invoke(
        app,
        ["images", "train", str(folder), "-o", str(tmp_path / "z.st"), "--init", "nope.st", *FAST],
    )
    assert missing.exit_code == 2 and "nope.st" in missing.output
    import pandas as pd

    from genbalance import Synthesizer

    table_model = tmp_path / "table.safetensors"
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    Synthesizer(epochs=None, trainer_options={"max_steps": 2}, progress=False).fit(
        frame, np.arange(40) % 2
    ).save(table_model)
    table = runner.invoke(
        app,
        ["images", "train", str(folder), "-o", str(tmp_path / "t.st"), "--init"]
        + [str(table_model), *FAST],
    )
    assert table.exit_code == 2 and "not an image model file" in table.output.replace("\n", "")
