"""Fit once, resample many: fitted synthesizers kept for the same data and model settings.

A grid search over ``sampling_strategy``, ``generation`` or ``filter`` fits the sampler once per
candidate on the same training fold; only the settings that shape the model decide whether a
new model is needed. The cache maps (a hash of the rows and labels, those settings) to the
fitted :class:`~genbalance.synthesis.tabular.Synthesizer`. It is bounded (least recently used
entries leave first, by count and by an estimate of their memory), per process, and only used
for seeded fits (``random_state=None`` asks for fresh randomness, a time budget makes training
depend on the clock). ``GenerativeOverSampler(cache=False)`` or :func:`clear` turn it off.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

#: entries kept at most, and the memory they may hold together (bytes, estimated)
MAX_ENTRIES = 8
MAX_BYTES = 256 * 2**20

_lock = threading.Lock()
_entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()


def data_key(X: pd.DataFrame, y: np.ndarray) -> str:
    """A hash of the rows, their column names and dtypes, and the labels."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([str(c) for c in X.columns]).encode())
    h.update(json.dumps([str(d) for d in X.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(
        pd.util.hash_pandas_object(pd.Series(np.asarray(y, dtype=object)), index=False)
        .to_numpy()
        .tobytes()
    )
    return h.hexdigest()


def settings_key(settings: dict[str, Any]) -> str:
    """A stable text key for the settings that shape the fitted model."""
    return json.dumps(settings, sort_keys=True, default=repr)


def lookup(key: str) -> Any | None:
    """The synthesizer fitted under ``key``, or None (and it becomes the most recent)."""
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            return None
        _entries.move_to_end(key)
        return entry[0]


def store(key: str, synth: Any) -> None:
    """Keep ``synth`` under ``key``, dropping the oldest entries beyond the bounds."""
    size = _size_of(synth)
    if size > MAX_BYTES:
        return
    with _lock:
        _entries[key] = (synth, size)
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES or sum(s for _, s in _entries.values()) > MAX_BYTES:
            _entries.popitem(last=False)


def clear() -> None:
    """Forget every cached synthesizer."""
    with _lock:
        _entries.clear()


def n_entries() -> int:
    with _lock:
        return len(_entries)


def _size_of(synth: Any) -> int:
    """Bytes held by the model's weights plus the training-row hashes (an estimate)."""
    total = 0
    model = getattr(synth, "model_", None)
    if model is not None:
        total += sum(t.numel() * t.element_size() for t in model.state_tensors().values())
    guard = getattr(synth, "copy_guard_", None)
    if guard is not None:
        total += int(guard.hashes.nbytes)
    return total
