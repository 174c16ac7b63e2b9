#!/usr/bin/env bash
# The stored `keel100` run (docs/benchmark.md): the baselines on all 100 KEEL datasets, then
# CTGAN on the development subset and on the rest, smallest datasets first. Resumable: a re-run
# computes only the cells missing from benchmarks/cache/keel100/.
set -u
cd "$(dirname "$0")/.."
GB=".venv/bin/genbalance"
nice -n 10 "$GB" bench run --name keel100 -d all --folds 5 --seeds 0 -j 2 -q \
    -s none,ros,smote,borderline,adasyn,polyfit,prowsyn
nice -n 10 "$GB" bench run --name keel100 -d dev --order size --folds 5 --seeds 0 -j 2 -q -s ctgan
nice -n 10 "$GB" bench run --name keel100 -d all --order size --folds 5 --seeds 0 -j 2 -q -s ctgan
