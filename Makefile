# One virtual environment in .venv; every target installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,torch]"
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

# The main job on the built-in data.
run: setup
	$(BIN)/python scripts/reverse_demo.py

lint: setup
	$(BIN)/ruff check seq2seq_jax tests scripts configs
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
