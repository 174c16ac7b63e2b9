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
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, StrOptions

from genbalance import models
from genbalance.schema import check_labels, restore_output
from genbalance.schema import check_X_y as _check_frame_and_labels
from genbalance.synthesis.tabular import Synthesizer
from genbalance.training.dp import DPConfig
from genbalance.utils import to_python_scalar

FILTERS = ("none", "knn")
GENERATIONS = ("auto", "sample", "interpolate", "residual", "hybrid")


class GenerativeOverSampler(BaseOverSampler):
    """Over-sample minority classes with rows drawn from a class-conditional generative model.

    Parameters
    ----------
    model : str, default="vae"
        Generative family (see ``genbalance.models.available()``). The default, a conditional
        VAE with ``generation="hybrid"``, is the one tuned on the benchmark (docs/benchmark.md).
    sampling_strategy : float, str, dict or callable, default="auto"
        As in imbalanced-learn: which classes to over-sample and to how many rows.
    random_state : int or None
        Seed for the encoder, training and generation (same seed, same output).
    categorical_features : "auto", list of names/indices, or boolean mask
        Which columns are categorical ("auto": string, category and bool dtypes).
    epochs : int or "auto"
        Training passes, or "auto" (a step budget that grows with the table).
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
    progress : bool
        Show a progress bar while training.
    privacy : DPConfig, dict or None
        Differentially private training (DP-SGD; see :class:`~genbalance.training.dp.
        DPConfig`). Generated rows are post-processing of the private model; the options that
        read real rows again at generation time (``filter="knn"``, ``generation`` other than
        "sample") are refused with it. The epsilon spent is in ``synthesizer_.privacy_``.

    Attributes
    ----------
    sampling_strategy_ : dict  class -> number of rows generated
    synthesizer_ : the fitted :class:`~genbalance.synthesis.tabular.Synthesizer`
    n_filtered_ : dict  class -> generated rows rejected by the filter
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "model": [str],
        "categorical_features": [StrOptions({"auto"}), list, np.ndarray, None],
        "epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "time_budget": [Interval(Real, 0, None, closed="neither"), None],
        "preset": [str, None],
        "filter": [StrOptions(set(FILTERS))],
        "generation": [StrOptions(set(GENERATIONS))],
        "interpolation_share": [Interval(Real, 0, 1, closed="both")],
        "k_neighbors": [Interval(Integral, 1, None, closed="left")],
        "model_options": [dict, None],
        "trainer_options": [dict, None],
        "encoder_options": [dict, None],
        "progress": ["boolean"],
        "random_state": ["random_state"],
        "privacy": [DPConfig, dict, None],  # DPConfig.coerce checks a dict's fields
    }

    def __init__(
        self,
        model: str = "vae",
        *,
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        categorical_features: Any = "auto",
        epochs: int | str = "auto",
        time_budget: float | None = None,
        preset: str | None = None,
        filter: str = "none",  # noqa: A002 - the natural name for users
        k_neighbors: int = 5,
        generation: str = "auto",
        interpolation_share: float = 0.5,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        encoder_options: dict | None = None,
        progress: bool = False,
        privacy: Any = None,
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy)
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
            check_labels(y, allow_float=False)
        return super().fit_resample(X, y, **params)

    def _check_X_y(self, X, y, accept_sparse=None):
        """Validate with genbalance's schema (mixed types, NaN features allowed, clear errors)."""
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        self._sparse_format = None
        if sparse.issparse(X):
            self._sparse_format = X.format
            X = X.toarray()
        elif isinstance(X, pd.DataFrame) and any(isinstance(d, pd.SparseDtype) for d in X.dtypes):
            X = (
                X.sparse.to_dense()
                if all(isinstance(d, pd.SparseDtype) for d in X.dtypes)
                else X.astype(
                    {c: d.subtype for c, d in X.dtypes.items() if isinstance(d, pd.SparseDtype)}
                )
            )
        frame, labels, origin = _check_frame_and_labels(X, y)
        self._origin = origin
        self.n_features_in_ = frame.shape[1]
        if origin["container"] == "pandas":
            self.feature_names_in_ = np.asarray([str(c) for c in origin["columns"]], dtype=object)
        return frame, labels, binarize_y

    def _seed(self) -> int | None:
        rs = self.random_state
        if rs is None or isinstance(rs, (int, np.integer)):
            return rs
        return int(rs.randint(np.iinfo(np.int32).max))  # a RandomState instance

    # ------------------------------------------------------------------ resampling
    def _fit_resample(self, X: pd.DataFrame, y: np.ndarray):
        family = models.get(self.model)  # clear error for an unknown family before any work
        gen = self.generation
        if gen == "auto":  # the tuned default where the family allows it, plain sampling otherwise
            usable = family.has_encoder and self.privacy is None
            gen = "hybrid" if usable else "sample"
        if gen != "sample" and not family.has_encoder:
            raise ValueError(
                f"generation={gen!r} interpolates in a learned latent space and needs "
                f"a family with an encoder (e.g. 'vae'); {self.model!r} has none. "
                "Use generation='sample' with this family."
            )
        if self.privacy is not None and (self.filter != "none" or gen != "sample"):
            raise ValueError(
                "privacy: filter='knn' and generation='interpolate'/'residual'/'hybrid' read the "
                "real rows again at generation time, outside the DP guarantee; use filter='none' "
                "and generation='sample' (or 'auto') with privacy"
            )
        self.generation_ = gen
        seed = self._seed()
        counts = pd.Series(y).value_counts()
        wanted = {c: int(n) for c, n in self.sampling_strategy_.items() if n > 0}
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
                stacklevel=3,
            )
        self.synthesizer_ = Synthesizer(
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
        ).fit(X, y)
        synth = self.synthesizer_
        self.n_filtered_ = {}
        pieces, labels = [X], [y]
        if wanted:
            filt = (
                _RegionFilter(X, y, self.k_neighbors, self.categorical_features)
                if self.filter == "knn"
                else None
            )
            codes = synth.label_codes(y)
            for i, (cls, n) in enumerate(wanted.items()):
                class_seed = None if seed is None else seed + i
                n_interp = {
                    "sample": 0,
                    "interpolate": n,
                    "residual": n,
                    "hybrid": round(self.interpolation_share * n),
                }[gen]
                parts = []
                if n_interp:
                    parts.append(
                        self._interpolate_class(synth, X, codes, cls, n_interp, class_seed)
                    )
                if n - n_interp:
                    parts.append(self._generate_class(synth, cls, n - n_interp, filt, class_seed))
                rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
                pieces.append(rows)
                labels.append(
                    np.full(n, cls, dtype=y.dtype)
                    if y.dtype != object
                    else np.array([cls] * n, dtype=object)
                )
        out = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else X.reset_index(drop=True)
        X_res = restore_output(out, self._origin)
        if self._sparse_format is not None:
            X_res = sparse.csr_matrix(X_res).asformat(self._sparse_format)
        return X_res, np.concatenate(labels)

    def _interpolate_class(
        self, synth: Synthesizer, X: pd.DataFrame, codes: np.ndarray, cls, n: int, seed
    ) -> pd.DataFrame:
        """``n`` rows decoded from random points between latent neighbours of the class."""
        import torch

        code = synth.label_codes([cls])[0]
        members = np.flatnonzero(codes == code)
        model = synth.model_
        with torch.no_grad():
            Z = torch.from_numpy(synth.encoder_.transform(X.iloc[members])).to(model.device)
            y_code = torch.full((len(members),), int(code), dtype=torch.long, device=model.device)
            mu = model.encode(Z, y_code)[0].cpu().numpy()
        rng = np.random.default_rng(seed)
        k = min(self.k_neighbors, len(members) - 1)
        neighbours = (
            NearestNeighbors(n_neighbors=k + 1).fit(mu).kneighbors(mu, return_distance=False)
        )
        base = rng.integers(len(members), size=n)
        other = neighbours[base, rng.integers(1, k + 1, size=n)]
        step = rng.random((n, 1))
        z = mu[base] + step * (mu[other] - mu[base])
        with torch.no_grad():
            zt = torch.from_numpy(z.astype(np.float32)).to(model.device)
            labels = torch.full((n,), int(code), dtype=torch.long, device=model.device)
            out = model.decode(zt, labels).cpu().numpy()
            if self.generation_ in ("residual", "hybrid"):
                # move the real row by the decoder's displacement between the two latent points:
                # the decoder's reconstruction bias cancels; the new row keeps the real row's detail
                mu_t = torch.from_numpy(mu[base].astype(np.float32)).to(model.device)
                out = Z.cpu().numpy()[base] + out - model.decode(mu_t, labels).cpu().numpy()
        return synth.encoder_.inverse_transform(out, random_state=seed)

    def _generate_class(self, synth: Synthesizer, cls, n: int, filt, seed) -> pd.DataFrame:
        code = synth.label_codes([cls])[0]
        if filt is None:
            z = synth.sample_encoded(np.full(n, code), seed)
            return synth.encoder_.inverse_transform(z, random_state=seed)
        # generate a surplus, keep rows that fall in their own class's region; bounded rounds
        kept: list[pd.DataFrame] = []
        scores: list[np.ndarray] = []
        rejected = 0
        for round_ in range(3):
            z = synth.sample_encoded(
                np.full(2 * n, code), None if seed is None else seed + 7919 * round_
            )
            rows = synth.encoder_.inverse_transform(z, random_state=seed)
            score = filt.same_class_share(rows, cls)
            kept.append(rows)
            scores.append(score)
            rejected += int((score == 0).sum())
            if sum(int((s > 0).sum()) for s in scores) >= n:
                break
        rows = pd.concat(kept, ignore_index=True)
        score = np.concatenate(scores)
        # stable order: accepted rows first in generation order, then the best of the rest
        order = np.argsort(-(score > 0).astype(int), kind="stable")
        chosen = order[:n]
        if (score[chosen] == 0).any():
            warnings.warn(
                f"class {to_python_scalar(cls)!r}: the region filter could not find {n} generated "
                "rows "
                "inside the class's region; kept the closest ones",
                UserWarning,
                stacklevel=4,
            )
        self.n_filtered_[to_python_scalar(cls)] = rejected
        return rows.iloc[chosen].reset_index(drop=True)


