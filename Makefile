# Two commands matter on a fresh machine: `make figures` and `make test`.
# Each creates or updates the local virtual environment by itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install test test-slow figures bench models lab clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

figures: $(STAMP)
	$(PY) -m interp.figures

bench: $(STAMP)
	$(PY) -m benchmarks

models: $(STAMP)
	$(PY) -m interp.train models/leaves-tau2.toml --resume

lab: $(STAMP)
	$(VENV)/bin/jupyter lab analyses/

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
