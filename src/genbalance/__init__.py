"""genbalance: generative models that fix class imbalance in tables and images.

Public API (imported lazily so that ``import genbalance`` and ``genbalance --help`` start fast):

- :class:`GenerativeOverSampler`, :class:`GANOverSampler`, :class:`VAEOverSampler`,
  :class:`ImageOverSampler` -- imbalanced-learn style samplers (``fit_resample``);
- :class:`Synthesizer` -- fit a class-conditional model on a table, ``sample(n, y=...)``,
  ``sample_near``, ``fit_file``, ``save``/``load``; :class:`ImageSynthesizer`, its image twin;
- :class:`Trainer`, :class:`TrainerConfig`, :mod:`genbalance.models` -- the engine;
- the stage packages: ``data``, ``encoders``, ``models``, ``training``, ``synthesis``,
  ``sampling``, ``evaluation``, ``bench``, ``cli`` (docs/design.md says who owns what).
"""

from __future__ import annotations

import importlib
from typing import Any

from genbalance import compat

__version__ = "0.1.0"

_EXPORTS = {
    "GANOverSampler": "genbalance.sampling.tabular",
    "VAEOverSampler": "genbalance.sampling.tabular",
    "GenerativeOverSampler": "genbalance.sampling.tabular",
    "ImageOverSampler": "genbalance.sampling.images",
    "Synthesizer": "genbalance.synthesis.tabular",
    "ImageSynthesizer": "genbalance.synthesis.images",
    "Trainer": "genbalance.training.trainer",
    "TrainerConfig": "genbalance.training.trainer",
    "TabularEncoder": "genbalance.encoders.tabular",
    "DPConfig": "genbalance.training.dp",
}
# stage packages reachable as attributes after a bare ``import genbalance``
_SUBPACKAGES = (
    "bench",
    "data",
    "encoders",
    "evaluation",
    "models",
    "sampling",
    "synthesis",
    "training",
)

__all__ = sorted(_EXPORTS) + ["__version__"]

compat.install()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"genbalance.{name}")
    raise AttributeError(f"module 'genbalance' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__ + list(_SUBPACKAGES))
