"""benchmarks/gpu_check.py runs its checks on CPU too, so it is ready when a GPU is lent."""

from __future__ import annotations

import json


def test_quick_checks_pass_on_cpu_and_are_written_as_json(tmp_path, benchmark_script):
    gc = benchmark_script("gpu_check")
    res = gc.main(["--device", "cpu", "--quick", "--out", str(tmp_path), "--only", "amp,images"])
    checks = res["checks"]
    # amp on CPU: a recorded no-op; images: every image family added the images asked for
    assert set(checks) == {"amp:gan", "amp:vae"} | {f"images:{m}" for m in gc.IMAGES}
    assert all(c["ok"] for c in checks.values()), {k: c.get("error") for k, c in checks.items()}
    assert checks["amp:vae"]["same_seed_same_rows"] and checks["amp:vae"]["rows_finite"]
    assert any("amp=True ignored" in e for e in checks["amp:gan"]["history_events"])
    assert all(checks[f"images:{m}"]["counts_as_asked"] for m in gc.IMAGES)
    assert checks["images:pixelcnn"]["added"] == 8 and checks["images:pixelcnn"]["finite"]
    stored = json.loads((tmp_path / "gpu_check.json").read_text())
    assert stored["checks"].keys() == checks.keys() and stored["device"] == "cpu"


def test_a_failing_check_is_recorded_not_raised(tmp_path, monkeypatch, benchmark_script):
    gc = benchmark_script("gpu_check")

    def broken(*args, **kwargs):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(gc, "check_family", broken)
    res = gc.main(["--device", "cpu", "--quick", "--out", str(tmp_path), "--only", "families"])
    assert len(res["checks"]) == len(gc.TABULAR)
    assert all(not c["ok"] and "no kernel image" in c["error"] for c in res["checks"].values())
