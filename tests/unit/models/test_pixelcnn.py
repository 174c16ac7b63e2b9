"""PixelCNN (family "pixelcnn"): causal masks, exact likelihood that beats independent pixels
on held-out binarised 8x8 digits, class conditioning, files, determinism."""

import pytest
import torch
from sklearn.datasets import load_digits

from genbalance import models
from genbalance.models.base import OutputSpan
from genbalance.models.pixelcnn import PRESETS, MaskedConv2d
from genbalance.training.trainer import Trainer

SHAPE = [1, 8, 8]
SMALL = {"image_shape": SHAPE, "channels": 32, "n_layers": 3, "first_kernel": 5, "lr": 5e-3}


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn's bundled 8x8 digits, classes 0-4, binarised at half intensity."""
    data = load_digits()
    keep = data.target < 5
    x = torch.tensor(data.images[keep] > 8, dtype=torch.float32).reshape(-1, 64)
    return x, torch.tensor(data.target[keep], dtype=torch.long)


def independent_nll(train_x, train_y, x, y) -> torch.Tensor:
    """Baseline: per-class independent Bernoulli pixels (Laplace-smoothed frequencies)."""
    p = torch.stack(
        [(train_x[train_y == c].sum(0) + 1) / ((train_y == c).sum() + 2) for c in range(5)]
    )[y]
    return -(x * p.log() + (1 - x) * (1 - p).log()).sum(1)


@pytest.fixture(scope="module")
def trained():
    X, y = digits()
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train, test = perm[:700], perm[700:]
    torch.manual_seed(0)
    model = models.get("pixelcnn")(64, 5, [OutputSpan(64, "sigmoid")], **SMALL)
    history = Trainer(
        epochs=None, max_steps=300, batch_size=64, random_state=0, health_check=False
    ).fit(model, X[train], y[train])
    return model, history, (X[train], y[train]), (X[test], y[test])


def test_masks_are_causal_in_raster_order():
    model = models.get("pixelcnn")(
        64, 2, None, image_shape=SHAPE, channels=8, n_layers=2, first_kernel=3
    )
    for module in model.net.modules():
        if isinstance(module, MaskedConv2d):
            torch.nn.init.normal_(module.weight)
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    for pos in (0, 9, 27, 63):
        i, j = divmod(pos, 8)
        (grad,) = torch.autograd.grad(model.net(x, torch.tensor([1]))[0, 0, i, j], x)
        flat = grad.flatten()
        assert (flat[pos:] == 0).all()  # the pixel itself and everything after it
        assert pos == 0 or (flat[:pos] != 0).any()


def test_beats_independent_pixels_on_held_out_nll(trained):
    model, history, (Xtr, ytr), (Xte, yte) = trained
    nll = -model.log_likelihood(Xte, yte)
    base = independent_nll(Xtr, ytr, Xte, yte)
    print(
        f"held-out NLL per image: PixelCNN {float(nll.mean()):.2f}, "
        f"independent pixels {float(base.mean()):.2f} nats"
    )
    assert torch.isfinite(nll).all()
    assert float(nll.mean()) < float(base.mean()) - 1.5
    # the label matters: the wrong class makes held-out digits less likely
    wrong = -model.log_likelihood(Xte, (yte + 1) % 5)
    assert float(wrong.mean()) > float(nll.mean()) + 5.0
    loss = history.series("nll")
    assert sum(loss[-20:]) / 20 < 0.6 * sum(loss[:5]) / 5


def test_samples_are_class_conditional_binary_and_reproducible(trained, tmp_path):
    model, _, (Xtr, ytr), _ = trained
    labels = torch.arange(5).repeat_interleave(40)
    a = model.generate(labels, torch.Generator().manual_seed(1))
    assert a.shape == (200, 64) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, model.generate(labels, torch.Generator().manual_seed(1)))
    # each class's mean sample is closest to the mean image of the same class
    means = torch.stack([Xtr[ytr == c].mean(0) for c in range(5)])
    gen_means = torch.stack([a[labels == c].mean(0) for c in range(5)])
    assert torch.equal(torch.cdist(gen_means, means).argmin(1), torch.arange(5))
    models.save(model, tmp_path / "pixelcnn.safetensors")
    loaded, _ = models.load(tmp_path / "pixelcnn.safetensors")
    assert loaded.get_config() == model.get_config()
    assert torch.equal(
        loaded.generate(labels[:20], torch.Generator().manual_seed(2)),
        model.generate(labels[:20], torch.Generator().manual_seed(2)),
    )


def test_invalid_hyper_and_presets():
    cls = models.get("pixelcnn")
    with pytest.raises(ValueError, match="image_shape"):
        cls(64, 2, None)
    with pytest.raises(ValueError, match="pixels but data_dim"):
        cls(64, 2, None, image_shape=[1, 7, 7])
    with pytest.raises(ValueError, match="first_kernel must be odd"):
        cls(64, 2, None, image_shape=SHAPE, first_kernel=4)
    with pytest.raises(ValueError, match="unknown pixelcnn settings"):
        cls(64, 2, None, image_shape=SHAPE, layers=3)
    with pytest.raises(ValueError, match="sample"):
        cls(64, 2, None, image_shape=SHAPE, sample="mode")
    for preset in PRESETS.values():
        cls(64, 2, None, image_shape=SHAPE, **preset["hyper"])
    rgb = cls(3 * 16, 2, None, image_shape=[3, 4, 4], channels=4, n_layers=1, first_kernel=3)
    out = rgb.generate(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    assert out.shape == (2, 48)


def test_grey_pixels_are_binarised_afresh_each_step():
    """Dynamic binarisation: the loss sees 0/1 draws whose mean is the grey value;
    binarize=False trains on the grey values themselves."""
    data = load_digits()
    grey = torch.tensor(data.images[:64] / 16.0, dtype=torch.float32).reshape(-1, 64)
    y = torch.zeros(64, dtype=torch.long)
    for binarize in (True, False):
        torch.manual_seed(0)
        model = models.get("pixelcnn")(
            64,
            1,
            None,
            image_shape=SHAPE,
            channels=8,
            n_layers=1,
            first_kernel=3,
            binarize=binarize,
        )
        seen = []
        nll = model._nll
        model._nll = lambda x, y_, nll=nll, seen=seen: (seen.append(x.clone()), nll(x, y_))[1]
        Trainer(epochs=None, max_steps=20, batch_size=64, random_state=0, health_check=False).fit(
            model, grey, y
        )
        values = torch.cat(seen)
        if binarize:
            assert set(values.unique().tolist()) <= {0.0, 1.0}
            assert abs(float(values.mean()) - float(grey.mean())) < 0.02
        else:
            assert ((values > 0) & (values < 1)).any()
