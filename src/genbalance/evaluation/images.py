"""Judge generated images: Fréchet distance, precision/recall/density/coverage, CAS.

No downloaded weights: distances are measured in the feature space of a small CNN trained here
on the real images (:class:`ImageFeatureExtractor`, a classifier whose penultimate layer gives
the features), so the metrics work offline and on any image size.

- :func:`frechet_distance` (Heusel et al., 2017) between two feature sets; per class with
  :func:`per_class_fid`. Few images give a biased, noisy value: compare models on equal counts.
- :func:`prdc`: precision, recall, density and coverage from k-nearest-neighbour balls
  (Naeem et al., 2020); per class with :func:`per_class_prdc`.
- :func:`classification_accuracy_score`: train a classifier on synthetic images only, test it
  on real ones (Ravuri & Vinyals, 2019).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from genbalance.encoders.images import to_float_images

__all__ = [
    "ImageFeatureExtractor",
    "classification_accuracy_score",
    "frechet_distance",
    "image_quality_report",
    "per_class_fid",
    "per_class_prdc",
    "prdc",
]


def _nchw(X, name: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(to_float_images(X, name).transpose(0, 3, 1, 2)))


class _SmallCNN(nn.Module):
    def __init__(self, channels: int, n_classes: int, feature_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, 2, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(256, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ImageFeatureExtractor:
    """A small CNN classifier trained on real images; its penultimate layer is the feature map.

    Training uses class-weighted cross-entropy (so rare classes shape the features too),
    light random translation, Adam, and one torch thread-friendly batch loop.
    """

    def __init__(
        self,
        feature_dim: int = 64,
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 2e-3,
        random_state: int | None = 0,
    ) -> None:
        self.feature_dim = feature_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state

    def fit(self, X, y) -> ImageFeatureExtractor:
        imgs = _nchw(X, "X")
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.image_shape_ = tuple(imgs.shape[1:])
        codes_t = torch.as_tensor(codes, dtype=torch.long)
        gen = torch.Generator().manual_seed(0 if self.random_state is None else self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if self.random_state is None else self.random_state)
            self.net_ = _SmallCNN(imgs.shape[1], len(self.classes_), self.feature_dim)
        counts = torch.bincount(codes_t, minlength=len(self.classes_)).float()
        weight = counts.sum() / (len(counts) * counts.clamp_min(1))
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        n = len(imgs)
        self.net_.train()
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, self.batch_size):
                idx = perm[start : start + self.batch_size]
                xb = _shift(imgs[idx], gen)
                loss = F.cross_entropy(self.net_(xb), codes_t[idx], weight=weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.net_.eval()
        return self

    def _check(self, X) -> torch.Tensor:
        if not hasattr(self, "net_"):
            raise RuntimeError("ImageFeatureExtractor is not fitted; call fit(X, y) first")
        imgs = _nchw(X, "X")
        if tuple(imgs.shape[1:]) != self.image_shape_:
            raise ValueError(
                f"images have shape (C, H, W) = {tuple(imgs.shape[1:])}, but the "
                f"extractor was trained on {self.image_shape_}"
            )
        return imgs

    @torch.no_grad()
    def transform(self, X) -> np.ndarray:
        """Features ``(N, feature_dim)`` of images in any accepted convention."""
        imgs = self._check(X)
        return (
            torch.cat([self.net_.body(imgs[i : i + 1024]) for i in range(0, len(imgs), 1024)])
            .numpy()
            .astype(np.float64)
        )

    @torch.no_grad()
    def predict(self, X) -> np.ndarray:
        imgs = self._check(X)
        return self.classes_[self.net_(imgs).argmax(1).numpy()]


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to 1/8 of the size (zero padded), one draw per batch."""
    h, w = x.shape[2:]
    r = max(1, round(h / 8))
    dy, dx = (int(v) for v in torch.randint(-r, r + 1, (2,), generator=gen))
    x = torch.roll(x, (dy, dx), dims=(2, 3))
    if dy > 0:
        x[:, :, :dy] = 0
    elif dy < 0:
        x[:, :, dy:] = 0
    if dx > 0:
        x[:, :, :, :dx] = 0
    elif dx < 0:
        x[:, :, :, dx:] = 0
    return x


# ---------------------------------------------------------------------- Fréchet distance
def _stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or len(feats) == 0:
        raise ValueError(f"features must be a non-empty 2-D array, got shape {feats.shape}")
    mu = feats.mean(0)
    cov = np.cov(feats, rowvar=False) if len(feats) > 1 else np.zeros((feats.shape[1],) * 2)
    return mu, np.atleast_2d(cov)


