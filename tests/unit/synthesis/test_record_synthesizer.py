"""Records with image columns through Synthesizer and GenerativeOverSampler."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from genbalance import GenerativeOverSampler, Synthesizer
from genbalance.data.images import load_digits_8x8
from genbalance.synthesis.records import RecordSynthesizer

TINY = {"epochs": None, "trainer_options": {"max_steps": 6}, "progress": False}
SMALL_NET = {"hidden": 16, "channels": 4, "latent_dim": 4}


@pytest.fixture(autouse=True)
def quiet_health():
    with warnings.catch_warnings():  # tiny budgets: the mode-collapse check warns, rightly
        warnings.filterwarnings("ignore", message="possible mode collapse")
        yield


def cells(arrays) -> pd.Series:
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = a
    return pd.Series(out)


@pytest.fixture(scope="module")
def digits():
    """Zeros and ones: ``h`` (which digit) decides the image and the column ``t``; the
    class label is independent of it (70 % "major")."""
    X, y = load_digits_8x8()
    idx = np.concatenate([np.flatnonzero(y == 0)[:120], np.flatnonzero(y == 1)[:120]])
    rng = np.random.default_rng(0)
    h = (y[idx] == 1).astype(int)
    frame = pd.DataFrame({"t": 2.0 * h + rng.normal(0, 0.3, len(idx))})
    frame["colour"] = np.where(rng.random(len(idx)) < 0.5, "red", "blue")
    frame["img"] = cells(X[idx])
    labels = np.where(rng.random(len(idx)) < 0.7, "major", "minor")
    return frame, labels, X[idx], h


def test_records_come_back_in_the_input_form(digits):
    frame, labels, _, _ = digits
    synth = Synthesizer(random_state=0, model_options=SMALL_NET, **TINY).fit(frame, labels)
    assert isinstance(synth.records_, RecordSynthesizer)
    assert synth.model_.family == "multimodal-vae"
    rows, lab = synth.sample(7, y="minor", return_labels=True)
    assert list(rows.columns) == ["t", "colour", "img"] and len(rows) == 7
    assert set(lab) == {"minor"} and set(rows["colour"]) <= {"red", "blue"}
    assert all(c.shape == (8, 8) and c.dtype == np.float32 for c in rows["img"])
    assert all(0 <= c.min() and c.max() <= 1 for c in rows["img"])


def test_seeded_fits_repeat_and_calls_advance(digits):
    frame, labels, _, _ = digits

    def run():
        s = Synthesizer(random_state=3, model_options=SMALL_NET, **TINY).fit(frame, labels)
        return s.sample(4, y="major"), s.sample(4, y="major")

    (a1, a2), (b1, b2) = run(), run()
    assert np.allclose(np.stack(a1["img"]), np.stack(b1["img"]))
    assert np.allclose(a1["t"], b1["t"]) and np.allclose(a2["t"], b2["t"])
    assert not np.allclose(a1["t"], a2["t"])  # the second call continues the stream


def test_save_and_load_round_trip(digits, tmp_path):
    frame, labels, _, _ = digits
    synth = Synthesizer(random_state=0, model_options=SMALL_NET, **TINY).fit(frame, labels)
    synth.save(tmp_path / "records.safetensors")
    with pytest.raises(FileExistsError):
        synth.save(tmp_path / "records.safetensors")
    loaded = Synthesizer.load(tmp_path / "records.safetensors")
    a = synth.sample(5, y="minor", random_state=11)
    b = loaded.sample(5, y="minor", random_state=11)
    assert a["colour"].tolist() == b["colour"].tolist() and np.allclose(a["t"], b["t"])
    assert np.allclose(np.stack(a["img"]), np.stack(b["img"]))


def test_path_columns_write_new_files_under_the_image_folder(digits, tmp_path):
    frame, labels, images, _ = digits
    root = tmp_path / "imgs"
    root.mkdir()
    for i, img in enumerate(images[:40]):
        Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(root / f"{i}.png")
    table = frame.iloc[:40].assign(img=[f"{i}.png" for i in range(40)])
    sampler = GenerativeOverSampler(
        random_state=0, image_root=root, model_options=SMALL_NET, **TINY
    )
    X_res, y_res = sampler.fit_resample(table, labels[:40])
    new = X_res.iloc[40:]
    counts = pd.Series(y_res).value_counts()
    assert counts["major"] == counts["minor"] and len(new) == len(y_res) - 40 > 0
    assert all(p.startswith("generated/") for p in new["img"])
    assert all((root / p).is_file() for p in new["img"])
    assert X_res["img"].iloc[:40].tolist() == table["img"].tolist()
    with Image.open(root / new["img"].iloc[0]) as im:
        assert im.size == (8, 8) and im.mode == "L"


def test_oversampler_balances_records_and_refuses_the_knn_filter(digits):
    frame, labels, _, _ = digits
    sampler = GenerativeOverSampler(random_state=0, model_options=SMALL_NET, **TINY)
    X_res, y_res = sampler.fit_resample(frame, labels)
    counts = pd.Series(y_res).value_counts()
    assert counts["major"] == counts["minor"]
    assert all(isinstance(c, np.ndarray) and c.shape == (8, 8) for c in X_res["img"])
    with pytest.raises(ValueError, match="filter='knn'"):
        GenerativeOverSampler(filter="knn", **TINY).fit_resample(frame, labels)


def test_lists_and_flat_arrays_are_refused_by_the_samplers(digits):
    frame, labels, _, _ = digits
    bad = frame.assign(img=cells([[1, 2]] * len(frame)))
    with pytest.raises(ValueError, match="column 'img' holds a list at row 0"):
        GenerativeOverSampler(**TINY).fit_resample(bad, labels)
    flat = frame.assign(img=cells([np.zeros(64)] * len(frame)))
    with pytest.raises(ValueError, match="column 'img' holds a 1-D array at row 0"):
        Synthesizer(**TINY).fit(flat, labels)


def test_joint_records_keep_the_cross_part_dependence(digits):
    """The probe reads ``h`` from an image; on jointly generated records it agrees with the
    table's ``t``. Independent per-part models pair a class's images and table rows at random,
    which is what shuffling the image column within the class gives: agreement near 1/2."""
    frame, labels, images, h = digits
    probe = LogisticRegression(max_iter=500).fit(images.reshape(len(images), -1), h)
    synth = Synthesizer(
        random_state=0, epochs=None, trainer_options={"max_steps": 300}, progress=False
    ).fit(frame, labels)
    rows = synth.sample(300, y="minor", random_state=1)
    seen = probe.predict(np.stack(rows["img"]).reshape(len(rows), -1))
    told = (rows["t"].to_numpy() > 1.0).astype(int)
    assert 0.2 < told.mean() < 0.8  # both values of h are generated
    joint = (seen == told).mean()
    shuffled = (seen == told[np.random.default_rng(0).permutation(len(told))]).mean()
    assert joint > 0.8 and joint > shuffled + 0.25, (joint, shuffled)
