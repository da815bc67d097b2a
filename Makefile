# The two commands on the README's first screen: `make demo` and `make test`. Both set up first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast test-gpu bench docs

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/audiosift demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not browser and not ray and not gpu"

# On a machine with a CUDA GPU (CI has none): GPU parity and half-precision tests.
test-gpu: setup
	$(PY) -m pytest -q -m gpu

bench: setup
	$(PY) bench/bench_classify.py

docs: setup
	$(PY) scripts/make_cli_reference.py
