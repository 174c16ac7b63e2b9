"""Warm starts of image models (``ImageSynthesizer.fit(..., init=...)``, head-to-tail):
weights really copied, classes matched by label, clear refusals, files and the sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbalance.data.images import load_digits_8x8
from genbalance.sampling.images import ImageOverSampler
from genbalance.synthesis.images import ImageSynthesizer
from genbalance.synthesis.tabular import Synthesizer
from genbalance.synthesis.transfer import WarmStart

SMALL = {"pixelcnn": {"channels": 8, "n_layers": 1}}  # one pass per pixel to sample


def digits(classes: tuple[int, ...], per_class: int = 16) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits_8x8()
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in classes])
    return X[idx], y[idx]


def synth(model: str = "dcgan", steps: int | None = 20, seed: int = 0, **kw) -> ImageSynthesizer:
    """``steps=None``: no training at all (epochs=0), the weights are those copied."""
    return ImageSynthesizer(
        model,
        epochs=0 if steps is None else None,
        trainer_options={"batch_size": 16, "health_check": False}
        | ({} if steps is None else {"max_steps": steps}),
        model_options=SMALL.get(model),
        random_state=seed,
        progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def source() -> ImageSynthesizer:
    return synth().fit(*digits((0, 1, 2)))


@pytest.mark.parametrize("model", ["dcgan", "conv-vae", "pixelcnn", "gan", "vae", "diffusion"])
def test_zero_step_finetune_generates_what_the_source_did(model: str) -> None:
    src = synth(model).fit(*digits((0, 1, 2)))
    tuned = synth(model, steps=None, seed=7).fit(*digits((1, 2)), init=src)
    labels = [1, 2, 2, 1]
    np.testing.assert_array_equal(
        tuned.generate(labels, random_state=3), src.generate(labels, random_state=3)
    )
    report = tuned.transfer_
    assert report["classes"] == {"shared": [1, 2], "new": [], "dropped": [0]}
    assert report["weights"]["share_copied"] == 1.0 and report["weights"]["fresh"] == 0
    assert report["source"] == {"family": src.model_.family, "image_shape": [1, 8, 8],
                                "classes": [0, 1, 2]}  # fmt: skip


def test_class_rows_follow_labels_new_ones_fresh(source: ImageSynthesizer) -> None:
    tuned = synth(steps=None, seed=7).fit(*digits((2, 1, 5)), init=source)
    assert tuned.classes_.tolist() == [1, 2, 5]
    new, old = tuned.model_.state_tensors(), source.model_.state_tensors()
    for name in ("G.embed.weight", "D.embed.parametrizations.weight.original"):
        torch.testing.assert_close(new[name][:2], old[name][1:3])  # labels 1, 2 by label
        assert not torch.isclose(new[name][2], old[name][0]).all()  # label 5: fresh
    for name in ("G.decoder.project.0.weight", "D.body.2.parametrizations.weight.original"):
        torch.testing.assert_close(new[name], old[name])  # the trunk
    weights = tuned.transfer_["weights"]
    assert weights["partly_copied"] >= 2 and 0.9 < weights["share_copied"] < 1
    assert tuned.transfer_["classes"] == {"shared": [1, 2], "new": [5], "dropped": [0]}


def test_class_policies(source: ImageSynthesizer) -> None:
    mapped = synth(steps=None).fit(*digits((5,)), init=WarmStart(source, classes={5: 2}))
    torch.testing.assert_close(
        mapped.model_.G.embed.weight[0], source.model_.G.embed.weight[2]
    )  # fmt: skip
    fresh = synth(steps=None).fit(*digits((1, 2)), init=WarmStart(source, classes="fresh"))
    assert fresh.transfer_["classes"]["shared"] == []
    with pytest.raises(ValueError, match="columns= and encoder= apply to tables"):
        synth().fit(*digits((1, 2)), init=WarmStart(source, columns="shared"))


def test_refuses_another_family_naming_both(source: ImageSynthesizer) -> None:
    with pytest.raises(ValueError, match="'dcgan' model but this fit trains 'conv-vae'"):
        synth("conv-vae").fit(*digits((1, 2)), init=source)


def test_refuses_another_image_shape_naming_both(source: ImageSynthesizer) -> None:
    X, y = digits((1, 2))
    padded = np.pad(X, ((0, 0), (1, 1), (1, 1)))
    with pytest.raises(ValueError, match=r"8x8 images with 1 channel\(s\) but these are 10x10"):
        synth().fit(padded, y, init=source)
    rgb = np.repeat(X[..., None], 3, axis=3)
    with pytest.raises(ValueError, match=r"but these are 8x8 images with 3 channel\(s\)"):
        synth().fit(rgb, y, init=source)


def test_refuses_what_is_not_a_fitted_image_model() -> None:
    from genbalance.files import ModelFileError

    X, y = digits((1, 2))
    with pytest.raises(ValueError, match="not fitted yet"):
        synth().fit(X, y, init=ImageSynthesizer())
    with pytest.raises(TypeError, match="table synthesizers and bare models"):
        synth().fit(X, y, init=Synthesizer())
    with pytest.raises((ModelFileError, OSError)):
        synth().fit(X, y, init="no-such-model.safetensors")


def test_made_and_rbm_need_the_same_classes() -> None:
    src = synth("made").fit(*digits((0, 1)))
    with pytest.raises(ValueError, match=r"'made' family transfers only between the same cl"):
        synth("made").fit(*digits((1,)), init=src)
    same = synth("made", steps=None).fit(*digits((0, 1), per_class=5), init=src)
    assert same.transfer_["weights"]["share_copied"] == 1.0


def test_output_convention_is_the_fitted_images(source: ImageSynthesizer) -> None:
    X, y = digits((1, 2))
    X8 = np.rint(X * 255).astype(np.uint8)[..., None]  # (N, 8, 8, 1) uint8; source: floats
    tuned = synth(steps=None).fit(X8, y, init=source)
    out = tuned.generate([1, 2], random_state=0)
    assert out.dtype == np.uint8 and out.shape == (2, 8, 8, 1)
    assert tuned.transfer_["encoder"] == "reused"


def test_save_load_of_a_finetuned_model_and_init_from_a_path(source, tmp_path) -> None:
    path = source.save(tmp_path / "source.safetensors")
    from_path = synth(seed=4).fit(*digits((1, 2)), init=str(path))
    from_object = synth(seed=4).fit(*digits((1, 2)), init=source)
    np.testing.assert_array_equal(
        from_path.generate([1, 2, 1], random_state=0),
        from_object.generate([1, 2, 1], random_state=0),
    )
    saved = from_path.save(tmp_path / "tuned.safetensors")
    loaded, _ = ImageSynthesizer.load(saved)
    assert loaded.transfer_ == from_path.transfer_ and loaded.transfer_["classes"]["shared"]
    np.testing.assert_array_equal(
        loaded.generate([2, 1], random_state=5), from_path.generate([2, 1], random_state=5)
    )
    assert ImageSynthesizer.load(path)[0].transfer_ is None


def test_sampler_fine_tunes_the_tail(source, tmp_path) -> None:
    X, y = digits((1, 2), per_class=8)
    X, y = X[:12], y[:12]  # 8 ones, 4 twos
    options = {"epochs": 2, "trainer_options": {"batch_size": 8, "health_check": False}}
    sampler = ImageOverSampler(random_state=0, init=source, **options)
    Xr, yr = sampler.fit_resample(X, y)
    assert np.bincount(yr).tolist() == [0, 8, 8] and Xr.shape == (16, 8, 8)
    assert sampler.synthesizer_.transfer_["classes"]["shared"] == [1, 2]
    fitted = ImageOverSampler(random_state=0, **options).fit(*digits((0, 1, 2)))
    path = fitted.save(tmp_path / "sampler.safetensors")
    from_file = ImageOverSampler(random_state=0, init=path, **options).fit(X, y)
    assert from_file.synthesizer_.transfer_["source"]["classes"] == [0, 1, 2]
    from_sampler = ImageOverSampler(random_state=0, init=fitted, **options).fit(X, y)
    assert from_sampler.synthesizer_.transfer_["weights"]["share_copied"] == 1.0
    with pytest.raises(ValueError, match="'dcgan' model but this fit trains 'conv-vae'"):
        ImageOverSampler("conv-vae", init=source, **options).fit_resample(X, y)


def test_dcgan_anchor_encoder_class_axes_follow_labels() -> None:
    """The VAE-GAN anchor's encoder (recon_weight) reads the class one-hot beside the image
    planes and the pooled features: a warm start to other classes maps those slots by label."""
    opts = {"model_options": {"recon_weight": 0.5, "warm_start_steps": 2}}
    src = ImageSynthesizer(
        "dcgan",
        random_state=0,
        progress=False,
        epochs=None,
        trainer_options={"batch_size": 16, "health_check": False, "max_steps": 3},
        **opts,
    ).fit(*digits((0, 1, 2)))
    tuned = ImageSynthesizer("dcgan", random_state=7, progress=False, epochs=0,
                             trainer_options={"batch_size": 16, "health_check": False},
                             **opts).fit(*digits((2, 1, 5)), init=src)  # fmt: skip
    new, old = tuned.model_.state_tensors(), src.model_.state_tensors()
    for name in ("E.body.0.weight", "E.fc.0.weight"):
        n_feat = old[name].shape[1] - 3  # image planes or pooled features, then 3 classes
        torch.testing.assert_close(new[name][:, :n_feat], old[name][:, :n_feat])
        torch.testing.assert_close(new[name][:, n_feat : n_feat + 2], old[name][:, n_feat + 1 :])
    assert tuned.transfer_["classes"]["new"] == [5]


def test_a_copied_dcgan_is_not_warm_started_again_unless_asked(source) -> None:
    """The dcgan's warm start trains a random G as a VAE decoder; a fit from another model's
    weights (init=) keeps them and skips it, unless model_options asks for it."""
    tuned = synth(steps=4, seed=7).fit(*digits((1, 2)), init=source)
    assert tuned.model_.hyper["warm_start_steps"] == 0
    assert not any(e.startswith("warm start") for e in tuned.history_.events)
    trainer = {"batch_size": 16, "health_check": False, "max_steps": 4}
    asked = ImageSynthesizer(
        "dcgan", random_state=7, progress=False, epochs=None,
        model_options={"warm_start_steps": 2}, trainer_options=trainer,
    ).fit(*digits((1, 2)), init=source)  # fmt: skip
    assert any(e.startswith("warm start") for e in asked.history_.events)
    fresh = synth(steps=4, seed=7).fit(*digits((1, 2)))
    assert fresh.model_.hyper["warm_start_steps"] == "auto"
    assert any(e.startswith("warm start") for e in fresh.history_.events)
