"""genbalance: generative models that fix class imbalance in tables and images.

Public API (imported lazily so that ``genbalance --help`` starts fast):

- :class:`GANOverSampler`, :class:`VAEOverSampler`, :class:`GenerativeOverSampler` —
  imbalanced-learn samplers (``fit_resample``);
- :class:`Synthesizer` — fit a class-conditional model on a table, ``sample(n, y=...)``,
  ``save``/``load``;
- :class:`Trainer`, :class:`TrainerConfig`, :mod:`genbalance.models` — the engine.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GANOverSampler": "genbalance.oversampling",
    "VAEOverSampler": "genbalance.oversampling",
    "GenerativeOverSampler": "genbalance.oversampling",
    "ImageOverSampler": "genbalance.image_oversampling",
    "Synthesizer": "genbalance.synthesizer",
    "Trainer": "genbalance.training.trainer",
    "TrainerConfig": "genbalance.training.trainer",
    "TabularEncoder": "genbalance.encoders.tabular",
    "DPConfig": "genbalance.training.privacy",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'genbalance' has no attribute {name!r}")
