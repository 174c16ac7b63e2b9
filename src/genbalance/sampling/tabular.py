"""imbalanced-learn compatible samplers that generate rare-class rows with a generative model.

``GANOverSampler().fit_resample(X, y)`` trains one class-conditional model over all classes
(class-balanced batches, so rare classes are seen as often as common ones), then asks it for
exactly the rows that ``sampling_strategy`` requires, with exactly the requested labels.
Pandas in, pandas out; numpy in, numpy out with the same dtype; lists in, lists out.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type
from scipy import sparse
from sklearn.utils._param_validation import Interval, StrOptions

from genbalance import models
from genbalance.data.records import image_columns
from genbalance.sampling.base import GenerativeSamplerMixin, check_strategy, densify
from genbalance.sampling.region import RegionFilter
from genbalance.schema import check_labels, restore_output
from genbalance.schema import check_X_y as _check_frame_and_labels
from genbalance.synthesis import cache as fit_cache
from genbalance.synthesis.tabular import DEFAULT_MODEL, Synthesizer
from genbalance.synthesis.transfer import as_warm_start, warm_start_key
from genbalance.training.dp import DPConfig
from genbalance.utils import seed_from, to_python_scalar, user_stacklevel

FILTERS = ("none", "knn")
GENERATIONS = ("auto", "sample", "interpolate", "residual", "hybrid")


class GenerativeOverSampler(GenerativeSamplerMixin, BaseOverSampler):
    """Over-sample minority classes with rows drawn from a class-conditional generative model.

    Parameters
    ----------
    model : str, default="vae"
        Generative family (see ``genbalance.models.available()``). The default, a conditional
        VAE with ``generation="hybrid"``, is the one tuned on the benchmark (docs/benchmark.md).
    sampling_strategy : float, str, dict or callable, default="auto"
        As in imbalanced-learn: which classes to over-sample and to how many rows.
    random_state : int, numpy Generator, RandomState or None
        Seed for the encoder, training and generation (same int, same output; None: fresh
        randomness on every fit).
    categorical_features : "auto", list of names/indices, or boolean mask
        Which columns are categorical ("auto": string, category and bool dtypes).
    epochs : int, "auto" or None
        Training passes, "auto" (a step budget that grows with the table) or None (no epoch
        limit: ``trainer_options={"max_steps": ...}`` or ``time_budget`` decide).
    time_budget : float or None
        Seconds; training stops cleanly when spent and the model trained so far is used.
    preset : str or None
        Stabiliser recipe for GANs ("stable", "wgan-gp", "hinge-sn", "pac-wgan", "plain").
    filter : {"none", "knn"}
        "knn" drops generated rows whose ``k_neighbors`` nearest real rows all belong to
        other classes (deep inside another class's region) and generates replacements.
    generation : {"auto", "sample", "interpolate", "residual", "hybrid"}
        How new rows are made. "sample" draws them from the model's prior (fresh noise).
        The others need a family with an encoder (``vae``) and work SMOTE's idea on the model's
        manifold: real rows of the class are mapped to their posterior means and a point is
        drawn on the segment between a row and one of its ``k_neighbors`` nearest same-class
        neighbours *in the learned latent space*. "interpolate" decodes that point (smooth:
        the decoder's reconstruction error shrinks rows toward the class mean); "residual"
        moves the real row by the decoder's displacement from the row's own code to the new
        point, so the reconstruction bias cancels and the row keeps its detail; "hybrid" makes
        ``interpolation_share`` of the rows by "residual" and the rest by "sample" (new
        category combinations come from sampling). "auto" (default): "hybrid" for families
        with an encoder and without ``privacy``, else "sample". The resolved choice is in
        ``generation_``. Chosen on the benchmark's development subset (docs/benchmark.md).
    interpolation_share : float in [0, 1]
        Share of "residual" rows when ``generation="hybrid"``.
    model_options, trainer_options, encoder_options : dict
        Passed to the family, to :class:`~genbalance.training.trainer.TrainerConfig` and to
        :class:`~genbalance.encoders.tabular.TabularEncoder`.
    progress : bool or "auto"
        Show a progress bar while training ("auto", the default: in a terminal or notebook).
    privacy : DPConfig, dict or None
        Differentially private training (DP-SGD; see :class:`~genbalance.training.dp.
        DPConfig`). Generated rows are post-processing of the private model; the options that
        read real rows again at generation time (``filter="knn"``, ``generation`` other than
        "sample") are refused with it. The epsilon spent is in ``synthesizer_.privacy_``.
    init : Synthesizer, path, WarmStart or None
        Start from a model trained on a related table (transfer, docs/transfer.md): a fitted
        :class:`~genbalance.synthesis.tabular.Synthesizer` of the same family, the path of its
        model file, or a :class:`~genbalance.synthesis.transfer.WarmStart` with the policies
        for other columns and labels. The synthesizer is fine-tuned on each training fold;
        ``synthesizer_.transfer_`` says what was reused.
    image_root, image_dir : str, path or None
        For tables with image columns (2-D/3-D arrays or image file paths in the cells), learnt
        with the table by one model (docs/multimodal.md): the folder path cells must lie in
        (relative paths start there), and the folder new image files are written to (default
        ``<image_root>/generated``). Array columns come back as arrays.

    cache : bool, default=True
        Fit once, resample many: a seeded fit on the same rows with the same model settings
        (family, preset, epochs, options, privacy, init, seed) reuses the synthesizer fitted
        before in this process, so a grid search over ``sampling_strategy``, ``generation``,
        ``filter``, ``k_neighbors`` or ``interpolation_share`` trains once per fold. The
        results are those of a fresh fit (same seed, same model). Bounded
        (``genbalance.synthesis.cache``: 8 models, 256 MiB); never used with
        ``random_state=None`` or a ``time_budget``.

    Attributes
    ----------
    sampling_strategy_ : dict  class -> number of rows generated
    synthesizer_ : the fitted :class:`~genbalance.synthesis.tabular.Synthesizer` (shared
        with other samplers when it came from the cache: ``from_cache_``)
    n_filtered_ : dict  class -> generated rows rejected by the filter
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "model": [str],
        "categorical_features": [StrOptions({"auto"}), list, np.ndarray, None],
        "epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"}), None],
        "time_budget": [Interval(Real, 0, None, closed="neither"), None],
        "preset": [str, None],
        "filter": [StrOptions(set(FILTERS))],
        "generation": [StrOptions(set(GENERATIONS))],
        "interpolation_share": [Interval(Real, 0, 1, closed="both")],
        "k_neighbors": [Interval(Integral, 1, None, closed="left")],
        "model_options": [dict, None],
        "trainer_options": [dict, None],
        "encoder_options": [dict, None],
        "progress": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
        "privacy": [DPConfig, dict, None],  # DPConfig.coerce checks a dict's fields
        "init": "no_validation",  # transfer.as_warm_start names what it accepts
        "cache": ["boolean"],
        "image_root": "no_validation",  # a folder; data.records checks it
        "image_dir": "no_validation",
    }

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        categorical_features: Any = "auto",
        epochs: int | str | None = "auto",
        time_budget: float | None = None,
        preset: str | None = None,
        filter: str = "none",  # noqa: A002 - the natural name for users
        k_neighbors: int = 5,
        generation: str = "auto",
        interpolation_share: float = 0.5,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        encoder_options: dict | None = None,
        progress: bool | str = "auto",
        privacy: Any = None,
        init: Any = None,
        cache: bool = True,
        image_root: Any = None,
        image_dir: Any = None,
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
        self.image_root = image_root
        self.image_dir = image_dir
        self.init = init
        self.cache = cache
        self.privacy = privacy
        self.generation = generation
        self.interpolation_share = interpolation_share
        self.model = model
        self.random_state = random_state
        self.categorical_features = categorical_features
        self.epochs = epochs
        self.time_budget = time_budget
        self.preset = preset
        self.filter = filter
        self.k_neighbors = k_neighbors
        self.model_options = model_options
        self.trainer_options = trainer_options
        self.encoder_options = encoder_options
        self.progress = progress

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.dataframe = True
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------ validation
    def fit_resample(self, X, y, **params):
        # before imbalanced-learn's generic "Unknown label type": say what is wrong with y
        if np.ndim(y) == 1:  # 2-D one-vs-all indicators are imbalanced-learn's to check
            labels = check_labels(y, allow_float=False)
            # before imbalanced-learn truncates {"min": 2.9} or fails on a callable's string
            check_strategy(self.sampling_strategy, labels)
        return super().fit_resample(X, y, **params)

    def _check_X_y(self, X, y, accept_sparse=None):
        """Validate with genbalance's schema (mixed types, NaN features allowed, clear errors)."""
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X, self._sparse_format = densify(X)
        frame, labels, origin = _check_frame_and_labels(X, y, allow_time=True, allow_images=True)
        self._origin = origin
        self.n_features_in_ = frame.shape[1]
        if origin["container"] == "pandas":
            self.feature_names_in_ = np.asarray([str(c) for c in origin["columns"]], dtype=object)
        return frame, labels, binarize_y

    def _seed(self) -> int | None:
        rs = self.random_state
        return rs if rs is None else seed_from(rs)

    # ------------------------------------------------------------------ resampling
    def _fit_resample(self, X: pd.DataFrame, y: np.ndarray):
        family = models.get(self.model)  # clear error for an unknown family before any work
        gen = self.generation
        encodes = family.can_encode(self.model_options or {})
        if gen == "auto":  # the tuned default where the family allows it, plain sampling otherwise
            gen = "hybrid" if encodes and self.privacy is None else "sample"
        if gen != "sample" and not encodes:
            raise ValueError(
                f"generation={gen!r} interpolates in a learned latent space and needs "
                f"a family with an encoder (e.g. 'vae', or 'gan' with encoder=True); "
                f"{self.model!r} has none with these model_options. "
                "Use generation='sample' with this family."
            )
        if self.privacy is not None and (self.filter != "none" or gen != "sample"):
            raise ValueError(
                "privacy: filter='knn' and generation='interpolate'/'residual'/'hybrid' read the "
                "real rows again at generation time, outside the DP guarantee; use filter='none' "
                "and generation='sample' (or 'auto') with privacy"
            )
        self.generation_ = gen
        self._has_images = bool(image_columns(X))
        if self._has_images and self.filter != "none":
            raise ValueError("filter='knn' compares table rows only; use filter='none' with images")
        seed = self._seed()
        counts = pd.Series(y).value_counts()
        surplus = 6.0 if self.filter == "knn" else 1.0  # up to 3 rounds of 2 n candidates
        # before training: whole counts, and a size that fits even at one value a column
        wanted = self.wanted_rows(self.sampling_strategy_, X.shape[1], surplus)
        tiny = {to_python_scalar(c): int(counts[c]) for c in wanted if counts[c] < 2}
        if tiny:
            raise ValueError(
                f"classes {tiny} have a single row: a generative model cannot learn a class from "
                "one example. Exclude them with a dict sampling_strategy, or collect more rows."
            )
        small = {to_python_scalar(c): int(counts[c]) for c in wanted if counts[c] < 6}
        if small:
            warnings.warn(
                f"classes {small} have fewer than 6 rows; their generated rows are low quality",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        self.synthesizer_ = self._fitted_synthesizer(X, y, seed)
        self.n_filtered_ = {}
        filt = (
            RegionFilter(X, y, self.k_neighbors, self.categorical_features)
            if wanted and self.filter == "knn"
            else None
        )
        codes = self.synthesizer_.label_codes(y) if wanted else None

        def make(cls: Any, n: int, class_seed: int | None) -> pd.DataFrame:
            return self._generate_class(X, codes, cls, n, filt, class_seed)

        pieces, labels = self.generate_classes(wanted, seed, y, make, surplus=surplus)
        out = pd.concat([X, *pieces], ignore_index=True) if pieces else X.reset_index(drop=True)
        X_res = restore_output(out, self._origin)
        if self._sparse_format is not None:
            X_res = sparse.csr_matrix(X_res).asformat(self._sparse_format)
        return X_res, np.concatenate([y, *labels])

    def _fitted_synthesizer(self, X: pd.DataFrame, y: np.ndarray, seed: int | None) -> Synthesizer:
        """The synthesizer for this fold: from the fit cache when the same rows were fitted
        with the same model settings (a grid over ``sampling_strategy``, ``generation``,
        ``filter`` ... trains once per fold), else a new fit, cached when seeded. A warm start
        (``init``) is read once here and enters the key by a hash of its weights and policies."""
        start = None if self.init is None else as_warm_start(self.init, load=Synthesizer.load)
        settings = {
            "model": self.model,
            "preset": self.preset,
            "epochs": self.epochs,
            "categorical_features": self.categorical_features,
            "model_options": self.model_options,
            "trainer_options": self.trainer_options,
            "encoder_options": self.encoder_options,
            "privacy": self.privacy,
            "init": None if start is None else warm_start_key(start),
            "seed": seed,
        }
        usable = self.cache and seed is not None and self.time_budget is None
        usable = usable and not self._has_images  # array cells have no row hash
        key = None
        if usable:
            key = fit_cache.data_key(X, y) + fit_cache.settings_key(settings)
            cached = fit_cache.lookup(key)
            if cached is not None:
                self.from_cache_ = True
                return cached
        self.from_cache_ = False
        synth = Synthesizer(
            self.model,
            preset=self.preset,
            epochs=self.epochs,
            categorical_features=self.categorical_features,
            time_budget=self.time_budget,
            progress=self.progress,
            random_state=seed,
            model_options=self.model_options,
            trainer_options=self.trainer_options,
            encoder_options=self.encoder_options,
            privacy=self.privacy,
            image_root=self.image_root,
            image_dir=self.image_dir,
        ).fit(X, y, init=start)
        if key is not None:
            fit_cache.store(key, synth)
        return synth

    def _generate_class(
        self, X: pd.DataFrame, codes: np.ndarray, cls: Any, n: int, filt: Any, seed: int | None
    ) -> pd.DataFrame:
        """``n`` rows of class ``cls``: the ``generation`` mode's share between latent
        neighbours of the class's real rows, the rest drawn from the model."""
        synth = self.synthesizer_
        n_near = {
            "sample": 0,
            "interpolate": n,
            "residual": n,
            "hybrid": round(self.interpolation_share * n),
        }[self.generation_]
        parts = []
        if n_near:
            members = np.flatnonzero(codes == synth.label_codes([cls])[0])
            parts.append(
                synth.sample_near(
                    X.iloc[members],
                    cls,
                    n_near,
                    k_neighbors=self.k_neighbors,
                    keep_detail=self.generation_ != "interpolate",
                    random_state=seed,
                )
            )
        if n - n_near:
            parts.append(self._draw_class(cls, n - n_near, filt, seed))
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def _draw_class(self, cls: Any, n: int, filt: Any, seed: int | None) -> pd.DataFrame:
        """``n`` rows drawn from the model; with the region filter, a surplus (up to 3 rounds
        of ``2 n``) of which the rows inside the class's region are kept."""
        synth = self.synthesizer_
        code = int(synth.label_codes([cls])[0])
        if filt is None:
            return synth.rows_for_codes(np.full(n, code), seed)

        def draw(round_: int) -> pd.DataFrame:
            return synth.rows_for_codes(
                np.full(2 * n, code), None if seed is None else seed + 7919 * round_
            )

        def take(rows: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
            return rows.iloc[idx].reset_index(drop=True)

        def join(batches: list[pd.DataFrame]) -> pd.DataFrame:
            return pd.concat(batches, ignore_index=True)

        return self.filtered(cls, n, draw, filt, take, join, rounds=3)


class GANOverSampler(GenerativeOverSampler):
    """Over-sampling with a class-conditional GAN (``GenerativeOverSampler(model="gan")``;
    the default family is the VAE)."""

    def __init__(
        self,
        *,
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        categorical_features: Any = "auto",
        epochs: int | str | None = "auto",
        time_budget: float | None = None,
        preset: str | None = None,
        filter: str = "none",  # noqa: A002
        k_neighbors: int = 5,
        generation: str = "auto",
        interpolation_share: float = 0.5,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        encoder_options: dict | None = None,
        progress: bool | str = "auto",
        privacy: Any = None,
        init: Any = None,
        cache: bool = True,
    ) -> None:
        super().__init__(
            "gan",
            sampling_strategy=sampling_strategy,
            random_state=random_state,
            categorical_features=categorical_features,
            epochs=epochs,
            time_budget=time_budget,
            preset=preset,
            filter=filter,
            k_neighbors=k_neighbors,
            generation=generation,
            interpolation_share=interpolation_share,
            model_options=model_options,
            trainer_options=trainer_options,
            encoder_options=encoder_options,
            progress=progress,
            privacy=privacy,
            init=init,
            cache=cache,
        )


class VAEOverSampler(GenerativeOverSampler):
    """Over-sampling with a conditional variational autoencoder."""

    def __init__(
        self,
        *,
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        categorical_features: Any = "auto",
        epochs: int | str | None = "auto",
        time_budget: float | None = None,
        filter: str = "none",  # noqa: A002
        k_neighbors: int = 5,
        generation: str = "auto",
        interpolation_share: float = 0.5,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        encoder_options: dict | None = None,
        progress: bool | str = "auto",
        privacy: Any = None,
        init: Any = None,
        cache: bool = True,
    ) -> None:
        super().__init__(
            "vae",
            sampling_strategy=sampling_strategy,
            random_state=random_state,
            categorical_features=categorical_features,
            epochs=epochs,
            time_budget=time_budget,
            preset=None,
            filter=filter,
            k_neighbors=k_neighbors,
            generation=generation,
            interpolation_share=interpolation_share,
            model_options=model_options,
            trainer_options=trainer_options,
            encoder_options=encoder_options,
            progress=progress,
            privacy=privacy,
            init=init,
            cache=cache,
        )
