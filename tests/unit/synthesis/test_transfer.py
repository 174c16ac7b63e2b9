"""Warm starts (``fit(..., init=...)``): what transfers, what starts fresh, clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from genbalance.sampling.tabular import GenerativeOverSampler
from genbalance.synthesis import cache as fit_cache
from genbalance.synthesis.tabular import Synthesizer
from genbalance.synthesis.transfer import WarmStart, as_warm_start

STEPS = 40


def make_table(n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two related domains differ by ``shift``; class "b" is the rare one."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.25, "b", "a")
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n) + (y == "b") * 3 + shift,
            "z": rng.gamma(2.0, size=n) + (y == "b"),
            "k": np.where(rng.random(n) < 0.5 + 0.3 * (y == "b"), "u", "v"),
        }
    )
    return X, y


def synth(model: str = "vae", steps: int = STEPS, seed: int = 1, **kw) -> Synthesizer:
    return Synthesizer(
        model,
        epochs=None,
        trainer_options={"max_steps": steps, "health_check": False},
        random_state=seed,
        progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def source_table():
    return make_table(800, seed=0)


@pytest.fixture(scope="module")
def target_table(source_table):
    X, y = make_table(120, seed=5, shift=0.1)
    lo, hi = source_table[0]["x"].min(), source_table[0]["x"].max()
    keep = X["x"].between(lo, hi).to_numpy()  # values the source's modes cover
    return X[keep].reset_index(drop=True), y[keep]


@pytest.fixture(scope="module")
def source(source_table):
    return synth(steps=300, seed=0).fit(*source_table)


def weights(s: Synthesizer) -> dict[str, torch.Tensor]:
    return s.model_.state_tensors()


def losses(s: Synthesizer, k: int = 10) -> float:
    return float(np.mean(s.history_.series("loss")[:k]))


# ---------------------------------------------------------------------------- exact schema
def test_exact_transfer_starts_from_the_source(source, target_table):
    X, y = target_table
    scratch = synth().fit(X, y)
    tuned = synth().fit(X, y, init=source)
    report = tuned.transfer_
    assert report["columns"]["reused"] == ["x", "z", "k"] and not report["columns"]["refitted"]
    assert report["classes"] == {"shared": ["a", "b"], "new": [], "dropped": []}
    assert report["weights"]["share_copied"] == 1.0
    assert tuned.encoder_.to_json()["codecs"] == source.encoder_.to_json()["codecs"]
    a, b = weights(scratch), weights(tuned)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    # the first losses: a trained start is far ahead of random weights on a related table
    assert losses(tuned) < 0.8 * losses(scratch)
    assert scratch.transfer_ is None


def test_zero_steps_keeps_the_source_weights_exactly(source, target_table):
    tuned = synth(steps=0).fit(*target_table, init=source)
    a, b = weights(source), weights(tuned)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_seeded_runs_reproduce_and_a_file_path_works(source, target_table, tmp_path):
    path = source.save(tmp_path / "source.safetensors")
    X, y = target_table
    runs = [
        synth().fit(X, y, init=source),
        synth().fit(X, y, init=str(path)),
        synth().fit(X, y, init=WarmStart(tmp_path / "source.safetensors")),
    ]
    first = weights(runs[0])
    for run in runs[1:]:
        assert all(torch.equal(first[k], v) for k, v in weights(run).items())
    rows = [r.sample(20, random_state=3) for r in runs]
    pd.testing.assert_frame_equal(rows[0], rows[1])
    pd.testing.assert_frame_equal(rows[0], rows[2])


def test_saved_model_keeps_the_transfer_report(source, target_table, tmp_path):
    tuned = synth(steps=5).fit(*target_table, init=source)
    loaded = Synthesizer.load(tuned.save(tmp_path / "tuned.safetensors"))
    assert loaded.transfer_ == tuned.transfer_


# ------------------------------------------------------ columns, codecs and labels line up
def _slots(target: Synthesizer, source: Synthesizer) -> tuple[np.ndarray, np.ndarray]:
    """Target and source encoded positions of the columns both have (by name)."""
    src = {c["column"]: c for c in source.encoder_.column_layout}
    t_pos, s_pos = [], []
    for col in target.encoder_.column_layout:
        if col["column"] in src:
            t_pos.append(np.arange(col["start"], col["stop"]))
            s_pos.append(np.arange(src[col["column"]]["start"], src[col["column"]]["stop"]))
    return np.concatenate(t_pos), np.concatenate(s_pos)


def _outputs(s: Synthesizer, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A deterministic network output indexed by encoded slots, per family (the GAN's
    discriminator score, one per packed group, is appended as a last column)."""
    model = s.model_
    model.train(False)
    with torch.no_grad():
        if model.family == "vae":
            return model.decode(z[:, : model.hyper["latent_dim"]], y)
        if model.family == "gan":
            rows = model.G.raw(z[:, : model.hyper["z_dim"]], y)
            score = model.D(x, y).repeat_interleave(model.hyper["pac"])
            return torch.cat([rows, score[:, None]], dim=1)
        return model.net(x, torch.full((len(y),), 3), y)  # diffusion: the denoiser


