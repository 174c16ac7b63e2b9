"""Synthesizer: a tabular encoder plus a trained class-conditional generative model.

``Synthesizer(model="gan").fit(X, y).sample(100, y="fraud")`` gives rows in the user's raw
space. It is the seam between data (encoder, schema) and networks (models, trainer): the
oversamplers only ask it for rows, and it never decides how many rows a class needs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from genbalance import models
from genbalance.encoders.tabular import TabularEncoder
from genbalance.files import ModelFileError, load_bundle, save_bundle
from genbalance.schema import as_frame, check_labels
from genbalance.training.stabilizers import get_recipe
from genbalance.training.trainer import History, Trainer, TrainerConfig, resolve_device
from genbalance.utils import to_python_scalar

FILE_KIND = "synthesizer"
# rows generated per forward pass: small enough that the (rows x encoded width) activations
# stay in cache on CPU (8k rows x 600 columns = 20 MB), large enough to amortise the calls
SAMPLE_CHUNK_ROWS = 8192

# trainer settings a user may pass through ``trainer_options``
_TRAINER_KEYS = set(TrainerConfig.__dataclass_fields__)


def auto_steps(n_rows: int) -> int:
    """Optimiser steps for a table of ``n_rows`` rows when ``epochs='auto'``.

    Small tables need a floor of steps to learn anything; large ones need far fewer passes.
    Tuned on the development subset of the benchmark (see docs/benchmark.md).
    """
    return int(np.clip(600 + 0.3 * n_rows, 800, 4000))


def auto_batch_size(n_rows: int) -> int:
    return int(np.clip(2 ** round(math.log2(max(n_rows, 1) / 4)), 64, 512))


class Synthesizer:
    """Fit a class-conditional generative model on a table; sample rows of chosen classes.

    Parameters
    ----------
    model : registered family name ("gan", "vae", ...; see ``genbalance.models.available()``).
    preset : stabiliser recipe for GANs ("stable", "wgan-gp", "hinge-sn", "pac-wgan", "plain").
    epochs : passes over the data, or "auto" (a step budget by table size).
    categorical_features : "auto", names, indices or a boolean mask.
    time_budget : seconds; training stops cleanly when spent.
    random_state : seed for encoder, training and sampling.
    model_options, trainer_options, encoder_options : passed to the family, the
        :class:`TrainerConfig` and the :class:`TabularEncoder`.
    privacy : a :class:`~genbalance.training.dp.DPConfig` (or a dict of its fields):
        train with DP-SGD ("gan": the discriminator; "vae": both networks). The epsilon spent
        is in ``privacy_`` after fit and in the saved file.
    """

    def __init__(
        self,
        model: str = "gan",
        *,
        preset: str | None = None,
        epochs: int | str = "auto",
        batch_size: int | str = "auto",
        categorical_features: Any = "auto",
        time_budget: float | None = None,
        device: str = "auto",
        progress: bool = False,
        random_state: int | None = None,
        model_options: dict[str, Any] | None = None,
        trainer_options: dict[str, Any] | None = None,
        encoder_options: dict[str, Any] | None = None,
        privacy: Any = None,
    ) -> None:
        self.model = model
        self.privacy = privacy
        self.preset = preset
        self.epochs = epochs
        self.batch_size = batch_size
        self.categorical_features = categorical_features
        self.time_budget = time_budget
        self.device = device
        self.progress = progress
        self.random_state = random_state
        self.model_options = dict(model_options or {})
        self.trainer_options = dict(trainer_options or {})
        self.encoder_options = dict(encoder_options or {})

    # ------------------------------------------------------------------ fitting
    def _trainer_config(self, n_rows: int, recipe_trainer: dict[str, Any]) -> TrainerConfig:
        unknown = set(self.trainer_options) - _TRAINER_KEYS
        if unknown:
            raise ValueError(
                f"unknown trainer_options {sorted(unknown)}; accepted: {sorted(_TRAINER_KEYS)}"
            )
        batch = auto_batch_size(n_rows) if self.batch_size == "auto" else int(self.batch_size)
        if self.epochs == "auto":
            epochs, max_steps = 0, auto_steps(n_rows)
        elif (
            isinstance(self.epochs, (int, np.integer))
            and not isinstance(self.epochs, bool)
            and self.epochs >= 0
        ):
            epochs, max_steps = int(self.epochs), None
        else:
            raise ValueError(
                f"epochs must be a non-negative integer or 'auto', got {self.epochs!r}"
            )
        options = {
            "epochs": epochs,
            "max_steps": max_steps,
            "batch_size": batch,
            "time_budget": self.time_budget,
            "device": self.device,
            "progress": self.progress,
            "random_state": self.random_state,
            **recipe_trainer,
            **self.trainer_options,
        }
        if self.privacy is not None:
            if self.trainer_options.get("privacy") is not None:
                raise ValueError("privacy is given twice (privacy= and trainer_options); use one")
            options["privacy"] = self.privacy
        return TrainerConfig(**options)

    def fit(self, X: Any, y: Any = None, *, dist: Any = None) -> Synthesizer:
        """Learn the table ``X`` (DataFrame or 2-D array), conditional on labels ``y``.

        ``dist``: a :class:`genbalance.training.distributed.DistContext` for data-parallel
        training (every rank calls ``fit`` on the same table; see docs/scale.md).
        """
        frame, origin = as_frame(X)
        if y is None:
            labels = np.zeros(len(frame), dtype=np.int64)
        else:
            labels = check_labels(y)  # refuses missing, non-scalar and mixed-type labels
            if labels.shape != (len(frame),):
                raise ValueError(
                    f"y must have one label per row of X: X has {len(frame)} rows, "
                    f"y has shape {labels.shape}"
                )
        if len(frame) < 2:
            raise ValueError(f"need at least 2 rows to fit a synthesizer, got {len(frame)}")
        self.classes_, codes = np.unique(labels, return_inverse=True)
        self.class_counts_ = np.bincount(codes, minlength=len(self.classes_))
        self.origin_ = origin
        self.encoder_ = TabularEncoder(
            categorical_features=self.categorical_features,
            random_state=self.random_state,
            **self.encoder_options,
        ).fit(frame)
        Z = torch.from_numpy(self.encoder_.transform(frame))
        self._train(Z, torch.from_numpy(codes), len(frame), dist)
        self._remember_rows(frame)
        return self

    def _remember_rows(self, frame: pd.DataFrame) -> None:
        """Keep 64-bit hashes of the training rows, in memory only, so that :meth:`sample` can
        replace exact copies. Never saved: hashes in a shared model file would let anyone test
        whether a given row was in the training data."""
        from genbalance.evaluation.privacy import training_row_hashes

        self._train_columns = list(frame.columns)
        self._train_hashes, self._hash_split = training_row_hashes(frame, self.categorical_features)

    def _train(self, data: Any, labels: Any, n_rows: int, dist: Any = None) -> None:
        """Build the family on the fitted encoder and train it on ``data`` (a tensor, or a
        streaming batch source with ``labels=None``)."""
        recipe_gan: dict[str, Any] = {}
        recipe_trainer: dict[str, Any] = {}
        family = models.get(self.model)
        if self.preset is not None:
            if family.family != "gan":
                raise ValueError(
                    f"preset={self.preset!r} applies to the 'gan' family only, not {self.model!r}"
                )
            recipe = get_recipe(self.preset)
            recipe_gan, recipe_trainer = dict(recipe.gan), dict(recipe.trainer)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state if self.random_state is not None else 0)
            self.model_ = family(
                self.encoder_.output_dim,
                len(self.classes_),
                self.encoder_.spans,
                **{**recipe_gan, **self.model_options},
            )
        config = self._trainer_config(n_rows, recipe_trainer)
        trainer = Trainer(config)
        trainer.dist = dist
        self.history_: History = trainer.fit(self.model_, data, labels)

    # ------------------------------------------------------------------ sampling
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this Synthesizer is not fitted yet; call fit(X, y) first")

    def label_codes(self, y: Any, n: int | None = None) -> np.ndarray:
        """Map user labels to class indices; a scalar label is repeated ``n`` times."""
        self._check_fitted()
        values = np.asarray(y, dtype=object)
        if values.ndim == 0:
            values = np.repeat(values, n if n is not None else 1)
        lookup = {to_python_scalar(c): i for i, c in enumerate(self.classes_)}
        codes = np.empty(len(values), dtype=np.int64)
        for v in pd.unique(values):
            key = to_python_scalar(v)
            if key not in lookup:
                raise ValueError(
                    f"unknown class {key!r}; this synthesizer knows "
                    f"{[to_python_scalar(c) for c in self.classes_]}"
                )
            codes[values == v] = lookup[key]
        return codes

    def sample_encoded(self, codes: np.ndarray, random_state: int | None = None) -> np.ndarray:
        """Encoded rows for class indices ``codes`` (batched, no gradients)."""
        self._check_fitted()
        gen = torch.Generator().manual_seed(
            random_state if random_state is not None else (self.random_state or 0)
        )
        out = []
        codes_t = torch.as_tensor(codes, dtype=torch.long)
        device = resolve_device(self.device)  # CUDA when there is one (device="auto")
        if self.model_.device != device:
            self.model_.to(device)
        with torch.inference_mode():
            for chunk in torch.split(codes_t, SAMPLE_CHUNK_ROWS):
                out.append(self.model_.generate(chunk.to(device), gen).cpu())
        if not out:
            return np.zeros((0, self.encoder_.output_dim), dtype=np.float32)
        return torch.cat(out).numpy()

    def sample(
        self,
        n: int | None = None,
        y: Any = None,
        random_state: int | None = None,
        drop_copies: bool = True,
    ) -> pd.DataFrame:
        """``n`` rows in raw space. ``y``: one label, an array of labels (one per row), a dict
        ``{label: count}``, or None (classes drawn in their training proportions).

        ``drop_copies`` (default): generated rows equal in every column to a training row are
        replaced by fresh draws (up to 5 rounds; rows still copying after that are kept, with a
        warning). It needs the fitted object: a synthesizer loaded from a file holds no trace
        of its training rows, so nothing is checked there. ``n_copies_replaced_`` counts them.
        """
        self._check_fitted()
        if isinstance(y, dict):
            codes = np.concatenate(
                [self.label_codes(k, int(v)) for k, v in y.items()] or [np.zeros(0, int)]
            )
        elif y is None:
            if n is None or n < 0:
                raise ValueError(f"n must be a non-negative integer, got {n!r}")
            rng = np.random.default_rng(
                random_state if random_state is not None else self.random_state
            )
            codes = rng.choice(
                len(self.classes_), size=int(n), p=self.class_counts_ / self.class_counts_.sum()
            )
        else:
            codes = self.label_codes(y, n)
            if n is not None and np.ndim(y) > 0 and len(codes) != n:
                raise ValueError(f"n={n} but {len(codes)} labels were given")
        Z = self.sample_encoded(codes, random_state)
        seed = random_state if random_state is not None else self.random_state
        rows = self.encoder_.inverse_transform(Z, random_state=seed)
        self.n_copies_replaced_ = 0
        if drop_copies and getattr(self, "_train_hashes", None) is not None and len(rows):
            rows = self._replace_copies(rows, codes, seed)
        return rows

    def _replace_copies(self, rows: pd.DataFrame, codes: np.ndarray, seed: int | None):
        from genbalance.evaluation.privacy import row_hashes_like

        def copies(frame: pd.DataFrame) -> np.ndarray:
            hashes = row_hashes_like(frame[self._train_columns], self._hash_split)
            return np.flatnonzero(np.isin(hashes, self._train_hashes))

        bad = copies(rows)
        for round_ in range(1, 6):
            if not bad.size:
                break
            self.n_copies_replaced_ += int(bad.size)
            round_seed = None if seed is None else seed + 104729 * round_
            fresh = self.encoder_.inverse_transform(
                self.sample_encoded(codes[bad], round_seed), random_state=round_seed
            )
            for j, col in enumerate(rows.columns):  # column by column: dtypes stay
                rows.iloc[bad, j] = fresh[col].to_numpy()
            bad = bad[copies(fresh)]
        if bad.size:
            warnings.warn(
                f"{bad.size} generated rows still copy a training row after 5 fresh draws "
                "(the table may have few distinct rows); kept them",
                UserWarning,
                stacklevel=3,
            )
        return rows

    def log_likelihood(self, X: Any, y: Any = None) -> np.ndarray:
        """Exact ``log p(row | class)`` of every row of ``X`` under the trained model (nats).

        Only families with a tractable likelihood have one (``"made"``; the others raise). It is
        the likelihood of the *encoded* row -- categories and mode indicators as probabilities,
        each numeric column's mode-normalised value as a density -- so it compares models
        fitted with the same encoder (e.g. held-out rows of two MADE settings), not raw-unit
        densities. ``y``: the labels of the rows (one per row, or one for all); None when the
        synthesizer was fitted without labels.
        """
        self._check_fitted()
        if not self.model_.has_likelihood:
            have = [name for name in models.available() if models.get(name).has_likelihood]
            raise TypeError(
                f"model {self.model!r} has no exact likelihood; families with one: "
                f"{', '.join(have)}"
            )
        frame, _ = as_frame(X)
        if y is None:
            if len(self.classes_) != 1:
                raise ValueError(
                    f"y is needed: this synthesizer was fitted on {len(self.classes_)} classes"
                )
            codes = np.zeros(len(frame), dtype=np.int64)
        else:
            codes = self.label_codes(y, len(frame))
            if codes.shape != (len(frame),):
                raise ValueError(
                    f"y must have one label per row of X (or one label): X has {len(frame)} "
                    f"rows, y has {codes.shape[0]}"
                )
        Z = torch.from_numpy(self.encoder_.transform(frame))
        codes_t = torch.from_numpy(codes)
        out = [
            self.model_.log_likelihood(z, c).cpu()
            for z, c in zip(
                torch.split(Z, SAMPLE_CHUNK_ROWS),
                torch.split(codes_t, SAMPLE_CHUNK_ROWS),
                strict=True,
            )
        ]
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)

    @property
    def privacy_(self) -> dict[str, Any]:
        """What DP training spent (epsilon, delta, noise, steps); empty without privacy."""
        self._check_fitted()
        return dict(self.history_.privacy)

    def sample_labels(self, codes: np.ndarray) -> np.ndarray:
        return self.classes_[codes]

    # ------------------------------------------------------------------ files
    def save(self, path, overwrite: bool = False):
        """One safetensors file: weights + JSON (encoder, classes, history, settings)."""
        self._check_fitted()
        meta = {
            "kind": FILE_KIND,
            "model": self.model_.get_config(),
            "encoder": self.encoder_.to_json(),
            "classes": [to_python_scalar(c) for c in self.classes_],
            "class_counts": self.class_counts_.tolist(),
            "history": _jsonable_history(self.history_),
            "privacy": self.history_.privacy or None,  # epsilon spent, under DP training
            "settings": {
                "model": self.model,
                "preset": self.preset,
                "random_state": self.random_state,
                "privacy": _privacy_json(self.privacy),
            },
        }
        tensors = {f"model.{k}": v for k, v in self.model_.state_tensors().items()}
        return save_bundle(path, meta, tensors, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> Synthesizer:
        meta, tensors = load_bundle(path)
        if meta.get("kind") != FILE_KIND:
            raise ModelFileError(f"{path}: holds a {meta.get('kind')!r}, not a synthesizer")
        settings = meta.get("settings", {})
        self = cls(
            model=settings.get("model", "gan"),
            preset=settings.get("preset"),
            random_state=settings.get("random_state"),
            privacy=settings.get("privacy"),
        )
        try:
            self.encoder_ = TabularEncoder.from_json(meta["encoder"])
            self.classes_ = np.asarray(meta["classes"], dtype=object)
            if all(
                isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in self.classes_
            ):
                self.classes_ = self.classes_.astype(np.int64)
            self.class_counts_ = np.asarray(meta["class_counts"], dtype=np.int64)
            self.history_ = History.from_json(meta["history"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: malformed synthesizer metadata ({exc})") from None
        self.model_ = models.from_state(meta["model"], tensors, str(path))
        return self


def _privacy_json(privacy: Any) -> dict[str, Any] | None:
    from genbalance.training.dp import DPConfig

    config = DPConfig.coerce(privacy)
    return None if config is None else config.to_json()


def _jsonable_history(history: History) -> dict[str, Any]:
    """History without non-finite floats (JSON has no NaN)."""
    data = history.to_json()
    data["steps"] = [
        {k: (v if isinstance(v, (int, float)) and math.isfinite(v) else None) for k, v in s.items()}
        for s in data["steps"]
    ]
    return data


def warn_small_classes(counts: dict[Any, int], minimum: int = 10) -> None:
    small = {k: v for k, v in counts.items() if v < minimum}
    if small:
        warnings.warn(
            f"classes with fewer than {minimum} rows: {small}; generated rows for them are "
            "low quality (the model has little to learn from)",
            UserWarning,
            stacklevel=3,
        )
