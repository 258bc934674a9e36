# The two set-up commands: `make demo` (train the quick GAN, write a sample grid) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/zoo train gan-mnist-quick --out runs/demo --overwrite
	$(BIN)/zoo sample runs/demo -n 64 --seed 0 --out demo-samples.png
	@echo "wrote demo-samples.png"

test: install
	$(BIN)/python -m pytest
