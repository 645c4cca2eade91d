# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install convnas, run the quickstart
#   make test   create .venv, install convnas + dev tools, run lint, types, import contracts, tests
# TORCH_SPEC pins the torch build the venv gets first (a CPU wheel is enough; see README).
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PIP_EXTRA ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.convnas-installed

.PHONY: install run test lint test-fast clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_EXTRA) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet $(PIP_EXTRA) -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The quickstart search: digits, SQLite (./convnas.db), local Ray; a few minutes on a laptop CPU.
run: install
	$(VENV)/bin/convnas space validate examples/quickstart.yaml
	$(VENV)/bin/convnas search run examples/quickstart.yaml
	$(VENV)/bin/convnas export quickstart -o best.yaml
	$(VENV)/bin/convnas arch summary best.yaml

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy space workers search api bench
	$(VENV)/bin/lint-imports

# Quick loop while developing: skips the tests marked slow (Ray searches, full-size models).
test-fast: install
	$(VENV)/bin/pytest -q -m "not slow"

test: lint
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
