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

# The proxy and registrar on loopback, in the foreground (Ctrl-C stops it gracefully):
# SIP on udp/tcp 127.0.0.1:5060, the dashboard on http://127.0.0.1:8080/ (also /metrics, and
# SIP over WebSocket at ws://127.0.0.1:8080/ws), the SQLite
# store under ./var/. Add users with `.venv/bin/sipwright user add NAME --domain D`.
run: $(VENV)/.installed
	mkdir -p var
	$(BIN)/sipwright serve --db var/sipwright.db

test: $(VENV)/.installed-dev
	@# JsSIP (pinned in tests/browser/package-lock.json) for the browser interop tests; they
	@# fail under CI=true, skip locally, without it.
	if command -v npm >/dev/null; then npm ci --prefix tests/browser --no-audit --no-fund; fi
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
