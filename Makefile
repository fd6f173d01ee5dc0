# The README's commands: `make demo`, `make test` (everything, as CI), `make test-fast` (no `slow` tests)
# and `make docs` (regenerate the generated files under docs/).
# Both create or reuse .venv (idempotent: a second call only checks a stamp).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.syncgap-installed
# torch: a torch already importable by $(PYTHON) is reused (the venv then sees the
# base site-packages), a torch already in the venv is kept; otherwise a machine
# with an NVIDIA driver gets the default (CUDA) wheel and a CPU machine the pin.
TORCH_CPU ?= torch==2.13.0
SHELL := bash
.SHELLFLAGS := -o pipefail -c
# pip on some machines warns about every unused local index; keep its real errors only.
QUIET_PIP := 2>&1 | { grep -v '^WARNING: Location' || true; }

.PHONY: setup demo test test-fast docs bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || { if $(PYTHON) -c "import torch" 2>/dev/null; then \
	  echo "reusing the torch of $(PYTHON)"; $(PYTHON) -m venv --system-site-packages $(VENV); \
	  else $(PYTHON) -m venv $(VENV); fi; }
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  if command -v nvidia-smi >/dev/null 2>&1; then spec=torch; else spec="$(TORCH_CPU)"; fi; \
	  echo "installing $$spec"; $(PY) -m pip install -q "$$spec" $(QUIET_PIP); \
	fi
	$(PY) -m pip install -q -e ".[all]" $(QUIET_PIP)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/syncgap theory demo
	$(VENV)/bin/syncgap validate --out runs/demo

test: $(STAMP)
	$(VENV)/bin/pytest -q

# the loop while editing: every test not marked slow (tests/README.md), at least one per source module
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

# docs/theory.md and docs/tutorial.ipynb from their sources, docs/tutorial_figures/ from a fresh run of
# the tutorial in a temporary folder; the tests only compare against these files, never write them
docs: $(STAMP)
	$(PY) -m syncgap.theory.docs
	$(PY) -m syncgap.validation.docs.notebook docs/tutorial.md docs/tutorial.ipynb
	$(PY) tests/tutorial_run.py

# Benchmarks of record (benchmarks/RESULTS.md): each prints JSON, kept under runs/bench/.
BENCHES := ou_engine dit_coupling dit_gains sweep_throughput dit_cpu
bench: $(STAMP)
	@mkdir -p runs/bench
	@for b in $(BENCHES); do echo "== $$b"; $(PY) benchmarks/$$b.py --json | tee runs/bench/$$b.json || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
