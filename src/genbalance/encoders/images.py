"""Reversible map between image arrays and the flat pixel tensors generative models work on.

Accepted image arrays (the "convention" of the caller is remembered and restored on decode):

- shape ``(N, H, W)`` (grayscale) or ``(N, H, W, C)`` with ``C`` in {1, 3} (channels last);
- dtype ``uint8`` with values 0..255, or a float dtype with values in [0, 1].

Encoded, an image is ``C*H*W`` floats in [0, 1] in channels-first order (what convolutional
models reshape to ``(C, H, W)``), described by sigmoid :class:`OutputSpan` s: one span covering
every pixel (default) or one span per pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genbalance.data.pixels import check_images, to_float_images, to_uint8_images
from genbalance.spans import OutputSpan

__all__ = ["ImageEncoder", "check_images", "to_float_images", "to_uint8_images"]

_FORMAT = "genbalance.ImageEncoder"
_VERSION = 1


class ImageEncoder:
    """Images <-> flat ``(N, C*H*W)`` float tensors in [0, 1] (channels first).

    ``per_pixel_spans=False`` (default) describes the pixels as one sigmoid span; ``True``
    gives one span per pixel (what a model that expects one span per column wants).
    """

    def __init__(self, per_pixel_spans: bool = False) -> None:
        self.per_pixel_spans = bool(per_pixel_spans)
        self.height: int | None = None
        self.width: int | None = None
        self.channels: int | None = None
        self.channel_axis = False  # input had a trailing channel axis
        self.dtype = "uint8"  # "uint8" or the float dtype name of the input

    # ------------------------------------------------------------------ fitting
    @property
    def fitted(self) -> bool:
        return self.height is not None

    def _need_fit(self) -> None:
        if not self.fitted:
            raise RuntimeError("ImageEncoder is not fitted; call fit(X) first")

    def fit(self, X: Any) -> ImageEncoder:
        X = check_images(X)
        self.height, self.width = int(X.shape[1]), int(X.shape[2])
        self.channels = int(X.shape[3]) if X.ndim == 4 else 1
        self.channel_axis = X.ndim == 4
        self.dtype = "uint8" if X.dtype == np.uint8 else str(X.dtype)
        return self

    @property
    def image_shape(self) -> list[int]:
        """``[C, H, W]``: the ``image_shape`` hyper-parameter of convolutional models."""
        self._need_fit()
        return [self.channels, self.height, self.width]

    @property
    def data_dim(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    @property
    def spans(self) -> list[OutputSpan]:
        if self.per_pixel_spans:
            return [OutputSpan(1, "sigmoid") for _ in range(self.data_dim)]
        return [OutputSpan(self.data_dim, "sigmoid")]

    # ------------------------------------------------------------------ mapping
    def _check_shape(self, X: np.ndarray, name: str) -> None:
        c = X.shape[3] if X.ndim == 4 else 1
        if (X.shape[1], X.shape[2], c) != (self.height, self.width, self.channels):
            raise ValueError(
                f"{name} images are {X.shape[1]}x{X.shape[2]} with {c} channel(s), but the "
                f"encoder was fitted on {self.height}x{self.width} with {self.channels}"
            )

    def transform(self, X: Any, name: str = "X") -> torch.Tensor:
        """Images -> float32 tensor ``(N, C*H*W)`` in [0, 1], channels first."""
        self._need_fit()
        arr = check_images(X, name)
        self._check_shape(arr, name)
        f = to_float_images(arr, name)  # (N, H, W, C)
        return torch.from_numpy(np.ascontiguousarray(f.transpose(0, 3, 1, 2))).reshape(len(f), -1)

    def fit_transform(self, X: Any) -> torch.Tensor:
        return self.fit(X).transform(X)

    def inverse_transform(self, T: torch.Tensor | np.ndarray) -> np.ndarray:
        """Flat pixels -> images in the fitted convention (shape layout and dtype)."""
        self._need_fit()
        if isinstance(T, torch.Tensor):
            T = T.detach().cpu().numpy()
        T = np.asarray(T, dtype=np.float32)
        if T.ndim != 2 or T.shape[1] != self.data_dim:
            raise ValueError(
                f"expected encoded pixels of shape (n, {self.data_dim}), got {T.shape}"
            )
        imgs = np.clip(T, 0.0, 1.0).reshape(-1, self.channels, self.height, self.width)
        imgs = imgs.transpose(0, 2, 3, 1)  # (N, H, W, C)
        if not self.channel_axis:
            imgs = imgs[..., 0]
        if self.dtype == "uint8":
            return np.rint(imgs * 255.0).astype(np.uint8)
        return np.ascontiguousarray(imgs.astype(self.dtype))

    # ------------------------------------------------------------------ state
    def to_json(self) -> dict[str, Any]:
        self._need_fit()
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "per_pixel_spans": self.per_pixel_spans,
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "channel_axis": self.channel_axis,
            "dtype": self.dtype,
        }

    #: the most pixel values (C x H x W) a saved image encoder may describe: 64 megapixels
    #: of RGB, far above what the generative families train on; bounds crafted files
    MAX_STORED_PIXELS = 3 * 2**26

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> ImageEncoder:
        """The encoder saved by :meth:`to_json`, checked: a model file is not trusted, so
        positive integer sizes below ``MAX_STORED_PIXELS`` values, 1 or 3 channels, flags that
        are booleans and a uint8 or float dtype."""
        if not isinstance(state, dict):
            raise ValueError(f"ImageEncoder state is a {type(state).__name__}, not an object")
        if state.get("format") != _FORMAT or state.get("version") != _VERSION:
            raise ValueError(
                f"not an ImageEncoder state (format {state.get('format')!r}, "
                f"version {state.get('version')!r})"
            )
        sizes = {k: state[k] for k in ("height", "width", "channels")}
        for key, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ImageEncoder state has {key}={value!r}; expected an int >= 1")
        if sizes["channels"] not in (1, 3):
            raise ValueError(f"ImageEncoder state has {sizes['channels']} channels; accepted 1, 3")
        n_values = sizes["height"] * sizes["width"] * sizes["channels"]
        if n_values > cls.MAX_STORED_PIXELS:
            raise ValueError(
                f"ImageEncoder state describes {sizes['height']}x{sizes['width']}x"
                f"{sizes['channels']} images ({n_values} values), more than "
                f"ImageEncoder.MAX_STORED_PIXELS = {cls.MAX_STORED_PIXELS}"
            )
        for key in ("per_pixel_spans", "channel_axis"):
            if not isinstance(state[key], bool):
                raise ValueError(f"ImageEncoder state has {key}={state[key]!r}; expected a bool")
        dtype = state["dtype"]
        if dtype not in ("uint8", "float16", "float32", "float64", "float128"):
            raise ValueError(
                f"ImageEncoder state has dtype {dtype!r}; accepted: uint8, float16, float32, "
                "float64, float128"
            )
        enc = cls(per_pixel_spans=state["per_pixel_spans"])
        enc.height, enc.width = sizes["height"], sizes["width"]
        enc.channels, enc.channel_axis = sizes["channels"], state["channel_axis"]
        enc.dtype = dtype
        return enc
