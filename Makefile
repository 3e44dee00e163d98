# Two commands do everything on a fresh machine: `make bench` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PRESET ?= default

.PHONY: bench test verify dashboard setup clean-venv

setup: $(INSTALLED)

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

# Pinned versions (constraints.txt) of everything, the project itself editable.
$(INSTALLED): $(VENV_PYTHON) pyproject.toml constraints.txt
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install --quiet -c constraints.txt -e '.[all]'
	touch $@

bench: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib bench --preset $(PRESET)

test: $(INSTALLED)
	$(VENV_PYTHON) -m pytest

# The dashboard (html/) and the report of the results already in results/, without running anything.
dashboard: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib publish
	$(VENV_PYTHON) -m bench_lib report

verify: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib verify --preset $(PRESET)

clean-venv:
	rm -rf $(VENV)
