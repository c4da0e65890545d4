# One virtual environment in .venv; every target installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -c constraints.txt -e ".[test,torch]"
	# Byte-compile once, on every core: a process that finds no .pyc (or may not write one,
	# PYTHONDONTWRITEBYTECODE) compiles each module it imports, seconds at every start. A few
	# files in dependencies are for other Python versions and fail to compile: ignored (-).
	-$(BIN)/python -m compileall -q -j 0 $(VENV)/lib seq2seq_jax > /dev/null 2>&1
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

RUN := runs/g2p_bahdanau

# The main job: train G2P on the built-in CMUdict data, score the held-out test
# words, show a few predictions and write an attention plot. Re-running resumes.
run: setup
	$(BIN)/seq2seq-jax train --config g2p_bahdanau --workdir $(RUN)
	$(BIN)/seq2seq-jax eval --workdir $(RUN) --split test
	printf 'phoneme\nattention\nencoder\n' | $(BIN)/seq2seq-jax predict --workdir $(RUN) \
		--attention-plot $(RUN)/attention.png

lint: setup
	$(BIN)/ruff check seq2seq_jax tests scripts
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
