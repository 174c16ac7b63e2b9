"""Differentially private training (DP-SGD via Opacus) and the privacy metrics' leak test.

Tiny tables and a few dozen steps: the point is the accounting and the wiring, not quality.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

pytest.importorskip("opacus")

from genbalance import GANOverSampler, Synthesizer  # noqa: E402
from genbalance.evaluation import privacy_report, tstr  # noqa: E402
from genbalance.files import load_bundle  # noqa: E402
from genbalance.training.dp import DPConfig, epsilon_spent  # noqa: E402

SMALL_GAN = {"g_hidden": [32, 32], "d_hidden": [32, 32]}
SMALL_VAE = {"hidden": [32, 32], "latent_dim": 4}
QUIET = {"health_check": False}


def two_blobs(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A separable 2-class table: class 0 around (-2, -2), class 1 around (2, 2)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 1, (n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return pd.DataFrame(X, columns=["a", "b"]), y


def test_dpconfig_refuses_bad_budgets():
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="epsilon"):
            DPConfig(bad)
    with pytest.raises(ValueError, match="delta"):
        DPConfig(1.0, delta=1.5)
    with pytest.raises(ValueError, match="max_grad_norm"):
        DPConfig(1.0, max_grad_norm=0)
    with pytest.raises(ValueError, match="accountant"):
        DPConfig(1.0, accountant="moments")
    with pytest.raises(ValueError, match="unknown privacy settings"):
        DPConfig.coerce({"epsilon": 1.0, "eps": 2})
    assert DPConfig.coerce({"epsilon": 2}) == DPConfig(2)


def test_target_epsilon_one_is_respected_and_stored(tmp_path):
    X, y = two_blobs(200, 0)
    synth = Synthesizer(
        "vae",
        epochs=4,
        batch_size=40,
        random_state=0,
        privacy=DPConfig(1.0),
        model_options=SMALL_VAE,
        trainer_options=QUIET,
    ).fit(X, y)
    spent = synth.privacy_
    assert 0.5 < spent["epsilon"] <= 1.0
    assert spent["steps"] >= 20  # 4 epochs of 5 steps (plus any empty Poisson draws)
    assert spent["sampling"] == "poisson" and spent["private_parts"] == ["decoder", "encoder"]
    assert spent["delta"] == pytest.approx(min(1e-5, 1 / 200**1.1))
    # the accountant's number is reproducible from the run's own parameters
    again = epsilon_spent(
        "rdp", spent["noise_multiplier"], spent["sample_rate"], spent["steps"], spent["delta"]
    )
    assert again == pytest.approx(spent["epsilon"])
    path = synth.save(tmp_path / "dp.safetensors")
    meta, _ = load_bundle(path)
    assert meta["privacy"]["epsilon"] == pytest.approx(spent["epsilon"])
    assert meta["settings"]["privacy"]["epsilon"] == 1.0
    loaded = Synthesizer.load(path)
    assert loaded.privacy_["epsilon"] == pytest.approx(spent["epsilon"])
    pd.testing.assert_frame_equal(
        loaded.sample(20, y=1, random_state=3), synth.sample(20, y=1, random_state=3)
    )


def test_training_stops_before_exceeding_the_budget():
    X, y = two_blobs(200, 1)
    # a fixed, small noise: the planned 200 steps would spend far more than epsilon 1
    synth = Synthesizer(
        "vae",
        epochs=40,
        batch_size=40,
        random_state=0,
        privacy=DPConfig(1.0, noise_multiplier=2.0),
        model_options=SMALL_VAE,
        trainer_options=QUIET,
    ).fit(X, y)
    p, hist = synth.privacy_, synth.history_
    assert hist.stopped_early and "privacy budget reached" in hist.stopped_early
    assert 0 < p["epsilon"] <= 1.0
    assert len(hist.steps) < 200
    over = epsilon_spent("rdp", 2.0, p["sample_rate"], p["steps"] + 1, p["delta"])
    assert over > 1.0  # it stopped at the last step that fits, not earlier
    # a noise so small that not even one step fits is a setting error, not a silent no-op
    with pytest.raises(ValueError, match="even one training step"):
        Synthesizer(
            "vae",
            epochs=1,
            batch_size=40,
            privacy=DPConfig(0.1, noise_multiplier=0.3),
            model_options=SMALL_VAE,
            trainer_options=QUIET,
        ).fit(X, y)


def test_empty_poisson_batches_never_overspend():
    # q = 0.1 on 20 rows: about one draw in eight is empty and costs a noise-only step
    X, y = two_blobs(20, 2)
    synth = Synthesizer(
        "vae",
        epochs=15,
        batch_size=2,
        random_state=0,
        privacy={"epsilon": 3.0},
        model_options=SMALL_VAE,
        trainer_options=QUIET,
    ).fit(X, y)
    p = synth.privacy_
    assert p["steps"] >= len(synth.history_.steps)
    assert p["epsilon"] <= 3.0


def test_batchnorm_is_swapped_with_a_warning_and_the_file_rebuilds_it(tmp_path):
    X, y = two_blobs(120, 3)
    with pytest.warns(UserWarning, match="BatchNorm") as record:
        synth = Synthesizer(
            "gan",
            epochs=2,
            batch_size=30,
            random_state=0,
            privacy=DPConfig(3.0),
            model_options={
                "architecture": "mlp-classic",
                "g_hidden": [16, 16],
                "d_hidden": [16, 16],
            },
            trainer_options=QUIET,
        ).fit(X, y)
    assert any("LayerNorm" in str(w.message) for w in record)
    assert synth.model_.hyper["d_norm"] == "layer"
    assert synth.privacy_["swapped_layers"] and synth.privacy_["private_parts"] == ["D"]
    path = synth.save(tmp_path / "gan.safetensors")
    loaded = Synthesizer.load(path)
    pd.testing.assert_frame_equal(
        loaded.sample(10, y=0, random_state=1), synth.sample(10, y=0, random_state=1)
    )


def test_settings_without_per_sample_gradients_are_refused():
    X, y = two_blobs(60, 4)
    with pytest.raises(ValueError, match="spectral_norm"):
        Synthesizer("gan", preset="stable", epochs=1, privacy=DPConfig(1.0)).fit(X, y)
    with pytest.raises(ValueError, match="does not support differentially private"):
        Synthesizer("rbm", epochs=1, privacy=DPConfig(1.0)).fit(X, y)
    with pytest.raises(ValueError, match="given twice"):
        Synthesizer(
            "vae", epochs=1, privacy=DPConfig(1.0), trainer_options={"privacy": {"epsilon": 2.0}}
        ).fit(X, y)


def test_dp_gan_path_learns_the_classes_and_beats_random_noise():
    """The DP-SGD path (per-sample clipping, Poisson batches, D alone reading real rows) with
    its noise made negligible learns what the plain GAN learns. At epsilon 1 these 300 rows
    teach it nothing: the noise drowns the clipped gradients, and its TSTR AUC is a coin flip
    per seed like random noise's (docs/privacy.md); an earlier version of this test passed on
    one such flip."""
    X, y = two_blobs(300, 5)
    X_test, y_test = two_blobs(400, 6)
    clf = {"logistic_regression": LogisticRegression()}

    def auc(rows: pd.DataFrame, labels: np.ndarray) -> float:
        return float(tstr(rows, labels, X_test, y_test, classifiers=clf).loc[0, "roc_auc"])

    labels = np.repeat([0, 1], 150)
    # random noise with the real table's mean and spread; labels carry no information, so its
    # AUC is a coin flip per seed (the test blobs are separable): average over seeds
    rng = np.random.default_rng(0)
    noise = [
        auc(
            pd.DataFrame(rng.normal(X.mean(), X.std(), (300, 2)), columns=["a", "b"]),
            rng.permutation(labels),
        )
        for _ in range(10)
    ]
    synth = Synthesizer(
        "gan",
        epochs=100,
        batch_size=64,
        random_state=0,
        privacy=DPConfig(1e6),
        model_options=SMALL_GAN,
        trainer_options=QUIET,
    ).fit(X, y)
    assert synth.privacy_["epsilon"] <= 1e6
    rows = synth.sample(y=labels, random_state=0)
    dp_auc = auc(rows, labels)
    assert 0.3 < np.mean(noise) < 0.7
    assert dp_auc > 0.95 and dp_auc > np.mean(noise) + 0.3
    means = rows.groupby(labels).mean().to_numpy()  # the blobs sit at (-2, -2) and (2, 2)
    assert (means[0] < -1).all() and (means[1] > 1).all(), means


def test_oversampler_takes_privacy():
    X, y = two_blobs(200, 7)
    keep = (y == 0) | (np.arange(200) % 4 == 0)
    X, y = X[keep].reset_index(drop=True), y[keep]
    sampler = GANOverSampler(
        epochs=2,
        random_state=0,
        privacy={"epsilon": 2.0},
        model_options=SMALL_GAN,
        trainer_options=QUIET,
    )
    X_res, y_res = sampler.fit_resample(X, y)
    counts = np.bincount(y_res)
    assert counts[0] == counts[1] == (y == 0).sum()
    assert 0 < sampler.synthesizer_.privacy_["epsilon"] <= 2.0
    with pytest.raises(ValueError, match="outside the DP guarantee"):
        GANOverSampler(epochs=1, privacy={"epsilon": 2.0}, filter="knn").fit_resample(X, y)


def test_privacy_metrics_separate_a_copy_from_a_fresh_sample():
    X, _ = two_blobs(300, 8)
    train, holdout = X.iloc[:150].reset_index(drop=True), X.iloc[150:].reset_index(drop=True)
    fresh, _ = two_blobs(150, 9)  # the same distribution, never seen
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        leak = privacy_report(train, train.copy(), holdout)
        safe = privacy_report(train, fresh, holdout)
    print("copy:", json.dumps({k: round(v, 3) for k, v in leak.items()}))
    print("fresh:", json.dumps({k: round(v, 3) for k, v in safe.items()}))
    assert leak["exact_copies"] == 150 and safe["exact_copies"] == 0
    assert leak["dcr_median"] == 0.0 and safe["dcr_median"] > 0.5 * safe["holdout_dcr_median"]
    assert leak["mia_auc"] > 0.95 and abs(safe["mia_auc"] - 0.5) < 0.1
    assert leak["share_closer_to_train"] > 0.95 and abs(safe["share_closer_to_train"] - 0.5) < 0.1
