# Two commands for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo figures test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[torch,data]'
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,torch]'
	touch $@ $(VENV)/.installed

# every quick figure into build/demo (ignored: the committed figures stay as they are), two at a time,
# each on one core (the same numbers whatever the core count), then the comparison with them; `make figures`
# is the deliberate refresh of the committed ones, made the same way
demo: $(VENV)/.installed
	$(BIN)/sparsecert repro all --quick --jobs 2 --out build/demo
	$(BIN)/python -m paper_repro.compare build/demo figures
	@echo
	@echo "Done: the figures are in build/demo/<paper>/. The command and the API live in $(VENV):"
	@echo "run 'source $(VENV)/bin/activate', then"
	@echo "  sparsecert --help                  (or: python -m paper_repro list)"
	@echo "  python -c 'import sparsecert'      (README.md has three examples)"

figures: $(VENV)/.installed
	$(BIN)/sparsecert repro all --quick --jobs 2 --out figures

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

docs: $(VENV)/.installed-test
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,torch,bench]'
	touch $@

# the fast benchmarks, then the peer tables (docs/explanations/compared.md; about 20 minutes)
bench: $(VENV)/.installed-bench
	$(BIN)/python -m pytest tests/bench --benchmark-enable --benchmark-only -m "not slow"
	$(BIN)/python -m pytest tests/bench/test_bench_peers.py --benchmark-enable --benchmark-only -s -q \
	  -k "transitions or noisy"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis docs/_build
