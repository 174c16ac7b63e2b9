"""benchmarks/throughput.py's summary and table (the measurements themselves are a benchmark)."""

from __future__ import annotations


def _results() -> dict:
    sizes = {
        "100000": {
            "rows": 100000,
            "gb_encoder": {"fit_cpu_s": 3.0, "transform_cpu_s": 1.0},
            "ct_encoder": {
                "fit_cpu_s": 30.0,
                "transform_cpu_s": 10.0,
                "columns": ["num_0", "cat_0", "y"],
            },
            "gb_train_loop": {"rows_per_cpu_s": 4000.0, "peak_mib": 1200.0},
            "gb_train_loop_vae": {"rows_per_cpu_s": 10000.0},
            "gb_fit_and_sample": {
                "sample_rows": 200000,
                "generate_cpu_s": 10.0,
                "decode_cpu_s": 2.0,
                "peak_mib": 1900.0,
            },
        },
        # the CTGAN training size holds no genbalance training measurement
        "20000": {
            "rows": 20000,
            "gb_encoder": {"fit_cpu_s": 1.0, "transform_cpu_s": 0.5},
            "ct_train": {
                "rows": 20000,
                "transformer_cpu_s": 15.0,
                "rows_per_cpu_s": 2000.0,
                "sample_rows_per_cpu_s": 5000.0,
                "peak_mib": 7000.0,
            },
        },
    }
    machine = {"load_average_at_start": [2.5, 2.0, 1.0], "load_average_at_end": [3.0, 2.0, 1.0]}
    return {"machine": machine, "batch_size": 500, "train_steps": 50, "sizes": sizes}


def test_summary_ratios_come_from_the_measurements(benchmark_script):
    tp = benchmark_script("throughput")
    res = _results()
    s = tp.summarise(res)
    big = s["100000"]
    assert big["encoder_speedup"] == 40.0 / 4.0
    assert big["encoder_ct_cpu_s_extrapolated"] == 40.0 * 20  # one numeric column measured
    assert big["train_speedup"] == 2.0 and big["train_ct_measured_at_rows"] == 20000
    assert big["sample_generate_rows_per_cpu_s"] == 20000.0
    assert big["sample_end_to_end_rows_per_cpu_s"] == 200000 / 12.0
    small = s["20000"]
    assert small["encoder_speedup"] == 15.0 / 1.5 and "train_speedup" not in small
    md = tp.to_markdown(res, s)
    assert "| training rows/s (VAE, the default) | 10,000 | 2,000 | 5.0x |" in md
    assert "Load average at start / end: 2.5 / 3.0" in md
    assert "whole table encoded in memory, MiB | 1,200 |" in md


def test_a_failed_measurement_is_left_out_not_fatal(benchmark_script):
    tp = benchmark_script("throughput")
    res = _results()
    res["sizes"]["100000"]["gb_train_loop"] = {"error": "timed out after 3600 s"}
    s = tp.summarise(res)
    assert "train_gb_rows_per_cpu_s" not in s["100000"]
    assert "training rows/s (GAN)" not in tp.to_markdown(res, s)
