# Two commands for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[torch,data]'
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,torch]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/sparsecert repro all --quick --out figures
	@echo
	@echo "Done. The command and the API live in $(VENV): run 'source $(VENV)/bin/activate', then"
	@echo "  sparsecert --help                  (or: python -m paper_repro list)"
	@echo "  python -c 'import sparsecert'      (README.md has three examples)"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

docs: $(VENV)/.installed-test
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/bench --benchmark-enable --benchmark-only -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis docs/_build
