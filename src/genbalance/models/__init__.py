"""Registry of generative families: ``models.get("gan")(data_dim, n_classes, spans, **hyper)``.

A new family is one module in this package plus one line in ``_FAMILIES``.
"""

from __future__ import annotations

import importlib

from genbalance.models.base import GenerativeModel
from genbalance.spans import OutputSpan

# family name -> "module:Class"; imported lazily so that importing genbalance stays fast.
_FAMILIES: dict[str, str] = {
    "gan": "genbalance.models.gan:GAN",
    "vae": "genbalance.models.vae:VAE",
    "made": "genbalance.models.autoregressive:MADE",
    "rbm": "genbalance.models.rbm:RBM",
    "diffusion": "genbalance.models.diffusion:TabDDPM",
    "dcgan": "genbalance.models.conv_gan:ConvGAN",
    "conv-vae": "genbalance.models.conv_vae:ConvVAE",
    "pixelcnn": "genbalance.models.pixelcnn:PixelCNN",
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


def save(model: GenerativeModel, path, extra: dict | None = None, overwrite: bool = False):
    """Write a trained model to one safetensors file (weights) with JSON config in its header.

    An existing file is refused unless ``overwrite=True`` (the rule of every writer)."""
    from genbalance.files import save_bundle

    meta = {"kind": "model", "model": model.get_config(), "extra": extra or {}}
    return save_bundle(path, meta, model.state_tensors(), overwrite=overwrite)


def load(path) -> tuple[GenerativeModel, dict]:
    """Read a model written by :func:`save`; returns the model and its ``extra`` metadata."""
    from genbalance.files import ModelFileError, load_bundle

    meta, tensors = load_bundle(path)
    if meta.get("kind") not in ("model", "synthesizer"):
        raise ModelFileError(f"{path}: holds a {meta.get('kind')!r}, not a model")
    return from_state(meta["model"], tensors, str(path)), meta.get("extra", {})


def from_state(config: dict, tensors: dict, source: str = "model") -> GenerativeModel:
    """Rebuild a model from its JSON config and weights (shared by every file loader)."""
    from genbalance.files import ModelFileError

    try:
        model = get(config["family"]).from_config(config)
        model.load_state_tensors(
            {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
            if any(k.startswith("model.") for k in tensors)
            else tensors
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{source}: model configuration or weights do not fit ({exc})"
        ) from None
    model.train(False)
    return model


def register(name: str, target: str) -> None:
    """Register a third-party family as ``"package.module:Class"``."""
    _FAMILIES[name.lower()] = target


__all__ = [
    "GenerativeModel",
    "OutputSpan",
    "available",
    "from_state",
    "get",
    "load",
    "register",
    "save",
]
