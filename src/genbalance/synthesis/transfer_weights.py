"""Warm starts, the weights: where each family's networks read and write encoded slots and
classes (the layouts), and the copying of the source's tensors into a fresh model slot by slot
through a :class:`~genbalance.synthesis.transfer.TransferPlan`'s slot and class maps."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from genbalance.models.base import GenerativeModel
from genbalance.utils import user_stacklevel

__all__ = [
    "IMAGE_LAYOUT_FAMILIES",
    "LAYOUTS",
    "LAYOUT_FAMILIES",
    "SlotMaps",
    "copy_weights",
    "move_tensor",
    "segment_sizes",
]


class SlotMaps(Protocol):
    """What the copying reads from a plan: the source model, and for every target slot / class
    code the source's one it continues (-1: fresh)."""

    slot_map: np.ndarray
    class_map: np.ndarray
    source_model: GenerativeModel


def copy_weights(plan: SlotMaps, model: GenerativeModel) -> dict[str, Any]:
    """Copy the source's weights (``plan.source_model``) into the freshly built ``model``,
    slot by slot through the plan's maps; returns how many tensors were copied."""
    target = model.state_tensors()
    source = plan.source_model.state_tensors()
    layout = LAYOUTS.get(model.family)
    axes_t = layout(model, target) if layout else {}
    axes_s = layout(plan.source_model, source) if layout else {}
    sizes_t = segment_sizes(model)
    sizes_s = segment_sizes(plan.source_model)
    out: dict[str, torch.Tensor] = {}
    copied, partial, fresh, shape_fresh = [], [], [], []
    n_copied = n_total = 0
    for name, t in target.items():
        n_total += t.numel()
        s = source.get(name)
        moved = None
        if s is not None and s.dtype == t.dtype:
            moved = move_tensor(
                t, s, axes_t.get(name, {}), axes_s.get(name, {}), sizes_t, sizes_s, plan
            )
        if moved is None:
            fresh.append(name)
            if name not in axes_t:
                shape_fresh.append(name)
            out[name] = t
            continue
        tensor, n = moved
        out[name] = tensor
        n_copied += n
        (copied if n == t.numel() else partial if n else fresh).append(name)
    model.load_state_tensors(out)
    if shape_fresh:
        warnings.warn(
            f"init: {len(shape_fresh)} weight tensor(s) of the trunk have other shapes than "
            f"the source's (model_options change the network?) and start fresh: "
            f"{shape_fresh[:4]}",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return {
        "copied": len(copied),
        "partly_copied": len(partial),
        "fresh": len(fresh),
        "share_copied": round(n_copied / max(n_total, 1), 4),
    }


def segment_sizes(model: GenerativeModel) -> dict[str, int]:
    """Length of the "x" (encoded slots) and "y" (classes) segments of ``model``'s axes."""
    return {"x": int(model.data_dim), "y": int(model.n_classes)}


def move_tensor(
    t: torch.Tensor,
    s: torch.Tensor,
    axes_t: dict[int, tuple[str, ...]],
    axes_s: dict[int, tuple[str, ...]],
    sizes_t: dict[str, int],
    sizes_s: dict[str, int],
    plan: SlotMaps,
) -> tuple[torch.Tensor, int] | None:
    """``t`` with the entries the source ``s`` continues copied in, and how many; None when
    nothing lines up (other shapes on an axis without a declared layout)."""
    if t.dim() != s.dim():
        return None
    if t.dim() == 0:
        return s.clone(), 1
    pairs = []
    for axis in range(t.dim()):
        if axis in axes_t:
            pair = _axis_pairs(
                axes_t[axis], axes_s.get(axis, ()), t.shape[axis], s.shape[axis],
                sizes_t, sizes_s, plan,
            )  # fmt: skip
            if pair is None:
                return None
        elif t.shape[axis] == s.shape[axis]:
            pair = (np.arange(t.shape[axis]), np.arange(t.shape[axis]))
        else:
            return None
        pairs.append(pair)
    n = int(np.prod([len(p[0]) for p in pairs]))
    if n == 0:
        return t, 0
    out = t.detach().cpu().numpy().copy()
    src = s.detach().cpu().numpy()
    out[np.ix_(*[p[0] for p in pairs])] = src[np.ix_(*[p[1] for p in pairs])]
    return torch.from_numpy(out), n


def _axis_pairs(
    segs_t: tuple[str, ...],
    segs_s: tuple[str, ...],
    n_t: int,
    n_s: int,
    sizes_t: dict[str, int],
    sizes_s: dict[str, int],
    plan: SlotMaps,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Target and source positions along one axis made of segments: "x" (encoded slots,
    through the slot map), "y" (classes, through the class map), "*" (the rest: positions kept,
    same size required)."""
    if segs_t != segs_s:
        return None
    lengths_t = _segment_lengths(segs_t, n_t, sizes_t)
    lengths_s = _segment_lengths(segs_s, n_s, sizes_s)
    if lengths_t is None or lengths_s is None:
        return None
    t_pos, s_pos = [], []
    off_t = off_s = 0
    for seg, lt, ls in zip(segs_t, lengths_t, lengths_s, strict=True):
        if seg == "*":
            if lt != ls:
                return None
            mapped = np.arange(lt)
        else:
            mapped = plan.slot_map if seg == "x" else plan.class_map
            if len(mapped) != lt:
                return None
        keep = np.flatnonzero(mapped >= 0)
        t_pos.append(off_t + keep)
        s_pos.append(off_s + mapped[keep])
        off_t += lt
        off_s += ls
    return np.concatenate(t_pos), np.concatenate(s_pos)


def _segment_lengths(segs: tuple[str, ...], n: int, sizes: dict[str, int]) -> list[int] | None:
    fixed = sum(sizes[s] for s in segs if s != "*")
    n_rest = segs.count("*")
    if n_rest > 1 or fixed > n or (n_rest == 0 and fixed != n):
        return None
    return [sizes[s] if s != "*" else n - fixed for s in segs]


# --------------------------------------------------------------- where families read slots
def _linear_weights(tensors: dict[str, torch.Tensor], prefix: str) -> list[str]:
    """Names of the 2-D weights under ``prefix`` in layer order (plain or spectral-normed)."""
    return [
        n
        for n, t in tensors.items()
        if n.startswith(prefix)
        and t.dim() == 2
        and (n.endswith(".weight") or n.endswith(".weight.original"))
    ]


def _companions(tensors: dict[str, torch.Tensor], weight: str) -> tuple[str, str]:
    """The bias and the spectral-norm input vector ``_v`` of the linear layer ``weight``."""
    base = weight.removesuffix(".parametrizations.weight.original").removesuffix(".weight")
    return f"{base}.bias", f"{base}.parametrizations.weight.0._v"


def _vae_axes(model: GenerativeModel, tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    y = ("y",) if model.hyper.get("conditional", True) else ()
    enc, dec = _linear_weights(tensors, "encoder."), _linear_weights(tensors, "decoder.")
    axes: dict[str, dict[int, tuple[str, ...]]] = {}
    first_enc = [n for n in enc if ".body.0." in n] or [
        n for n in enc if ".mu." in n or ".logvar." in n
    ]
    for name in first_enc:
        axes[name] = {1: ("x", *y)}
    if dec:
        axes.setdefault(dec[0], {})[1] = ("*", *y)
        axes.setdefault(dec[-1], {})[0] = ("x",)
        axes[_companions(tensors, dec[-1])[0]] = {0: ("x",)}
    return axes


def _gan_axes(model: GenerativeModel, tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    h = model.hyper
    axes: dict[str, dict[int, tuple[str, ...]]] = {}
    gen = _linear_weights(tensors, "G.")
    # the residual generator concatenates every block's input to its output, so the class
    # one-hot is the tail of every layer's input; the classic one sees it in layer 1 only
    reads_y = gen if h.get("architecture") != "mlp-classic" else gen[:1]
    for name in reads_y:
        axes[name] = {1: ("*", "y")}
    if gen:
        axes.setdefault(gen[-1], {})[0] = ("x",)
        axes[_companions(tensors, gen[-1])[0]] = {0: ("x",)}
    disc = _linear_weights(tensors, "D.")
    if disc:  # PacGAN packs `pac` rows of (slots, classes); a minibatch-std feature may follow
        packed = ("x", "y") * int(h.get("pac", 1)) + ("*",)
        axes[disc[0]] = {1: packed}
        axes[_companions(tensors, disc[0])[1]] = {0: packed}
    enc = _linear_weights(tensors, "E.")
    if enc:  # the latent encoder reads (slots, classes) like an unpacked D
        axes[enc[0]] = {1: ("x", "y")}
    return axes


def _diffusion_axes(model: GenerativeModel, tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    axes: dict[str, dict[int, tuple[str, ...]]] = {
        "net.proj.weight": {1: ("x",)},
        "net.label.weight": {0: ("y",)},
    }
    mlp = _linear_weights(tensors, "net.mlp.")
    if mlp:
        axes[mlp[-1]] = {0: ("x",)}
        axes[_companions(tensors, mlp[-1])[0]] = {0: ("x",)}
    return axes


def _class_rows(tensors: dict[str, torch.Tensor], names: tuple[str, ...]) -> dict[str, dict]:
    """Class embeddings (one row per class, plain or spectral-normed with its ``_u`` vector)."""
    axes: dict[str, dict[int, tuple[str, ...]]] = {}
    for base in names:
        for name in (
            f"{base}.weight",
            f"{base}.parametrizations.weight.original",
            f"{base}.parametrizations.weight.0._u",
        ):
            if name in tensors:
                axes[name] = {0: ("y",)}
    return axes


def _conv_encoder_axes(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, dict]:
    # a ConvEncoder's class one-hot follows the image channels and the pooled features
    names = (f"{prefix}.body.0.weight", f"{prefix}.fc.0.weight")
    return {n: {1: ("*", "y")} for n in names if n in tensors}


def _dcgan_axes(model: GenerativeModel, tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    # the generator's class embedding, the projection discriminator's one, and the VAE-GAN
    # anchor's encoder where there is one (recon_weight)
    return {**_class_rows(tensors, ("G.embed", "D.embed")), **_conv_encoder_axes(tensors, "E")}


def _conv_vae_axes(model: GenerativeModel, tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    # the encoder's class planes and features, and the latent code's one-hot (decoder input)
    axes = _conv_encoder_axes(tensors, "encoder")
    if "decoder.net.project.0.weight" in tensors:
        axes["decoder.net.project.0.weight"] = {1: ("*", "y")}
    return axes


def _pixelcnn_axes(model: GenerativeModel, tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    # per-class channel biases and per-class pixel logits
    return _class_rows(tensors, ("net.label", "net.pixel_bias"))


LAYOUTS: dict[str, Callable[[GenerativeModel, dict[str, torch.Tensor]], dict[str, dict]]] = {
    "vae": _vae_axes,
    "gan": _gan_axes,
    "diffusion": _diffusion_axes,
    "dcgan": _dcgan_axes,
    "conv-vae": _conv_vae_axes,
    "pixelcnn": _pixelcnn_axes,
}
#: convolutional families: images only (their layouts map classes; pixels never move)
IMAGE_LAYOUT_FAMILIES = ("conv-vae", "dcgan", "pixelcnn")
#: families whose weights transfer across other columns, codecs and classes (tables)
LAYOUT_FAMILIES = tuple(sorted(f for f in LAYOUTS if f not in IMAGE_LAYOUT_FAMILIES))
