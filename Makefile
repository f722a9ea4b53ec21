# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev,dask,excel,postgres
# One BLAS/OpenMP thread per worker: the parallelism is across segments, not inside a fit.
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: venv demo test test-quick ui-check work-pool bench bench-accuracy bench-hierarchy clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv 2>/dev/null || true
	@if [ -x $(VENV)/bin/uv ]; then \
	  $(VENV)/bin/uv pip install -q --python $(PY) -e ".[$(EXTRAS)]"; \
	else \
	  $(PY) -m pip install -q -e ".[$(EXTRAS)]"; \
	fi
	@# Bytecode once, here: uv writes none, and with PYTHONDONTWRITEBYTECODE=1 (set on our CI machines)
	@# every new process (workers, servers, CLI runs) compiled Prefect, MLflow and pandas again: 19 s -> 7 s.
	@$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/forecast-flows demo

test: $(STAMP)
	$(PY) -m pytest -q

# The quick subset for iterating: everything but the end-to-end tests marked slow.
test-quick: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The run page in a real browser: installs Debian's chromium when missing, trains the grouped sample
# (reconciled) through a real Prefect server and finds the forecast charts, the waterfalls of the worst
# segments and the total, and the reconciled total on the run's Artifacts tab (headless).
# UI_CHECK_SCREENSHOT=docs/prefect-waterfall.png keeps the screenshot.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ui-check: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)
	UI_CHECK_REQUIRED=1 $(PY) -m pytest -q -p no:cacheprovider tests/test_ui.py -rs

# Once, before `prefect deploy --all`: the process work pool the deployments in prefect.yaml use.
work-pool: $(STAMP)
	$(PY) -m deployments.work_pool

clean:
	rm -rf $(VENV) .forecast-flows

# Throughput of a whole retraining on the real paths (loops, a deployment run by a worker, the CLI, forecast --workers; SQLite and
# PostgreSQL) at 100 segments; BENCH_ARGS=--long adds 1,000. See docs/benchmarks.md.
bench: $(STAMP)
	$(PY) -m benchmarks.throughput $(BENCH_ARGS)

# Forecast accuracy on M3 monthly (+ FINANCE) and the daily finance series; see docs/benchmarks.md.
bench-accuracy: $(STAMP)
	$(PY) -m benchmarks.accuracy

# Reconciled hierarchies beside hierarchicalforecast's own pipeline (AutoETS + MinT shrink) on real grouped
# data (fpp2 visnights and prison, the bundled grouped sample); see docs/benchmarks.md.
bench-hierarchy: $(STAMP)
	$(PY) -m benchmarks.hierarchy $(BENCH_ARGS)
