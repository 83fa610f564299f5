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

# npe2 (imported by napari's pytest plugin before pytest's own filters apply) warns about
# its pydantic v1 idioms on every run; silence exactly those modules.
NPE2_WARNINGS := ignore::DeprecationWarning:npe2.manifest.schema,ignore::DeprecationWarning:npe2.manifest._validators

test: $(STAMP) system-deps
	PYTHONWARNINGS="$(NPE2_WARNINGS)" $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check spmito imaging segment measure plugins tests benchmarks scripts

clean:
	rm -rf $(VENV) spmito-demo .pytest_cache
