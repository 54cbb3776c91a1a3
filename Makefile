# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install, start the embedded database, run the demo campaign
#   make test   install if needed, run the whole test suite (what CI runs)
#
# PYTHON=python3.12 make demo   builds the venv with that interpreter (3.11 or later)
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu make demo   takes torch from that
#   index only: on plain PyPI, Linux gets the CUDA build of torch (GBs) without it

PYTHON          ?= python3
TORCH_INDEX_URL ?=
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench db-start db-stop clean constraints

# torch first, 2.13.0: with TORCH_INDEX_URL from that index alone (--index-url; with
# --extra-index-url, PyPI's CUDA build would be taken silently wherever that index has no
# wheel for this platform or Python), else from pip's configured index.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { version=$$($(PYTHON) --version 2>/dev/null) \
	  && $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))'; } \
	  || { echo "matloop needs Python 3.11 or later; '$(PYTHON)' is $${version:-not found}:" \
	       "run make with PYTHON=python3.11 (or a later one)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) \
	  torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]" -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

# constraints.txt: after a change to pyproject.toml's dependencies, installs what it asks
# for without the old pins (which it may contradict), then writes this venv's versions
# there, for installs to come (CI's, the image's); then run `make test`.
constraints:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) \
	  torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	{ sed -n '/^#/p' constraints.txt; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -e '^torch==' -e '^#'; } \
	  > constraints.new
	mv constraints.new constraints.txt
	touch $(STAMP)

demo: install
	$(BIN)/matloop db start
	$(BIN)/matloop demo

# pytest-xdist: a worker per core, at most TEST_WORKERS (each holds torch, models and its
# own database and Prefect servers); a test file stays on one worker, so its module
# fixtures are built once. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 4

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n auto --maxprocesses $(TEST_WORKERS) --dist loadfile)

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
