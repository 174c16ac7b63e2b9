"""Warm starts for images: fit an image synthesizer from another fitted one (transfer learning).

``ImageSynthesizer(...).fit(images, y, init=source)`` starts from ``source`` (a fitted image
synthesizer of the same family and image shape, or its model file) instead of random weights,
then trains with the usual budget. The typical use is head-to-tail transfer inside one data
set: pre-train on every class, fine-tune on the rare classes' images (docs/transfer.md).

What is reused: the pixel encoding (the image shape must be the source's; the value
convention of the output, uint8 or float, channel axis or not, is that of the images
fitted), the family settings (``model_options`` override them), every weight of the trunk, and
the class-conditional parts (class embeddings, one-hot inputs) row by row where the class label
exists in both; a label the source lacks starts fresh. The slot and class maps go through the
table transfer's :class:`~genbalance.synthesis.transfer.TransferPlan` and the layouts of
:mod:`~genbalance.synthesis.transfer_weights`: pixels never move, only classes do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from genbalance.encoders.images import ImageEncoder
from genbalance.synthesis.transfer import TransferPlan, WarmStart, check_family, map_classes
from genbalance.synthesis.transfer_weights import LAYOUTS
from genbalance.utils import to_python_scalar

__all__ = ["as_image_warm_start", "describe_shape", "plan_image_transfer"]


def as_image_warm_start(init: Any, load: Callable[[Any], Any], model: str) -> WarmStart:
    """``init`` as a :class:`WarmStart` holding a fitted image synthesizer of family ``model``
    (a path is read with ``load`` here, so that a bad file or another family is refused before
    any training).

    Accepted: a fitted image synthesizer, a fitted ``ImageOverSampler`` (its synthesizer), the
    path of their model file, or a ``WarmStart`` of one of these; of its policies only
    ``classes`` applies to images ("match", "fresh" or ``{target label: source label}``).
    """
    start = init if isinstance(init, WarmStart) else WarmStart(init)
    if (start.columns, start.encoder) != ("exact", "auto"):
        raise ValueError(
            "init: WarmStart columns= and encoder= apply to tables; an image warm start "
            "takes only classes= ('match', 'fresh' or {target label: source label})"
        )
    source = start.source
    if isinstance(source, (str, os.PathLike)):
        source = load(source)
    source = getattr(source, "synthesizer_", source)  # a fitted ImageOverSampler
    if not _is_image_synthesizer(source):
        raise TypeError(
            "init must be a fitted ImageSynthesizer (or ImageOverSampler), the path of its "
            "model file (.safetensors) or a genbalance.synthesis.transfer.WarmStart of one; got "
            f"{type(source).__name__}: table synthesizers and bare models cannot start an "
            "image fit"
        )
    if not hasattr(source, "model_"):
        raise ValueError(
            "init is an image synthesizer that is not fitted yet; fit it (or load one) first"
        )
    check_family(source, model)
    return WarmStart(source, classes=start.classes)


def _is_image_synthesizer(value: Any) -> bool:
    """An image synthesizer, fitted or not (duck-typed: this module must not import it)."""
    return hasattr(value, "training_images") and hasattr(value, "draw_grid")


def describe_shape(shape: list[int]) -> str:
    """``[C, H, W]`` in words, for messages: "8x8 images with 1 channel(s)"."""
    c, h, w = shape
    return f"{h}x{w} images with {c} channel(s)"


def plan_image_transfer(
    start: WarmStart, encoder: ImageEncoder, classes: np.ndarray
) -> TransferPlan:
    """The plan of a warm-started image fit on images encoded by ``encoder`` with labels
    ``classes``: the pixel encoding to train with (the source's shape, the fit's output
    convention), the class map, and a report; another image shape is refused, naming both."""
    source = start.source
    src_shape, tgt_shape = source.encoder_.image_shape, encoder.image_shape
    if src_shape != tgt_shape:
        raise ValueError(
            f"init holds a model of {describe_shape(src_shape)} but these are "
            f"{describe_shape(tgt_shape)}; transfer needs the same image shape: resize the "
            f"images to {src_shape[1]}x{src_shape[2]} ({src_shape[0]} channel(s)), or start "
            "from a model trained on images of this shape"
        )
    pixels = ImageEncoder.from_json(
        {**source.encoder_.to_json(), "channel_axis": encoder.channel_axis, "dtype": encoder.dtype}
    )
    class_map, class_report = map_classes(start.classes, classes, source.classes_)
    family = source.model_.family
    if family not in LAYOUTS and not np.array_equal(class_map, np.arange(len(source.classes_))):
        differs = [
            f"{what} {class_report[key]}"
            for what, key in (("have new classes", "new"), ("lack the source's", "dropped"))
            if class_report[key]
        ]
        raise ValueError(
            f"init: the {family!r} family transfers only between the same classes; these "
            f"images {' and '.join(differs) or 'map them otherwise'}. Families that transfer "
            f"across other classes: {', '.join(sorted(LAYOUTS))}"
        )
    report = {
        "source": {
            "family": family,
            "image_shape": list(src_shape),
            "classes": [to_python_scalar(c) for c in source.classes_],
        },
        "encoder": "reused",
        "classes": class_report,
    }
    slots = np.arange(encoder.data_dim, dtype=np.int64)  # pixel i continues pixel i
    return TransferPlan(pixels, slots, class_map, source.model_, report)
