# The README's two commands: `make demo` and `make test`.
# Both create or reuse .venv (idempotent: a second call only checks a stamp).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.syncgap-installed
# CPU machines get the local CPU build; a machine with an NVIDIA driver gets the
# default (CUDA) wheel; a torch already in the venv is always kept.
TORCH_CPU ?= torch==2.13.0

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  if command -v nvidia-smi >/dev/null 2>&1; then spec=torch; else spec="$(TORCH_CPU)"; fi; \
	  echo "installing $$spec"; $(PY) -m pip install -q "$$spec"; \
	fi
	$(PY) -m pip install -q -e ".[all]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/syncgap theory demo
	$(VENV)/bin/syncgap validate --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/ou_engine.py --json

clean:
	rm -rf $(VENV) runs .pytest_cache
