"""``python -m benchmarks run|summarize|samplers``: the same commands as ``genbalance bench``."""

from genbalance.cli.bench import bench_app

if __name__ == "__main__":
    bench_app(prog_name="python -m benchmarks")
