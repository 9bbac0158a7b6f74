# Two commands do all the setup: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)

.PHONY: run test lint fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Until `sipwright serve` exists, the most useful command: lint the seed messages.
# (One seed is wrong on purpose, so lint exits 1; that is the expected verdict.)
run: $(VENV)/.installed
	-$(BIN)/sipwright lint $(SHARED)/seeds/examples/*.sip

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q

fuzz: $(VENV)/.installed-dev
	SIPWRIGHT_FUZZ_EXAMPLES=$${SIPWRIGHT_FUZZ_EXAMPLES:-100000} $(BIN)/python -m pytest -q tests/test_fuzz.py

bench: $(VENV)/.installed
	$(BIN)/python bench/parse_bench.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
