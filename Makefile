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

# The tests marked background (the runner queue: mostly waiting on the runners they start) run
# in a second pytest process beside the rest, whose output follows at the end; either failing
# fails the target. The two-node cluster tests stay in the first: their health-check timings
# are what they test, and a neighbour's load changes them.
test: lint
	@$(VENV)/bin/pytest -q -p no:cacheprovider -m background > .pytest-background.log 2>&1 & \
	bg=$$!; \
	$(VENV)/bin/pytest -q -m "not background"; fg=$$?; \
	wait $$bg; bgrc=$$?; \
	echo "--- the background tests (pytest -m background) ---"; cat .pytest-background.log; \
	rm -f .pytest-background.log; \
	[ $$fg -eq 0 ] && [ $$bgrc -eq 0 ]

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
