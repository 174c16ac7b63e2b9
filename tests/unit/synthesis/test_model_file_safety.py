"""Model files cannot be turned against the user: loading never runs code, and a tampered,
truncated, foreign or future-version file is refused with a message that says which."""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save as st_save
from typer.testing import CliRunner

from genbalance.files import FORMAT_VERSION, ModelFileError, dump_bundle, load_bundle
from genbalance.synthesis.tabular import Synthesizer
from genbalance.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "c": rng.choice(["x", "y"], 40)})
    y = np.array([0] * 30 + [1] * 10)
    synth = Synthesizer(
        "gan",
        epochs=1,
        random_state=0,
        model_options={"g_hidden": [8], "d_hidden": [8], "z_dim": 2},
        trainer_options={"max_steps": 2, "batch_size": 16, "health_check": False},
    ).fit(X, y)
    return synth.save(tmp_path_factory.mktemp("files") / "m.safetensors")


def _header_span(raw: bytes) -> tuple[int, int]:
    return 8, 8 + int.from_bytes(raw[:8], "little")


def _rewrite_header(raw: bytes, change) -> bytes:
    """A well-formed safetensors file whose header went through ``change(header_dict)``."""
    start, end = _header_span(raw)
    header = json.loads(raw[start:end])
    change(header)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    return len(blob).to_bytes(8, "little") + blob + raw[end:]


# ------------------------------------------------------------------ the code base
UNSAFE = {
    r"\bimport pickle\b|\bfrom pickle\b|\bpickle\.loads?\(": "pickle",
    r"\bimport dill\b|\bcloudpickle\b|\bjoblib\.load\(": "pickle-based loaders",
    r"\bmarshal\.loads?\(|\bshelve\.open\(": "marshal/shelve",
    r"(?<![\w.])(?<!def )eval\(|(?<![\w.])(?<!def )exec\(": "eval/exec",
    r"yaml\.load\((?![^)]*SafeLoader)": "yaml.load without SafeLoader",
}


def test_no_code_path_can_unpickle():
    """Scan library and benchmark code: no pickle; torch.load and np.load only the safe way."""
    problems = []
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        text = path.read_text()
        for pattern, what in UNSAFE.items():
            for m in re.finditer(pattern, text):
                problems.append(f"{path.relative_to(ROOT)}: {what}: {m.group(0)}")
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                problems.append(f"{path.relative_to(ROOT)}: torch.load without weights_only=True")
        for m in re.finditer(r"np\.load\(([^)]*)\)", text):
            if "allow_pickle=False" not in m.group(1):
                problems.append(f"{path.relative_to(ROOT)}: np.load without allow_pickle=False")
    assert problems == []


class _Bomb:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).touch, ())


def test_pickle_renamed_safetensors_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(pickle.dumps(_Bomb(str(marker))))
    with pytest.raises(ModelFileError, match="not a safetensors file|not a genbalance"):
        Synthesizer.load(fake)
    assert not marker.exists()
    # torch.save writes a zip with a pickle inside: refused the same way
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2), "bomb": _Bomb(str(marker))}, buf)
    assert zipfile.is_zipfile(io.BytesIO(buf.getvalue()))
    fake.write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError):
        Synthesizer.load(fake)
    assert not marker.exists()


# ------------------------------------------------------------------ damaged files
def test_every_single_byte_change_in_weights_is_refused(model_file, tmp_path):
    raw = model_file.read_bytes()
    _, end = _header_span(raw)
    rng = np.random.default_rng(0)
    positions = rng.choice(np.arange(end, len(raw)), size=40, replace=False)
    bad = tmp_path / "t.safetensors"
    for pos in positions:
        changed = bytearray(raw)
        changed[pos] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(changed))
        with pytest.raises(ModelFileError, match="checksum mismatch"):
            Synthesizer.load(bad)


def test_byte_changes_in_the_header_are_refused(model_file, tmp_path):
    raw = model_file.read_bytes()
    start, end = _header_span(raw)
    rng = np.random.default_rng(1)
    bad = tmp_path / "t.safetensors"
    for pos in rng.choice(np.arange(0, end), size=60, replace=False):
        changed = bytearray(raw)
        changed[pos] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(changed))
        with pytest.raises(ModelFileError):
            Synthesizer.load(bad)


