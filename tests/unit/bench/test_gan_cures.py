"""benchmarks/gan_cures.py in quick mode: one setting, one seed, a CSV and a summary."""

from __future__ import annotations

import csv


def test_quick_run_writes_results_and_summary(benchmark_script, tmp_path):
    gc = benchmark_script("gan_cures")
    rows = gc.main(["--quick", "--out", str(tmp_path), "--only", "plain", "--seeds", "0"])
    assert len(rows) == 1
    with open(tmp_path / "results.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == gc.COLUMNS
        written = list(reader)
    assert [r["setting"] for r in written] == ["plain"]
    row = written[0]
    assert 0 <= int(row["modes"]) <= 8
    assert 0.0 <= float(row["share"]) <= 1.0
    assert int(row["steps"]) == gc.QUICK_STEPS and int(row["rollbacks"]) == 0
    assert float(row["max_grad_norm_d"]) > 0 and float(row["max_grad_norm_g"]) > 0
    summary = (tmp_path / "summary.md").read_text()
    assert "| plain | minimax loss, nothing added |" in summary and "reference" in summary
    # --report rebuilds the summary from the CSV alone
    (tmp_path / "summary.md").unlink()
    gc.main(["--report", "--out", str(tmp_path), "--only", "plain"])
    assert (tmp_path / "summary.md").read_text() == summary


def test_settings_cover_every_preset_and_the_stress_cures(benchmark_script):
    gc = benchmark_script("gan_cures")
    names = {s.name for s in gc.settings()}
    assert {f"preset-{p}" for p in gc.PRESETS if p != "plain"} <= names
    for stress in gc.STRESS:
        assert {f"{stress}-{c}" for c in ("bare", "clip", "r1", "sn")} <= names
