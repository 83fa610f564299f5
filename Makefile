# Two entry points for a fresh Debian machine (README.md): `make demo` and `make test`.
# Both create ./.venv, install torch 2.13.0 first (a CPU build where one is available;
# a bare torch requirement would pull gigabytes of CUDA wheels), then spmito with its extras.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.spmito-installed

.PHONY: setup demo test system-deps lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[napari,dev]"
	touch $@

demo: $(STAMP)
	$(VENV)/bin/spmito demo

system-deps:
	bash scripts/install-system-deps.sh

test: $(STAMP) system-deps
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check imaging segment measure plugins tests

clean:
	rm -rf $(VENV) spmito-demo .pytest_cache
