"""Hostile input end to end (the hostile-input audit, tasks 1, 3, 4 and 5).

Small model files whose JSON asks for huge networks or dtypes, generation requests of tens of
gigabytes, counts that would be truncated, two CLI processes racing for one output, image
outputs written onto their input, and checkpoints of another run. Each case must end in a
clear error before anything large is allocated, or in a correct result -- never in a killed
machine, a silently lost file or a silently wrong model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from genbalance import models
from genbalance.cli import app
from genbalance.data.images import FOLDER_MANIFEST, load_image_folder, save_image_folder
from genbalance.encoders.categorical import MAX_STORED_STRING_WIDTH
from genbalance.encoders.images import ImageEncoder
from genbalance.encoders.tabular import TabularEncoder
from genbalance.files import ModelFileError, dump_bundle, load_bundle
from genbalance.sampling.images import ImageOverSampler
from genbalance.sampling.tabular import GenerativeOverSampler
from genbalance.spans import OutputSpan
from genbalance.synthesis import base as synthesis_base
from genbalance.synthesis.tabular import Synthesizer
from genbalance.training.checkpoint import data_fingerprint, load_checkpoint, save_checkpoint
from genbalance.training.state import History
from genbalance.training.trainer import Trainer

runner = CliRunner(env={"COLUMNS": "1000"})


def _table(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["x", "y", "z"], n)})
    y = np.where(np.arange(n) % 3 == 0, "min", "maj")
    return X, y


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """A GAN and a VAE synthesizer file (tiny, one epoch)."""
    root = tmp_path_factory.mktemp("models")
    X, y = _table()
    out = {}
    for family in ("gan", "vae"):
        synth = Synthesizer(family, epochs=1, random_state=0, progress=False).fit(X, y)
        out[family] = synth.save(root / f"{family}.safetensors")
    return out


def _crafted(src: Path, dst: Path, edit) -> Path:
    meta, tensors = load_bundle(src)
    edit(meta)
    dst.write_bytes(dump_bundle(meta, tensors))  # a valid checksum: only the content lies
    return dst


# a child process with its address space capped at what it holds plus 400 MiB: an allocation
# toward gigabytes dies there (MemoryError / "can't allocate"), a refusal prints REFUSED
_CAPPED = textwrap.dedent(
    """
    import resource, sys
    from genbalance.files import ModelFileError
    from genbalance.synthesis.tabular import Synthesizer
    vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    cap = vm + 400 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        Synthesizer.load(sys.argv[1]).sample(20)
        print("LOADED")
    except (ModelFileError, ValueError) as exc:
        print("REFUSED", exc)
    except (MemoryError, RuntimeError) as exc:
        print("OUT OF MEMORY", type(exc).__name__)
    """
)


def _capped_load(path: Path) -> str:
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", _CAPPED, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return done.stdout.strip() + done.stderr[-400:]


# ---------------------------------------------------------------------- task 1: model files
def test_huge_layers_in_a_small_file_are_refused_under_a_memory_cap(saved, tmp_path):
    def edit(meta):
        meta["model"]["hyper"]["g_hidden"] = [12000, 12000]

    bomb = _crafted(saved["gan"], tmp_path / "bomb.safetensors", edit)
    assert bomb.stat().st_size < 2_000_000  # the audit's file was 707 KB
    out = _capped_load(bomb)
    assert out.startswith("REFUSED") and "do not fit" in out and "before allocating" in out, out
    assert _capped_load(saved["gan"]).startswith("LOADED")  # the cap leaves room for real files


def test_a_huge_text_dtype_is_refused_before_sampling_allocates(saved, tmp_path):
    def edit(meta):
        meta["encoder"]["schema"][1]["dtype"] = "U100000000"  # 400 MB a value

    bomb = _crafted(saved["vae"], tmp_path / "dtype.safetensors", edit)
    out = _capped_load(bomb)
    assert out.startswith("REFUSED") and "U100000000" in out and "accepted" in out, out


CONFIG_BOMBS = {
    "gan g_hidden": ("gan", lambda m: m["model"]["hyper"].update(g_hidden=[12000, 12000])),
    "gan d_hidden": ("gan", lambda m: m["model"]["hyper"].update(d_hidden=[50000])),
    "gan z_dim": ("gan", lambda m: m["model"]["hyper"].update(z_dim=10**8)),
    "gan pac": ("gan", lambda m: m["model"]["hyper"].update(pac=10**6)),
    "vae hidden (fits the build, not the weights)": (
        "vae",
        lambda m: m["model"]["hyper"].update(hidden=[2000, 2000]),
    ),
    "vae latent_dim": ("vae", lambda m: m["model"]["hyper"].update(latent_dim=10**9)),
    "vae n_classes": ("vae", lambda m: m["model"].update(n_classes=10**9)),
    "vae data_dim": ("vae", lambda m: m["model"].update(data_dim=10**9)),
    "vae spans": (
        "vae",
        lambda m: m["model"]["spans"].append({"size": 10**9, "activation": "tanh"}),
    ),
    "vae family": ("vae", lambda m: m["model"].update(family="os.system")),
    "vae data_dim bool": ("vae", lambda m: m["model"].update(data_dim=True)),
}


@pytest.mark.parametrize("case", sorted(CONFIG_BOMBS))
def test_crafted_configurations_are_refused_without_big_allocations(saved, tmp_path, case):
    family, edit = CONFIG_BOMBS[case]
    path = _crafted(saved[family], tmp_path / "c.safetensors", edit)
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError, match="do not fit"):
        Synthesizer.load(path)
    assert time.perf_counter() - t0 < 5.0


def _family_state(family: str, hyper: dict, data_dim: int = 12, n_classes: int = 3):
    spans = [OutputSpan(2, "softmax"), OutputSpan(1, "tanh"), OutputSpan(data_dim - 3, "sigmoid")]
    if family in ("dcgan", "conv-vae", "pixelcnn"):
        spans = [OutputSpan(data_dim, "sigmoid")]
    if family == "multimodal-vae":  # a 3-wide table part, then the image's pixels
        spans = [
            OutputSpan(2, "softmax"),
            OutputSpan(1, "tanh"),
            OutputSpan(data_dim - 3, "sigmoid"),
        ]
    model = models.get(family)(data_dim, n_classes, spans, **hyper)
    return model.get_config(), model.state_tensors()


FAMILY_BOMBS = {
    "made hidden": ("made", {}, {"hidden": [30000, 30000]}),
    "made n_mixtures": ("made", {}, {"n_mixtures": 10**8}),
    "rbm n_hidden": ("rbm", {}, {"n_hidden": 10**9}),
    "rbm chains": ("rbm", {}, {"chains": 10**8}),
    "diffusion timesteps": ("diffusion", {}, {"timesteps": 10**9}),
    "diffusion embed_dim": ("diffusion", {}, {"embed_dim": 10**6}),
    "dcgan g_channels": ("dcgan", {"image_shape": [1, 8, 8]}, {"g_channels": 100_000}),
    "conv-vae channels": ("conv-vae", {"image_shape": [1, 8, 8]}, {"channels": 100_000}),
    "pixelcnn channels": ("pixelcnn", {"image_shape": [1, 8, 8]}, {"channels": 100_000}),
    "pixelcnn image_shape": (
        "pixelcnn",
        {"image_shape": [1, 8, 8]},
        {"image_shape": [1, 10**5, 10**5]},
    ),
}


@pytest.mark.parametrize("case", sorted(FAMILY_BOMBS))
def test_every_family_refuses_a_config_bigger_than_its_weights(case):
    family, base, bomb = FAMILY_BOMBS[case]
    data_dim = 64 if "image_shape" in base else 12
    config, tensors = _family_state(family, base, data_dim)
    models.from_state(config, tensors)  # the honest file loads
    config["hyper"].update(bomb)
    if "image_shape" in bomb:
        config["data_dim"] = int(np.prod(bomb["image_shape"]))
        config["spans"] = [{"size": config["data_dim"], "activation": "sigmoid"}]
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError, match="do not fit"):
        models.from_state(config, tensors)
    assert time.perf_counter() - t0 < 5.0


def test_honest_models_of_every_family_load_unchanged():
    for family in models.available():
        base = {"image_shape": [1, 8, 8]} if family in ("dcgan", "conv-vae", "pixelcnn") else {}
        data_dim = 64 if base else 12
        if family == "multimodal-vae":
            base, data_dim = {"image_shapes": [[1, 8, 8]]}, 67
        config, tensors = _family_state(family, base, data_dim)
        loaded = models.from_state(config, tensors)
        for name, value in loaded.state_tensors().items():
            assert torch.equal(value, tensors[name]), (family, name)


def test_oversized_model_file_is_refused_before_it_is_read(saved, monkeypatch):
    from genbalance import files

    monkeypatch.setattr(files, "MAX_MODEL_FILE_BYTES", 1000)
    with pytest.raises(ModelFileError, match="MAX_MODEL_FILE_BYTES"):
        Synthesizer.load(saved["vae"])


# ---------------------------------------------------------------------- task 1: encoder JSON
def _encoder_state() -> dict:
    X, _ = _table()
    X["n"] = np.arange(len(X), dtype=np.int32)
    return TabularEncoder(random_state=0).fit(X).to_json()


ENCODER_BOMBS = {
    "text dtype 100M wide": (lambda d: d["schema"][1].update(dtype="U100000000"), "U100000000"),
    "bytes dtype": (lambda d: d["schema"][1].update(dtype="S999999999"), "S999999999"),
    "datetime dtype": (lambda d: d["schema"][1].update(dtype="datetime64[ns]"), "datetime64"),
    "complex dtype": (lambda d: d["schema"][0].update(dtype="complex128"), "complex128"),
    "void dtype": (lambda d: d["schema"][0].update(dtype="V1000000"), "V1000000"),
    "nonsense dtype": (lambda d: d["schema"][0].update(dtype="no such"), "no such"),
    "numeric column as object": (lambda d: d["schema"][0].update(dtype="object"), "numeric"),
    "categories dtype": (
        lambda d: d["schema"][1].update(dtype="category", categories_dtype="U99999999"),
        "U99999999",
    ),
    "columns dtype": (lambda d: d.update(columns_dtype="U100000000"), "columns dtype"),
    "NaN mixture mean": (lambda d: d["codecs"][0].update(means=[float("nan")]), "NaN"),
    "10^6 modes": (
        lambda d: d["codecs"][0].update(
            means=[0.0] * 10**6, stds=[1.0] * 10**6, weights=[1.0] * 10**6
        ),
        "1 to 1024",
    ),
    "fill mode out of range": (lambda d: d["codecs"][0].update(fill_mode=99), "fill_mode"),
    "negative std": (
        lambda d: d["codecs"][0].update(stds=[-1.0] * len(d["codecs"][0]["stds"])),
        "std",
    ),
    "repeated category": (lambda d: d["codecs"][1].update(kept=["x", "x", "y"]), "twice"),
    "grouped counts": (
        lambda d: d["codecs"][1].update(other=["q"], other_counts=[-3]),
        "other_counts",
    ),
    "non-scalar category": (
        lambda d: d["codecs"][1].update(kept=[{"a": 1}, "y", "z"]),
        "plain value",
    ),
    "min is NaN": (lambda d: d["schema"][0].update(min=float("inf")), "finite"),
    "flag not a bool": (lambda d: d["schema"][0].update(has_missing="yes"), "has_missing"),
    "duplicate column": (lambda d: d["schema"][1].update(name=d["schema"][0]["name"]), "twice"),
}


@pytest.mark.parametrize("case", sorted(ENCODER_BOMBS))
def test_crafted_encoder_state_is_refused_by_name(case):
    edit, named = ENCODER_BOMBS[case]
    state = json.loads(json.dumps(_encoder_state()))
    edit(state)
    with pytest.raises(ValueError, match="malformed") as info:
        TabularEncoder.from_json(state)
    assert named in str(info.value)


def test_valid_encoder_dtypes_still_load():
    X = pd.DataFrame(
        {
            "f": np.linspace(0, 1, 30, dtype=np.float32),
            "i": pd.array(list(range(29)) + [None], dtype="Int64"),
            "s": pd.Series(["a", "b", "c"] * 10, dtype="string"),
            "c": pd.Categorical(["u", "v"] * 15),
            "b": [True, False] * 15,
        }
    )
    enc = TabularEncoder(random_state=0).fit(X)
    again = TabularEncoder.from_json(json.loads(json.dumps(enc.to_json())))
    out = again.inverse_transform(enc.transform(X), random_state=0)
    assert list(out.dtypes.astype(str)) == list(X.dtypes.astype(str))
    state = enc.to_json()
    state["schema"][2]["dtype"] = f"<U{MAX_STORED_STRING_WIDTH}"
    TabularEncoder.from_json(state)  # the widest fixed-width text still accepted


@pytest.mark.parametrize(
    "edit",
    [
        {"height": 10**6, "width": 10**6},
        {"channels": 4},
        {"height": True},
        {"dtype": "U1000000"},
        {"per_pixel_spans": "yes"},
    ],
)
def test_crafted_image_encoder_state_is_refused(edit):
    state = ImageEncoder().fit(np.zeros((2, 4, 4), np.uint8)).to_json()
    state.update(edit)
    with pytest.raises(ValueError, match="ImageEncoder state"):
        ImageEncoder.from_json(state)


# ---------------------------------------------------------------------- task 3: sizes, counts
@pytest.fixture(scope="module")
def fitted() -> Synthesizer:
    X, y = _table()
    return Synthesizer("vae", epochs=1, random_state=0, progress=False).fit(X, y)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda s: s.sample(10**10), "n"),
        (lambda s: s.sample(y={"min": 10**9}), "y"),
        (lambda s: s.sample(10**10, y="min"), "n"),
        (lambda s: s.sample(y={"min": 10**8, "maj": 10**9}), "y"),
    ],
)
def test_huge_generation_requests_are_refused_before_any_work(fitted, call, argument):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=rf"^{argument} asks for [0-9,]+ generated rows, about"):
        call(fitted)
    assert time.perf_counter() - t0 < 1.0  # nothing was drawn or allocated first


def test_the_generation_bound_is_a_documented_setting(fitted, monkeypatch):
    monkeypatch.setattr(synthesis_base, "MAX_GENERATION_BYTES", 10_000)
    with pytest.raises(ValueError, match=r"MAX_GENERATION_BYTES"):
        fitted.sample(500)
    monkeypatch.undo()
    assert len(fitted.sample(500)) == 500


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"y": {"min": 2.9}}, TypeError),
        ({"y": {"min": True}}, TypeError),
        ({"y": {"min": -3}}, ValueError),
        ({"y": {"min": "5"}}, TypeError),
        ({"n": True}, TypeError),
        ({"n": 2.5}, TypeError),
        ({"n": -1}, ValueError),
        ({"n": float("nan")}, TypeError),
        ({"n": "10"}, TypeError),
        ({"n": 3, "y": "min", "random_state": 0}, None),
        ({"n": 4.0}, None),
        ({"y": {"min": np.int64(2), "maj": 1}}, None),
        ({"n": 5, "y": {"min": 2, "maj": 1}}, ValueError),
    ],
)
def test_counts_are_whole_numbers_never_truncated(fitted, kwargs, error):
    if error is None:
        rows = fitted.sample(**kwargs)
        want = kwargs.get("n")
        want = int(want) if want is not None else sum(int(v) for v in kwargs["y"].values())
        assert len(rows) == want
    else:
        with pytest.raises(error, match=r"whole number|add up|non-negative"):
            fitted.sample(**kwargs)


STRATEGIES = {
    "fraction": ({"min": 24.5}, TypeError),
    "boolean": ({"min": True}, TypeError),
    "negative": ({"min": -1}, ValueError),
    "text": ({"min": "30"}, TypeError),
    "callable -> str": (lambda y: "abc", TypeError),
    "callable -> fraction": (lambda y: {"min": 30.5}, TypeError),
    "callable -> list": (lambda y: [1, 2], TypeError),
    "huge": ({"min": 10**9}, ValueError),
}


@pytest.mark.parametrize("case", sorted(STRATEGIES))
def test_bad_sampling_strategies_are_refused_before_training(case):
    strategy, error = STRATEGIES[case]
    X, y = _table()
    sampler = GenerativeOverSampler(sampling_strategy=strategy, epochs=1, random_state=0)
    t0 = time.perf_counter()
    with pytest.raises(error, match="sampling_strategy"):
        sampler.fit_resample(X, y)
    assert not hasattr(sampler, "synthesizer_")  # refused before any training
    assert time.perf_counter() - t0 < 2.0


def test_whole_float_strategies_still_work():
    X, y = _table()
    sampler = GenerativeOverSampler(sampling_strategy={"min": 40.0}, epochs=1, random_state=0)
    _, y_res = sampler.fit_resample(X, y)
    assert (y_res == "min").sum() == 40


def test_image_sampler_checks_counts_and_sizes_before_training():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (30, 8, 8), dtype=np.uint8)
    y = np.array([0] * 20 + [1] * 10)
    for strategy, error in (
        ({1: 10**9}, ValueError),
        ({1: 12.5}, TypeError),
        ({1: True}, TypeError),
    ):
        sampler = ImageOverSampler("gan", epochs=1, sampling_strategy=strategy, random_state=0)
        with pytest.raises(error, match="sampling_strategy"):
            sampler.fit_resample(X, y)
        assert not hasattr(sampler, "synthesizer_")
    sampler = ImageOverSampler("gan", epochs=1, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="n_per_class"):
        sampler.sample(True)
    with pytest.raises(ValueError, match="n_per_class asks for"):
        sampler.sample(10**9)
    assert sampler.sample(3)[0].shape == (6, 8, 8)


# ---------------------------------------------------------------------- task 4: racing CLI
def test_two_cli_samples_racing_for_one_output_exactly_one_wins(saved, tmp_path):
    out = tmp_path / "same.csv"
    cmd = [sys.executable, "-m", "genbalance", "sample", str(saved["vae"]), "-n", "150000"]
    procs = [
        subprocess.Popen(
            [*cmd, "-o", str(out), "--seed", str(seed)], stderr=subprocess.PIPE, text=True
        )
        for seed in (1, 2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "exists" in loser and "--force" in loser
    assert len(pd.read_csv(out)) == 150000  # the winner's file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["same.csv"]  # no temporary left


# ---------------------------------------------------------------------- task 4: images CLI
def _png_folder(root: Path, classes: dict[str, int]) -> Path:
    X = np.random.default_rng(0).integers(0, 255, (sum(classes.values()), 8, 8), dtype=np.uint8)
    labels = [name for name, n in classes.items() for _ in range(n)]
    from PIL import Image

    for i, (img, label) in enumerate(zip(X, labels, strict=True)):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / label / f"{i}.png")
    return root


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_images_resample_never_writes_onto_its_input(tmp_path, where):
    src = _png_folder(tmp_path / "in", {"a": 6, "b": 3})
    before = _listing(src)
    out = {"same": src, "inside": src / "balanced", "around": tmp_path}[where]
    result = runner.invoke(
        app,
        [
            "images",
            "resample",
            str(src),
            "-o",
            str(out),
            "--model",
            "gan",
            "--epochs",
            "1",
            "-q",
            "--force",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "input" in result.output
    assert _listing(src) == before


def test_images_resample_force_replaces_only_its_own_earlier_output(tmp_path):
    src = _png_folder(tmp_path / "in", {"a": 6, "b": 3})
    out = tmp_path / "out"
    save_image_folder(out, np.zeros((3, 8, 8), np.uint8), ["a", "b", "stale"])  # older output
    args = ["images", "resample", str(src), "-o", str(out), "--model", "gan", "--epochs", "1", "-q"]
    assert runner.invoke(app, args).exit_code == 2  # exists, no --force
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(set(load_image_folder(out)[1])) == ["a", "b"]  # no stale class survives
    assert (out / FOLDER_MANIFEST).exists()
    theirs = _png_folder(tmp_path / "theirs", {"keep": 1})
    result = runner.invoke(app, [*args[:4], str(theirs), *args[5:], "--force"])
    assert result.exit_code == 2 and "did not write" in result.output
    assert _listing(theirs) == ["keep", "keep/0.png"]


def test_images_resample_npz_is_published_atomically(tmp_path):
    src = _png_folder(tmp_path / "in", {"a": 6, "b": 3})
    out = tmp_path / "o.npz"
    args = ["images", "resample", str(src), "-o", str(out), "--model", "gan", "--epochs", "1", "-q"]
    assert runner.invoke(app, args).exit_code == 0
    first = out.read_bytes()
    assert runner.invoke(app, args).exit_code == 2 and out.read_bytes() == first
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "o.npz"]


# ---------------------------------------------------------------------- task 5: checkpoints
def _trained(tmp_path: Path, X, y, **config):
    model = models.get("vae")(X.shape[1], 2, None, hidden=[8], latent_dim=2)
    options = {
        "epochs": None,
        "max_steps": 6,
        "batch_size": 8,
        "checkpoint_path": str(tmp_path / "run.ckpt"),
        "random_state": 0,
    }
    trainer = Trainer(**{**options, **config})
    trainer.fit(model, X, y)
    return model, trainer


def test_a_checkpoint_of_other_settings_is_refused_not_resumed(tmp_path):
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 4, generator=g), torch.arange(40) % 2
    _trained(tmp_path, X, y)
    for change in (
        {"batch_size": 16},
        {"random_state": 1},
        {"sampling": "natural"},
        {"grad_clip": 1.0},
    ):
        model = models.get("vae")(4, 2, None, hidden=[8], latent_dim=2)
        trainer = Trainer(
            epochs=None,
            max_steps=6,
            checkpoint_path=str(tmp_path / "run.ckpt"),
            resume=True,
            **{"batch_size": 8, "random_state": 0, **change},
        )
        with pytest.raises(ModelFileError, match=f"written by another run \\({next(iter(change))}"):
            trainer.fit(model, X, y)
    # the same settings resume (and the resumed run ends where the first did)
    model = models.get("vae")(4, 2, None, hidden=[8], latent_dim=2)
    trainer = Trainer(
        epochs=None,
        max_steps=6,
        batch_size=8,
        random_state=0,
        checkpoint_path=str(tmp_path / "run.ckpt"),
        resume=True,
    )
    history = trainer.fit(model, X, y)
    assert any("resumed" in e for e in history.events)


def test_a_checkpoint_of_other_data_is_refused_when_the_data_is_known(tmp_path):
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 4, generator=g), torch.arange(40) % 2
    other = torch.rand(40, 4, generator=g)
    model, trainer = _trained(tmp_path, X, y)
    path = tmp_path / "fp.ckpt"
    save_checkpoint(path, model, trainer, 6, History(), data=data_fingerprint(X, y))
    load_checkpoint(path, model, trainer, data=data_fingerprint(X, y))  # same data: fine
    for X2, y2 in ((other, y), (X, 1 - y), (X[:39], y[:39])):
        with pytest.raises(ModelFileError, match=r"another run \(data 40x4:"):
            load_checkpoint(path, model, trainer, data=data_fingerprint(X2, y2))
    assert data_fingerprint(X, y) == data_fingerprint(X.clone(), y.clone())


def test_a_checkpoint_without_a_fingerprint_is_refused(tmp_path):
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 4, generator=g), torch.arange(40) % 2
    model, trainer = _trained(tmp_path, X, y)
    meta, tensors = load_bundle(tmp_path / "run.ckpt")
    del meta["fingerprint"]
    old = tmp_path / "old.ckpt"
    old.write_bytes(dump_bundle(meta, tensors))
    with pytest.raises(ModelFileError, match="no run fingerprint"):
        load_checkpoint(old, model, trainer)


def test_leftover_checkpoint_of_a_finished_run_on_other_data_is_refused(tmp_path):
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 4, generator=g), torch.arange(40) % 2
    _trained(tmp_path, X, y)  # finished: the checkpoint says step 6 of 6
    other = torch.rand(40, 4, generator=g)
    model = models.get("vae")(4, 2, None, hidden=[8], latent_dim=2)
    trainer = Trainer(
        epochs=None,
        max_steps=6,
        batch_size=8,
        random_state=0,
        checkpoint_path=str(tmp_path / "run.ckpt"),
        resume=True,
    )
    with pytest.raises(ModelFileError, match="data"):
        trainer.fit(model, other, y)


@pytest.mark.parametrize("dtype", ["int64", "Int64", "uint64"])
def test_in_memory_integers_beyond_float_precision_are_refused_not_rounded(dtype):
    # the streamed reader refuses them (test_hostile_files); the in-memory path must agree
    big = pd.Series([1, 2, 2**53 + 1] * 10, dtype=dtype)
    X = pd.DataFrame({"n": big, "x": np.linspace(0, 1, 30)})
    with pytest.raises(ValueError, match=r"integer column 'n'.*2\*\*53"):
        TabularEncoder(id_columns=None).fit(X)
    below = X.assign(n=pd.Series([1, 2, 2**53 - 1] * 10, dtype=dtype))
    assert TabularEncoder(id_columns=None).fit(below).output_dim > 0


@pytest.mark.parametrize(
    ("labels", "error"),
    [
        ([0.0] * 10 + [np.nan] * 10, r"missing label"),
        ([1, "a"] * 10, r"mixes label types"),
        ([0.5] * 10 + [1] * 10, r"non-whole numbers"),
        ([None] + [1] * 19, r"missing label"),
    ],
)
def test_image_labels_follow_the_table_label_rules(labels, error):
    from genbalance import ImageOverSampler
    from genbalance.synthesis.images import ImageSynthesizer

    images = np.random.default_rng(0).random((20, 8, 8))
    y = np.array(labels, dtype=object)
    with pytest.raises(ValueError, match=error):
        ImageOverSampler(epochs=1, random_state=0).fit_resample(images, y)
    if "non-whole" not in error:  # the synthesizer, like Synthesizer, accepts float labels
        with pytest.raises(ValueError, match=error):
            ImageSynthesizer(epochs=1, random_state=0).fit(images, y)


def test_resample_keeps_a_categorical_parquet_target_categorical(tmp_path):
    rng = np.random.default_rng(0)
    target = pd.Categorical(["x"] * 50 + ["y"] * 10, categories=["x", "y", "unused"])
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "t": target})
    frame.to_parquet(tmp_path / "d.parquet")
    out = tmp_path / "out.parquet"
    args = ["resample", str(tmp_path / "d.parquet"), "-t", "t", "-o", str(out), "--epochs", "1"]
    result = CliRunner().invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output
    back = pd.read_parquet(out)["t"]
    assert isinstance(back.dtype, pd.CategoricalDtype)
    assert list(back.cat.categories) == ["x", "y", "unused"]
    assert back.value_counts().to_dict() == {"x": 50, "y": 50, "unused": 0}


def _file_size_capped(limit: int):
    """A child-process hook: writes past ``limit`` bytes fail with EFBIG instead of SIGXFSZ."""
    import resource
    import signal

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return cap


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_size_limit_ends_in_a_clear_error_and_no_partial_output(tmp_path, suffix):
    model = tmp_path / "m.safetensors"
    frame = pd.DataFrame({"a": np.arange(40.0), "t": ["x"] * 30 + ["y"] * 10})
    frame.to_csv(tmp_path / "d.csv", index=False)
    fit = ["fit", str(tmp_path / "d.csv"), "-t", "t", "-o", str(model), "--epochs", "1", "-q"]
    assert runner.invoke(app, fit).exit_code == 0
    out = tmp_path / f"big{suffix}"
    command = [sys.executable, "-m", "genbalance", "sample", str(model), "-n", "200000"]
    done = subprocess.run(
        [*command, "-o", str(out)],
        preexec_fn=_file_size_capped(64 * 1024),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "file-size limit" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "m.safetensors"]


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (OSError(28, "No space left on device"), "disk is full"),
        (OSError("Error writing bytes to file. Detail: [errno 28] No space"), "disk is full"),
        (OSError(30, "Read-only file system"), "read-only"),
        (OSError(2, "No such file"), None),
    ],
)
def test_write_errors_are_explained(error, hint):
    from genbalance.cli.common import cli_message, write_hint

    if hint is None:
        assert write_hint(error) is None
    else:
        assert hint in cli_message(error) and "no half-written file" in cli_message(error)
