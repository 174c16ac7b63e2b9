"""The benchmark harness: genbalance against the SMOTE family and CTGAN on the KEEL datasets.

Protocol: ../shared/BENCHMARK.md, documented in docs/benchmark.md. Entry points are
``genbalance bench run|summarize`` and ``python -m benchmarks run|summarize``.
"""

from genbalance.bench.runner import resolve_datasets, run_benchmark
from genbalance.bench.samplers import (
    SAMPLERS,
    SamplerDef,
    get_sampler,
    parse_gb_spec,
    register_sampler,
)
from genbalance.bench.summary import summarize

__all__ = [
    "SAMPLERS",
    "SamplerDef",
    "get_sampler",
    "parse_gb_spec",
    "register_sampler",
    "resolve_datasets",
    "run_benchmark",
    "summarize",
]
