"""Image arrays as the library accepts them: the checks and the uint8 / float conversions.

Below the encoders and the image readers alike (``data.images`` and ``encoders.images`` both
use them), and free of torch: a tensor is recognised only when torch is already loaded.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["ACCEPTED", "check_images", "to_float_images", "to_uint8_images"]

ACCEPTED = (
    "accepted: arrays of shape (N, H, W) or (N, H, W, C) with C in {1, 3}, dtype uint8 "
    "(0..255) or float (0..1)"
)


def check_images(X: Any, name: str = "X") -> np.ndarray:
    """Validate an image array and return it as a numpy array (unchanged values).

    Errors say what was wrong (shape, channel count, dtype, value range, NaN) and what is
    accepted, naming the first offending image.
    """
    torch = sys.modules.get("torch")  # a tensor can only come from a loaded torch
    if torch is not None and isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.dtype == object:
        raise TypeError(f"{name} has dtype object (a ragged list of images?); {ACCEPTED}")
    if X.ndim not in (3, 4):
        raise ValueError(
            f"{name} has shape {X.shape} ({X.ndim} dimensions); {ACCEPTED}. "
            "Flat rows of pixels can be reshaped with X.reshape(N, H, W)."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} holds no images (shape {X.shape})")
    if X.ndim == 4 and X.shape[3] not in (1, 3):
        hint = " (channels first? use X.transpose(0, 2, 3, 1))" if X.shape[1] in (1, 3) else ""
        raise ValueError(f"{name} has {X.shape[3]} channels in shape {X.shape}{hint}; {ACCEPTED}")
    if X.shape[1] < 1 or X.shape[2] < 1:
        raise ValueError(f"{name} has empty images, shape {X.shape}")
    if X.dtype == np.uint8:
        return X
    if X.dtype == bool or np.issubdtype(X.dtype, np.integer):
        raise TypeError(
            f"{name} has dtype {X.dtype}; {ACCEPTED}. Convert integer pixels with "
            "X.astype(np.uint8) (if they are 0..255) or X / X.max() for floats."
        )
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"{name} has dtype {X.dtype}; {ACCEPTED}")
    flat = X.reshape(X.shape[0], -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} image {int(np.argmax(bad))} contains NaN or inf")
    out = (flat < 0).any(axis=1) | (flat > 1).any(axis=1)
    if out.any():
        i = int(np.argmax(out))
        raise ValueError(
            f"{name} is float but image {i} has values in [{flat[i].min():g}, {flat[i].max():g}]; "
            f"float images must lie in [0, 1] (uint8 images in 0..255). "
            "Divide by 255 (or your maximum) first."
        )
    return X


def to_float_images(X: Any, name: str = "X") -> np.ndarray:
    """Validated images as float32 in [0, 1], always 4-D ``(N, H, W, C)``."""
    X = check_images(X, name)
    out = X.astype(np.float32) / 255.0 if X.dtype == np.uint8 else X.astype(np.float32)
    return out[..., None] if out.ndim == 3 else out


def to_uint8_images(X: Any, name: str = "X") -> np.ndarray:
    """Validated images as uint8 0..255, shape kept."""
    X = check_images(X, name)
    if X.dtype == np.uint8:
        return X
    return np.clip(np.rint(X * 255.0), 0, 255).astype(np.uint8)
