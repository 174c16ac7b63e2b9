"""Synthesizer.sample replaces generated rows that copy a training row (issue: exact copies
removed from generated output by default), without ever storing traces of the rows."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from genbalance.evaluation.privacy import exact_copies
from genbalance.synthesis.tabular import Synthesizer


def _table(n: int, levels: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.choice(list("abcdefgh"[:levels]), n),
            "b": rng.choice(list("pqrstuvw"[:levels]), n),
            "c": rng.integers(0, levels, n),
        }
    )
    return X, rng.choice(["u", "v"], n)


@pytest.fixture(scope="module")
def fitted():
    X, y = _table(60, 5)  # 125 possible rows, about 50 seen: copies are likely, not forced
    return X, Synthesizer("vae", epochs=5, random_state=0).fit(X, y)


def test_copies_are_replaced_by_default(fitted):
    X, synth = fitted
    raw = synth.sample(300, random_state=1, drop_copies=False)
    assert exact_copies(X, raw) > 20  # the check below is not vacuous
    out = synth.sample(300, random_state=1)
    assert exact_copies(X, out) == 0
    assert synth.n_copies_replaced_ >= exact_copies(X, raw)
    assert len(out) == 300 and list(out.dtypes) == list(raw.dtypes)
    pd.testing.assert_frame_equal(out, synth.sample(300, random_state=1))  # same seed, same rows


def test_model_file_holds_no_trace_of_training_rows(fitted, tmp_path):
    X, synth = fitted
    path = tmp_path / "m.safetensors"
    synth.save(path)
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    assert "hash" not in json.dumps(header).lower()
    loaded = Synthesizer.load(path)
    assert getattr(loaded, "copy_guard_", None) is None
    out = loaded.sample(100, random_state=1)  # nothing to check against: no error, no removal
    assert loaded.n_copies_replaced_ == 0 and len(out) == 100


def test_table_with_no_unseen_rows_warns_and_keeps_rows():
    X, y = _table(300, 2)  # 8 possible rows, all in the training data
    synth = Synthesizer("vae", epochs=2, random_state=0).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = synth.sample(40, random_state=0)
    assert len(out) == 40
    assert any("still copy a training row" in str(w.message) for w in caught)
