# The README's commands live here. `make demo` sets up and runs the main job; `make check` is
# what CI runs (.ci/run): ruff (lint and format), mypy (package, tests, bench), the import
# contracts, then the whole test suite. `make test` runs only the last two.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: browser speech setup demo dev test contracts lint typecheck check bench docs clean

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
test: contracts browser speech
	$(BIN)/pytest -q

# The console's tests drive Debian's Chromium with Playwright. Installed when we may (root with
# apt-get); otherwise those tests are skipped and say why.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the console tests"; \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || \
		 (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) || \
		echo "could not install chromium: the console tests will be skipped"; \
	else echo "no /usr/bin/chromium and not root: the console tests will be skipped"; fi

# The voice tests speak with Debian's espeak-ng, so they know what was said. Installed when we
# may (root with apt-get); otherwise those tests are skipped and say why.
speech:
	@if command -v espeak-ng >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing espeak-ng for the voice tests"; \
		(apt-get install -y -qq espeak-ng >/dev/null 2>&1 || \
		 (apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null)) || \
		echo "could not install espeak-ng: the local speech test will be skipped"; \
	else echo "no espeak-ng and not root: the local speech test will be skipped"; fi

contracts: setup
	$(BIN)/lint-imports

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# What mypy checks is in pyproject.toml ([tool.mypy] files): the package, tests/ and bench/.
typecheck: setup
	$(BIN)/mypy

# The fast checks first: each takes seconds and names what breaks before the suite's minutes.
check: lint typecheck test

bench: setup
	$(BIN)/python bench/sample_run.py

# The generated references (docs/reference/): the API's from its OpenAPI document, the
# configuration's from the settings (aios/config/). tests/cli/test_docs_reference.py fails when
# either drifts.
docs: setup
	$(BIN)/python -m cli.docs_reference

clean:
	rm -rf $(VENV) .aios .pytest_cache .mypy_cache .ruff_cache