LAYOUT_CASES = {
    "vae": ("vae", {}),
    "gan": ("gan", {}),
    "gan-classic-pac": ("gan", {"architecture": "mlp-classic", "pac": 2, "minibatch_std": True}),
    "diffusion": ("diffusion", {}),
}


@pytest.mark.parametrize("case", sorted(LAYOUT_CASES))
def test_weights_follow_columns_and_labels(case, source_table):
    """Reordered and new columns, a new label and a dropped one: the units of the shared
    columns and the shared label compute exactly what the source's did."""
    family, options = LAYOUT_CASES[case]
    X, y = source_table
    src = synth(family, steps=20, seed=0, model_options=options).fit(X, y)
    Xt = X[["k", "x", "z"]].assign(w=np.linspace(0, 1, len(X))).iloc[:300]
    yt = np.where(y[:300] == "b", "c", y[:300])  # "a" is shared, "c" new, "b" dropped
    tuned = synth(family, steps=0, seed=7).fit(Xt, yt, init=WarmStart(src, columns="shared"))
    report = tuned.transfer_
    assert report["columns"]["new"] == ["w"] and report["classes"]["new"] == ["c"]
    assert report["classes"]["dropped"] == ["b"] and report["weights"]["partly_copied"] > 0
    t_pos, s_pos = _slots(tuned, src)
    n = 16
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, 512, generator=gen)
    x_s = torch.rand(n, src.model_.data_dim, generator=gen)
    x_t = torch.zeros(n, tuned.model_.data_dim)
    x_t[:, t_pos] = x_s[:, s_pos]  # the new column's slots are zero: they add nothing
    shared_s = torch.full((n,), int(src.label_codes(["a"])[0]))
    shared_t = torch.full((n,), int(tuned.label_codes(["a"])[0]))
    out_s = _outputs(src, x_s, z, shared_s)
    out_t = _outputs(tuned, x_t, z, shared_t)
    if family == "gan":  # the discriminator's score rides along as one more column
        t_pos = np.append(t_pos, tuned.model_.data_dim)
        s_pos = np.append(s_pos, src.model_.data_dim)
    torch.testing.assert_close(out_t[:, t_pos], out_s[:, s_pos], rtol=1e-5, atol=1e-5)
    new_t = torch.full((n,), int(tuned.label_codes(["c"])[0]))
    assert not torch.allclose(_outputs(tuned, x_t, z, new_t)[:, t_pos], out_s[:, s_pos])


def test_values_outside_the_source_codec_refit_that_column(source, target_table):
    X, y = target_table
    X = X.assign(x=X["x"] + 100.0, k=np.where(np.arange(len(X)) % 2, "u", "new"))
    tuned = synth(steps=5).fit(X, y, init=source)
    refitted = tuned.transfer_["columns"]["refitted"]
    assert set(refitted) == {"x", "k"} and tuned.transfer_["columns"]["reused"] == ["z"]
    assert "outside the source's modes" in refitted["x"] and "'new'" in refitted["k"]
    assert 0 < tuned.transfer_["weights"]["share_copied"] < 1
    with pytest.raises(ValueError, match=r"encoder='reuse' but 2 shared column\(s\).*'x'.*'k'"):
        synth(steps=5).fit(X, y, init=WarmStart(source, encoder="reuse"))
    refit = synth(steps=5).fit(*target_table, init=WarmStart(source, encoder="refit"))
    assert refit.transfer_["columns"]["reused"] == []


def test_reused_codecs_take_the_tables_kind_and_range(source, target_table):
    X, y = target_table
    X = X.assign(z=X["z"].round(), k=X["k"].map({"u": 1.0, "v": 2.0}))
    tuned = synth(steps=5).fit(X, y, init=source)
    cols = tuned.transfer_["columns"]
    assert cols["reused"] == ["x", "z"]  # whole numbers fit the source's modes
    assert cols["refitted"] == {"k": "a categorical column in the source, numeric in the table"}
    rows = tuned.sample(200, random_state=0)
    assert np.array_equal(rows["z"], rows["z"].round())  # rounded: the table's integer kind
    assert rows["z"].between(X["z"].min(), X["z"].max()).all()  # clipped to the table's range


