"""Over-sample rare classes of an image set with a class-conditional generative model.

``ImageOverSampler(model="conv-vae").fit_resample(X, y)`` encodes the images to flat [0, 1]
pixels (:class:`~genbalance.encoders.images.ImageEncoder`), trains one conditional model over
all classes with the shared :class:`~genbalance.training.trainer.Trainer` (class-balanced
batches), then draws exactly the images that ``sampling_strategy`` asks for (imbalanced-learn
semantics) and returns them after the originals, in the caller's array convention.

Optionally (``filter="classifier"``) a logistic regression trained on the real images scores
a surplus of generated images and those it assigns to another class are dropped.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from genbalance import models
from genbalance.encoders.images import ImageEncoder, check_images
from genbalance.training.trainer import History, Trainer, TrainerConfig
from genbalance.utils import to_python_scalar

__all__ = ["IMAGE_MODELS", "ImageOverSampler"]

IMAGE_MODELS = ("dcgan", "conv-vae", "pixelcnn", "gan", "vae", "made", "rbm", "diffusion")
FILTERS = ("none", "classifier")

# "gan", "vae", "made", "rbm" and "diffusion" see flat pixels: every pixel one sigmoid column in
# [0, 1], i.e. a Bernoulli variable for MADE and a Bernoulli visible unit for the RBM (as in the
# RBM digit models of Hinton, 2006), and a bounded Gaussian column for diffusion.
# Per-family defaults that work on small digits (the user's options override them):
_MODEL_DEFAULTS: dict[str, dict[str, Any]] = {"gan": {"architecture": "mlp-classic"}}
_TRAINER_DEFAULTS: dict[str, dict[str, Any]] = {
    # 0.99, not 0.999: the EMA has no warm-up, and after the ~1,500 steps of a CPU run a
    # 0.999 average still holds ~22% of the random initial weights (noisy samples)
    "dcgan": {"ema": 0.99},
}
_BATCH_SIZE = 64  # every family, unless trainer_options says otherwise
_AUTO_STEPS = 1500  # "auto" epochs: about this many steps, and at least 20 epochs


class ImageOverSampler(BaseEstimator):
    """Generate images of the rare classes with a class-conditional generative model.

    Parameters
    ----------
    model : {"dcgan", "conv-vae", "pixelcnn", "gan", "vae", "made", "rbm", "diffusion"}
        Generative family; "gan" uses the MLP ``mlp-classic`` architecture on flat pixels;
        "pixelcnn" is the convolutional autoregressive family (exact likelihood, one pass per
        pixel to sample). "vae", "made", "rbm" and "diffusion" are the tabular families on
        flat pixels (each pixel one [0, 1] column; no convolution, so they suit small images).
    epochs : int or "auto"
        Training passes over the images; "auto" = about 1,500 steps, at least 20 epochs.
    sampling_strategy : float, str, dict or callable
        As in imbalanced-learn (``"auto"``: every class but the majority up to its size).
    random_state : int or None
        Same seed, same images (on one machine).
    latent : {"prior", "posterior"}
        conv-vae only: draw the latent code from N(0, I) ("prior") or from the posterior of a
        random training image of any class ("posterior": that image's style, rendered as the
        requested class; sharper and more varied for classes with a handful of images).
    filter : {"none", "classifier"}
        "classifier": generate ``filter_factor`` times the images needed, drop those a
        logistic regression fitted on the real images puts in another class, keep ``n``.
    sample_dir : path or None
        If set, a per-class sample grid (``grid_epochNNNN.png``) and the loss curve
        (``loss.png``) are written there every ``sample_every`` epochs and at the end.
    image_shape : (H, W) or (H, W, C) or None
        Needed only for flat ``(N, H*W*C)`` input (e.g. inside an imblearn Pipeline); the
        output is then flat as well.
    model_options, trainer_options : dict
        Passed to the family and to :class:`~genbalance.training.trainer.TrainerConfig`.

    Attributes
    ----------
    sampling_strategy_ : dict  class -> number of images generated
    model_ : the trained generative model;  encoder_ : the fitted ImageEncoder
    classes_ : labels in model order;  history_ : training History
    n_filtered_ : dict  class -> generated images dropped by the filter
    """

    def __init__(
        self,
        model: str = "dcgan",
        *,
        epochs: int | str = "auto",
        sampling_strategy: Any = "auto",
        random_state: int | None = None,
        filter: str = "none",  # noqa: A002 - the natural name for users
        filter_factor: float = 3.0,
        latent: str = "prior",
        sample_dir: str | Path | None = None,
        sample_every: int = 10,
        image_shape: tuple[int, ...] | None = None,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        time_budget: float | None = None,
        progress: bool = False,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.filter = filter
        self.filter_factor = filter_factor
        self.latent = latent
        self.sample_dir = sample_dir
        self.sample_every = sample_every
        self.image_shape = image_shape
        self.model_options = model_options
        self.trainer_options = trainer_options
        self.time_budget = time_budget
        self.progress = progress

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.model not in IMAGE_MODELS:
            raise ValueError(
                f"model={self.model!r} is not an image model; accepted: {', '.join(IMAGE_MODELS)}"
            )
        if self.filter not in FILTERS:
            raise ValueError(f"filter={self.filter!r}; accepted: {', '.join(FILTERS)}")
        if not (
            self.epochs == "auto"
            or (isinstance(self.epochs, (int, np.integer)) and self.epochs >= 0)
        ):
            raise ValueError(f"epochs must be an int >= 0 or 'auto', got {self.epochs!r}")
        if self.latent not in ("prior", "posterior"):
            raise ValueError(f"latent={self.latent!r}; accepted: prior, posterior")
        if self.latent == "posterior" and self.model != "conv-vae":
            raise ValueError("latent='posterior' (style transfer) needs model='conv-vae'")
        if self.filter_factor < 1:
            raise ValueError(f"filter_factor must be >= 1, got {self.filter_factor}")
        if int(self.sample_every) < 1:
            raise ValueError(f"sample_every must be >= 1, got {self.sample_every}")

    def _unflatten(self, X) -> tuple[np.ndarray, bool]:
        X = np.asarray(X)
        if X.ndim != 2:
            return X, False
        if self.image_shape is None:
            raise ValueError(
                f"X has shape {X.shape} (flat rows); pass image_shape=(H, W) or "
                "(H, W, C), or give images as (N, H, W) / (N, H, W, C)"
            )
        shape = tuple(int(s) for s in self.image_shape)
        if int(np.prod(shape)) != X.shape[1]:
            raise ValueError(
                f"image_shape {shape} has {int(np.prod(shape))} pixels but X rows have {X.shape[1]}"
            )
        return X.reshape(len(X), *shape), True

    # ------------------------------------------------------------------ main
    def fit_resample(self, X, y):
        """Train on ``(X, y)``; return ``(X_res, y_res)``: the originals then the generated."""
        from imblearn.utils import check_sampling_strategy

        self._check_params()
        images, _ = self._unflatten(X)
        labels = self._check_xy(check_images(images), y)
        check_sampling_strategy(self.sampling_strategy, labels, "over-sampling")  # before training
        self.fit(X, y)
        return self.resample(X, y)

    def resample(self, X, y):
        """Add generated images to ``(X, y)`` from the already fitted model.

        ``fit_resample`` is ``fit`` then this; calling it directly re-uses one trained model
        for other sampling settings (``latent``, ``filter``, ``sampling_strategy``).
        """
        from imblearn.utils import check_sampling_strategy

        self._need_fit()
        self._check_params()
        X, flat = self._unflatten(X)
        X = check_images(X)
        y = self._check_xy(X, y)
        self.sampling_strategy_ = dict(
            check_sampling_strategy(self.sampling_strategy, y, "over-sampling")
        )
        self.n_filtered_ = {}
        wanted = {c: int(n) for c, n in self.sampling_strategy_.items() if n > 0}
        pieces, labels = [X], [y]
        for i, (cls, n) in enumerate(wanted.items()):
            seed = None if self.random_state is None else int(self.random_state) + 1000 + i
            pieces.append(self._generate_class(cls, n, seed))
            labels.append(np.full(n, cls, dtype=y.dtype))
        X_res = np.concatenate(pieces) if len(pieces) > 1 else X.copy()
        y_res = np.concatenate(labels)
        if flat:
            X_res = X_res.reshape(len(X_res), -1)
        return X_res, y_res

    @staticmethod
    def _check_xy(X: np.ndarray, y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per image ({len(X)}), got {y.shape}")
        return y

    def fit(self, X, y) -> ImageOverSampler:
        """Train the generative model (``fit_resample`` calls this)."""
        self._check_params()
        X, _ = self._unflatten(X)
        X = check_images(X)
        y = self._check_xy(X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        counts = np.bincount(codes)
        if (counts < 2).any():
            warnings.warn(
                f"classes {[to_python_scalar(c) for c in self.classes_[counts < 2]]} have a single "
                "image; "
                "their generated images lean on what the model shares across classes",
                UserWarning,
                stacklevel=2,
            )
        self.encoder_ = ImageEncoder(per_pixel_spans=False).fit(X)
        data = self.encoder_.transform(X)
        fam = self.model
        hyper = dict(_MODEL_DEFAULTS.get(fam, {}))
        if fam in ("dcgan", "conv-vae", "pixelcnn"):
            hyper["image_shape"] = self.encoder_.image_shape
        hyper.update(self.model_options or {})
        with torch.random.fork_rng(devices=[]):  # seeded weights, caller's RNG untouched
            if self.random_state is not None:
                torch.manual_seed(int(self.random_state))
            self.model_ = models.get(fam)(
                self.encoder_.data_dim, len(self.classes_), self.encoder_.spans, **hyper
            )
        topts = {
            "batch_size": _BATCH_SIZE,
            **_TRAINER_DEFAULTS.get(fam, {}),
            **(self.trainer_options or {}),
        }
        batch = min(int(topts["batch_size"]), max(2, len(X)))
        steps_per_epoch = max(1, math.ceil(len(X) / batch))
        epochs = self.epochs
        if epochs == "auto":
            epochs = max(20, math.ceil(_AUTO_STEPS / steps_per_epoch))
        topts.setdefault("random_state", self.random_state)
        topts.setdefault("progress", self.progress)
        if self.time_budget is not None:
            topts.setdefault("time_budget", self.time_budget)
        trainer = Trainer(TrainerConfig(epochs=int(epochs), **topts))
        self._trainer = trainer
        snaps = None
        if self.sample_dir is not None:
            from genbalance.evaluation.plots import TrainingSnapshots

            snaps = TrainingSnapshots(
                self.sample_dir,
                int(self.sample_every),
                steps_per_epoch,
                self._draw_grid_during_training,
            ).attach(self.model_)
        try:
            self.history_: History = trainer.fit(
                self.model_, data, torch.as_tensor(codes, dtype=torch.long)
            )
        finally:
            if snaps is not None:
                snaps.detach()
        if snaps is not None:
            snaps.snapshot(int(epochs), final=True)
            self.sample_files_ = [str(p) for p in snaps.saved]
        self._filter_clf = None
        self._train_data = (data.numpy(), codes)
        self.n_filtered_ = {}
        return self

    # ------------------------------------------------------------------ sampling
    def _labels_to_codes(self, labels) -> np.ndarray:
        labels = np.asarray(labels)
        idx = np.searchsorted(self.classes_, labels)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        bad = self.classes_[idx] != labels
        if bad.any():
            raise ValueError(
                f"unknown class {to_python_scalar(labels[bad][0])!r}; the model knows "
                f"{[to_python_scalar(c) for c in self.classes_]}"
            )
        return idx

    def generate(self, labels, random_state: int | None = None) -> np.ndarray:
        """Images (in the training convention) for the given labels, one each; no filter."""
        self._need_fit()
        codes = torch.as_tensor(self._labels_to_codes(labels), dtype=torch.long)
        gen = torch.Generator()
        gen.manual_seed(0 if random_state is None else int(random_state))
        with torch.no_grad():
            if self.latent == "posterior":
                data, train_codes = self._train_data
                idx = torch.randint(0, len(data), (len(codes),), generator=gen)
                flat = self.model_.transfer(
                    torch.from_numpy(data)[idx], torch.as_tensor(train_codes)[idx], codes, gen
                )
            else:
                flat = self.model_.generate(codes, generator=gen)
        return self.encoder_.inverse_transform(flat)

    def sample(self, n_per_class: int, random_state: int | None = 0):
        """``n_per_class`` images of every class: ``(X, y)``."""
        self._need_fit()
        y = np.repeat(self.classes_, n_per_class)
        return self.generate(y, random_state), y

    def _draw_grid_during_training(self, epoch: int):
        """Samples for a training snapshot, drawn with the EMA weights when EMA is on."""
        codes = torch.arange(len(self.classes_)).repeat_interleave(10)
        gen = torch.Generator()
        gen.manual_seed(0)
        parts = self.model_.sampling_parts()
        emas = getattr(self._trainer, "emas", {})
        saved = {k: {n: t.clone() for n, t in parts[k].state_dict().items()} for k in emas}
        try:
            for k, ema in emas.items():
                parts[k].load_state_dict(ema.shadow.state_dict())
            flat = self.model_.generate(codes, generator=gen)
        finally:
            for k, state in saved.items():
                parts[k].load_state_dict(state)
        return self.encoder_.inverse_transform(flat), self.classes_[codes.numpy()]

    def _generate_class(self, cls, n: int, seed: int | None) -> np.ndarray:
        if self.filter == "none":
            return self.generate(np.full(n, cls), seed)
        clf = self._classifier()
        m = int(math.ceil(n * self.filter_factor))
        cand = self.generate(np.full(m, cls), seed)
        proba = clf.predict_proba(self.encoder_.transform(cand).numpy())
        code = int(self._labels_to_codes([cls])[0])
        own = proba[:, code]
        accepted = proba.argmax(1) == code
        # accepted images first (in generation order), then the most probable of the rest
        rejected = np.flatnonzero(~accepted)
        order = np.concatenate(
            [np.flatnonzero(accepted), rejected[np.argsort(-own[rejected], kind="stable")]]
        )
        self.n_filtered_[to_python_scalar(cls)] = int((~accepted).sum())
        return cand[order[:n]]

    def _classifier(self):
        if getattr(self, "_filter_clf", None) is None:
            from sklearn.linear_model import LogisticRegression

            Xf, codes = self._train_data
            self._filter_clf = LogisticRegression(
                C=1.0, max_iter=2000, class_weight="balanced"
            ).fit(Xf, codes)
        return self._filter_clf

    def _need_fit(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("ImageOverSampler is not fitted; call fit_resample(X, y) first")

    def save(self, path, overwrite: bool = True) -> Path:
        """Write the trained model, encoder state and class labels to one safetensors file."""
        self._need_fit()
        extra = {
            "kind": "image-oversampler",
            "encoder": self.encoder_.to_json(),
            "classes": [to_python_scalar(c) for c in self.classes_],
            "params": {"model": self.model, "random_state": self.random_state},
        }
        return models.save(self.model_, path, extra=extra, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> ImageOverSampler:
        """A sampler written by :meth:`save`, ready to ``generate``/``sample`` (not to re-fit
        with ``latent="posterior"``, which needs the training images)."""
        from genbalance.files import ModelFileError

        model, extra = models.load(path)
        if extra.get("kind") != "image-oversampler":
            raise ModelFileError(
                f"{path}: not an image model file (written by "
                "ImageOverSampler.save / `genbalance images train`)"
            )
        obj = cls(
            model=model.family, **{k: v for k, v in extra.get("params", {}).items() if k != "model"}
        )
        obj.model_ = model
        obj.encoder_ = ImageEncoder.from_json(extra["encoder"])
        obj.classes_ = np.asarray(extra["classes"])
        obj.n_filtered_ = {}
        return obj

    def save_sample_grid(self, path, n_per_class: int = 10, random_state: int | None = 0) -> Path:
        """A PNG with one row of generated images per class."""
        from genbalance.evaluation.plots import save_sample_grid

        X, y = self.sample(n_per_class, random_state)
        return save_sample_grid(
            path, X, y, n_per_class, title=f"{self.model} samples, one row per class"
        )
