"""RecordSynthesizer: whole records (table columns and image columns) from one model.

A table whose column(s) hold images (arrays, or paths of image files; the rule is
:func:`genbalance.data.kinds.cell_column_kind`) is encoded as one row per record: the
:class:`~genbalance.encoders.tabular.TabularEncoder` part of the table columns followed by the
pixels of every image, and learnt by a class-conditional family with one latent code for both
(``"multimodal-vae"``), so that a generated record's table and image agree.
:class:`~genbalance.synthesis.tabular.Synthesizer` fronts it when its ``fit`` meets image
columns (:func:`front`), and the over-sampler reaches it through that Synthesizer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from genbalance import models
from genbalance.data.kinds import resolve_categorical
from genbalance.data.records import ImageColumn, image_cells, image_columns, load_image_column
from genbalance.data.validation import as_frame, check_labels, validate_frame
from genbalance.encoders.tabular import TabularEncoder
from genbalance.files import ModelFileError, save_bundle
from genbalance.spans import OutputSpan
from genbalance.synthesis.base import BaseSynthesizer, check_count, check_parts_agree
from genbalance.synthesis.base import resolve_epochs as epochs_rule
from genbalance.synthesis.latent import between_neighbours
from genbalance.synthesis.metadata import checked_target, jsonable_history, target_of
from genbalance.training.trainer import History, Trainer, TrainerConfig
from genbalance.utils import resolve_progress

__all__ = ["FILE_KIND", "RECORD_MODELS", "RecordSynthesizer", "front"]

FILE_KIND = "record-synthesizer"
RECORD_MODELS = ("multimodal-vae",)
#: the family a table synthesizer's name stands for when its table holds images
RECORD_FAMILY_OF = {"vae": "multimodal-vae", "multimodal-vae": "multimodal-vae"}


def auto_steps(n_rows: int) -> int:
    """Optimiser steps for ``epochs="auto"``: images need more steps than a table alone."""
    return int(np.clip(800 + 0.5 * n_rows, 1000, 4000))


def auto_batch_size(n_rows: int) -> int:
    return int(np.clip(2 ** round(math.log2(max(n_rows, 1) / 4)), 32, 256))


def _object_column(cells: list[Any]) -> pd.Series:
    out = np.empty(len(cells), dtype=object)
    for i, cell in enumerate(cells):  # element by element: arrays must not broadcast
        out[i] = cell
    return pd.Series(out, dtype=object)


class RecordSynthesizer(BaseSynthesizer):
    """Fit one class-conditional model over records with image columns; sample records.

    ``image_root``: the folder that path cells are relative to; a path that resolves outside
    it is refused (without one, the current folder is that folder). ``image_dir``: where
    generated image files are written for a column of paths (default ``<image_root or current
    folder>/generated``); their cells hold paths relative to ``image_root`` (or the current
    folder) when inside it. Array columns come back as arrays of the training shape and
    dtype. The other parameters are :class:`Synthesizer`'s.
    """

    NAME = "record synthesizer"

    def __init__(
        self,
        model: str = "multimodal-vae",
        *,
        epochs: int | str | None = "auto",
        batch_size: int | str = "auto",
        categorical_features: Any = "auto",
        image_root: str | os.PathLike | None = None,
        image_dir: str | os.PathLike | None = None,
        time_budget: float | None = None,
        device: str = "auto",
        progress: bool | str = "auto",
        random_state: Any = None,
        model_options: dict[str, Any] | None = None,
        trainer_options: dict[str, Any] | None = None,
        encoder_options: dict[str, Any] | None = None,
    ) -> None:
        if model not in RECORD_MODELS:
            raise ValueError(
                f"model={model!r} cannot model image columns; accepted: {', '.join(RECORD_MODELS)}"
            )
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.categorical_features = categorical_features
        self.image_root = image_root
        self.image_dir = image_dir
        self.time_budget = time_budget
        self.device = device
        self.progress = progress
        self.random_state = random_state
        self.model_options = dict(model_options or {})
        self.trainer_options = dict(trainer_options or {})
        self.encoder_options = dict(encoder_options or {})

    @classmethod
    def like(cls, synth: Any) -> RecordSynthesizer:
        """A record synthesizer with a table :class:`Synthesizer`'s settings."""
        for name in ("privacy", "preset"):
            if getattr(synth, name, None) is not None:
                raise ValueError(f"{name} is not supported for tables with image columns")
        if synth.model not in RECORD_FAMILY_OF:
            raise ValueError(
                f"model={synth.model!r} cannot model image columns; tables with images use "
                f"{', '.join(RECORD_MODELS)} (the default 'vae' stands for it)"
            )
        return cls(
            RECORD_FAMILY_OF[synth.model],
            epochs=synth.epochs,
            batch_size=synth.batch_size,
            categorical_features=synth.categorical_features,
            image_root=getattr(synth, "image_root", None),
            image_dir=getattr(synth, "image_dir", None),
            time_budget=synth.time_budget,
            device=synth.device,
            progress=synth.progress,
            random_state=synth.random_state,
            model_options=synth.model_options,
            trainer_options=synth.trainer_options,
            encoder_options=synth.encoder_options,
        )

    # ------------------------------------------------------------------ fitting
    def trainer_config(self, n_rows: int) -> TrainerConfig:
        """The step and batch rules, then the user's ``trainer_options``."""
        batch = auto_batch_size(n_rows) if self.batch_size == "auto" else int(self.batch_size)
        epochs, max_steps = epochs_rule(self.epochs, auto_steps(n_rows))
        options = {
            "epochs": epochs,
            **({"max_steps": max_steps} if max_steps is not None else {}),
            "batch_size": min(batch, max(2, n_rows)),
            "time_budget": self.time_budget,
            "device": self.device,
            "progress": resolve_progress(self.progress),
            "random_state": self.seed_,
            **self.trainer_options,
        }
        return TrainerConfig(**options)

    def fit(self, X: Any, y: Any = None) -> RecordSynthesizer:
        """Learn the records ``X`` (a DataFrame with image column(s)), conditional on ``y``."""
        frame, origin = as_frame(X)
        validate_frame(frame, allow_time=True, allow_images=True)
        labels = np.zeros(len(frame), dtype=np.int64) if y is None else check_labels(y)
        if labels.shape != (len(frame),):
            raise ValueError(f"y must have one label per row of X ({len(frame)} rows)")
        if len(frame) < 2:
            raise ValueError(f"need at least 2 rows to fit a synthesizer, got {len(frame)}")
        names = image_columns(frame)
        if not names:
            raise ValueError("X has no image column; genbalance.Synthesizer models plain tables")
        seed = self.start_seeds()
        codes = self.set_classes(labels)
        self.columns_, self.origin_, self.target_ = list(frame.columns), origin, target_of(y)
        self.encoder_: TabularEncoder | None = None
        table = frame.drop(columns=names)
        if table.shape[1]:
            mask = resolve_categorical(frame, self.categorical_features)
            keep = [m for c, m in zip(frame.columns, mask, strict=True) if c not in names]
            self.encoder_ = TabularEncoder(
                categorical_features=keep, random_state=seed, **self.encoder_options
            ).fit(table)
        self.images_: list[ImageColumn] = []
        Z = self.encode_rows(frame, learn=True)
        spans = [] if self.encoder_ is None else list(self.encoder_.spans)
        spans += [OutputSpan(math.prod(m.chw), "sigmoid") for m in self.images_]
        hyper = {**self.model_options, "image_shapes": [m.chw for m in self.images_]}
        self.model_ = self.build_model(Z.shape[1], spans, hyper, seed)
        trainer = Trainer(self.trainer_config(len(frame)))
        trainer.class_labels = self.known_classes()
        self.history_: History = trainer.fit(
            self.model_, torch.from_numpy(Z), torch.from_numpy(codes)
        )
        return self

    def encode_rows(self, frame: pd.DataFrame, learn: bool = False) -> np.ndarray:
        """Records as the model's rows: the table part, then each image's pixels (C, H, W).
        ``learn``: the fit's own table, whose image columns are described here."""
        parts = []
        if self.encoder_ is not None:
            parts.append(self.encoder_.transform(frame.loc[:, self.encoder_.columns]))
        names = image_columns(frame) if learn else [m.name for m in self.images_]
        for i, name in enumerate(names):
            pixels, meta = load_image_column(frame, name, self.image_root)
            if learn:
                self.images_.append(meta)
            elif meta.shape != self.images_[i].shape:
                raise ValueError(
                    f"column {name!r} holds images of shape {tuple(meta.shape)}; this "
                    f"{self.NAME} was fitted on {tuple(self.images_[i].shape)}"
                )
            parts.append(pixels.reshape(len(pixels), -1))
        return np.concatenate(parts, axis=1).astype(np.float32)

    # ------------------------------------------------------------------ decoding
    def output_folders(self) -> tuple[Path, Path]:
        """Where new image files go, and the folder their cells are relative to."""
        base = Path(self.image_root) if self.image_root is not None else Path.cwd()
        folder = Path(self.image_dir) if self.image_dir is not None else base / "generated"
        return folder, base

    def decode_rows(self, Z: np.ndarray, seed: int) -> pd.DataFrame:
        """Model rows back to records in the training columns' order and forms."""
        n, start = len(Z), self.model_.table_dim
        data: dict[str, Any] = {}
        if self.encoder_ is not None:
            table = self.encoder_.inverse_transform(Z[:, :start], random_state=seed)
            data.update({c: table[c] for c in table.columns})
        folder, base = self.output_folders()
        for meta in self.images_:
            size = math.prod(meta.chw)
            pixels = Z[:, start : start + size].reshape(n, *meta.chw)
            data[meta.name] = _object_column(image_cells(pixels, meta, folder, base))
            start += size
        return pd.DataFrame({c: data[c] for c in self.columns_}, index=pd.RangeIndex(n))

    # ------------------------------------------------------------------ sampling
    def rows_for_codes(self, codes: np.ndarray, random_state: Any = None) -> pd.DataFrame:
        """Generated records for class codes ``codes`` (prior samples of the model)."""
        seed = self.call_seed(random_state)
        return self.decode_rows(self.sample_encoded(codes, seed), seed)

    def codes_for(self, n: int | None, y: Any, seed: int) -> np.ndarray:
        """Class codes for ``sample``'s ``n`` and ``y`` (one label, labels, a dict, None)."""
        if isinstance(y, dict):
            parts = [self.label_codes(k, check_count(v, f"y[{k!r}]")) for k, v in y.items()]
            codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        elif y is None:
            if n is None:
                raise ValueError("n must be a non-negative whole number of rows, got None")
            rows = check_count(n, "n")
            self.check_generation_size(rows, "n")
            codes = self.draw_codes(rows, np.random.default_rng(seed))
        else:
            codes = self.label_codes(y, n)
        if n is not None and len(codes) != check_count(n, "n"):
            raise ValueError(f"n={n} but y asks for {len(codes)} rows")
        self.check_generation_size(len(codes), "n")
        return codes

    def sample(
        self,
        n: int | None = None,
        y: Any = None,
        random_state: Any = None,
        return_labels: bool = False,
    ) -> Any:
        """``n`` generated records; ``y`` and ``random_state`` as in ``Synthesizer.sample``.
        Generated records are not checked for copies of training records."""
        self.require_fitted()
        seed = self.call_seed(random_state)
        codes = self.codes_for(n, y, seed)
        rows = self.rows_for_codes(codes, seed)
        return (rows, self.classes_[codes]) if return_labels else rows

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
        """``n`` records of class ``label`` between latent neighbours of the real ``rows``
        (as ``Synthesizer.sample_near``); both parts move along one latent step."""
        self.require_fitted()
        seed = self.call_seed(random_state)
        code = int(self.label_codes([label])[0])
        frame, _ = as_frame(rows)
        Z = self.encode_rows(frame)
        out = between_neighbours(self.model_, Z, code, n, k_neighbors, keep_detail, seed)
        return self.decode_rows(np.asarray(out, dtype=np.float32), seed)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """One safetensors file: weights + JSON (encoder, image columns, classes, history)."""
        self.require_fitted()
        meta = {
            "kind": FILE_KIND,
            "model": self.model_.get_config(),
            "encoder": None if self.encoder_ is None else self.encoder_.to_json(),
            "images": [m.to_json() for m in self.images_],
            "columns": self.columns_,
            "classes": self.known_classes(),
            "class_counts": self.class_counts_.tolist(),
            "target": self.target_,
            "history": jsonable_history(self.history_),
            "settings": {
                "model": self.model,
                "random_state": self.random_state if isinstance(self.random_state, int) else None,
            },
        }
        tensors = {f"model.{k}": v for k, v in self.model_.state_tensors().items()}
        return save_bundle(path, meta, tensors, overwrite=overwrite)

    @classmethod
    def from_bundle(
        cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor], path: Any, **options: Any
    ) -> RecordSynthesizer:
        """The synthesizer a record file's header and weights describe (``options``: e.g.
        ``image_root`` and ``image_dir`` for this machine)."""
        if meta.get("kind") != FILE_KIND:
            raise ModelFileError(f"{path}: holds a {meta.get('kind')!r}, not a record synthesizer")
        settings = meta.get("settings") or {}
        try:
            self = cls(settings.get("model", RECORD_MODELS[0]), **options)
            self.random_state = settings.get("random_state")
            enc = meta.get("encoder")
            self.encoder_ = None if enc is None else TabularEncoder.from_json(enc)
            self.images_ = [ImageColumn.from_json(d) for d in meta["images"]]
            self.columns_ = [str(c) for c in meta["columns"]]
            classes = np.asarray(meta["classes"], dtype=object)
            if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
                classes = classes.astype(np.int64)
            self.classes_ = classes
            self.class_counts_ = np.asarray(meta["class_counts"], dtype=np.int64)
            self.target_ = checked_target(meta.get("target"))
            self.history_ = History.from_json(meta["history"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: malformed record synthesizer metadata ({exc})") from None
        self.model_ = models.from_state(meta["model"], tensors, str(path))
        width = (0 if self.encoder_ is None else self.encoder_.output_dim) + sum(
            math.prod(m.chw) for m in self.images_
        )
        check_parts_agree(path, width, self.model_, len(self.classes_))
        return self

    @classmethod
    def load(cls, path: str | os.PathLike, **options: Any) -> RecordSynthesizer:
        """A synthesizer written by :meth:`save` (``options`` as in :meth:`from_bundle`)."""
        from genbalance.files import load_bundle

        meta, tensors = load_bundle(path)
        return cls.from_bundle(meta, tensors, path, **options)


def front(synth: Any, records: RecordSynthesizer) -> Any:
    """Make the table ``Synthesizer`` ``synth`` answer for ``records`` (its ``sample``,
    ``rows_for_codes``, ``sample_near`` and ``save`` forward there); returns ``synth``."""
    synth.records_ = records
    for name in ("model_", "classes_", "class_counts_", "history_", "target_", "encoder_"):
        setattr(synth, name, getattr(records, name))
    synth.origin_ = getattr(records, "origin_", None)
    if hasattr(records, "seed_"):
        synth.seed_, synth.n_sample_calls_ = records.seed_, 0
    synth.transfer_ = None
    synth.copy_guard_ = None  # generated records are not checked for copies
    return synth