def frechet_distance(feats_a, feats_b) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature sets.

    The trace of the matrix square root is computed from the eigenvalues of the symmetric
    ``S_a^(1/2) S_b S_a^(1/2)`` (stable for the singular covariances of small sets).
    """
    mu_a, s_a = _stats(feats_a)
    mu_b, s_b = _stats(feats_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature sets differ in width: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    vals, vecs = np.linalg.eigh(s_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    mid = root_a @ s_b @ root_a
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((mid + mid.T) / 2), 0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_sqrt)
    return max(value, 0.0)


# ---------------------------------------------------------------------- PRDC
def _cdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.as_tensor(a), torch.as_tensor(b)).numpy()


def prdc(real_feats, fake_feats, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage (Naeem et al., 2020) with ``k`` nearest neighbours.

    ``k`` is lowered to ``n - 1`` for sets of ``n`` points (at least 2 points are needed).
    Precision: share of fakes inside some real k-NN ball; recall: share of reals inside some
    fake k-NN ball; density: mean number of real balls holding a fake, over k; coverage:
    share of real balls holding at least one fake.
    """
    real = np.asarray(real_feats, dtype=np.float64)
    fake = np.asarray(fake_feats, dtype=np.float64)
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"prdc needs >= 2 real and >= 2 fake points, got {len(real)}, {len(fake)}")
    k_r, k_f = min(k, len(real) - 1), min(k, len(fake) - 1)
    r_real = np.sqrt(np.sort(_cdist(real, real) ** 2, axis=1)[:, k_r])
    r_fake = np.sqrt(np.sort(_cdist(fake, fake) ** 2, axis=1)[:, k_f])
    d = _cdist(real, fake)  # (n_real, n_fake)
    inside_real = d <= r_real[:, None]  # fake j inside real ball i
    return {
        "precision": float(inside_real.any(0).mean()),
        "recall": float((d <= r_fake[None, :]).any(1).mean()),
        "density": float(inside_real.sum(0).mean() / k_r),
        "coverage": float((d.min(1) <= r_real).mean()),
    }


# ---------------------------------------------------------------------- per class
def _per_class(real_X, real_y, fake_X, fake_y, extractor, fn, min_n: int) -> dict:
    real_y, fake_y = np.asarray(real_y), np.asarray(fake_y)
    fr, ff = extractor.transform(real_X), extractor.transform(fake_X)
    out = {}
    for cls in np.unique(fake_y):
        a, b = fr[real_y == cls], ff[fake_y == cls]
        if len(a) >= min_n and len(b) >= min_n:
            out[cls.item() if isinstance(cls, np.generic) else cls] = fn(a, b)
    return out


def per_class_fid(real_X, real_y, fake_X, fake_y, extractor: ImageFeatureExtractor) -> dict:
    """Class -> Fréchet distance between its real and generated images' features."""
    return _per_class(real_X, real_y, fake_X, fake_y, extractor, frechet_distance, 1)


def per_class_prdc(
    real_X, real_y, fake_X, fake_y, extractor: ImageFeatureExtractor, k: int = 5
) -> dict:
    """Class -> PRDC dict (classes with fewer than 2 real or fake images are left out)."""
    return _per_class(real_X, real_y, fake_X, fake_y, extractor, lambda a, b: prdc(a, b, k), 2)


def classification_accuracy_score(
    fake_X, fake_y, real_X, real_y, classifier=None
) -> dict[str, float]:
    """Train on synthetic images only, test on real: accuracy and balanced accuracy.

    ``classifier`` is any scikit-learn classifier on flat pixels (default: logistic regression).
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    clf = LogisticRegression(max_iter=2000) if classifier is None else clone(classifier)
    train = to_float_images(fake_X, "fake_X").reshape(len(fake_y), -1)
    test = to_float_images(real_X, "real_X").reshape(len(real_y), -1)
    clf.fit(train, np.asarray(fake_y))
    pred = clf.predict(test)
    return {
        "cas_accuracy": float(accuracy_score(real_y, pred)),
        "cas_balanced_accuracy": float(balanced_accuracy_score(real_y, pred)),
    }


def image_quality_report(
    real_X, real_y, fake_X, fake_y, extractor: ImageFeatureExtractor | None = None, k: int = 5
) -> pd.DataFrame:
    """One row per generated class: fid, precision, recall, density, coverage, n_real, n_fake.

    Without an ``extractor`` one is trained on ``(real_X, real_y)``.
    """
    if extractor is None:
        extractor = ImageFeatureExtractor().fit(real_X, real_y)
    fid = per_class_fid(real_X, real_y, fake_X, fake_y, extractor)
    pr = per_class_prdc(real_X, real_y, fake_X, fake_y, extractor, k)
    real_y, fake_y = np.asarray(real_y), np.asarray(fake_y)
    rows = []
    for cls, value in fid.items():
        rows.append(
            {
                "class": cls,
                "fid": value,
                **pr.get(cls, {}),
                "n_real": int((real_y == cls).sum()),
                "n_fake": int((fake_y == cls).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("class")
