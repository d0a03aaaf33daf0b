# The README's commands live here. `make demo` sets up and runs the main job; `make test` runs
# the whole test suite (what CI runs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo dev test contracts lint typecheck check bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "AIOS needs Python 3.11"' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: anything else would pull gigabytes of CUDA wheels.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/aios demo

dev: setup
	$(BIN)/aios dev

# The layer contracts first: they take a second and name the import that breaks a layer.
test: contracts
	$(BIN)/pytest -q

contracts: setup
	$(BIN)/lint-imports

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

bench: setup
	$(BIN)/python bench/sample_run.py

clean:
	rm -rf $(VENV) .aios .pytest_cache .mypy_cache .ruff_cache
