"""ImageOverSampler: fit_resample contract, reproducibility, MLP GAN on 28x28, snapshots."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from genbalance.data.images import load_digits_8x8, make_long_tailed
from genbalance.sampling.images import ImageOverSampler


def _tiny_digits(ratio: float = 4, n_classes: int = 3, n_max: int = 24):
    X, y = load_digits_8x8()
    keep = y < n_classes
    return make_long_tailed(X[keep], y[keep], ratio, random_state=0, n_max=n_max)


def _upscaled_28(X: np.ndarray) -> np.ndarray:
    """8x8 digits -> 28x28: each pixel a 3x3 block (24x24), padded by 2 on every side."""
    big = np.kron(X, np.ones((1, 3, 3), dtype=X.dtype))
    return np.pad(big, ((0, 0), (2, 2), (2, 2)))


FAST = {"epochs": 2, "trainer_options": {"batch_size": 16, "health_check": False}}


SMALL = {"pixelcnn": {"channels": 8, "n_layers": 1}}  # one pass per pixel to sample: keep it small


@pytest.mark.parametrize(
    "model", ["dcgan", "conv-vae", "pixelcnn", "gan", "vae", "made", "rbm", "diffusion"]
)
def test_fit_resample_shapes_dtypes_labels(model: str) -> None:
    X, y = _tiny_digits()
    counts = np.bincount(y)
    assert counts.tolist() == [24, 12, 6]
    sampler = ImageOverSampler(model, random_state=0, model_options=SMALL.get(model), **FAST)
    Xr, yr = sampler.fit_resample(X, y)
    assert Xr.shape == (72, 8, 8) and Xr.dtype == X.dtype
    assert np.bincount(yr).tolist() == [24, 24, 24]
    np.testing.assert_array_equal(Xr[: len(X)], X)  # originals first, untouched
    np.testing.assert_array_equal(yr[: len(y)], y)
    new = Xr[len(X) :]
    assert np.isfinite(new).all() and new.min() >= 0 and new.max() <= 1
    assert new.std() > 0.01  # not a blank image


def test_uint8_channel_axis_and_string_labels_kept() -> None:
    X, y = _tiny_digits()
    X8 = np.rint(X * 255).astype(np.uint8)[..., None]  # (N, 8, 8, 1) uint8
    names = np.array(["zero", "one", "two"])[y]
    Xr, yr = ImageOverSampler("conv-vae", random_state=0, **FAST).fit_resample(X8, names)
    assert Xr.dtype == np.uint8 and Xr.shape[1:] == (8, 8, 1)
    assert yr.dtype == names.dtype
    assert dict(zip(*np.unique(yr, return_counts=True), strict=True)) == {
        "one": 24,
        "two": 24,
        "zero": 24,
    }


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("minority", [24, 12, 24]), ("not minority", [24, 24, 6]), ({1: 20, 2: 7}, [24, 20, 7])],
)
def test_sampling_strategy(strategy, expected) -> None:
    X, y = _tiny_digits()
    s = ImageOverSampler("gan", sampling_strategy=strategy, random_state=0, **FAST)
    _, yr = s.fit_resample(X, y)
    assert np.bincount(yr).tolist() == expected
    added = {c: e - n for c, (e, n) in enumerate(zip(expected, np.bincount(y), strict=True))}
    assert {c: n for c, n in s.sampling_strategy_.items() if n} == {
        c: n for c, n in added.items() if n
    }


def test_float_strategy_binary_only_and_checked_before_training() -> None:
    X, y = _tiny_digits(n_classes=2)
    _, yr = ImageOverSampler("gan", sampling_strategy=0.5, random_state=0, **FAST).fit_resample(
        X, y
    )
    assert np.bincount(yr).tolist() == [24, 12]
    X3, y3 = _tiny_digits()
    s = ImageOverSampler("gan", sampling_strategy=0.5, **FAST)
    with pytest.raises(ValueError, match="float only when the type of target is binary"):
        s.fit_resample(X3, y3)
    assert not hasattr(s, "model_")


def test_random_state_reproducible_and_seed_matters() -> None:
    X, y = _tiny_digits()
    a = ImageOverSampler("dcgan", random_state=3, **FAST).fit_resample(X, y)[0]
    b = ImageOverSampler("dcgan", random_state=3, **FAST).fit_resample(X, y)[0]
    c = ImageOverSampler("dcgan", random_state=4, **FAST).fit_resample(X, y)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    state = torch.get_rng_state()
    ImageOverSampler("gan", random_state=3, **FAST).fit_resample(X, y)
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is left alone


def test_mlp_classic_gan_on_flattened_28x28() -> None:
    X, y = _tiny_digits(n_max=16)
    X28 = _upscaled_28(X)
    assert X28.shape[1:] == (28, 28)
    s = ImageOverSampler(
        "gan", random_state=0, epochs=3, trainer_options={"batch_size": 16, "health_check": False}
    )
    # flat rows through image_shape (what an imblearn Pipeline passes)
    s.set_params(image_shape=(28, 28))
    Xr, yr = s.fit_resample(X28.reshape(len(X28), -1), y)
    assert s.model_.data_dim == 784
    assert s.model_.hyper["architecture"] == "mlp-classic"
    first_d = next(m for m in s.model_.D.modules() if isinstance(m, torch.nn.Linear))
    assert first_d.in_features == 784 + 3  # pixels + class one-hot
    assert [m.out_features for m in s.model_.D.modules() if isinstance(m, torch.nn.Linear)] == [
        1024,
        128,
        1,
    ]
    assert [m.out_features for m in s.model_.G.modules() if isinstance(m, torch.nn.Linear)][
        -1
    ] == 784
    assert Xr.shape == (3 * 16, 784) and np.bincount(yr).tolist() == [16, 16, 16]
    # non-saturating generator loss and both D terms were logged every step
    steps = s.history_.steps
    assert len(steps) > 0 and {"loss_d", "loss_g"} <= set(steps[0])


def test_filter_classifier_prefers_own_class() -> None:
    X, y = _tiny_digits()
    s = ImageOverSampler("gan", filter="classifier", filter_factor=4, random_state=0, **FAST)
    Xr, yr = s.fit_resample(X, y)
    assert np.bincount(yr).tolist() == [24, 24, 24]
    assert set(s.n_filtered_) == {1, 2}
    assert all(0 <= v <= 4 * 18 for v in s.n_filtered_.values())


def test_resample_reuses_fitted_model() -> None:
    X, y = _tiny_digits()
    s = ImageOverSampler("conv-vae", random_state=0, **FAST).fit(X, y)
    a = s.resample(X, y)[0]
    s.set_params(latent="posterior")
    b = s.resample(X, y)[0]
    assert a.shape == b.shape and not np.array_equal(a, b)
    with pytest.raises(RuntimeError, match="not fitted"):
        ImageOverSampler("gan").resample(X, y)


def test_snapshots_written_every_k_epochs(tmp_path) -> None:
    X, y = _tiny_digits()
    s = ImageOverSampler(
        "dcgan",
        epochs=4,
        sample_dir=tmp_path,
        sample_every=2,
        random_state=0,
        trainer_options={"batch_size": 16, "health_check": False},
    )
    s.fit(X, y)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["grid_epoch0002.png", "grid_epoch0004.png", "grid_final.png", "loss.png"]
    from PIL import Image

    with Image.open(tmp_path / "grid_final.png") as im:
        assert im.size[0] > 50 and im.size[1] > 50
    with Image.open(tmp_path / "loss.png") as im:
        assert im.size == (600, 350)


def test_save_load_same_samples(tmp_path) -> None:
    X, y = _tiny_digits()
    s = ImageOverSampler("dcgan", random_state=0, **FAST).fit(X, y)
    path = s.save(tmp_path / "m.safetensors")
    loaded = ImageOverSampler.load(path)
    np.testing.assert_array_equal(
        s.sample(3, random_state=5)[0], loaded.sample(3, random_state=5)[0]
    )
    grid = loaded.save_sample_grid(tmp_path / "g.png", n_per_class=4)
    assert grid.stat().st_size > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "ctgan"}, "not an image model"),
        ({"filter": "knn"}, "filter="),
        ({"epochs": -1}, "epochs"),
        ({"latent": "posterior", "model": "gan"}, "conv-vae"),
        ({"filter_factor": 0.5}, "filter_factor"),
    ],
)
def test_bad_parameters(kwargs, match) -> None:
    X, y = _tiny_digits()
    with pytest.raises(ValueError, match=match):
        ImageOverSampler(**kwargs).fit_resample(X, y)


def test_bad_inputs_name_the_problem() -> None:
    X, y = _tiny_digits()
    with pytest.raises(ValueError, match="image_shape"):
        ImageOverSampler("gan").fit_resample(X.reshape(len(X), -1), y)
    with pytest.raises(ValueError, match="has 64 pixels but X rows have 63"):
        ImageOverSampler("gan", image_shape=(8, 8)).fit_resample(X.reshape(len(X), -1)[:, 1:], y)
    with pytest.raises(ValueError, match="2 channels"):
        ImageOverSampler("gan").fit_resample(np.zeros((4, 8, 8, 2), np.float32), y[:4])
    with pytest.raises(ValueError, match="one label per image"):
        ImageOverSampler("gan").fit_resample(X, y[:-1])
    with pytest.raises(ValueError, match=r"image 0 has values in \[0, 1.875\]"):
        ImageOverSampler("gan").fit_resample(X * 2, y)


def test_single_image_class_warns() -> None:
    X, y = _tiny_digits(ratio=30)
    assert np.bincount(y).min() == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Xr, yr = ImageOverSampler("conv-vae", random_state=0, **FAST).fit_resample(X, y)
    assert any("single image" in str(w.message) for w in caught)
    assert len(set(np.bincount(yr))) == 1