class _RegionFilter:
    """k-NN over the real rows (one-hot + min-max features): who lives near a synthetic row."""

    def __init__(self, X: pd.DataFrame, y: np.ndarray, k: int, categorical_features: Any) -> None:
        from genbalance.evaluation.features import encode_pair

        self.X, self.y = X, y
        self.cat = None if isinstance(categorical_features, str) else categorical_features
        (self.features,) = encode_pair(X, [], self.cat, "minmax")
        self.k = min(k, len(X))
        self.nn = NearestNeighbors(n_neighbors=self.k).fit(self.features)

    def same_class_share(self, rows: pd.DataFrame, cls) -> np.ndarray:
        from genbalance.evaluation.features import encode_pair

        _, feats = encode_pair(self.X, [rows], self.cat, "minmax")
        idx = self.nn.kneighbors(feats, return_distance=False)
        return (self.y[idx] == cls).mean(axis=1)


class GANOverSampler(GenerativeOverSampler):
    """Over-sampling with a class-conditional GAN (the default model of genbalance)."""

    def __init__(
        self,
        *,
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        categorical_features: Any = "auto",
        epochs: int | str = "auto",
        time_budget: float | None = None,
        preset: str | None = None,
        filter: str = "none",  # noqa: A002
        k_neighbors: int = 5,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        encoder_options: dict | None = None,
        progress: bool = False,
        privacy: Any = None,
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
            model_options=model_options,
            trainer_options=trainer_options,
            encoder_options=encoder_options,
            progress=progress,
            privacy=privacy,
        )


class VAEOverSampler(GenerativeOverSampler):
    """Over-sampling with a conditional variational autoencoder."""

    def __init__(
        self,
        *,
        sampling_strategy: Any = "auto",
        random_state: Any = None,
        categorical_features: Any = "auto",
        epochs: int | str = "auto",
        time_budget: float | None = None,
        filter: str = "none",  # noqa: A002
        k_neighbors: int = 5,
        generation: str = "auto",
        interpolation_share: float = 0.5,
        model_options: dict | None = None,
        trainer_options: dict | None = None,
        encoder_options: dict | None = None,
        progress: bool = False,
        privacy: Any = None,
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
        )
