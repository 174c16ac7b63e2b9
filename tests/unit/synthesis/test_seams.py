"""The public synthesizer seam: seeds, labels, latent neighbours, images, one file rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genbalance import (
    GenerativeOverSampler,
    ImageOverSampler,
    ImageSynthesizer,
    Synthesizer,
    models,
)
from genbalance.files import ModelFileError
from genbalance.synthesis.base import resolve_epochs
from genbalance.utils import derive_seed, seed_from


def _table(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array(["a"] * (n - 12) + ["b"] * 12, dtype=object)
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n) + (y == "b") * 3,
            "z": rng.normal(size=n),
            "c": rng.choice(["u", "v"], size=n),
        }
    )
    return X, y


@pytest.fixture(scope="module")
def vae() -> Synthesizer:
    X, y = _table()
    return Synthesizer("vae", epochs=2, random_state=0).fit(X, y)


def test_one_default_family_for_tables():
    assert Synthesizer().model == GenerativeOverSampler().model == "vae"


def test_repeated_sample_calls_advance_and_a_seed_reproduces(vae):
    a, b = vae.sample(20, y="b"), vae.sample(20, y="b")
    assert not a.equals(b)
    c, d = vae.sample(20, y="b", random_state=7), vae.sample(20, y="b", random_state=7)
    pd.testing.assert_frame_equal(c, d)


def test_seeded_synthesizer_repeats_its_sequence_of_calls():
    X, y = _table()
    runs = []
    for _ in range(2):
        synth = Synthesizer("vae", epochs=1, random_state=3).fit(X, y)
        runs.append([synth.sample(10), synth.sample(10)])
    for first, second in zip(*runs, strict=True):
        pd.testing.assert_frame_equal(first, second)


def test_none_means_fresh_randomness():
    X, y = _table()
    one = Synthesizer("vae", epochs=1).fit(X, y).sample(15, y="a")
    two = Synthesizer("vae", epochs=1).fit(X, y).sample(15, y="a")
    assert not one.equals(two)


def test_a_numpy_generator_is_accepted_and_advances():
    X, y = _table()
    rng = np.random.default_rng(5)
    s1 = Synthesizer("vae", epochs=1, random_state=rng).fit(X, y)
    s2 = Synthesizer("vae", epochs=1, random_state=rng).fit(X, y)
    assert s1.seed_ != s2.seed_
    again = Synthesizer("vae", epochs=1, random_state=np.random.default_rng(5)).fit(X, y)
    assert again.seed_ == s1.seed_


def test_seed_helpers_refuse_bad_values():
    with pytest.raises(TypeError, match="random_state"):
        seed_from("seven")
    with pytest.raises(ValueError, match="random_state"):
        seed_from(-1)
    assert seed_from(11) == 11
    assert derive_seed(11, 1) == derive_seed(11, 1) != derive_seed(11, 2)


def test_sample_can_return_the_labels(vae):
    rows, labels = vae.sample(30, return_labels=True, random_state=1)
    assert len(rows) == len(labels) == 30
    assert set(labels) <= {"a", "b"}
    rows, labels = vae.sample(y={"b": 4, "a": 2}, return_labels=True)
    assert list(labels) == ["b"] * 4 + ["a"] * 2


def test_sample_near_stays_in_the_class_region(vae):
    X, y = _table()
    members = X[y == "b"]
    rows = vae.sample_near(members, "b", 40, k_neighbors=3, random_state=0)
    assert len(rows) == 40 and list(rows.columns) == list(X.columns)
    # between neighbours of class b, whose x is shifted by +3
    assert rows["x"].mean() > X.loc[y == "a", "x"].mean() + 1.5
    again = vae.sample_near(members, "b", 40, k_neighbors=3, random_state=0)
    pd.testing.assert_frame_equal(rows, again)


def test_sample_near_needs_an_encoder():
    X, y = _table()
    made = Synthesizer("made", epochs=1, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="no encoder"):
        made.sample_near(X[y == "b"], "b", 5)
    bare = Synthesizer("gan", model_options={"encoder": False}, epochs=1, random_state=0)
    with pytest.raises(TypeError, match="no encoder"):
        bare.fit(X, y).sample_near(X[y == "b"], "b", 5)
    gan = Synthesizer("gan", epochs=1, random_state=0).fit(X, y)  # its latent encoder
    assert len(gan.sample_near(X[y == "b"], "b", 5)) == 5


def test_unknown_label_is_named(vae):
    with pytest.raises(ValueError, match="unknown class 'c'.*'a', 'b'"):
        vae.sample(3, y="c")


@pytest.mark.parametrize("name", models.available())
def test_every_family_refuses_unknown_settings_by_name(name):
    family = models.get(name)
    with pytest.raises(ValueError, match=r"unknown .* settings \['no_such_knob'\]; accepted"):
        family.validate_hyper({"no_such_knob": 1})


def test_epochs_rule_is_one_function():
    assert resolve_epochs("auto", 800) == (None, 800)
    assert resolve_epochs(3, 800) == (3, None)
    assert resolve_epochs(None, 800) == (None, None)
    for bad in (-1, 2.5, True, "lots"):
        with pytest.raises(ValueError, match="epochs"):
            resolve_epochs(bad, 800)


# ---------------------------------------------------------------------------------- images
def _digits() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.random((40, 8, 8)).astype(np.float32)
    y = np.array([0] * 30 + [1] * 10)
    X[y == 1, :4] += 1.0
    return np.clip(X, 0, 1), y


def test_image_synthesizer_generates_in_the_training_convention(tmp_path):
    X, y = _digits()
    synth = ImageSynthesizer("vae", epochs=1, random_state=0).fit(X, y)
    images = synth.generate([1, 1, 0])
    assert images.shape == (3, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    path = synth.save(tmp_path / "img.safetensors")
    with pytest.raises(FileExistsError):
        synth.save(path)
    loaded, params = ImageSynthesizer.load(path)
    assert params["model"] == "vae" and list(loaded.classes_) == [0, 1]
    np.testing.assert_array_equal(loaded.generate([1, 0], 3), synth.generate([1, 0], 3))


def test_image_sampler_and_synthesizer_share_the_overwrite_rule(tmp_path):
    X, y = _digits()
    sampler = ImageOverSampler("vae", epochs=1, random_state=0).fit(X, y)
    path = sampler.save(tmp_path / "s.safetensors")
    with pytest.raises(FileExistsError):
        sampler.save(path)
    sampler.save(path, overwrite=True)
    assert ImageOverSampler.load(path).classes_.tolist() == [0, 1]


def test_loaded_image_synthesizer_explains_posterior_needs_training_images(tmp_path):
    X, y = _digits()
    synth = ImageSynthesizer("conv-vae", epochs=1, random_state=0).fit(X, y)
    loaded, _ = ImageSynthesizer.load(synth.save(tmp_path / "c.safetensors"))
    with pytest.raises(RuntimeError, match="training images"):
        loaded.generate([1], latent="posterior")


def test_image_model_file_of_another_kind_is_refused(tmp_path, vae):
    path = vae.save(tmp_path / "table.safetensors")
    with pytest.raises(ModelFileError):
        ImageSynthesizer.load(path)


# ---------------------------------------------------------------------------------- newcomers
def test_repr_is_one_short_line(vae):
    text = repr(vae)
    assert text.startswith("Synthesizer('vae', epochs=2, random_state=0")
    assert "fitted: {'a': 48, 'b': 12}" in text
    assert "\n" not in text and len(text) < 200
    assert repr(Synthesizer()) == "Synthesizer('vae')"


def test_target_name_and_dtype_are_remembered_and_saved(tmp_path):
    X, y = _table()
    labels = pd.Series(y, name="label")
    synth = Synthesizer("vae", epochs=1, random_state=0).fit(X, labels)
    assert synth.target_ == {"name": "label", "dtype": str(labels.dtype)}
    loaded = Synthesizer.load(synth.save(tmp_path / "t.safetensors"))
    assert loaded.target_ == synth.target_
    plain = Synthesizer("vae", epochs=1, random_state=0).fit(X, y)
    assert plain.target_ is None


def test_progress_auto_is_silent_without_a_terminal(capsys):
    from genbalance.utils import resolve_progress

    assert resolve_progress("auto") is False  # pytest captures stderr: no terminal
    assert resolve_progress(True) is True
    with pytest.raises(ValueError, match="progress"):
        resolve_progress("loud")
    X, y = _table()
    Synthesizer("vae", epochs=1, random_state=0).fit(X, y)
    assert capsys.readouterr().err == ""


def test_sample_grid_shows_real_rows_when_the_training_images_are_at_hand(tmp_path):
    from PIL import Image

    X, y = _digits()
    sampler = ImageOverSampler("vae", epochs=1, random_state=0).fit(X, y)
    fitted = Image.open(sampler.save_sample_grid(tmp_path / "fitted.png", n_per_class=4))
    model = sampler.save(tmp_path / "m.safetensors")
    loaded = ImageOverSampler.load(model)
    assert loaded.synthesizer_.training_images() is None
    alone = Image.open(loaded.save_sample_grid(tmp_path / "loaded.png", n_per_class=4))
    # a real row above each of the two classes' generated rows: about twice as tall
    assert fitted.size[1] > 1.6 * alone.size[1]
    assert alone.size[0] >= 4 * 32 and alone.size[1] >= 2 * 32  # 32 px a digit at least
    images, labels = sampler.synthesizer_.training_images()
    np.testing.assert_allclose(images, X, atol=1 / 255)
    assert list(labels) == list(y)
