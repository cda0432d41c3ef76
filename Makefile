# One-command setup on a fresh machine: everything goes into .venv/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install install-base demo test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The CPU torch wheel goes in first: a bare `torch` requirement would pull
# several GB of CUDA packages.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[train,eval,dev]'
	touch $(STAMP)

install: $(STAMP)

# Generation only (no torch): what a data-generation box needs.
install-base: | $(VENV)/bin/python
	$(PIP) install -q -e .

demo: $(STAMP)
	$(VENV)/bin/selfinstruct demo --out runs/demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) benchmarks/engine_bench.py
	$(PY) benchmarks/dedup_bench.py

clean:
	rm -rf $(VENV) runs .pytest_cache
