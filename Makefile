# Two commands matter on a fresh machine: `make figures` and `make test`.
# Each creates or updates the local virtual environment by itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install test test-slow figures bench models lab docs docs-execute clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,lab]'
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check interp tests benchmarks
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# `make figures PRESET=smoke`: every figure from tiny models trained from scratch, into runs/smoke/figures
# Natural-video figures read DAVIS32 when it has been built; on a machine with the ten DAVIS
# sequences of ../shared/data/davis-mini it is built once (about 5 s) before rendering.
# The tracked figures are drawn from their committed tables (figures/tables) when this clone's
# inputs match them, so the tree stays clean; a figure whose inputs differ (no DAVIS32 here,
# a retrained model) goes to runs/figures with one line saying why. `make figures UPDATE=1`
# writes over the tracked figures and tables instead (docs/figures.md).
DAVIS_ROOT ?= ../shared/data/davis-mini
figures: $(STAMP)
	@if [ -d "$(DAVIS_ROOT)/JPEGImages" ] && [ ! -f data/davis32-mini.npz ]; then \
	  mkdir -p data && $(PY) -m interp.data davis32 --root "$(DAVIS_ROOT)" --out data/davis32-mini.npz --quiet; fi
	$(PY) -m interp.figures$(if $(PRESET), --preset $(PRESET))$(if $(UPDATE), --update)

bench: $(STAMP)
	$(PY) -m benchmarks

models: $(STAMP)
	$(PY) -m interp.train models/leaves-tau2.toml --resume

# `make docs`: the documentation site into docs/_build/html, warnings as errors. The notebooks of
# analyses/ are rendered as stored, not run; `make docs-execute` runs them first, at the small
# settings of INTERP_NB_SMALL=1 (about two minutes in all), into docs/_build/html-executed.
docs: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

docs-execute: $(STAMP)
	INTERP_DOCS_EXECUTE=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m sphinx -W --keep-going -q -b html \
	  -d docs/_build/doctrees-executed docs docs/_build/html-executed
	@echo "docs: open docs/_build/html-executed/index.html"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab analyses/

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
