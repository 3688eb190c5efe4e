# The two commands: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test bench install clean scale-demo chaos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[embedded]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[embedded,test]'
	touch $@

install: $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/harper-pipeline up

# the suite in TEST_PROCESSES processes, each module in one of them (its module-wide worker is started once)
TEST_PROCESSES ?= 2

test: $(STAMP_TEST)
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadscope --durations=15 $(PYTEST_ARGS)

bench: $(STAMP_RUN)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

scale-demo: $(STAMP_RUN)
	$(BIN)/python bench/scale_demo.py

chaos: $(STAMP_TEST)
	$(BIN)/python -m pytest -m chaos $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
