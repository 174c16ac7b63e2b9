"""Over-sample rare classes of an image set with a class-conditional generative model.

``ImageOverSampler(model="conv-vae").fit_resample(X, y)`` fits an
:class:`~genbalance.synthesis.images.ImageSynthesizer` (flat [0, 1] pixels, one conditional model
over all classes, class-balanced batches), then draws exactly the images that
``sampling_strategy`` asks for (imbalanced-learn semantics) and returns them after the
originals, in the caller's array convention.

Optionally (``filter="classifier"``) a logistic regression trained on the real images scores
a surplus of generated images and those it assigns to another class are dropped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from genbalance.data.validation import check_labels
from genbalance.encoders.images import check_images
from genbalance.sampling.base import GenerativeSamplerMixin, check_strategy
from genbalance.synthesis.base import check_count, resolve_epochs
from genbalance.synthesis.images import IMAGE_MODELS, ImageSynthesizer
from genbalance.utils import seed_from

__all__ = ["IMAGE_MODELS", "ImageOverSampler"]

FILTERS = ("none", "classifier")
# seeds of the generated classes start here after the sampler's seed (kept so that seeded
# results stay what they were)
CLASS_SEED_OFFSET = 1000


class ImageOverSampler(GenerativeSamplerMixin, BaseEstimator):
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
    random_state : int, numpy Generator or None
        Same int, same images (on one machine); None: fresh randomness.
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
    init : ImageSynthesizer, ImageOverSampler, path, WarmStart or None
        Start from a fitted image model of the same family and image shape (or its model
        file) and fine-tune it on ``X`` (e.g. pre-trained on every class, fine-tuned on the
        rare ones; docs/transfer.md). ``synthesizer_.transfer_`` says what was reused.

    Attributes
    ----------
    sampling_strategy_ : dict  class -> number of images generated
    synthesizer_ : the fitted :class:`~genbalance.synthesis.images.ImageSynthesizer`;
        ``model_``, ``encoder_``, ``classes_`` and ``history_`` are its attributes
    n_filtered_ : dict  class -> generated images dropped by the filter
    """

    class_seed_offset = CLASS_SEED_OFFSET

    def __init__(
        self,
        model: str = "dcgan",
        *,
        epochs: int | str | None = "auto",
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        filter: str = "none",  # noqa: A002 - the natural name for users
        filter_factor: float = 3.0,
        latent: str = "prior",
        sample_dir: str | Path | None = None,
        sample_every: int = 10,
        image_shape: tuple[int, ...] | None = None,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        time_budget: float | None = None,
        progress: bool | str = "auto",
        init: Any = None,
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
        self.init = init

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.model not in IMAGE_MODELS:
            raise ValueError(
                f"model={self.model!r} is not an image model; accepted: {', '.join(IMAGE_MODELS)}"
            )
        if self.filter not in FILTERS:
            raise ValueError(f"filter={self.filter!r}; accepted: {', '.join(FILTERS)}")
        resolve_epochs(self.epochs, 0)
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
        images = check_images(images)
        labels = self._check_xy(images, y)
        # before training: counts that are whole numbers, and a size that can fit
        check_strategy(self.sampling_strategy, labels)
        strategy = check_sampling_strategy(self.sampling_strategy, labels, "over-sampling")
        self.wanted_rows(dict(strategy), _pixels(images), self._surplus())
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
        check_strategy(self.sampling_strategy, y)
        self.sampling_strategy_ = dict(
            check_sampling_strategy(self.sampling_strategy, y, "over-sampling")
        )
        self.n_filtered_ = {}
        wanted = self.wanted_rows(self.sampling_strategy_, _pixels(X), self._surplus())
        seed = None if self.random_state is None else seed_from(self.random_state)
        pieces, labels = self.generate_classes(
            wanted, seed, y, self._generate_class, surplus=self._surplus()
        )
        X_res = np.concatenate([X, *pieces]) if pieces else X.copy()
        y_res = np.concatenate([y, *labels])
        if flat:
            X_res = X_res.reshape(len(X_res), -1)
        return X_res, y_res

    def _surplus(self) -> float:
        """Candidates generated per image kept: ``filter_factor`` with the classifier filter."""
        return float(self.filter_factor) if self.filter == "classifier" else 1.0

    @staticmethod
    def _check_xy(X: np.ndarray, y) -> np.ndarray:
        # the table samplers' label rules: no missing, mixed-type or fractional labels
        y = check_labels(y, allow_float=False)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per image ({len(X)}), got {y.shape}")
        return y

    def fit(self, X, y) -> ImageOverSampler:
        """Train the generative model (``fit_resample`` calls this)."""
        self._check_params()
        X, _ = self._unflatten(X)
        X = check_images(X)
        y = self._check_xy(X, y)
        self.synthesizer_ = ImageSynthesizer(
            self.model,
            epochs=self.epochs,
            random_state=self.random_state,
            model_options=self.model_options,
            trainer_options=self.trainer_options,
            time_budget=self.time_budget,
            progress=self.progress,
            snapshots=self._snapshots_factory((X, y)),
        ).fit(X, y, init=self.init)
        if hasattr(self.synthesizer_, "sample_files_"):
            self.sample_files_ = self.synthesizer_.sample_files_
        self._filter_clf = None
        self.n_filtered_ = {}
        return self

    def _snapshots_factory(self, real: tuple[np.ndarray, np.ndarray]) -> Any:
        """Sample grids (with a row of ``real`` images above each class's generated row) and
        the loss curve under ``sample_dir`` during training, if set."""
        if self.sample_dir is None:
            return None
        from genbalance.evaluation.plots import TrainingSnapshots

        def make(steps_per_epoch: int, draw: Any) -> TrainingSnapshots:
            return TrainingSnapshots(
                self.sample_dir, int(self.sample_every), steps_per_epoch, draw, real=real
            )

        return make

    # ------------------------------------------------------------------ the fitted model
    @property
    def model_(self) -> Any:
        return self._synth().model_

    @property
    def encoder_(self) -> Any:
        return self._synth().encoder_

    @property
    def classes_(self) -> np.ndarray:
        return self._synth().classes_

    @property
    def history_(self) -> Any:
        return self._synth().history_

    def _synth(self) -> ImageSynthesizer:
        if not hasattr(self, "synthesizer_"):
            raise AttributeError("ImageOverSampler is not fitted; call fit_resample(X, y) first")
        return self.synthesizer_

    # ------------------------------------------------------------------ sampling
    def generate(self, labels, random_state: Any = None) -> np.ndarray:
        """Images (in the training convention) for the given labels, one each; no filter."""
        self._need_fit()
        self.synthesizer_.check_generation_size(int(np.size(labels)), "labels")
        return self.synthesizer_.generate(labels, random_state, latent=self.latent)

    def sample(self, n_per_class: int, random_state: Any = 0):
        """``n_per_class`` images of every class: ``(X, y)``."""
        self._need_fit()
        n = check_count(n_per_class, "n_per_class")
        self.synthesizer_.check_generation_size(n * len(self.classes_), "n_per_class")
        y = np.repeat(self.classes_, n)
        return self.generate(y, random_state), y

    def _generate_class(self, cls, n: int, seed: int | None) -> np.ndarray:
        if self.filter == "none":
            return self.generate(np.full(n, cls), seed)
        m = int(math.ceil(n * self.filter_factor))
        return self.filtered(
            cls,
            n,
            lambda round_: self.generate(np.full(m, cls), seed),
            self._classifier(),
            lambda images, idx: images[idx],
            lambda batches: np.concatenate(batches),
            rounds=1,
        )

    def _classifier(self) -> ClassifierFilter:
        if getattr(self, "_filter_clf", None) is None:
            data, codes = self.synthesizer_.training_data_
            self._filter_clf = ClassifierFilter(self.synthesizer_, data, codes)
        return self._filter_clf

    def _need_fit(self) -> None:
        if not hasattr(self, "synthesizer_"):
            raise RuntimeError("ImageOverSampler is not fitted; call fit_resample(X, y) first")

    def save(self, path, overwrite: bool = False) -> Path:
        """Write the trained model, encoder state and class labels to one safetensors file;
        an existing file is refused unless ``overwrite=True`` (as for every synthesizer)."""
        self._need_fit()
        return self.synthesizer_.save(path, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> ImageOverSampler:
        """A sampler written by :meth:`save`, ready to ``generate``/``sample`` (not to re-fit
        with ``latent="posterior"``, which needs the training images)."""
        synth, params = ImageSynthesizer.load(path)
        obj = cls(model=synth.model, **{k: v for k, v in params.items() if k != "model"})
        obj.synthesizer_ = synth
        obj.n_filtered_ = {}
        return obj

    def save_sample_grid(self, path, n_per_class: int = 10, random_state: Any = 0) -> Path:
        """A PNG with one row of generated images per class, under a row of real training
        images of that class when the training images are at hand (a fitted sampler; a
        loaded one holds only the model): collapse shows as near-copies under a varied row."""
        from genbalance.evaluation.plots import save_sample_grid

        X, y = self.sample(n_per_class, random_state)
        real = self.synthesizer_.training_images()
        return save_sample_grid(
            path,
            X,
            y,
            n_per_class,
            title=f"{self.model} samples, one row per class",
            real_images=None if real is None else real[0],
            real_labels=None if real is None else real[1],
        )


def _pixels(images: np.ndarray) -> int:
    """Values per image (H x W x C): the encoded width of one generated image."""
    return int(np.prod(images.shape[1:]))


class ClassifierFilter:
    """A logistic regression fitted on the real (encoded) images: a generated image is
    accepted when it puts the image in the class it was generated for."""

    def __init__(self, synth: ImageSynthesizer, data: np.ndarray, codes: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        self.synth = synth
        self.clf = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(
            data, codes
        )

    def judge(self, images: np.ndarray, cls: Any) -> tuple[np.ndarray, np.ndarray]:
        proba = self.clf.predict_proba(self.synth.encoder_.transform(images).numpy())
        code = int(self.synth.label_codes([cls])[0])
        return proba[:, code], proba.argmax(1) == code
