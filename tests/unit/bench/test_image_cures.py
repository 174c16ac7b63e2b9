"""benchmarks/image_cures.py: its settings, their checks and its options (no training here;
the script's smoke run is ``--quick``)."""

from __future__ import annotations

import pandas as pd
import pytest

#: settings whose one switch sets two values (TTUR moves both learning rates)
TWO_VALUE_SWITCHES = {"ttur"}


def _options(ic, s) -> dict:
    return {**ic.model_options(s), **ic.trainer_options(s)}


def test_reference_is_the_images_benchmark_dcgan(benchmark_script) -> None:
    ic = benchmark_script("image_cures")
    ib = benchmark_script("images")
    steps, mopts, topts = next((st, m, t) for f, st, m, t in ib.GEN_MODELS if f == "dcgan")
    ref = ic.settings()[0]
    assert ref.name == "reference" and ic.STEPS == steps
    assert ic.model_options(ref) == mopts
    assert ic.trainer_options(ref) == {"batch_size": 64, **topts}


def test_every_setting_is_one_switch_from_its_reference(benchmark_script) -> None:
    ic = benchmark_script("image_cures")
    chosen = ic.choose(None)  # every setting passes the checks
    by_name = {s.name: s for s in chosen}
    assert len(by_name) == len(chosen)
    for s in chosen[1:]:
        mine, ref = _options(ic, s), _options(ic, by_name[s.reference])
        changed = {k for k in mine.keys() | ref.keys() if mine.get(k) != ref.get(k)}
        assert len(changed) == (2 if s.name in TWO_VALUE_SWITCHES else 1), (s.name, changed)
    names = set(by_name)
    assert {"no-augment", "no-ema", "natural", "sqrt", "grad-clip"} <= names
    assert any(n.startswith("n-critic-") for n in names)
    assert _options(ic, by_name["no-ema"])["ema"] is None


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"model": {"spectral_nrom": False}}, "unknown dcgan switch.*spectral_nrom"),
        ({"trainer": {"emma": 0.9}}, "unknown trainer switch.*emma"),
        ({"trainer": {"sampling": "uniform"}}, "'bad'.*sampling must be one of"),
        ({"model": {"aug_policy": "flip"}}, "'bad'.*unknown augmentation"),
    ],
)
def test_a_bad_switch_fails_with_a_clear_error(benchmark_script, setting, message) -> None:
    ic = benchmark_script("image_cures")
    bad = ic.Setting("bad", "test", "a bad switch", **setting)
    with pytest.raises(ValueError, match=message):
        ic.choose(None, [*ic.settings(), bad])


@pytest.mark.parametrize("default", [1, 2])
def test_the_critic_switch_is_the_other_of_one_or_two(benchmark_script, monkeypatch, default):
    ic = benchmark_script("image_cures")
    monkeypatch.setitem(ic.DCGAN_DEFAULTS, "n_critic", default)
    other = 3 - default
    s = {s.name: s for s in ic.choose(None)}[f"n-critic-{other}"]
    assert ic.effective(s)["model"]["n_critic"] == other


def test_a_switch_that_changes_nothing_is_refused(benchmark_script) -> None:
    ic = benchmark_script("image_cures")
    same = ic.Setting("same", "test", "balanced again", trainer={"sampling": "balanced"})
    with pytest.raises(ValueError, match="'same' changes nothing against 'reference'"):
        ic.choose(None, [*ic.settings(), same])


def test_bad_options_stop_before_any_training(benchmark_script, monkeypatch) -> None:
    ic = benchmark_script("image_cures")
    monkeypatch.setattr(ic, "run", lambda *a, **k: pytest.fail("run() reached"))
    for argv in (["--only", "reference,no-such"], ["--seeds", "0,x"], ["--seeds", "-1"]):
        with pytest.raises(SystemExit) as exc:
            ic.main(["--quick", *argv])
        assert exc.value.code == 2
    bad = ic.Setting("bad", "test", "unknown", {"minibatch_std": True})
    monkeypatch.setattr(ic, "settings", lambda: [bad])
    with pytest.raises(SystemExit) as exc:
        ic.main(["--quick"])
    assert exc.value.code == 2


def test_only_and_seeds(benchmark_script) -> None:
    ic = benchmark_script("image_cures")
    assert [s.name for s in ic.choose("no-ema,reference")] == ["reference", "no-ema"]
    assert ic.parse_seeds("0,2,0") == [0, 2]
    ref = ic.settings()[0]
    assert ic.method_name(ref, 0) == "reference" and ic.method_name(ref, 2) == "reference@2"


def _row(ratio: int, setting: str, seed: int, acc: float) -> dict:
    return {
        "dataset": "digits",
        "ratio": ratio,
        "n_train": 100,
        "setting": setting,
        "seed": seed,
        "method": setting if seed == 0 else f"{setting}@{seed}",
        "balanced_accuracy": acc,
        "minority_recall": acc / 2,
        "fd": 100.0,
        "collapsed": "",
        "collapse_warning": False,
    }


def test_merge_keeps_stored_rows_and_summary_reads_deltas(benchmark_script) -> None:
    ic = benchmark_script("image_cures")
    old = pd.DataFrame(
        [_row(r, s, 0, 0.8) for r in ic.RATIOS for s in ("reference", "no-ema", "natural")]
    )
    new = pd.DataFrame([_row(r, "reference", sd, 0.7) for r in ic.RATIOS for sd in (0, 1)])
    df = ic.merge(old, new)
    assert len(df) == len(old) + len(ic.RATIOS)
    first = df[df["ratio"] == ic.RATIOS[0]]
    assert list(first["method"]) == ["reference", "reference@1", "no-ema", "natural"]
    assert list(first["balanced_accuracy"]) == [0.7, 0.7, 0.8, 0.8]
    text = ic.summarise(df, [{"commit": "abc1234", "seeds": "0,1"}])
    assert "- run: commit abc1234, seeds 0,1" in text
    assert "| no-ema | ema=None (raw G weights) | 1 | 0.800 | 0.400 | +0.100 | +0.050 |" in text
    assert (
        "| reference | as images.py: warm start, DiffAugment, EMA 0.99, balanced | 2 | 0.700 "
        "(0.700-0.700) |" in text
    )
    assert "| natural | 0.800 / 0.400 |  |" in text  # per seed: natural ran on seed 0 only


def test_steps_and_half_ros_options(benchmark_script) -> None:
    """--steps sets the adversarial steps (checked), --half-ros adds the mixed variant; a
    variant row, whose setting is not in the list, is summarised against `reference`."""
    ic = benchmark_script("image_cures")
    args, _, _ = ic.parse_args(["--only", "reference", "--steps", "1500", "--half-ros"])
    assert args.steps == 1500 and args.half_ros
    assert ic.parse_args([])[0].steps == ic.STEPS and not ic.parse_args([])[0].half_ros
    with pytest.raises(SystemExit):
        ic.parse_args(["--steps", "0"])
    rows = [_row(r, s, 0, acc) for r in ic.RATIOS for s, acc in
            (("reference", 0.8), ("reference+half-ros", 0.85))]  # fmt: skip
    text = ic.summarise(pd.DataFrame(rows), [{"commit": "abc1234", "steps": "1000"}])
    assert "| reference+half-ros |  | 1 | 0.850 | 0.425 | +0.050 | +0.025 |" in text
