"""Image metrics: Fréchet distance, PRDC, CAS and the local CNN feature extractor."""

from __future__ import annotations

import numpy as np
import pytest

from genbalance.data.images import load_digits_8x8
from genbalance.evaluation.images import (
    ImageFeatureExtractor,
    classification_accuracy_score,
    frechet_distance,
    image_quality_report,
    per_class_fid,
    per_class_prdc,
    prdc,
)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_8x8()
    keep = y < 4
    return X[keep][:400], y[keep][:400]


@pytest.fixture(scope="module")
def extractor(digits):
    X, y = digits
    return ImageFeatureExtractor(feature_dim=32, epochs=12, batch_size=32, random_state=0).fit(X, y)


def test_frechet_distance_zero_to_itself_and_grows_with_noise() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    values = [frechet_distance(a, a + rng.normal(scale=s, size=a.shape)) for s in (0.1, 0.5, 1.0)]
    assert values[0] < values[1] < values[2]
    # closed form for two Gaussians with equal covariance: FD = ||mu_a - mu_b||^2
    assert frechet_distance(a, a + 2.0) == pytest.approx(4 * 8, rel=1e-6)
    # isotropic covariances s^2 I vs t^2 I: d (s - t)^2 (large samples)
    b = rng.normal(size=(20000, 4)) * 2.0
    c = rng.normal(size=(20000, 4)) * 0.5
    assert frechet_distance(b, c) == pytest.approx(4 * 1.5**2, rel=0.05)


def test_frechet_distance_errors() -> None:
    with pytest.raises(ValueError, match="differ in width"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="non-empty 2-D"):
        frechet_distance(np.zeros((0, 3)), np.zeros((5, 3)))


def test_prdc_sanity() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 4))
    same = prdc(real, rng.normal(size=(300, 4)))
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and same["coverage"] > 0.8
    assert 0.7 < same["density"] < 1.3
    # collapse to one point of the real set: precise, but no recall or coverage
    collapsed = prdc(real, np.repeat(real[:1], 50, 0) + 1e-6 * rng.normal(size=(50, 4)))
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.1
    assert collapsed["coverage"] < 0.1
    # far away: nothing matches
    far = prdc(real, rng.normal(size=(300, 4)) + 50)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    with pytest.raises(ValueError, match=">= 2 real"):
        prdc(real[:1], real)


def test_extractor_features_and_per_class_metrics(digits, extractor) -> None:
    X, y = digits
    assert (extractor.predict(X) == y).mean() > 0.8  # it learnt the classes
    feats = extractor.transform(X)
    assert feats.shape == (400, 32) and np.isfinite(feats).all()
    rng = np.random.default_rng(0)
    half = len(X) // 2
    fid_self = per_class_fid(X[:half], y[:half], X[half:], y[half:], extractor)
    noisy = np.clip(X[half:] + rng.normal(scale=0.4, size=X[half:].shape), 0, 1).astype(np.float32)
    fid_noisy = per_class_fid(X[:half], y[:half], noisy, y[half:], extractor)
    assert set(fid_self) == {0, 1, 2, 3}
    assert all(fid_noisy[c] > fid_self[c] for c in fid_self)
    # wrong labels (a real image set presented as another class) score far worse
    swapped = per_class_fid(X[:half], y[:half], X[half:], (y[half:] + 1) % 4, extractor)
    assert np.mean(list(swapped.values())) > 2 * np.mean(list(fid_self.values()))
    pr = per_class_prdc(X[:half], y[:half], X[half:], y[half:], extractor)
    assert all(v["precision"] > 0.5 and v["coverage"] > 0.5 for v in pr.values())
    report = image_quality_report(X[:half], y[:half], noisy, y[half:], extractor)
    assert list(report.columns[:5]) == ["fid", "precision", "recall", "density", "coverage"]
    assert report["n_fake"].sum() == len(noisy)


def test_extractor_checks_shape(digits, extractor) -> None:
    with pytest.raises(ValueError, match="extractor was trained on"):
        extractor.transform(np.zeros((2, 9, 9), np.float32))
    with pytest.raises(RuntimeError, match="not fitted"):
        ImageFeatureExtractor().transform(digits[0][:2])


def test_classification_accuracy_score(digits) -> None:
    X, y = digits
    real = classification_accuracy_score(X[:200], y[:200], X[200:], y[200:])
    assert real["cas_accuracy"] > 0.9
    rng = np.random.default_rng(0)
    shuffled = classification_accuracy_score(X[:200], rng.permutation(y[:200]), X[200:], y[200:])
    assert shuffled["cas_balanced_accuracy"] < 0.5 < real["cas_balanced_accuracy"]
