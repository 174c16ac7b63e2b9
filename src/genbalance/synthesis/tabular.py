"""Synthesizer: a tabular encoder plus a trained class-conditional generative model.

``Synthesizer(model="gan").fit(X, y).sample(100, y="fraud")`` gives rows in the user's raw
space. It is the seam between data (encoder, schema) and networks (models, trainer): the
oversamplers only ask it for rows, and it never decides how many rows a class needs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch

from genbalance import models
from genbalance.data.records import image_columns
from genbalance.encoders.tabular import TabularEncoder
from genbalance.files import ModelFileError, load_bundle, save_bundle
from genbalance.schema import as_frame, check_labels
from genbalance.synthesis.base import (
    SAMPLE_CHUNK_ROWS,
    BaseSynthesizer,
    check_parts_agree,
    resolve_epochs,
)
from genbalance.synthesis.copies import CopyGuard, categorical_without
from genbalance.synthesis.latent import between_neighbours
from genbalance.synthesis.metadata import (
    file_meta,
    read_fitted,
    target_of,
)
from genbalance.synthesis.records import FILE_KIND as RECORDS_KIND
from genbalance.synthesis.records import RecordSynthesizer, front
from genbalance.synthesis.transfer import TransferPlan, as_warm_start, check_family, plan_transfer
from genbalance.training.stabilizers import get_recipe
from genbalance.training.trainer import History, Trainer, TrainerConfig
from genbalance.utils import resolve_progress

__all__ = ["SAMPLE_CHUNK_ROWS", "Synthesizer", "auto_batch_size", "auto_steps"]

FILE_KIND = "synthesizer"
DEFAULT_MODEL = "vae"  # the family tuned on the benchmark; the same default on the CLI

# trainer settings a user may pass through ``trainer_options``
_TRAINER_KEYS = set(TrainerConfig.__dataclass_fields__)


def auto_steps(n_rows: int) -> int:
    """Optimiser steps for a table of ``n_rows`` rows when ``epochs='auto'``.

    Small tables need a floor of steps to learn anything; large ones need far fewer passes.
    Tuned on the development subset of the benchmark (see docs/benchmark.md); the GAN keeps
    this budget too (300 steps cost it about a rank there, docs/gan-tables.md).
    """
    return int(np.clip(600 + 0.3 * n_rows, 800, 4000))


def auto_batch_size(n_rows: int, largest: int = 512) -> int:
    """A quarter of the table, as a power of two between 64 and ``largest`` (the family's
    ``auto_batch_max``)."""
    return int(np.clip(2 ** round(math.log2(max(n_rows, 1) / 4)), 64, max(64, largest)))


class Synthesizer(BaseSynthesizer):
    """Fit a class-conditional generative model on a table; sample rows of chosen classes.

    After fit: ``classes_``, ``class_counts_``, ``history_``, ``target_`` (the label column's
    name and dtype when ``y`` was a named Series or a file's target column; saved in the model
    file so that ``genbalance sample`` names the column as the training data did), and
    ``transfer_`` (what a warm start reused, see :meth:`fit`'s ``init``; None without one).

    Parameters
    ----------
    model : registered family name ("vae", the default; "gan", "made", ...; see
        ``genbalance.models.available()``).
    preset : stabiliser recipe for GANs ("stable", "wgan-gp", "hinge-sn", "pac-wgan", "plain").
    epochs : passes over the data, "auto" (a step budget by table size) or None (no epoch
        limit: ``trainer_options={"max_steps": ...}`` or ``time_budget`` decide).
    categorical_features : "auto", names, indices or a boolean mask.
    time_budget : seconds; training stops cleanly when spent.
    progress : True, False or "auto" (default: a progress bar in a terminal or notebook,
        silent elsewhere).
    random_state : None (fresh randomness), an int (same seed, same output) or a numpy
        Generator. Each ``sample`` call without its own ``random_state`` advances the
        synthesizer's seed, so repeated calls give new rows; passing one reproduces.
    model_options, trainer_options, encoder_options : passed to the family, the
        :class:`TrainerConfig` and the :class:`TabularEncoder`.
    privacy : a :class:`~genbalance.training.dp.DPConfig` (or a dict of its fields):
        train with DP-SGD ("gan": the discriminator; "vae": both networks). The epsilon spent
        is in ``privacy_`` after fit and in the saved file.
    image_root, image_dir : for tables with image columns (arrays or image paths), fitted by
        :class:`~genbalance.synthesis.records.RecordSynthesizer` with one model for the table
        and the images (``records_``; docs/multimodal.md): the folder path cells must lie in,
        and the folder generated image files are written to.
    """

    #: the record synthesizer this one fronts after a fit on a table with image columns
    records_: Any = None

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        preset: str | None = None,
        epochs: int | str | None = "auto",
        batch_size: int | str = "auto",
        categorical_features: Any = "auto",
        time_budget: float | None = None,
        device: str = "auto",
        progress: bool | str = "auto",
        random_state: Any = None,
        model_options: dict[str, Any] | None = None,
        trainer_options: dict[str, Any] | None = None,
        encoder_options: dict[str, Any] | None = None,
        privacy: Any = None,
        image_root: Any = None,
        image_dir: Any = None,
    ) -> None:
        self.model = model
        self.privacy = privacy
        self.image_root = image_root
        self.image_dir = image_dir
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
    def trainer_config(
        self, n_rows: int, recipe_trainer: dict[str, Any] | None = None
    ) -> TrainerConfig:
        """The trainer settings of a fit on ``n_rows`` rows: the step and batch rules, then
        the preset's settings, then the user's ``trainer_options``."""
        unknown = set(self.trainer_options) - _TRAINER_KEYS
        if unknown:
            raise ValueError(
                f"unknown trainer_options {sorted(unknown)}; accepted: {sorted(_TRAINER_KEYS)}"
            )
        family = models.get(self.model)
        if self.batch_size == "auto":
            batch = auto_batch_size(n_rows, family.auto_batch_max)
        else:
            batch = int(self.batch_size)
        epochs, max_steps = resolve_epochs(self.epochs, auto_steps(n_rows))
        options = {
            "epochs": epochs,
            **({"max_steps": max_steps} if max_steps is not None else {}),
            "batch_size": batch,
            "time_budget": self.time_budget,
            "device": self.device,
            "progress": resolve_progress(self.progress),
            "random_state": getattr(self, "seed_", self.random_state),
            **(recipe_trainer or {}),
            **self.trainer_options,
        }
        if self.privacy is not None:
            if self.trainer_options.get("privacy") is not None:
                raise ValueError("privacy is given twice (privacy= and trainer_options); use one")
            options["privacy"] = self.privacy
        return TrainerConfig(**options)

    def fit(self, X: Any, y: Any = None, *, dist: Any = None, init: Any = None) -> Synthesizer:
        """Learn the table ``X`` (DataFrame or 2-D array), conditional on labels ``y``.

        ``dist``: a :class:`genbalance.training.distributed.DistContext` for data-parallel
        training (every rank calls ``fit`` on the same table; see docs/scale.md).

        ``init``: start from a model trained on a related table instead of random weights
        (transfer, docs/transfer.md), so that a class with a dozen rows borrows what the
        source learnt about the shared columns. A fitted Synthesizer of the same family, the
        path of its model file, or a :class:`~genbalance.synthesis.transfer.WarmStart` with
        the policies for other columns (``columns="exact"`` refuses them, naming them;
        ``"shared"`` starts them fresh), codecs and class labels. Shared columns keep the
        source's codec where the table's values fit it; the trunk of the networks is copied;
        the units of new columns and new labels start fresh. The family's settings come from
        the source (``model_options`` override them). Training then runs the usual step
        budget (``epochs``; fewer steps are often enough, see docs/transfer.md).
        ``transfer_`` says what was reused.
        """
        start = None
        if init is not None:  # a bad file or another family is refused before any work
            start = as_warm_start(init, load=type(self).load)
            check_family(start.source, self.model)
        frame, origin = as_frame(X)
        self.records_ = None
        if image_columns(frame):  # records with images: one model for both parts
            if start is not None or dist is not None:
                raise ValueError("init and dist are not supported for tables with image columns")
            return front(self, RecordSynthesizer.like(self).fit(frame, y))
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
        seed = self.start_seeds()
        codes = self.set_classes(labels)
        self.target_ = target_of(y)
        self.origin_ = origin
        self.encoder_ = TabularEncoder(
            categorical_features=self.categorical_features,
            random_state=seed,
            **self.encoder_options,
        ).fit(frame)
        plan = None
        if start is not None:
            plan = plan_transfer(start, frame, self.encoder_, self.classes_)
            self.encoder_ = plan.encoder  # the source's codecs for the columns that fit them
        Z = torch.from_numpy(self.encoder_.transform(frame))
        self._train(Z, torch.from_numpy(codes), len(frame), dist, plan)
        # regenerated IDs never equal a real one: the copy check compares the other columns
        ids = self.encoder_.id_column_names
        self.copy_guard_ = CopyGuard(
            frame.drop(columns=ids), categorical_without(self.categorical_features, frame, ids)
        )
        return self

    def fit_file(
        self,
        path: Any,
        target: str | None = None,
        *,
        chunk_rows: int | None = None,
        memory_budget: int | str | None = None,
        class_rows: int = 2048,
        dist: Any = None,
    ) -> Synthesizer:
        """Learn a table from a CSV/Parquet file read in chunks (bigger than memory).

        The encoder is fitted on a bounded sample (``encoder_options['fit_sample_size']``
        rows, 20,000 by default, plus rare-class rows and one row per category the sample
        lacks); training streams the file. Peak memory follows ``chunk_rows`` (or
        ``memory_budget``), not the file. ``stream_stats_`` says what was read.
        """
        from genbalance.synthesis.streaming import prepare_stream

        seed = self.start_seeds()
        plan = prepare_stream(
            path,
            target,
            categorical_features=self.categorical_features,
            encoder_options=self.encoder_options,
            random_state=seed,
            trainer_config=self.trainer_config,
            chunk_rows=chunk_rows,
            memory_budget=memory_budget,
            class_rows=class_rows,
            dist=dist,
        )
        self.encoder_, self.origin_ = plan.encoder, plan.origin
        self.target_ = None if target is None else {"name": str(target), "dtype": None}
        self.classes_, self.class_counts_ = plan.classes, plan.class_counts
        self._train(plan.source, None, plan.n_rows, dist)  # no warm start for streamed fits
        self.stream_stats_ = plan.stats()
        return self

    def _train(
        self,
        data: Any,
        labels: Any,
        n_rows: int,
        dist: Any = None,
        transfer: TransferPlan | None = None,
    ) -> None:
        """Build the family on the fitted encoder and train it on ``data`` (a tensor, or a
        streaming batch source with ``labels=None``); ``transfer``: start from the source's
        weights (and settings) instead of the seeded initialisation alone."""
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
        hyper = {**recipe_gan, **self.model_options}
        if transfer is not None:
            hyper = transfer.model_settings(hyper)
        self.model_ = self.build_model(
            self.encoder_.output_dim, self.encoder_.spans, hyper, self.seed_
        )
        self.transfer_: dict[str, Any] | None = None
        if transfer is not None:
            self.transfer_ = transfer.apply(self.model_)
        trainer = Trainer(self.trainer_config(n_rows, recipe_trainer))
        trainer.dist = dist
        trainer.class_labels = self.known_classes()  # warnings name classes, not codes
        self.history_: History = trainer.fit(self.model_, data, labels)

    # ------------------------------------------------------------------ sampling
    def rows_for_codes(self, codes: np.ndarray, random_state: Any = None) -> pd.DataFrame:
        """Generated rows in the user's raw space for class codes ``codes`` (no copy check,
        no label column): draw in the model's space, then decode with the same seed."""
        if self.records_ is not None:
            return self.records_.rows_for_codes(codes, random_state)
        seed = self.call_seed(random_state)
        return self.encoder_.inverse_transform(self.sample_encoded(codes, seed), random_state=seed)

    def sample(
        self,
        n: int | None = None,
        y: Any = None,
        random_state: Any = None,
        drop_copies: bool = True,
        return_labels: bool = False,
    ) -> Any:
        """``n`` rows in raw space. ``y``: one label, an array of labels (one per row), a dict
        ``{label: count}``, or None (classes drawn in their training proportions).

        ``random_state``: None continues this synthesizer's random stream (two calls give
        different rows; a seeded synthesizer gives the same sequence of calls every time); a
        value reproduces that call. ``return_labels``: return ``(rows, labels)``, the label of
        every row (useful with ``y=None``, where classes are drawn at random).

        ``drop_copies`` (default): generated rows equal in every column to a training row are
        replaced by fresh draws (up to 20 rounds; rows still copying after that are kept, with a
        warning). It needs the fitted object: a synthesizer loaded from a file holds no trace
        of its training rows, so nothing is checked there. ``n_copies_replaced_`` counts them.
        """
        self.require_fitted()
        if self.records_ is not None:
            return self.records_.sample(n, y, random_state, return_labels)
        seed = self.call_seed(random_state)
        codes = self._codes_for(n, y, seed)
        rows = self.rows_for_codes(codes, seed)
        self.n_copies_replaced_ = 0
        guard = getattr(self, "copy_guard_", None)  # in memory only: never in a model file
        if drop_copies and guard is not None and len(rows):
            rows, self.n_copies_replaced_ = guard.replace(rows, codes, seed, self.rows_for_codes)
        return (rows, self.sample_labels(codes)) if return_labels else rows

    def _codes_for(self, n: int | None, y: Any, seed: int) -> np.ndarray:
        """Class codes of the rows :meth:`sample` is asked for (see its ``y``).

        Counts are checked before anything is allocated: whole non-negative numbers only (no
        truncation of ``2.9`` or ``True``), and a total whose memory estimate fits
        (:meth:`check_generation_size`)."""
        from genbalance.synthesis.base import check_count

        if isinstance(y, dict):
            counts = {k: check_count(v, f"y[{k!r}]") for k, v in y.items()}
            if n is not None and check_count(n, "n") != sum(counts.values()):
                raise ValueError(f"n={n} but the counts in y add up to {sum(counts.values())}")
            self.check_generation_size(sum(counts.values()), "y")
            return np.concatenate(
                [self.label_codes(k, v) for k, v in counts.items()] or [np.zeros(0, int)]
            )
        if y is None:
            if n is None:
                raise ValueError("n must be a non-negative whole number of rows, got None")
            rows = check_count(n, "n")
            self.check_generation_size(rows, "n")
            return self.draw_codes(rows, np.random.default_rng(seed))
        if np.ndim(y) == 0 and n is not None:
            self.check_generation_size(check_count(n, "n"), "n")
        codes = self.label_codes(y, n)
        if n is not None and np.ndim(y) > 0 and len(codes) != check_count(n, "n"):
            raise ValueError(f"n={n} but {len(codes)} labels were given")
        self.check_generation_size(len(codes), "y")  # an array of labels: one row each
        return codes

    def sample_near(
        self,
        rows: pd.DataFrame,
        label: Any,
        n: int,
        *,
        k_neighbors: int = 5,
        keep_detail: bool = True,
        random_state: Any = None,
    ) -> pd.DataFrame:
        """``n`` new rows of class ``label`` between latent neighbours of the real ``rows``
        (rows of that class), SMOTE's idea on the model's learned manifold.

        Each row is mapped to its posterior mean; a point is drawn on the segment to one of its
        ``k_neighbors`` nearest neighbours *in latent space* and decoded. ``keep_detail``: move
        the real row by the decoder's displacement between the two latent points instead, so
        the decoder's reconstruction bias cancels and the new row keeps the real row's detail.
        Needs a model with an encoder (``model_.can_encode``).
        """
        self.require_fitted()
        if self.records_ is not None:
            return self.records_.sample_near(
                rows,
                label,
                n,
                k_neighbors=k_neighbors,
                keep_detail=keep_detail,
                random_state=random_state,
            )
        if not self.model_.can_encode(self.model_.hyper):
            raise TypeError(f"model {self.model!r} has no encoder; sample_near needs one")
        seed = self.call_seed(random_state)
        code = int(self.label_codes([label])[0])
        Z = self.encoder_.transform(rows)
        out = between_neighbours(self.model_, Z, code, n, k_neighbors, keep_detail, seed)
        return self.encoder_.inverse_transform(out, random_state=seed)

    def log_likelihood(self, X: Any, y: Any = None) -> np.ndarray:
        """Exact ``log p(row | class)`` of every row of ``X`` under the trained model (nats).

        Only families with a tractable likelihood have one (``"made"``; the others raise). It is
        the likelihood of the *encoded* row -- categories and mode indicators as probabilities,
        each numeric column's mode-normalised value as a density -- so it compares models
        fitted with the same encoder (e.g. held-out rows of two MADE settings), not raw-unit
        densities. ``y``: the labels of the rows (one per row, or one for all); None when the
        synthesizer was fitted without labels.
        """
        self.require_fitted()
        self.require_likelihood()
        frame, _ = as_frame(X)
        codes = self.codes_of_rows(y, len(frame))
        return self.encoded_log_likelihood(self.encoder_.transform(frame), codes)

    @property
    def privacy_(self) -> dict[str, Any]:
        """What DP training spent (epsilon, delta, noise, steps); empty without privacy."""
        self.require_fitted()
        return dict(self.history_.privacy)

    def sample_labels(self, codes: np.ndarray) -> np.ndarray:
        return self.classes_[codes]

    # ------------------------------------------------------------------ files
    def save(self, path, overwrite: bool = False):
        """One safetensors file: weights + JSON (encoder, classes, history, settings)."""
        self.require_fitted()
        if self.records_ is not None:
            return self.records_.save(path, overwrite=overwrite)
        meta = file_meta(self, FILE_KIND)
        tensors = {f"model.{k}": v for k, v in self.model_.state_tensors().items()}
        return save_bundle(path, meta, tensors, overwrite=overwrite)

    @classmethod
    def load(cls, path, **image_options: Any) -> Synthesizer:
        """A synthesizer written by :meth:`save`; ``image_options`` (``image_root``,
        ``image_dir``) apply to a model of records with image columns."""
        meta, tensors = load_bundle(path)
        if meta.get("kind") == RECORDS_KIND:
            records = RecordSynthesizer.from_bundle(meta, tensors, path, **image_options)
            return front(cls(records.model, random_state=records.random_state), records)
        if meta.get("kind") != FILE_KIND:
            raise ModelFileError(f"{path}: holds a {meta.get('kind')!r}, not a synthesizer")
        settings = meta.get("settings", {})
        self = cls(
            model=settings.get("model", "gan"),  # files before 0.3 had no default recorded
            preset=settings.get("preset"),
            random_state=settings.get("random_state"),
            privacy=settings.get("privacy"),
        )
        try:
            fitted = read_fitted(meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: malformed synthesizer metadata ({exc})") from None
        for name, value in fitted.items():
            setattr(self, name, value)
        self.model_ = models.from_state(meta["model"], tensors, str(path))
        check_parts_agree(path, self.encoder_.output_dim, self.model_, len(self.classes_))
        return self