def test_edited_metadata_with_the_old_checksum_is_refused(model_file, tmp_path):
    def edit(header):
        meta = json.loads(header["__metadata__"]["meta"])
        meta["classes"] = [0, 7]
        header["__metadata__"]["meta"] = json.dumps(meta, sort_keys=True)

    bad = tmp_path / "t.safetensors"
    bad.write_bytes(_rewrite_header(model_file.read_bytes(), edit))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Synthesizer.load(bad)


@pytest.mark.parametrize("keep", [0, 7, 8, 9, 100, 0.5, 0.9, -1])
def test_truncated_files_are_refused(model_file, tmp_path, keep):
    raw = model_file.read_bytes()
    n = int(len(raw) * keep) if isinstance(keep, float) else (len(raw) - 1 if keep == -1 else keep)
    bad = tmp_path / "t.safetensors"
    bad.write_bytes(raw[:n])
    with pytest.raises(ModelFileError, match="truncated|not a safetensors|corrupt|checksum"):
        Synthesizer.load(bad)


def test_future_and_invalid_versions_are_refused(model_file, tmp_path):
    bad = tmp_path / "t.safetensors"
    for version, message in [
        (str(FORMAT_VERSION + 1), "newer genbalance"),
        ("99", "Upgrade genbalance"),
        ("0", "bad format_version"),
        ("one", "bad format_version"),
    ]:

        def edit(header, v=version):
            header["__metadata__"]["format_version"] = v

        bad.write_bytes(_rewrite_header(model_file.read_bytes(), edit))
        with pytest.raises(ModelFileError, match=message):
            Synthesizer.load(bad)


def test_foreign_and_crafted_files_are_refused(model_file, tmp_path):
    bad = tmp_path / "t.safetensors"
    bad.write_bytes(st_save({"w": torch.zeros(3)}))  # a safetensors file, not ours
    with pytest.raises(ModelFileError, match="not a genbalance model file"):
        Synthesizer.load(bad)
    bad.write_bytes(b"")
    with pytest.raises(ModelFileError, match="truncated or empty"):
        Synthesizer.load(bad)
    bad.write_bytes((2**62).to_bytes(8, "little") + b"{}")  # header length beyond the file
    with pytest.raises(ModelFileError, match="truncated"):
        Synthesizer.load(bad)
    # a checksum is no signature: crafted files with a *valid* checksum still fail cleanly
    for meta in ({"kind": "synthesizer"}, {"kind": "checkpoint"}, {"kind": "model"}):
        bad.write_bytes(dump_bundle(meta, {"w": torch.zeros(2)}))
        with pytest.raises(ModelFileError):
            Synthesizer.load(bad)
    meta, tensors = load_bundle(model_file)
    meta["model"]["data_dim"] = 999  # weights no longer fit the configuration
    bad.write_bytes(dump_bundle(meta, tensors))
    with pytest.raises(ModelFileError, match="do not fit"):
        Synthesizer.load(bad)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        Synthesizer.load(tmp_path / "missing.safetensors")


def test_non_object_metadata_is_refused(tmp_path):
    bad = tmp_path / "t.safetensors"
    bad.write_bytes(dump_bundle([1, 2], {"w": torch.zeros(1)}))  # type: ignore[arg-type]
    with pytest.raises(ModelFileError, match="not a JSON object"):
        load_bundle(bad)


def test_checkpoints_are_checked_like_models(model_file, tmp_path):
    from genbalance import models
    from genbalance.models.base import OutputSpan
    from genbalance.training.trainer import Trainer

    model = models.get("gan")(2, 2, [OutputSpan(2, "sigmoid")], g_hidden=[4], d_hidden=[4])
    trainer = Trainer(epochs=None, max_steps=1)
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        load_checkpoint(model_file, model, trainer)
    crafted = tmp_path / "c.ckpt"
    crafted.write_bytes(
        dump_bundle({"kind": "checkpoint", "model": model.get_config(), "step": 3}, {})
    )
    with pytest.raises(ModelFileError, match="does not fit this training run"):
        load_checkpoint(crafted, model, trainer)


def test_cli_sample_refuses_a_tampered_model(model_file, tmp_path):
    from genbalance.cli import app

    raw = bytearray(model_file.read_bytes())
    raw[-3] ^= 0xFF
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    result = CliRunner().invoke(app, ["sample", str(bad), "-n", "3", "-o", str(tmp_path / "s.csv")])
    assert result.exit_code == 2
    assert "checksum mismatch" in result.output
    assert not (tmp_path / "s.csv").exists()
