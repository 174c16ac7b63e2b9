"""Registry of generative families: ``models.get("gan")(data_dim, n_classes, spans, **hyper)``.

A new family is one module in this package plus one line in ``_FAMILIES``.
"""

from __future__ import annotations

import importlib

from genbalance.models.base import GenerativeModel, OutputSpan

# family name -> "module:Class"; imported lazily so that importing genbalance stays fast.
_FAMILIES: dict[str, str] = {
    "gan": "genbalance.models.gan:GAN",
    "vae": "genbalance.models.vae:VAE",
}


def available() -> list[str]:
    """Names accepted by :func:`get`."""
    return sorted(_FAMILIES)


def get(name: str) -> type[GenerativeModel]:
    """The model class registered under ``name``."""
    key = name.lower()
    if key not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; available: {', '.join(available())}")
    module_name, class_name = _FAMILIES[key].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def register(name: str, target: str) -> None:
    """Register a third-party family as ``"package.module:Class"``."""
    _FAMILIES[name.lower()] = target


__all__ = ["GenerativeModel", "OutputSpan", "available", "get", "register"]