def test_class_policies(source, target_table):
    X, y = target_table
    fresh = synth(steps=5).fit(X, y, init=WarmStart(source, classes="fresh"))
    assert fresh.transfer_["classes"]["shared"] == []
    mapped = synth(steps=5).fit(
        X, np.where(y == "b", "rare", y), init=WarmStart(source, classes={"rare": "b"})
    )
    assert mapped.transfer_["classes"]["shared"] == ["rare"]
    with pytest.raises(ValueError, match=r"keys \['zebra'\] are not classes of the table"):
        synth(steps=5).fit(X, y, init=WarmStart(source, classes={"zebra": "b"}))


# ------------------------------------------------------------------------------ refusals
def test_mismatched_columns_are_named(source, target_table):
    X, y = target_table
    other = X.drop(columns="z").assign(w=1.0)
    with pytest.raises(
        ValueError, match=r"missing from the table: \['z'\]; not in the source: \['w'\]"
    ):
        synth().fit(other, y, init=source)
    shared = synth(steps=5).fit(other, y, init=WarmStart(source, columns="shared"))
    assert shared.transfer_["columns"]["dropped"] == ["z"]
    assert shared.transfer_["columns"]["new"] == ["w"]
    with pytest.raises(ValueError, match=r"shares no column.*\['x', 'z', 'k'\]"):
        synth().fit(pd.DataFrame({"q": np.arange(10.0)}), None, init=WarmStart(source, "shared"))


def test_other_family_is_refused(source, target_table):
    with pytest.raises(ValueError, match=r"'vae' model but this fit trains 'gan'.*--model vae"):
        synth("gan").fit(*target_table, init=source)
    sampler = GenerativeOverSampler("gan", init=source, random_state=0, progress=False)
    with pytest.raises(ValueError, match="same family"):
        sampler.fit_resample(*target_table)


def test_family_without_layout_needs_identical_layout(source_table):
    X, y = source_table
    src = synth("made", steps=5, seed=0).fit(X, y)
    same = synth("made", steps=5).fit(X.iloc[:200], y[:200], init=src)
    assert same.transfer_["weights"]["share_copied"] == 1.0
    with pytest.raises(ValueError, match=r"'made' family transfers only.*new \['w'\].*vae"):
        synth("made", steps=5).fit(X.assign(w=1.0), y, init=WarmStart(src, columns="shared"))


def test_bad_init_values_are_clear(tmp_path, target_table):
    X, y = target_table
    with pytest.raises(TypeError, match="init must be a fitted Synthesizer.*got int"):
        synth().fit(X, y, init=42)
    with pytest.raises(ValueError, match="not fitted yet"):
        synth().fit(X, y, init=Synthesizer())
    with pytest.raises(FileNotFoundError, match="model file not found"):
        synth().fit(X, y, init=tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match=r"columns='some'; accepted: 'exact', 'shared'"):
        WarmStart("m.safetensors", columns="some")
    with pytest.raises(ValueError, match="classes=3; accepted"):
        WarmStart("m.safetensors", classes=3)
    assert as_warm_start("m.safetensors").is_path  # read only when a loader is given


def test_changing_the_trunk_warns(source, target_table):
    with pytest.warns(UserWarning, match="start fresh"):
        options = {"hidden": [64, 64], "encoder_hidden": [64]}  # both networks change shape
        tuned = synth(steps=5, model_options=options).fit(*target_table, init=source)
    assert tuned.transfer_["weights"]["share_copied"] < 0.5


# ------------------------------------------------------------------------------ the sampler
def test_sampler_fine_tunes_and_caches_by_source(source, source_table, target_table):
    X, y = target_table
    fit_cache.clear()
    kw = {"random_state": 0, "progress": False, "epochs": None}
    kw["trainer_options"] = {"max_steps": 10, "health_check": False}
    first = GenerativeOverSampler(init=source, **kw)
    X_res, y_res = first.fit_resample(X, y)
    assert (pd.Series(y_res).value_counts() == (y == "a").sum()).all()
    assert first.synthesizer_.transfer_["weights"]["share_copied"] == 1.0
    again = GenerativeOverSampler(init=source, generation="sample", **kw)
    again.fit_resample(X, y)
    assert again.from_cache_ and again.synthesizer_ is first.synthesizer_
    other_source = synth(steps=20, seed=9).fit(*source_table)
    for init in (None, other_source, WarmStart(source, classes="fresh")):
        sampler = GenerativeOverSampler(init=init, **kw)
        sampler.fit_resample(X, y)
        assert not sampler.from_cache_
    fit_cache.clear()


def test_benchmark_removes_every_target_row_from_the_source(benchmark_script):
    bench = benchmark_script("transfer")
    target = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    source = pd.DataFrame({"a": [1.0, 1.0, 2.0, 3.0], "b": ["x", "x", "z", "y"]})
    X, y, removed = bench.clean_source(target, source, pd.Series(list("pqrs")))
    assert removed == 2  # both copies of the target's first row
    assert X.to_dict("list") == {"a": [2.0, 3.0], "b": ["z", "y"]} and list(y) == ["r", "s"]
