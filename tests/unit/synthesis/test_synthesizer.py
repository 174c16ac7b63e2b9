"""Synthesizer: fit/sample in raw space, label handling, save/load, file safety."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from genbalance.files import ModelFileError
from genbalance.synthesis.tabular import Synthesizer, auto_batch_size, auto_steps


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 200
    y = np.where(rng.random(n) < 0.2, "b", "a")
    X = pd.DataFrame({"x": rng.normal(size=n) + (y == "b") * 4, "k": rng.choice(["u", "v"], n)})
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return Synthesizer("gan", epochs=5, random_state=0).fit(X, y)


def test_sample_by_label_dict_and_proportions(fitted, data):
    X, _ = data
    rows = fitted.sample(10, y="b")
    assert list(rows.columns) == list(X.columns) and len(rows) == 10
    assert len(fitted.sample(y={"a": 3, "b": 4})) == 7
    assert len(fitted.sample(25)) == 25
    assert len(fitted.sample(y=["a", "b", "b"])) == 3


def test_unknown_label_is_clear(fitted):
    with pytest.raises(ValueError, match="unknown class 'zebra'"):
        fitted.sample(3, y="zebra")


def test_unfitted_is_clear():
    with pytest.raises(RuntimeError, match="not fitted"):
        Synthesizer().sample(3)


def test_save_load_fresh_process_identical(fitted, tmp_path):
    path = tmp_path / "m.safetensors"
    fitted.save(path)
    with pytest.raises(FileExistsError):
        fitted.save(path)
    # the file holds no trace of the training rows, so a loaded model cannot replace copies
    # of them: the fitted object matches it with that in-memory filter off
    expected = fitted.sample(20, y="b", random_state=5, drop_copies=False)
    code = (
        "import sys, pandas as pd; from genbalance.synthesis.tabular import Synthesizer;"
        f"s = Synthesizer.load({str(path)!r}); s.sample(20, y='b', random_state=5)"
        ".to_csv(sys.stdout, index=False)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import io

    got = pd.read_csv(io.StringIO(out.stdout))
    pd.testing.assert_frame_equal(
        got, expected.reset_index(drop=True), check_dtype=False, check_column_type=False
    )


def test_tampered_file_refused(fitted, tmp_path):
    path = tmp_path / "m.safetensors"
    fitted.save(path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum"):
        Synthesizer.load(path)
    path.write_bytes(bytes(raw[:40]))
    with pytest.raises(ModelFileError, match="truncated|unreadable|not a"):
        Synthesizer.load(path)


def test_unconditional_fit(data):
    X, _ = data
    s = Synthesizer("vae", epochs=2, random_state=0).fit(X)
    assert len(s.sample(5)) == 5


def test_bad_settings_named():
    X = pd.DataFrame({"x": np.arange(10.0)})
    with pytest.raises(ValueError, match="epochs"):
        Synthesizer(epochs="lots").fit(X)
    with pytest.raises(ValueError, match="trainer_options"):
        Synthesizer(epochs=1, trainer_options={"speed": 3}).fit(X)
    with pytest.raises(ValueError, match="unknown GAN settings"):
        Synthesizer("gan", epochs=1, model_options={"depth": 3}).fit(X)
    with pytest.raises(ValueError, match="one label per row"):
        Synthesizer(epochs=1).fit(X, [0, 1])


def test_auto_budget_grows_with_data_but_is_bounded():
    assert auto_steps(100) <= auto_steps(10_000) <= auto_steps(10**7)
    assert auto_steps(10**7) <= 4000
    assert 64 <= auto_batch_size(10) <= auto_batch_size(10**6) <= 512
    # each family caps the automatic batch: the VAE at 128 (measured on the dev subset)
    assert auto_batch_size(10**6, 128) == 128 and auto_batch_size(100, 128) == 64
    assert Synthesizer().trainer_config(100_000).batch_size == 128
    assert Synthesizer("gan").trainer_config(100_000).batch_size == 128
    assert Synthesizer("made").trainer_config(100_000).batch_size == 512
    assert Synthesizer(batch_size=300).trainer_config(100_000).batch_size == 300
