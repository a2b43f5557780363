# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make reproduce   create .venv if missing, run every experiment's quick profile on the data at hand
#                    (it reruns the committed quick results and swaps each in once its run completes;
#                    `make paper` keeps committed paper runs unless OVERWRITE=--overwrite)
#   make test        create .venv if missing, run the default (fast) test suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= ../shared/data
OVERWRITE ?=

.PHONY: reproduce report test test-slow paper venv benchmark clean-venv

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[experiments,test]'
	touch $@

venv: $(VENV)/.installed

reproduce: venv
	$(PY) -m experiments.reproduce --shared $(SHARED) --overwrite

report: venv
	$(PY) -m experiments.reproduce --report-only
	$(PY) -m experiments.reproduce --report-only --profile paper

test: venv
	$(PY) -m pytest -q

test-slow: venv
	$(PY) -m pytest -q -m slow

paper: venv
	$(PY) -m experiments.reproduce --shared $(SHARED) --profile paper $(OVERWRITE)

benchmark: venv
	$(PY) benchmarks/bench_core.py

clean-venv:
	rm -rf $(VENV)
