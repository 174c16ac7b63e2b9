#!/usr/bin/env bash
# The stored `keel100` run (docs/benchmark.md): the baselines (with `weighted`, the cost-sensitive
# one: no resampling, balanced class/sample weights) on the development subset and then
# on all 100 KEEL datasets, then CTGAN on the development subset and on the rest; datasets
# smallest first so that coverage grows fast. Resumable: a re-run computes only the cells missing
# from benchmarks/cache/keel100/.
set -u
cd "$(dirname "$0")/.."
GB=".venv/bin/genbalance"
BASE="none,weighted,ros,smote,borderline,adasyn,polyfit,prowsyn"
COMMON=(--name keel100 --order size --folds 5 --seeds 0 -j 2 -q)
nice -n 10 "$GB" bench run "${COMMON[@]}" -d dev -s "$BASE"
nice -n 10 "$GB" bench run "${COMMON[@]}" -d all -s "$BASE"
nice -n 10 "$GB" bench run "${COMMON[@]}" -d dev -s ctgan
nice -n 10 "$GB" bench run "${COMMON[@]}" -d all -s ctgan
