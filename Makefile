# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install, start the embedded database, run the demo campaign
#   make test   install if needed, run the whole test suite (what CI runs)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench db-start db-stop clean

# torch first: the CPU wheel 2.13.0; a bare `torch` requirement would pull CUDA builds.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/matloop db start
	$(BIN)/matloop demo

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/campaign_olympus.py

db-start: install
	$(BIN)/matloop db start

db-stop: install
	$(BIN)/matloop db stop

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache .mypy_cache *.egg-info
