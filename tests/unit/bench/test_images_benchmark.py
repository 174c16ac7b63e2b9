"""benchmarks/images.py: --sets / --models parsing and how a run's rows join the stored ones
(no training here; the script's smoke run is ``--quick``)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest


def _rows(dataset: str, methods: list[str], value: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"dataset": dataset, "ratio": r, "method": m, "balanced_accuracy": value}
            for r in (10, 100)
            for m in methods
        ]
    )


def test_sets_default_all_and_unknown(benchmark_script) -> None:
    ib = benchmark_script("images")
    assert ib.parse_sets(None) == ["digits", "optdigits"]  # the stored results' sets
    assert ib.parse_sets("mnist") == ["mnist"]
    assert ib.parse_sets("all") == ["digits", "optdigits", "mnist"]
    assert ib.parse_sets("mnist, digits,mnist") == ["mnist", "digits"]
    with pytest.raises(ValueError, match="cifar"):
        ib.parse_sets("digits,cifar")
    assert ib.parse_models(None) is None and ib.parse_models("dcgan,gan") == ["dcgan", "gan"]
    with pytest.raises(ValueError, match="stylegan"):
        ib.parse_models("stylegan")


def test_bad_sets_option_stops_before_any_training(benchmark_script, monkeypatch) -> None:
    ib = benchmark_script("images")
    monkeypatch.setattr(sys, "argv", ["images.py", "--quick", "--sets", "cifar"])
    monkeypatch.setattr(ib, "run", lambda *a, **k: pytest.fail("run() reached"))
    with pytest.raises(SystemExit) as exc:
        ib.main()
    assert exc.value.code == 2


def test_pixelcnn_is_left_out_of_mnist_unless_named(benchmark_script) -> None:
    ib = benchmark_script("images")
    fams = lambda only, ds: [m[0] for m in ib._gen_models(only, ds)]  # noqa: E731
    assert "pixelcnn" in fams(None, "digits") and "pixelcnn" not in fams(None, "mnist")
    assert "dcgan" in fams(None, "mnist") and "conv-vae" in fams(None, "mnist")
    assert fams(["pixelcnn"], "mnist") == ["pixelcnn"]


def test_a_run_of_one_set_keeps_the_stored_rows_of_the_others(benchmark_script) -> None:
    ib = benchmark_script("images")
    old = pd.concat([_rows("digits", ["none", "dcgan"], 0.5), _rows("optdigits", ["none"], 0.6)])
    new = _rows("mnist", ["none", "dcgan"], 0.7)
    df = ib.merge_results(old, new, ["mnist"], None)
    assert len(df) == len(old) + len(new)
    assert list(dict.fromkeys(df["dataset"])) == ["digits", "optdigits", "mnist"]
    # a later full run of digits replaces its rows (a dropped method goes), keeps mnist's
    again = ib.merge_results(df, _rows("digits", ["none"], 0.9), ["digits"], None)
    assert list(dict.fromkeys(again["dataset"])) == ["digits", "optdigits", "mnist"]
    digits = again[again["dataset"] == "digits"]
    assert list(digits["method"]) == ["none", "none"] and (digits["balanced_accuracy"] == 0.9).all()
    assert (again[again["dataset"] == "mnist"]["balanced_accuracy"] == 0.7).all()


def test_a_run_of_some_families_replaces_only_their_rows(benchmark_script) -> None:
    ib = benchmark_script("images")
    old = pd.concat(
        [_rows("digits", ["none", "dcgan"], 0.5), _rows("mnist", ["none", "dcgan", "gan"], 0.6)]
    )
    new = _rows("mnist", ["none", "dcgan"], 0.8)
    df = ib.merge_results(old, new, ["mnist"], ["dcgan"])
    mnist = df[df["dataset"] == "mnist"]
    assert list(mnist["method"]) == ["none", "dcgan", "gan"] * 2  # stored places kept
    assert list(mnist["balanced_accuracy"]) == [0.8, 0.8, 0.6] * 2
    assert (df[df["dataset"] == "digits"]["balanced_accuracy"] == 0.5).all()


def test_rows_are_kept_as_scored_and_a_resumed_run_reuses_them(benchmark_script, tmp_path) -> None:
    ib = benchmark_script("images")
    partial = tmp_path / "partial.jsonl"
    ctx = {"base": {"dataset": "mnist", "ratio": 10}}
    first = ib.Rows(partial, resume=False)
    first.add({"dataset": "mnist", "ratio": 10, "method": "none", "balanced_accuracy": 0.5})
    first.add({"dataset": "mnist", "ratio": 10, "method": "dcgan", "balanced_accuracy": 0.6})
    # the run stops here, in the middle of writing a third row: the two finished ones are on disk
    with partial.open("a") as fh:
        fh.write('{"dataset": "mnist", "ratio": 10, "meth')
    again = ib.Rows(partial, resume=True)
    assert again.has(ctx, "dcgan") and again.has(ctx, "none")
    assert not again.has(ctx, "conv-vae") and not again.has(
        {"base": {**ctx["base"], "ratio": 100}}, "none"
    )
    again.add({"dataset": "mnist", "ratio": 10, "method": "conv-vae", "balanced_accuracy": 0.7})
    assert ib.Rows(partial, resume=True).has(ctx, "conv-vae")  # appended after the cut line
    frame = again.frame()
    assert list(frame["method"]) == ["none", "dcgan", "conv-vae"]
    assert frame["balanced_accuracy"].tolist() == [0.5, 0.6, 0.7]
    # a run without --resume starts clean
    fresh = ib.Rows(partial, resume=False)
    assert not partial.exists() and fresh.frame().empty
