"""ImageSynthesizer: an image encoder plus a trained class-conditional generative model.

``ImageSynthesizer("dcgan").fit(images, labels).generate(["7", "7"])`` gives images in the
training convention (shape, value range). It is the image twin of
:class:`~genbalance.synthesis.tabular.Synthesizer` and shares its base: the over-sampler above
it only asks it for images of given classes.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbalance import models
from genbalance.data.validation import check_labels
from genbalance.encoders.images import ImageEncoder
from genbalance.synthesis.base import (
    SAMPLE_CHUNK_ROWS,
    BaseSynthesizer,
    check_parts_agree,
    resolve_epochs,
    steps_per_epoch,
)
from genbalance.synthesis.transfer import TransferPlan
from genbalance.synthesis.transfer_images import as_image_warm_start, plan_image_transfer
from genbalance.training.trainer import History, Trainer, TrainerConfig
from genbalance.utils import resolve_progress, user_stacklevel

__all__ = ["FILE_KIND", "IMAGE_MODELS", "ImageSynthesizer"]

FILE_KIND = "image-oversampler"  # the name files were written under before this class existed
IMAGE_MODELS = ("dcgan", "conv-vae", "pixelcnn", "gan", "vae", "made", "rbm", "diffusion")
CONV_MODELS = ("dcgan", "conv-vae", "pixelcnn")  # they need the image shape

# "gan", "vae", "made", "rbm" and "diffusion" see flat pixels: every pixel one sigmoid column in
# [0, 1], i.e. a Bernoulli variable for MADE and a Bernoulli visible unit for the RBM (as in the
# RBM digit models of Hinton, 2006), and a bounded Gaussian column for diffusion.
# Per-family defaults that work on small digits (the user's options override them):
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {"gan": {"architecture": "mlp-classic"}}
TRAINER_DEFAULTS: dict[str, dict[str, Any]] = {
    # 0.99, not 0.999: the EMA has no warm-up, and after the ~1,500 steps of a CPU run a
    # 0.999 average still holds ~22% of the random initial weights (noisy samples)
    "dcgan": {"ema": 0.99},
}
BATCH_SIZE = 64  # every family, unless trainer_options says otherwise
AUTO_STEPS = 1500  # "auto" epochs: about this many steps, and at least 20 epochs
MIN_AUTO_EPOCHS = 20


def auto_epochs(n_images: int, batch_size: int) -> int:
    """Epochs for ``epochs="auto"``: about :data:`AUTO_STEPS` steps, at least 20 passes."""
    return max(MIN_AUTO_EPOCHS, math.ceil(AUTO_STEPS / steps_per_epoch(n_images, batch_size)))


class ImageSynthesizer(BaseSynthesizer):
    """Fit a class-conditional generative model on images; generate images of chosen classes.

    Parameters are those of :class:`~genbalance.sampling.images.ImageOverSampler` that
    concern the model (family, epochs, seeds, options, budget, progress, snapshots).
    ``random_state``: None (fresh randomness), an int (same images on one machine) or a
    numpy Generator. ``transfer_``: what a warm start (``fit(..., init=...)``) reused; None
    without one.
    """

    NAME = "image synthesizer"

    def __init__(
        self,
        model: str = "dcgan",
        *,
        epochs: int | str | None = "auto",
        random_state: Any = None,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        time_budget: float | None = None,
        progress: bool | str = "auto",
        device: str = "auto",
        snapshots: Any = None,
    ) -> None:
        if model not in IMAGE_MODELS:
            raise ValueError(
                f"model={model!r} is not an image model; accepted: {', '.join(IMAGE_MODELS)}"
            )
        resolve_epochs(epochs, 0)  # refuse a bad value before any work
        self.model = model
        self.epochs = epochs
        self.random_state = random_state
        self.model_options = dict(model_options or {})
        self.trainer_options = dict(trainer_options or {})
        self.time_budget = time_budget
        self.progress = progress
        self.device = device
        self.snapshots = snapshots  # a factory: (steps_per_epoch, draw) -> snapshots or None

    # ------------------------------------------------------------------ fitting
    def trainer_config(self, n_images: int) -> TrainerConfig:
        """Batch size, epochs rule, family defaults, then the user's ``trainer_options``."""
        options = {
            "batch_size": BATCH_SIZE,
            **TRAINER_DEFAULTS.get(self.model, {}),
            **self.trainer_options,
        }
        batch = min(int(options["batch_size"]), max(2, n_images))
        epochs = self.epochs
        if isinstance(epochs, str):  # "auto" (resolve_epochs refused any other string)
            epochs = auto_epochs(n_images, batch)
        options.setdefault("random_state", self.seed_)
        options.setdefault("progress", resolve_progress(self.progress))
        if self.time_budget is not None:
            options.setdefault("time_budget", self.time_budget)
        return TrainerConfig(epochs=None if epochs is None else int(epochs), **options)

    def fit(self, images: np.ndarray, y: np.ndarray, *, init: Any = None) -> ImageSynthesizer:
        """Train on checked images ``(N, H, W[, C])`` and their labels (one per image).

        ``init``: start from another fitted image synthesizer of the same family and image
        shape (or the path of its model file, or a ``WarmStart`` with a ``classes`` policy)
        instead of random weights, e.g. pre-trained on every class and fine-tuned here on the
        rare ones (head-to-tail transfer, docs/transfer.md). Its pixel encoding, family
        settings (``model_options`` override them) and weights are reused; class embeddings
        are copied by label where the label exists in both, and start fresh otherwise.
        Training then runs the usual budget (``epochs``). ``transfer_`` says what was reused.
        """
        start = None
        if init is not None:  # a bad file or another family is refused before any work
            start = as_image_warm_start(init, lambda path: type(self).load(path)[0], self.model)
        seed = self.start_seeds()
        codes = self.set_classes(check_labels(y))
        if (self.class_counts_ < 2).any():
            single = [
                c for c, k in zip(self.known_classes(), self.class_counts_, strict=True) if k < 2
            ]
            warnings.warn(
                f"classes {single} have a single image; their generated images lean on what "
                "the model shares across classes",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        self.encoder_ = ImageEncoder(per_pixel_spans=False).fit(images)
        plan = None
        if start is not None:
            plan = plan_image_transfer(start, self.encoder_, self.classes_)
            self.encoder_ = plan.encoder  # the source's pixel encoding, this fit's convention
        data = self.encoder_.transform(images)
        self.model_ = self.build_model(
            self.encoder_.data_dim, self.encoder_.spans, self._hyper(plan), seed
        )
        self.transfer_: dict[str, Any] | None = None if plan is None else plan.apply(self.model_)
        config = self.trainer_config(len(images))
        self.trainer_ = Trainer(config)
        self.trainer_.class_labels = self.known_classes()  # warnings name classes, not codes
        self._train(data, codes, config)
        self.training_data_ = (data.numpy(), codes)
        return self

    def _hyper(self, plan: TransferPlan | None) -> dict[str, Any]:
        """Family settings: the image shape and ``model_options`` over the per-family defaults,
        or over the source's settings for a warm start (so that the copied weights fit)."""
        options = dict(self.model_options)
        if self.model in CONV_MODELS:
            options = {"image_shape": self.encoder_.image_shape, **options}
        if plan is not None:
            return plan.model_settings(options)
        return {**MODEL_DEFAULTS.get(self.model, {}), **options}

    def _train(self, data: torch.Tensor, codes: np.ndarray, config: TrainerConfig) -> None:
        per_epoch = steps_per_epoch(len(data), min(config.batch_size, max(2, len(data))))
        snaps = None if self.snapshots is None else self.snapshots(per_epoch, self.draw_grid)
        if snaps is not None:
            snaps.attach(self.model_)
        try:
            self.history_: History = self.trainer_.fit(
                self.model_, data, torch.as_tensor(codes, dtype=torch.long)
            )
        finally:
            if snaps is not None:
                snaps.detach()
        if snaps is not None:
            done = len(self.history_.steps) // per_epoch if config.epochs is None else config.epochs
            snaps.snapshot(int(done), final=True)
            self.sample_files_ = [str(p) for p in snaps.saved]

    # ------------------------------------------------------------------ generation
    def generate(self, labels: Any, random_state: Any = None, latent: str = "prior") -> np.ndarray:
        """One image per label, in the training convention.

        ``latent="posterior"`` (conv-vae): each image takes the latent code of a random
        training image of any class (its style) and is rendered as the requested class; it
        needs the training images, so it works on a fitted (not a loaded) synthesizer.
        """
        self.require_fitted()
        codes = torch.as_tensor(self.label_codes(labels), dtype=torch.long)
        gen = torch.Generator().manual_seed(self.call_seed(random_state))
        draw = self._transfer if latent == "posterior" else self._prior
        with torch.no_grad():  # in chunks: the activations of one pass stay bounded
            parts = [draw(chunk, gen) for chunk in torch.split(codes, SAMPLE_CHUNK_ROWS)]
        flat = torch.cat(parts) if parts else draw(codes, gen)
        return self.encoder_.inverse_transform(flat)

    def training_images(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The training images (in the training convention) and their labels; None for a
        synthesizer loaded from a file, which holds only the model."""
        if getattr(self, "training_data_", None) is None:
            return None
        data, codes = self.training_data_
        return self.encoder_.inverse_transform(torch.from_numpy(data)), self.classes_[codes]

    def _prior(self, codes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self.model_.generate(codes, generator=gen)

    def _transfer(self, codes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if getattr(self, "training_data_", None) is None:
            raise RuntimeError(
                "latent='posterior' needs the training images: fit this synthesizer (a loaded "
                "one holds only the model)"
            )
        data, train_codes = self.training_data_
        idx = torch.randint(0, len(data), (len(codes),), generator=gen)
        return self.model_.transfer(
            torch.from_numpy(data)[idx], torch.as_tensor(train_codes)[idx], codes, gen
        )

    def draw_grid(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Ten images per class for a training snapshot, drawn with the EMA weights when EMA
        is on (seed 0, so that snapshots of successive epochs are comparable)."""
        codes = torch.arange(len(self.classes_)).repeat_interleave(10)
        gen = torch.Generator().manual_seed(0)
        parts = self.model_.sampling_parts()
        emas = getattr(getattr(self, "trainer_", None), "emas", {})
        saved = {k: {n: t.clone() for n, t in parts[k].state_dict().items()} for k in emas}
        try:
            for k, ema in emas.items():
                parts[k].load_state_dict(ema.shadow.state_dict())
            flat = self.model_.generate(codes, generator=gen)
        finally:
            for k, state in saved.items():
                parts[k].load_state_dict(state)
        return self.encoder_.inverse_transform(flat), self.classes_[codes.numpy()]

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, overwrite: bool = False, params: dict | None = None) -> Path:
        """The model, encoder state and class labels in one safetensors file; an existing file
        is refused unless ``overwrite=True``. ``params``: the sampler settings to keep."""
        self.require_fitted()
        extra = {
            "kind": FILE_KIND,
            "encoder": self.encoder_.to_json(),
            "classes": self.known_classes(),
            "class_counts": self.class_counts_.tolist(),
            "transfer": getattr(self, "transfer_", None),  # what a warm start reused
            "params": {
                "model": self.model,
                "random_state": self.random_state if isinstance(self.random_state, int) else None,
                **(params or {}),
            },
        }
        return models.save(self.model_, path, extra=extra, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> tuple[ImageSynthesizer, dict[str, Any]]:
        """A synthesizer written by :meth:`save` and the settings stored with it."""
        from genbalance.files import ModelFileError

        model, extra = models.load(path)
        if extra.get("kind") != FILE_KIND:
            raise ModelFileError(
                f"{path}: not an image model file (written by "
                "ImageOverSampler.save / `genbalance images train`)"
            )
        params = dict(extra.get("params", {}))
        self = cls(model=model.family, random_state=params.get("random_state"))
        self.model_ = model
        try:
            self.encoder_ = ImageEncoder.from_json(extra["encoder"])
            self.classes_ = np.asarray(extra["classes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: malformed image model metadata ({exc})") from None
        transfer = extra.get("transfer")  # files before warm starts of images lack it
        self.transfer_ = transfer if isinstance(transfer, dict) else None
        counts = extra.get("class_counts")  # files before 0.3 did not store them
        self.class_counts_ = None if counts is None else np.asarray(counts, dtype=np.int64)
        check_parts_agree(path, self.encoder_.data_dim, model, len(self.classes_))
        return self, params
