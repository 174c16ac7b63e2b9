"""Registry of generative families: ``models.get("gan")(data_dim, n_classes, spans, **hyper)``.

A new family is one module in this package plus one line in ``_FAMILIES``.
"""

from __future__ import annotations

import importlib
import math
import weakref
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

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
    "multimodal-vae": "genbalance.models.multimodal:MultimodalVAE",
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
    if not isinstance(meta.get("model"), dict):
        raise ModelFileError(f"{path}: no model configuration in the file")
    extra = meta.get("extra", {})
    if not isinstance(extra, dict):
        raise ModelFileError(f"{path}: 'extra' metadata is a {type(extra).__name__}, not an object")
    return from_state(meta["model"], tensors, str(path)), extra


#: the most weights (elements, all tensors together) a model file may hold: far above any
#: genbalance model (a 28x28 dcgan has about 5 million), far below what breaks a machine
MAX_MODEL_ELEMENTS = 2**30
#: what building a model may hold at once, in bytes: ``BUILD_FACTOR`` times the stored weights
#: (the weights themselves, masks beside them) plus ``BUILD_SLACK_BYTES`` (span indices, noise
#: schedules, the initial chains of an RBM: what does not grow with the weights)
BUILD_FACTOR = 4
BUILD_SLACK_BYTES = 512 * 2**20


def from_state(config: dict, tensors: dict, source: str = "model") -> GenerativeModel:
    """Rebuild a model from its JSON config and weights (shared by every file loader).

    The configuration is not trusted: it is checked against the stored tensors before and
    while the model is built, so that a small file whose JSON asks for huge layers is refused
    with a :class:`~genbalance.files.ModelFileError` before those layers are allocated.
    """
    from genbalance.files import ModelFileError

    stored = (
        {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        if any(k.startswith("model.") for k in tensors)
        else dict(tensors)
    )
    n_stored = sum(int(t.numel()) for t in stored.values())
    family = check_config(config, n_stored, source)
    stored_bytes = sum(int(t.numel()) * t.element_size() for t in stored.values())
    budget = BUILD_FACTOR * stored_bytes + BUILD_SLACK_BYTES
    try:
        with AllocationGuard(budget, source):
            model = family.from_config(config)
        check_weights_fit(model, stored, source)
        model.load_state_tensors(stored)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise ModelFileError(
            f"{source}: model configuration or weights do not fit ({exc})"
        ) from None
    model.train(False)
    return model


def check_config(config: Any, n_stored: int, source: str) -> type[GenerativeModel]:
    """The family of a stored configuration, after the checks that need no building: known
    family, positive integer sizes, and none larger than the stored weights could hold."""
    from genbalance.files import ModelFileError

    def refuse(what: str) -> ModelFileError:
        return ModelFileError(f"{source}: model configuration and weights do not fit: {what}")

    if not isinstance(config, dict):
        raise refuse(f"the configuration is a {type(config).__name__}, not a JSON object")
    if n_stored > MAX_MODEL_ELEMENTS:
        raise ModelFileError(
            f"{source}: {n_stored} stored weights, more than genbalance loads "
            f"(genbalance.models.MAX_MODEL_ELEMENTS = {MAX_MODEL_ELEMENTS})"
        )
    name = config.get("family")
    if not isinstance(name, str) or name.lower() not in _FAMILIES:
        raise refuse(f"unknown family {name!r}; known: {', '.join(available())}")
    for key in ("data_dim", "n_classes"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise refuse(f"{key}={value!r}; expected a positive integer")
        if value > max(n_stored, 1):
            raise refuse(
                f"{key}={value}, more than the {n_stored} weights stored in the file could "
                "serve (the configuration was altered or belongs to other weights)"
            )
    spans = config.get("spans")
    if not isinstance(spans, list) or not spans or len(spans) > config["data_dim"]:
        raise refuse(
            f"{len(spans) if isinstance(spans, list) else spans!r} spans for "
            f"data_dim={config['data_dim']}; expected 1 to data_dim spans"
        )
    sizes = [s.get("size") if isinstance(s, dict) else None for s in spans]
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in sizes):
        raise refuse("a span size is not a positive integer")
    if sum(sizes) != config["data_dim"]:
        raise refuse(f"spans cover {sum(sizes)} columns but data_dim={config['data_dim']}")
    if not isinstance(config.get("hyper", {}), dict):
        raise refuse("'hyper' is not a JSON object")
    return get(name)


def check_weights_fit(model: GenerativeModel, stored: dict, source: str) -> None:
    """Every weight the built model expects is stored with the same shape: the parameter count
    the configuration implies equals the one the file holds (extra stored tensors of older
    files are ignored, as before)."""
    from genbalance.files import ModelFileError

    expected = model.state_tensors()
    missing = sorted(set(expected) - set(stored))
    if missing:
        raise ModelFileError(
            f"{source}: model configuration and weights do not fit: the configuration needs "
            f"weights the file lacks: {missing[:5]}"
        )
    wrong = [
        f"{k}: configuration {tuple(v.shape)}, file {tuple(stored[k].shape)}"
        for k, v in expected.items()
        if tuple(v.shape) != tuple(stored[k].shape)
    ]
    if wrong:
        implied = sum(int(v.numel()) for v in expected.values())
        held = sum(int(stored[k].numel()) for k in expected)
        raise ModelFileError(
            f"{source}: model configuration and weights do not fit: the configuration implies "
            f"{implied} weights but the file holds {held}; first mismatches: "
            f"{'; '.join(wrong[:3])}"
        )


class AllocationGuard(TorchFunctionMode):
    """Refuses tensor allocations that would hold more than ``budget`` bytes at once while a
    model is built.

    Factory calls (``torch.empty``, ``zeros``, ``arange``, ``new_zeros``, ...) and
    broadcasting ops are checked *before* they run, from their arguments; every other op's
    result is counted after it. Storage is counted while it lives (a temporary stops counting
    when it is freed, a weight wrapped in a parameter keeps counting), so a configuration that
    asks for more than the stored weights justify is stopped at the first oversized tensor,
    not when the machine runs out of memory.
    """

    def __init__(self, budget: int, source: str) -> None:
        super().__init__()
        self.budget = int(budget)
        self.source = source
        self.live = 0  # bytes of the storages made under the guard and still alive
        self.peak = 0
        self._held: dict[int, int] = {}

    def _check(self, n_bytes: int, what: str) -> None:
        from genbalance.files import ModelFileError

        if self.live + n_bytes > self.budget:
            raise ModelFileError(
                f"{self.source}: model configuration and weights do not fit: building the model "
                f"would need more memory than its stored weights justify ({what}, {n_bytes} "
                f"bytes, on top of {self.live} bytes held; the file's weights allow "
                f"{self.budget} bytes), so the configuration was altered or belongs to other "
                "weights; refused before allocating"
            )

    def _hold(self, tensor: torch.Tensor, check: bool, what: str) -> None:
        storage = tensor.untyped_storage()
        key, n = storage.data_ptr(), int(storage.nbytes())
        if n == 0 or key in self._held:
            return
        if check:
            self._check(n, what)
        self._held[key] = n
        self.live += n
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._release, key)  # storages keep one Python object

    def _release(self, key: int) -> None:
        self.live -= self._held.pop(key, 0)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        planned = _planned_numel(func, name, args, kwargs)
        if planned:
            dtype = kwargs.get("dtype")
            size = dtype.itemsize if isinstance(dtype, torch.dtype) else 4
            self._check(planned * size, f"{name}() of {planned} elements")
        out = func(*args, **kwargs)
        if planned == 0:
            return out
        inputs = [a for a in args if isinstance(a, torch.Tensor)]
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and not any(_shares_storage(t, a) for a in inputs):
                self._hold(t, planned is None, f"{name}() of {t.numel()} elements")
        return out


_FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.rand, torch.randn}
_NEW = {"new_empty", "new_zeros", "new_ones", "new_full"}
_LIKE = {"empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like"}
# calls that allocate nothing new (attribute access, sizes, writes into an existing tensor)
_NO_ALLOC = {"__get__", "__set__", "__setitem__", "dim", "size", "numel", "item", "tolist"}


def _planned_numel(func: Any, name: str, args: tuple, kwargs: dict) -> int | None:
    """Elements the call will allocate, when its arguments say so; None when unknown."""
    if name in _NO_ALLOC or name.endswith("_"):  # in place: no new tensor
        return 0
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    try:
        if func in _FACTORIES:
            return _size_numel(kwargs.get("size", args))
        if func is torch.full or func is torch.empty_strided:
            return _size_numel(kwargs.get("size", args[:1]))
        if name in _NEW and tensors and args[0] is tensors[0]:
            return _size_numel(kwargs.get("size", args[1:2]))
        if name in _LIKE and tensors:
            return int(tensors[0].numel())
        if func is torch.randint:
            return _size_numel(kwargs.get("size", args[-1:]))
        if func is torch.randperm:
            return int(args[0])
        if func is torch.eye:
            return int(args[0]) * int(args[1] if len(args) > 1 else args[0])
        if func is torch.arange:
            nums = [float(a) for a in args[:3]]
            start, end, step = {1: (0.0, *nums, 1.0), 2: (*nums, 1.0), 3: tuple(nums)}[len(nums)]
            return max(0, math.ceil((end - start) / step))
        if func is torch.linspace or func is torch.logspace:
            return int(kwargs.get("steps", args[2] if len(args) > 2 else 0))
        if name == "repeat_interleave" and tensors:
            reps = kwargs.get("repeats", args[1] if len(args) > 1 else None)
            return int(tensors[0].numel()) * reps if isinstance(reps, int) else None
        if name == "repeat" and tensors:
            return int(tensors[0].numel()) * _size_numel(args[1:])
        if len(tensors) >= 2:  # element-wise and broadcasting ops: the broadcast shape
            return math.prod(torch.broadcast_shapes(*(t.shape for t in tensors)))
    except (RuntimeError, TypeError, ValueError, KeyError, ZeroDivisionError, IndexError):
        return None
    return None


def _size_numel(size: Any) -> int:
    """Elements of a ``*size`` argument: ``(3, 4)``, ``((3, 4),)`` or ``torch.Size``."""
    if (
        isinstance(size, (tuple, list))
        and len(size) == 1
        and isinstance(size[0], (tuple, list, torch.Size))
    ):
        size = size[0]
    if isinstance(size, int):
        return size
    dims = [int(d) for d in size if isinstance(d, int)]
    return math.prod(dims) if dims else 1


def _shares_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    except RuntimeError:
        return False


def register(name: str, target: str) -> None:
    """Register a third-party family as ``"package.module:Class"``."""
    _FAMILIES[name.lower()] = target


__all__ = [
    "MAX_MODEL_ELEMENTS",
    "AllocationGuard",
    "GenerativeModel",
    "OutputSpan",
    "available",
    "check_config",
    "check_weights_fit",
    "from_state",
    "get",
    "load",
    "register",
    "save",
]
