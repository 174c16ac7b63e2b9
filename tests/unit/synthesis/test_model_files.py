"""Model files: save, load in a fresh Python process, sample with the same seed -> the very
same samples (GAN presets with BatchNorm and EMA, VAE and CVAE with mixed output spans); a
tampered, truncated or foreign file is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genbalance import models
from genbalance.files import ModelFileError
from genbalance.models.base import OutputSpan
from genbalance.training.trainer import Trainer

SPANS = [OutputSpan(1, "tanh"), OutputSpan(3, "softmax"), OutputSpan(1, "sigmoid")]
LABELS = torch.tensor([0, 1, 2] * 20)

CASES = {
    # residual G with BatchNorm, EMA of G on: the saved G must be the EMA shadow + its buffers
    "gan-residual": ("gan", {"g_hidden": [16, 16], "d_hidden": [16], "z_dim": 4}, {"ema": 0.9}),
    # the classic preset: BatchNorm running statistics decide the eval-mode samples
    "gan-classic": (
        "gan",
        {
            "architecture": "mlp-classic",
            "g_hidden": [16, 16, 32],
            "d_hidden": [32, 16],
            "z_dim": 4,
            "spectral_norm": True,
        },
        {},
    ),
    "vae": ("vae", {"hidden": [16], "latent_dim": 3, "conditional": False}, {}),
    "cvae": ("vae", {"hidden": [16], "latent_dim": 3}, {}),
}


def table(n: int = 90) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    cat = torch.nn.functional.one_hot((y + torch.randint(0, 2, (n,), generator=g)) % 3, 3)
    num = torch.tanh(torch.randn(n, 1, generator=g) + y[:, None])
    ind = (torch.rand(n, 1, generator=g) < 0.3).float()
    return torch.cat([num, cat.float(), ind], 1), y


def fitted(name: str):
    family, hyper, trainer = CASES[name]
    torch.manual_seed(0)
    model = models.get(family)(5, 3, SPANS, **hyper)
    X, y = table()
    Trainer(epochs=None, max_steps=8, batch_size=30, health_check=False, **trainer).fit(model, X, y)
    return model


def sample(model, seed: int = 11) -> torch.Tensor:
    return model.generate(LABELS, torch.Generator().manual_seed(seed))


FRESH = """
import json, sys, torch
from safetensors.torch import save_file
from genbalance import models
jobs = json.loads(sys.argv[1])
labels = torch.tensor(jobs["labels"])
out = {}
for name, path in jobs["files"].items():
    model, extra = models.load(path)
    assert extra == {"case": name}, extra
    out[name] = model.generate(labels, torch.Generator().manual_seed(11)).contiguous()
save_file(out, jobs["out"])
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[dict, dict[str, torch.Tensor]]:
    """Every case trained here, saved, then loaded and sampled in one fresh interpreter."""
    root = tmp_path_factory.mktemp("models")
    trained = {name: fitted(name) for name in CASES}
    files = {}
    for name, model in trained.items():
        files[name] = str(root / f"{name}.safetensors")
        models.save(model, files[name], extra={"case": name})
    out = root / "fresh.safetensors"
    jobs = {"files": files, "labels": LABELS.tolist(), "out": str(out)}
    subprocess.run([sys.executable, "-c", FRESH, json.dumps(jobs)], check=True, timeout=120)
    return trained, {"files": files, "samples": load_file(str(out))}


@pytest.mark.parametrize("name", list(CASES))
def test_fresh_process_samples_are_identical(saved, name):
    trained, fresh = saved
    expected = sample(trained[name])
    got = fresh["samples"][name]
    assert got.shape == (len(LABELS), 5)
    assert torch.equal(got, expected)
    # the seed matters (so equality above is not a constant output) ...
    assert not torch.equal(sample(trained[name], seed=12), expected)
    # ... and so do the weights: an untrained model of the same config samples differently
    torch.manual_seed(1)
    untrained = type(trained[name]).from_config(trained[name].get_config())
    untrained.train(False)
    assert not torch.equal(sample(untrained), expected)


def test_in_process_reload_keeps_every_tensor_and_the_config(saved):
    trained, fresh = saved
    for name, path in fresh["files"].items():
        model, _ = models.load(path)
        assert model.get_config() == trained[name].get_config()
        a, b = model.state_tensors(), trained[name].state_tensors()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_damaged_or_foreign_files_are_refused(saved, tmp_path: Path):
    _, fresh = saved
    raw = Path(fresh["files"]["gan-residual"]).read_bytes()
    flipped = bytearray(raw)
    flipped[-3] ^= 0xFF  # one weight byte
    cases = {
        "flipped.safetensors": (bytes(flipped), "checksum mismatch"),
        "truncated.safetensors": (raw[: len(raw) // 2], "truncated|corrupt"),
        "empty.safetensors": (b"", "truncated or empty"),
        "text.safetensors": (b"import os; os.system('echo pwned')", "truncated|not a"),
    }
    for fname, (data, message) in cases.items():
        path = tmp_path / fname
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=message):
            models.load(path)
    with pytest.raises(FileNotFoundError):
        models.load(tmp_path / "missing.safetensors")
    with pytest.raises(FileExistsError):
        models.save(fitted("vae"), fresh["files"]["vae"], overwrite=False)
