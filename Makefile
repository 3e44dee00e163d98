# Two commands do everything on a fresh machine: `make bench` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PRESET ?= default

.PHONY: bench test verify dashboard reference history setup clean-venv bench-gpu bench-gpu-offline gpu-wheels

setup: $(INSTALLED)

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

# Pinned versions (constraints.txt) of everything, the project itself editable.
# torch's CUDA build requires triton, which carries its own LLVM, as TensorFlow does: a
# process that imports both dies (pytorch/pytorch#90166), and torch.compile imports
# triton when it is there.  Its CPU code generation does not use triton: uninstalled.
$(INSTALLED): $(VENV_PYTHON) pyproject.toml constraints.txt
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install --quiet -c constraints.txt -e '.[all]'
	$(VENV_PYTHON) -m pip uninstall --quiet --yes triton
	touch $@

# Your run: results, report and asv's log in results/, the dashboard in html/ (neither
# is committed).
bench: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib bench --preset $(PRESET) --screens

test: $(INSTALLED)
	$(VENV_PYTHON) -m pytest

# The dashboard (html/) and the report of results/ (your runs) without running anything;
# of the committed reference run (reference/) until you have a run of your own, or
# with RESULTS=reference.
RESULTS ?= $(if $(filter-out %/machine.json,$(wildcard results/*/*.json)),results,reference)
dashboard: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib publish --results $(RESULTS)
	$(VENV_PYTHON) -m bench_lib report --results $(RESULTS) --out $(RESULTS)/report

# The project's reference results (reference/, committed; see reference/README.md):
# a deliberate run on the reference machine, then its report and the README's
# headline.  REFERENCE_ARGS runs part of the preset (--workloads hvp).
REFERENCE_PRESET ?= cpu
REFERENCE_ARGS ?=
reference: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib bench --preset $(REFERENCE_PRESET) --results reference $(REFERENCE_ARGS)
	$(VENV_PYTHON) -m bench_lib report --results reference --out reference/report --readme README.md --screens

# The release history: the history preset in one asv virtualenv per framework release
# (asv.history.conf.json; each built once and kept in .asv/env), every release's known
# failures attempted, results in results/ with every other run.  HISTORY_ARGS narrows it
# (--only torch, --only jax==0.10.2).
HISTORY_ARGS ?=
history: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib history $(HISTORY_ARGS)
	$(VENV_PYTHON) -m bench_lib report --results results --out results/report

# The GPU preset (GPU_ARGS narrows it: --workloads hvp --sizes L), filed under the GPU's
# model as asv's machine name.  With a package registry: a virtualenv of the CUDA builds
# of the three frameworks (the "gpu" extra, versions from constraints.txt).
GPU_VENV := .venv-gpu
GPU_ARGS ?=
bench-gpu:
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GPU_VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[gpu,report]'
	$(GPU_VENV)/bin/python -m bench_lib bench --preset gpu $(GPU_ARGS)

# Without a registry, in a Python that already has CUDA builds of PyTorch and JAX
# (GPU_PYTHON): asv and its requirements from the wheels in WHEELS (`make gpu-wheels`
# downloads them where pip works), installed into .gpu-site, not into that Python.
# asv's benchmark processes get the same path through ASV_PYTHONPATH.
GPU_PYTHON ?= python3
WHEELS ?= .whl
GPU_SITE := $(CURDIR)/.gpu-site
bench-gpu-offline:
	if ls $(WHEELS)/*.whl >/dev/null 2>&1; then \
	  $(GPU_PYTHON) -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target $(GPU_SITE) $(WHEELS)/*.whl; fi
	PYTHONPATH=$(GPU_SITE):$(CURDIR) ASV_PYTHONPATH=$(GPU_SITE):$(CURDIR) \
	  $(GPU_PYTHON) -m bench_lib bench --preset gpu $(GPU_ARGS)

gpu-wheels: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib gpu-wheels --dest $(WHEELS)

verify: $(INSTALLED)
	$(VENV_PYTHON) -m bench_lib verify --preset $(PRESET)

clean-venv:
	rm -rf $(VENV)
